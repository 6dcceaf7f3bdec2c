"""The savings tracker: the lifecycle with its refusals, and realized savings measured from
the data against a counterfactual baseline (never copied from the estimate)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cloudtally.savings import tracker
from cloudtally.savings.measure import measure
from cloudtally.savings.report import list_items
from cloudtally.store import Store
from tests.commitments.helpers import builder, store_of

M = builder()
D = Decimal
START = date(2024, 8, 5)  # a Monday; the data runs to 2024-11-03
DAYS = 91


def day(n: int) -> tuple[str, str]:
    d = START + timedelta(days=n)
    return (f"{d}T00:00:00Z", f"{d + timedelta(days=1)}T00:00:00Z")


def monthly(rows: Any) -> Any:
    for row in rows.rows:
        month = date.fromisoformat(row["ChargePeriodStart"][:10]).replace(day=1)
        following = (month + timedelta(days=32)).replace(day=1)
        row["BillingPeriodStart"] = f"{month}T00:00:00Z"
        row["BillingPeriodEnd"] = f"{following}T00:00:00Z"
    return rows


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Three resources over 13 weeks from 2024-08-05:
    vol-1: 10 hours of VM_SMALL ($1/h) a day on weekdays, 4 at weekends, deleted on 2024-10-01;
    vm-1: 24 hours of VM_SMALL a day, covered by a reservation ($0.50/h) from 2024-10-01;
    vm-2: 24 hours a day; from 2024-10-01 half as many hours, from 2024-10-22 back to 24."""
    folder = tmp_path_factory.mktemp("tracker")
    rows = M.Rows()
    ri = M.reservation("VM_SMALL", "Hours")
    change = (date(2024, 10, 1) - START).days
    back = (date(2024, 10, 22) - START).days
    for n in range(DAYS):
        at = day(n)
        weekend = (START + timedelta(days=n)).weekday() >= 5
        if n < change:
            rows.on_demand("VM_SMALL", "vol-1", D(4 if weekend else 10), at)
            rows.on_demand("VM_SMALL", "vm-1", D(24), at)
            rows.on_demand("VM_SMALL", "vm-2", D(24), at)
        else:
            rows.purchase(ri, D("12"), D("24"), period=at)
            rows.used(ri, "VM_SMALL", "vm-1", D(24), D(24), at)
            rows.on_demand("VM_SMALL", "vm-2", D(24 if n >= back else 12), at)
    return store_of(folder / "lake", M.write_rows(folder / "rows.csv", monthly(rows)))


def add(store: Store, title: str, resource: str, **extra: Any) -> tracker.Item:
    with store.state() as con:
        return tracker.add(
            con, title=title, scope={"resource": resource}, estimate=D("300"),
            on=date(2024, 9, 20), **extra,
        )  # fmt: skip


def move(store: Store, item: str, *statuses: str, on: date = date(2024, 10, 1)) -> tracker.Item:
    with store.state() as con:
        for status in statuses:
            found = tracker.set_status(con, item, status, on=on)
    return found


def test_a_deleted_resource_realizes_its_run_rate(lake: Store) -> None:
    item = move(lake, add(lake, "Delete vol-1", "vol-1").id, "accepted", "implemented")
    m = measure(lake, item)
    assert (m.state, m.method) == ("measured", "run-rate")
    # Baseline: the same weekday's cost in the 28 days before: $10 on weekdays, $4 at weekends.
    assert m.rows() == [
        {"month": "2024-10", "days": 31, "baseline_per_month": D("262.00"),
         "actual_per_month": D("0.00"), "realized_per_month": D("262.00"), "uncertainty": D("0.00")},
        {"month": "2024-11", "days": 3, "baseline_per_month": D("18.00"),
         "actual_per_month": D("0.00"), "realized_per_month": D("18.00"), "uncertainty": D("0.00")},
    ]  # fmt: skip
    assert m.realized_per_month == D("250.66")  # 280 over 34 days, per 30.4375 days
    assert not m.eroding


def test_a_cheaper_rate_is_measured_per_unit(lake: Store) -> None:
    item = move(lake, add(lake, "Reserve vm-1", "vm-1").id, "accepted", "implemented")
    m = measure(lake, item)
    assert m.method == "unit-cost"
    assert m.method_note == (
        "cost per Hours in the 28 days before 2024-10-01 (1.000000) x the Hours used each day after"
    )
    assert [(r["month"], r["baseline_per_month"], r["actual_per_month"], r["realized_per_month"])
            for r in m.rows()] == [
        ("2024-10", D("744.00"), D("372.00"), D("372.00")),
        ("2024-11", D("72.00"), D("36.00"), D("36.00")),
    ]  # fmt: skip


def test_savings_that_erode_are_flagged(lake: Store) -> None:
    item = move(lake, add(lake, "Halve vm-2", "vm-2").id, "accepted", "implemented")
    m = measure(lake, item)
    assert m.method == "run-rate"  # the usage was cut: the cut is the saving
    # $12 a day saved for three weeks, then the hours came back on 2024-10-22.
    assert [(r["month"], r["realized_per_month"]) for r in m.rows()] == [
        ("2024-10", D("252.00")),
        ("2024-11", D("0.00")),
    ]
    assert m.eroding


