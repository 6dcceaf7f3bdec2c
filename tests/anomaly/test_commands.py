"""`cloudtally anomalies` and `cloudtally explain` end to end on the generated company."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cloudtally.allocate.engine import lake_fingerprint
from cloudtally.anomaly.command import anomalies
from cloudtally.cli import _Group, explain
from cloudtally.ingest.pipeline import ingest
from cloudtally.query.bridge import PARTS
from cloudtally.sample import generate_sample
from cloudtally.store import Store
from tests.conftest import ROOT

RULES = ROOT / "tests" / "fixtures" / "monitors" / "sample.yaml"


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated company (4 months, small), ingested once for the module."""
    root = tmp_path_factory.mktemp("acme")
    summary = generate_sample(root / "exports", months=4, scale=0.3, seed=42)
    assert [(a.date.isoformat(), a.value) for a in summary.anomalies] == [
        ("2024-09-05", "Amazon Bedrock"),
        ("2024-09-20", "Amazon CloudWatch"),
        ("2024-10-12", "payments"),
    ]
    ingest(Store(root / "lake"), [root / "exports"])
    return root / "lake"


@pytest.fixture
def lake(company: Path, tmp_path: Path) -> Path:
    """A private copy (each test has its own state.duckdb)."""
    target = tmp_path / "lake"
    shutil.copytree(company, target)
    return target


def run(lake: Path, *args: str) -> click.testing.Result:
    @click.group(cls=_Group)
    @click.pass_context
    def root(ctx: click.Context) -> None:
        ctx.obj = {"data_dir": lake, "debug": False}

    root.add_command(anomalies)
    root.add_command(explain)
    return CliRunner().invoke(root, list(args))


def listed(lake: Path, *args: str) -> list[dict]:
    result = run(lake, "anomalies", "list", "--format", "json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_replay_finds_the_planted_anomalies_with_root_causes(lake: Path) -> None:
    result = run(lake, "anomalies", "detect", "--rules", str(RULES), "--since", "2024-08-01")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        "Scored 35 series on 2024-08-01..2024-10-30: 4 anomalies (4 new, 0 already known)."
    )
    found = listed(lake)
    assert [(a["monitor"], a["value"], a["date"], a["kind"]) for a in found] == [
        ("services", "Amazon Elastic Compute Cloud", "2024-10-12", "spike"),
        ("teams", "payments", "2024-10-12", "spike"),
        ("services", "Amazon CloudWatch", "2024-09-20", "level-shift"),
        ("services", "Amazon Bedrock", "2024-09-05", "new-spend"),
    ]
    ec2 = found[0]
    assert set(ec2) >= {
        "monitor",
        "dimension",
        "value",
        "date",
        "actual",
        "expected",
        "impact",
        "score",
        "status",
        "root_causes",
    }
    assert (ec2["actual"], ec2["expected"], ec2["impact"], ec2["status"]) == (
        "717.49",
        "382.81",
        "334.68",
        "open",
    )
    teams = [c for c in ec2["root_causes"] if c["dimension"] == "team"]
    assert teams[0]["value"] == "payments" and teams[0]["share"] > 0.8
    assert ec2["owner"] == "payments"
    assert ec2["evidence"][0]["service"] == "Amazon Elastic Compute Cloud"
    assert found[3]["owner"] == "search"  # from the tags, before the monitor's mapping (ml)


def test_rerunning_never_duplicates_and_keeps_the_status(lake: Path) -> None:
    args = ("anomalies", "detect", "--rules", str(RULES), "--since", "2024-09-15")
    assert run(lake, *args).exit_code == 0
    first = listed(lake)
    run(lake, "anomalies", "ack", first[0]["id"], "--note", "on it")
    again = run(lake, *args)
    assert "(0 new, " in again.stdout
    second = listed(lake)
    assert len(second) == len(first)
    assert second[0]["status"] == "acknowledged"
    # The daily run on the newest complete day updates the open episode, adds nothing.
    daily = run(lake, "anomalies", "detect", "--rules", str(RULES))
    assert daily.stdout.startswith("Scored 35 series on 2024-10-30: 0 anomalies")
    assert len(listed(lake)) == len(first)


def test_lifecycle_and_planned_feedback_suppress_later_runs(lake: Path) -> None:
    args = ("anomalies", "detect", "--by", "ServiceName", "--where", "provider=aws")
    run(lake, *args, "--since", "2024-10-01")
    found = listed(lake, "--status", "open")
    ec2 = next(a for a in found if a["value"] == "Amazon Elastic Compute Cloud")
    out = run(lake, "anomalies", "feedback", ec2["id"], "expected", "--until", "2024-10-31")
    assert out.stdout.strip() == (
        f"{ec2['id']}: feedback expected (planned 2024-10-12..2024-10-31); status resolved"
    )
    # Replaying after the state is gone would find it again: the window suppresses it instead.
    with Store(lake).state() as con:
        con.execute("DELETE FROM anomalies")
    run(lake, *args, "--since", "2024-10-01")
    again = next(a for a in listed(lake) if a["value"] == "Amazon Elastic Compute Cloud")
    assert again["status"] == "suppressed"
    bad = run(lake, "anomalies", "resolve", "nope")
    assert bad.exit_code == 1
    assert "No anomaly with id 'nope'" in bad.stderr
    resolved = run(lake, "anomalies", "resolve", again["id"])
    assert resolved.stdout.strip() == f"{again['id']}: suppressed -> resolved"
    assert run(lake, "anomalies", "ack", again["id"]).exit_code == 1


