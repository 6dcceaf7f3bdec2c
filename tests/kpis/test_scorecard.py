"""The KPI scorecard on a lake and a state the test builds, with exact values."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from cloudtally.anomaly import state
from cloudtally.kpis.docs import REQUIRED_DOCS, documentation_problems
from cloudtally.kpis.scorecard import scorecard
from cloudtally.kpis.targets import KpiTargets
from cloudtally.report.runs import record_report_run
from tests.allocate.lake import write_rules
from tests.query.lake import Day, day_store

LINES = [
    Day("2024-09-01", "60", tags={"team": "web"}, resource="a"),
    Day("2024-09-01", "40", tags={}, resource="b"),  # an exception in September...
    Day("2024-10-01", "90", tags={"team": "web"}, resource="a"),
    Day("2024-10-01", "10", tags={"team": "web"}, resource="b"),  # ...closed in October
    Day("2024-10-02", "5", tags={}, resource="c"),  # a new one
]


def _anomaly(n: int, day: date) -> state.Anomaly:
    return state.Anomaly(
        monitor="m", dimension="ServiceName", value=f"s{n}", date=day, kind="spike", days=1,
        actual=Decimal(10), expected=Decimal(1), impact=Decimal(9), total_impact=Decimal(9), score=9.0,
    )  # fmt: skip


@pytest.fixture
def company(store, tmp_path: Path, cli):  # type: ignore[no-untyped-def]
    day_store(store, tmp_path, LINES)
    rules = write_rules(tmp_path / "rules", {"tags.yaml": "required: [team]\n"})
    assert cli("allocate", "--rules", rules).exit_code == 0
    found = [_anomaly(n, date(2024, 10, n)) for n in (1, 2, 3)]
    with store.state() as con:
        state.save(con, found)
        for a, hours in zip(found, (2, 4, 10), strict=True):
            con.execute(
                "UPDATE anomalies SET detected_at = ? WHERE id = ?",
                [datetime(2024, 10, 5, 8, tzinfo=UTC), a.id],
            )
            state.mark_sent(con, a.id, "slack", 1)
            con.execute(
                "UPDATE anomaly_sends SET sent_at = ? WHERE anomaly_id = ?",
                [datetime(2024, 10, 5, 8 + hours, tzinfo=UTC), a.id],
            )
        state.add_feedback(con, found[0].id, "false-positive")
        state.add_feedback(con, found[1].id, "real")
    invoices = tmp_path / "invoices.csv"
    invoices.write_text(
        "InvoiceId,BillingAccountId,period,currency,amount\nx,payer,2024-10,USD,102\n",
        encoding="utf-8",
    )
    assert cli("reconcile", "--invoices", invoices, "--tolerance", "5%").exit_code == 0
    record_report_run(
        store, "monthly", "2024-10", generated_at=datetime(2024, 11, 3, 12, tzinfo=UTC)
    )
    for week in ("2024-W40", "2024-W41", "2024-W43"):
        record_report_run(store, "weekly", week)
    return rules


def test_every_kpi_from_the_data(store, company: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    docs = tmp_path / "docs"
    for name in REQUIRED_DOCS[:3]:
        (docs / name).parent.mkdir(parents=True, exist_ok=True)
        (docs / name).write_text("Run `cloudtally costs --by team`.\n", encoding="utf-8")
    (docs / REQUIRED_DOCS[2]).write_text("Run `cloudtally costs --bye team`.\n", encoding="utf-8")
    results = scorecard(
        store, "2024-10", targets=KpiTargets(), rules_dir=company, docs_dir=docs,
        now=datetime(2024, 10, 5, 0, tzinfo=UTC),
    )  # fmt: skip
    got = {r.name: (r.value, r.status) for r in results}
    assert got == {
        "unallocated_pct": (4.76, "met"),  # 5 of 105
        "tag_coverage_pct": (95.24, "met"),
        "exception_closure_pct": (100.0, "met"),  # b was fixed; c is new
        "anomaly_triage_hours": (4.0, "met"),  # median of 2, 4 and 10 hours
        "anomaly_false_positive_pct": (50.0, "missed"),
        "reconciliation_variance_pct": (2.94, "missed"),  # |102 - 105| / 102
        "pack_timeliness_days": (2.5, "met"),
        "weekly_completion_pct": (75.0, "missed"),  # at risk down to 80
        "savings_throughput_items": (None, "no data"),
        "savings_evidence_pct": (None, "no data"),
        "commitment_checks_pct": (None, "no data"),
        "freshness_hours": (48.0, "met"),  # the newest charge ends on Oct 3
        "documentation_pct": (28.57, "missed"),  # 2 of 7 current: one names --bye
    }
    unallocated = next(r for r in results if r.name == "unallocated_pct")
    assert unallocated.trend == [
        ("2024-05", None), ("2024-06", None), ("2024-07", None), ("2024-08", None),
        ("2024-09", 40.0), ("2024-10", 4.76),
    ]  # fmt: skip


def test_targets_file_and_json(company: Path, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (company / "kpis.yaml").write_text(
        "unallocated_pct: {target: 4, direction: below}\n", encoding="utf-8"
    )
    result = cli(
        "kpis", "--period", "2024-10", "--rules", company, "--docs", tmp_path, "-f", "json"
    )
    assert result.exit_code == 0, result.output
    row = next(r for r in json.loads(result.stdout) if r["kpi"] == "unallocated_pct")
    assert (row["value"], row["target"], row["status"]) == (4.76, 4.0, "at risk")
    bad = company / "kpis.yaml"
    bad.write_text("unallocated: {target: 4, direction: below}\n", encoding="utf-8")
    result = cli("kpis", "--rules", company)
    assert result.exit_code == 1 and "unallocated: unknown key" in result.stderr


def test_the_shipped_runbooks_name_only_what_the_cli_has() -> None:
    from tests.conftest import ROOT

    assert documentation_problems(ROOT / "docs") == {}


def test_what_depends_on_the_lake_alone_can_be_kept(store, company: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A server keeps the lake-only work between requests (per generation of the lake): the
    second scorecard computes none of it, and says the same."""
    kept: dict[object, object] = {}
    computed: list[object] = []

    def remember(question, answer):  # type: ignore[no-untyped-def]
        if question not in kept:
            computed.append(question)
            kept[question] = answer()
        return kept[question]

    def card() -> list[tuple[str, object]]:
        results = scorecard(
            store, "2024-10", targets=KpiTargets(), rules_dir=company, docs_dir=tmp_path,
            now=datetime(2024, 10, 5, 0, tzinfo=UTC), remember=remember,
        )  # fmt: skip
        return [(r.name, r.value, r.trend) for r in results]

    first = card()
    trend = ("2024-05", "2024-06", "2024-07", "2024-08", "2024-09", "2024-10")
    assert sorted(q[1][:2] for q in computed) == [  # type: ignore[index]
        ("commitments", trend),
        ("coverage", ("2024-05", "2024-10")),
        # exception closure: each period of the trend and the one before the first
        *(("exceptions", p) for p in ("2024-04", *trend)),
        ("unallocated", trend),
    ]
    computed.clear()
    assert card() == first and computed == []
    assert ("unallocated_pct", 4.76) in [(n, v) for n, v, _ in first]