def test_not_yet_measurable_and_the_refusals(lake: Store) -> None:
    item = add(lake, "Later", "vol-1", owner="web")
    with lake.state() as con:
        with pytest.raises(tracker.SavingsError) as skipped:
            tracker.set_status(con, item.id, "implemented", on=date(2024, 10, 1))
        assert str(skipped.value) == (
            f"{item.id} is identified: going to implemented skips accepted. Run again with "
            "--force to confirm."
        )
        with pytest.raises(tracker.SavingsError) as early:
            tracker.set_status(con, item.id, "accepted", on=date(2024, 9, 1))
        assert str(early.value) == (
            f"{item.id} was identified on 2024-09-20; --on 2024-09-01 is before that. Give a "
            "date on or after it."
        )
        forced = tracker.set_status(con, item.id, "implemented", on=date(2024, 12, 1), force=True)
        assert forced.events[-1] == {
            "status": "implemented",
            "on": date(2024, 12, 1),
            "note": None,
            "forced": True,
        }
    assert measure(lake, forced).state == "not yet measurable"
    with lake.state() as con, pytest.raises(tracker.SavingsError, match="cannot be realized yet"):
        tracker.set_status(con, item.id, "realized", on=date(2024, 12, 2), measurable=False)


def test_list_reports_the_share_of_claimed_savings_with_evidence(
    tmp_path: Path, lake: Store
) -> None:
    with_evidence = add(lake, "Delete vol-1 again", "vol-1", owner="web", ticket="https://t/1")
    move(lake, with_evidence.id, "accepted", "implemented")
    result = list_items(lake)
    rows = {r["id"]: r for r in result.records()}
    assert rows[with_evidence.id]["evidence"] == "complete"
    assert rows[with_evidence.id]["measurement"] == "measured (run-rate)"
    assert rows[with_evidence.id]["realized_per_month"] == D("250.66")
    claimed = result.totals["claimed savings per month (implemented or realized, estimates)"]
    share = result.totals["share of claimed savings with evidence (measurement, ticket, owner)"]
    complete = sum(r["estimate_per_month"] for r in rows.values()
                   if r["status"] in ("implemented", "realized") and r["evidence"] == "complete")  # fmt: skip
    assert share == (complete / claimed).quantize(D("0.000001"))


def test_the_cli_adds_sets_and_shows_as_json(cli: Callable[..., Any], tmp_path: Path) -> None:
    rows = M.Rows()
    for n in range(60):
        rows.on_demand("VM_SMALL", "vol-9", D(10 if n < 30 else 0) or D(0), day(n))
    rows.rows = [r for r in rows.rows if r["BilledCost"] != "0"]
    for n in range(30, 60):
        rows.on_demand("VM_MEDIUM", "other", D(1), day(n))
    source = M.write_rows(tmp_path / "rows.csv", monthly(rows))
    assert cli("ingest", source).exit_code == 0
    added = cli("savings", "add", "Delete vol-9", "--where", "resource=vol-9", "--estimate",
                "300", "--owner", "web", "--on", "2024-08-20")  # fmt: skip
    assert added.stdout == "S1: Delete vol-9 (resource=vol-9), identified\n"
    bad = cli("savings", "set", "S1", "--status", "implemented", "--on", "2024-09-04")
    assert bad.exit_code == 1 and "skips accepted. Run again with --force to confirm." in bad.stderr
    assert cli("savings", "set", "S1", "--status", "implemented", "--on", "2024-09-04",
               "--force").stdout == "S1: implemented\n"  # fmt: skip
    shown = json.loads(cli("savings", "show", "S1", "--format", "json").stdout)
    assert shown["rows"] == [
        {"month": "2024-09", "days": 27, "baseline_per_month": "270", "actual_per_month": "0",
         "realized_per_month": "270", "uncertainty": "0"},
        {"month": "2024-10", "days": 3, "baseline_per_month": "30", "actual_per_month": "0",
         "realized_per_month": "30", "uncertainty": "0"},
    ]  # fmt: skip
    assert shown["totals"]["method"] == "run-rate"
    assert shown["totals"]["evidence"] == "missing ticket"
    listed = json.loads(cli("savings", "list", "--format", "json").stdout)
    assert (
        listed["totals"]["share of claimed savings with evidence (measurement, ticket, owner)"]
        == "0"
    )
    empty = cli("savings", "add", "x", "--where", "resource=vol-404", "--estimate", "1")
    assert empty.stderr == (
        "Error: --where resource=vol-404 matches no cost line in the lake: check the values "
        "(`cloudtally costs --by service,account` lists them); an item must have cost to "
        "measure.\n"
    )
    nothing = cli("savings", "add", "x", "--where", "servce=Amazon EC2", "--estimate", "1")
    assert nothing.stderr == (
        "Error: --where key 'servce' is unknown. Did you mean 'service'? Use resource, service, "
        "account, region, sku, provider, team or tag:KEY.\n"
    )


def test_the_kpi_scorecard_reads_the_evidence_share(lake: Store) -> None:
    from cloudtally.kpis.links import savings_evidence_share

    share = tracker.evidence_share(lake)
    assert (
        share
        == list_items(lake).totals[
            "share of claimed savings with evidence (measurement, ticket, owner)"
        ]
    )
    assert savings_evidence_share(lake) == float(share) * 100