def test_user_errors_are_one_message(lake: Path) -> None:
    result = run(lake, "anomalies", "detect", "--since", "2024-13-01", "--by", "service")
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: --since '2024-13-01' is not a date: use YYYY-MM-DD."
    result = run(lake, "anomalies", "detect", "--by", "servise")
    assert "Unknown dimension 'servise'. Did you mean 'service'?" in result.stderr
    result = run(lake, "anomalies", "detect")
    assert "No monitors to run" in result.stderr


def test_explain_ranks_drivers_and_drafts_a_message(lake: Path) -> None:
    result = run(
        lake,
        "explain",
        "--baseline",
        "2024-10-05..2024-10-11",
        "--compare",
        "2024-10-12..2024-10-14",
        "--top",
        "3",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    top = data["drivers"][0]
    assert (top["driver"], top["kind"], top["baseline"], top["compare"], top["change"]) == (
        "Amazon Elastic Compute Cloud",
        "grown",
        "504.133186285714285714",
        "769.70852",
        "265.575333714285714286",
    )
    # The planted event is new instances (64 of them), not a price change.
    assert (top["new"], top["volume"], top["price"], top["new_resources"]) == (
        "323.347968",
        "-57.772634285714285714",
        "0",
        64,
    )
    assert sum(Decimal(top[p]) for p in PARTS) == Decimal(top["change"])
    assert data["message"].startswith("Hi payments,\n")
    assert "blame" not in data["message"]


def test_the_example_monitors_file_loads_and_typos_are_reported_with_lines(tmp_path: Path) -> None:
    from cloudtally.anomaly.config import load_monitors
    from cloudtally.errors import RuleError

    rules = load_monitors(ROOT / "examples" / "rules" / "monitors.yaml")
    assert [m.name for m in rules.monitors] == ["services", "service-accounts", "teams"]
    bad = tmp_path / "monitors.yaml"
    bad.write_text("monitors:\n  - name: x\n    dimension: [ServiceName]\n    notify: [nowhere]\n")
    with pytest.raises(RuleError) as error:
        load_monitors(bad)
    assert str(error.value) == (
        f"1 problem in {bad}:\n  {bad}:3: monitors.0.dimension: unknown key (check its spelling)"
    )
    bad.write_text("monitors:\n  - name: x\n    notify: [nowhere]\n")
    with pytest.raises(RuleError, match="monitor 'x' notifies unknown destination 'nowhere'"):
        load_monitors(bad)


def test_a_child_its_parent_explains_is_not_alerted_again(lake: Path) -> None:
    rules = str(RULES.parent / "parent_child.yaml")
    assert (
        run(lake, "anomalies", "detect", "--rules", rules, "--since", "2024-10-01").exit_code == 0
    )
    found = listed(lake, "--since", "2024-10-12")
    parent = next(a for a in found if a["monitor"] == "services")
    children = [a for a in found if a["monitor"] == "service-accounts"]
    assert parent["value"] == "Amazon Elastic Compute Cloud" and parent["status"] == "open"
    assert children and all(
        c["value"].startswith("Amazon Elastic Compute Cloud / ") for c in children
    )
    assert {(c["status"], c["parent"]) for c in children} == {("explained", parent["id"])}
    # A child's breakdown does not repeat its own dimensions.
    assert {c["dimension"] for c in children[0]["root_causes"]} <= {
        "region",
        "resource",
        "sku",
        "usage type",
        "team",
    }
    # Only open anomalies are routed: the parent, never its explained children.
    result = run(lake, "anomalies", "notify", "--rules", rules, "--dry-run")
    routed = {line.split(" -> ")[0] for line in result.stdout.splitlines()}
    assert parent["id"] in routed
    assert routed == {a["id"] for a in listed(lake, "--status", "open")}
    assert not routed & {c["id"] for c in children}


def test_complete_days_and_the_total(lake: Path) -> None:
    # The newest day in the lake (2024-10-31) is not complete until a later day has data...
    result = run(lake, "anomalies", "detect", "--by", "total")
    assert result.stdout.startswith("Scored 1 series on 2024-10-30: ")
    # ...unless days count as complete a fixed lag after they end.
    result = run(
        lake, "anomalies", "detect", "--by", "total", "--complete-lag", "1", "--today", "2024-11-01"
    )
    assert result.stdout.startswith("Scored 1 series on 2024-10-31: ")
    result = run(
        lake, "anomalies", "detect", "--by", "total", "--complete-lag", "3", "--today", "2024-11-01"
    )
    assert result.stdout.startswith("Scored 1 series on 2024-10-29: ")


def test_the_team_dimension_uses_the_allocation_when_it_exists(lake: Path) -> None:
    publish_allocation(lake, "alloc-")
    args = ("anomalies", "detect", "--by", "team", "--since", "2024-10-12", "--format", "json")
    result = run(lake, *args)
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert [(a["value"], a["date"], a["kind"]) for a in found] == [
        ("alloc-payments", "2024-10-12", "spike")
    ]


def test_one_row_dated_years_ahead_does_not_blind_detection(
    company: Path, lake: Path, tmp_path: Path
) -> None:
    import duckdb

    source = company.parent / "exports" / "aws" / "2024-10.parquet"
    stray = tmp_path / "restated" / "aws-2024-10.parquet"
    stray.parent.mkdir()
    duckdb.execute(
        f"""COPY (SELECT * REPLACE (CASE WHEN row_number() OVER () = 1
                    THEN TIMESTAMPTZ '2034-02-28 00:00:00+00' ELSE ChargePeriodStart END
                    AS ChargePeriodStart) FROM read_parquet('{source}'))
            TO '{stray}' (FORMAT parquet)"""
    )
    ingest(Store(lake), [stray])
    result = run(lake, "anomalies", "detect", "--by", "total")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Scored 1 series on 2024-10-30: ")
    assert result.stderr.strip() == (
        "Skipped 1 aws row dated 2034-02-28 (after its billing period): not scored and not "
        "used to find the newest complete day (`cloudtally check` lists such rows)."
    )


def test_detect_by_a_tag_key(lake: Path) -> None:
    result = run(
        lake, "anomalies", "detect", "--by", "tag:team", "--since", "2024-10-01", "-f", "json"
    )
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert [(a["monitor"], a["dimension"], a["value"], a["date"], a["kind"]) for a in found] == [
        ("by-tag-team", "tag:team", "payments", "2024-10-12", "spike")
    ]
    assert (found[0]["actual"], found[0]["expected"]) == ("385.74", "73.62")


def publish_allocation(lake: Path, prefix: str) -> None:
    """A stand-in allocation whose team is `prefix` + the team tag (or `shared`)."""
    store = Store(lake)
    with store.writing() as catalog:
        out = store.staging_for("allocated_costs") / "part.parquet"
        store.connect(catalog).execute(
            f"COPY (SELECT *, '{prefix}' || coalesce(Tags['team'], Tags['Team'], 'shared') AS team "
            f"FROM costs) TO '{out}' (FORMAT parquet)"
        )
        # Current: computed from the lake as it is (else owners come from the tags).
        fingerprint = {"lake": lake_fingerprint(catalog)}
        store.publish(catalog, "allocated_costs", [out], rows=0, parameters=fingerprint)


def test_an_anomaly_whose_series_is_gone_after_a_reallocation_is_resolved(lake: Path) -> None:
    publish_allocation(lake, "alloc-")
    assert run(lake, "anomalies", "detect", "--by", "team", "--since", "2024-10-12").exit_code == 0
    (before,) = listed(lake)
    assert (before["value"], before["status"]) == ("alloc-payments", "open")
    publish_allocation(lake, "team-")  # the teams are renamed: alloc-payments is no more
    result = run(lake, "anomalies", "detect", "--by", "team")
    assert result.exit_code == 0, result.output
    reason = "its series is no longer in the data on 2024-10-12 (re-allocated or restated)"
    assert result.stdout.splitlines() == [
        "Scored 22 series on 2024-10-30: 0 anomalies (0 new, 0 already known).",
        f"Resolved {before['id']} (team alloc-payments, 2024-10-12): {reason}.",
    ]
    (after,) = listed(lake)
    assert (after["status"], after["reason"]) == ("resolved", reason)
    assert after["resolved_at"] is not None
    # Once resolved it is left alone.
    again = run(lake, "anomalies", "detect", "--by", "team")
    assert again.stdout.splitlines()[1:] == []


def test_one_event_seen_by_two_monitors_is_routed_once(
    lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run(lake, "anomalies", "detect", "--rules", str(RULES), "--since", "2024-10-01")
    assert result.exit_code == 0, result.output
    found = listed(lake)
    ec2 = next(a for a in found if a["value"] == "Amazon Elastic Compute Cloud")
    assert [(a["monitor"], a["value"], a["status"], a["parent"], a["reason"]) for a in found] == [
        ("services", "Amazon Elastic Compute Cloud", "open", None, None),
        (
            "teams",
            "payments",
            "explained",
            ec2["id"],
            f"the same event as {ec2['id']} (services: Amazon Elastic Compute Cloud), which "
            "holds 100% of this excess",
        ),
    ]
    # Each keeps its own evidence: its own largest line items and root causes.
    assert [(a["evidence"][0]["service"], a["evidence"][0]["cost"]) for a in found] == [
        ("Amazon Elastic Compute Cloud", 15.34),
        ("Amazon Simple Storage Service", 18.68),
    ]
    monkeypatch.setenv("PAYMENTS_SLACK_URL", "https://127.0.0.1:9/hook")
    routed = run(lake, "anomalies", "notify", "--rules", str(RULES), "--dry-run")
    assert [line for line in routed.stdout.splitlines() if not line.startswith(" ")] == [
        f"{ec2['id']} -> payments-slack: would send"
    ]
