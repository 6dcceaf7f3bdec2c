"""Queue hygiene on a small constructed lake: one anomaly per event, tax that follows a driver."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import duckdb
import pytest

from cloudtally.anomaly.config import MonitorModel
from cloudtally.anomaly.hygiene import tidy
from cloudtally.anomaly.state import Anomaly
from cloudtally.query.ownership import Lens

EVENT = date(2024, 10, 12)
SERVICES = MonitorModel(name="services", dimensions=["ServiceName"])
TEAMS = MonitorModel(name="teams", dimensions=["team"])


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    """Compute (payments 800 + search 200 a day), Storage 500 a day, tax at 8% of usage.

    On EVENT payments' compute rises by 2,000 (tax by 160); on EVENT + 3 tax alone rises by 400
    while compute rises by 100 (a tax change, not a charge following usage).
    """
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "CREATE TABLE raw (ChargePeriodStart TIMESTAMPTZ, ServiceName VARCHAR, "
        "ChargeCategory VARCHAR, Tags MAP(VARCHAR, VARCHAR), BilledCost DECIMAL(18, 2))"
    )
    rows = []
    day = date(2024, 9, 1)
    while day <= EVENT + timedelta(days=5):
        extra = {EVENT: 2000, EVENT + timedelta(days=3): 100}.get(day, 0)
        usage = [("Compute", "payments", 800 + extra), ("Compute", "search", 200)]
        usage.append(("Storage", "search", 500))
        tax = Decimal("0.08") * sum(c for _, _, c in usage)
        if day == EVENT + timedelta(days=3):
            tax += 400
        for service, team, cost in usage:
            rows.append([f"{day} 00:00:00+00", service, "Usage", {"team": team}, cost])
        rows.append([f"{day} 00:00:00+00", "Tax", "Tax", {}, tax])
        day += timedelta(days=1)
    con.executemany("INSERT INTO raw VALUES (CAST(? AS TIMESTAMPTZ), ?, ?, ?, ?)", rows)
    con.execute("CREATE VIEW costs AS SELECT * FROM raw")
    return con


def anomaly(monitor: MonitorModel, value: str, actual: int, expected: int, **kw: object) -> Anomaly:
    return Anomaly(
        monitor=monitor.name,
        dimension=",".join(monitor.dimensions),
        value=value,
        date=kw.pop("day", EVENT),  # type: ignore[arg-type]
        kind="spike",
        days=1,
        actual=Decimal(actual),
        expected=Decimal(expected),
        impact=Decimal(actual - expected),
        total_impact=Decimal(actual - expected),
        score=20.0,
        keys=(value,),
    )


def costs(words: object) -> Lens:
    """Every monitor reads the costs view (owners from the tags)."""
    return Lens("costs")


def outcome(found: list[Anomaly]) -> list[tuple]:
    return [(a.monitor, a.value, a.status, a.parent, a.reason) for a in found]


def test_one_event_found_by_two_monitors_and_its_tax_is_one_anomaly(
    con: duckdb.DuckDBPyConnection,
) -> None:
    compute = anomaly(SERVICES, "Compute", 3000, 1000)
    tax = anomaly(SERVICES, "Tax", 280, 120)
    payments = anomaly(TEAMS, "payments", 2800, 800)
    found = [payments, tax, compute]
    tidy(con, found, [SERVICES, TEAMS], costs)
    assert outcome(found) == [
        (
            "teams",
            "payments",
            "explained",
            compute.id,
            f"the same event as {compute.id} (services: Compute), which holds 100% of this excess",
        ),
        (
            "services",
            "Tax",
            "explained",
            compute.id,
            f"a charge derived from others (8.0% of them) that rose with {compute.id} "
            "(services: Compute)",
        ),
        ("services", "Compute", "open", None, None),
    ]


def test_tax_that_rises_on_its_own_stays_an_anomaly(con: duckdb.DuckDBPyConnection) -> None:
    later = EVENT + timedelta(days=3)
    compute = anomaly(SERVICES, "Compute", 1100, 1000, day=later)
    tax = anomaly(SERVICES, "Tax", 528, 120, day=later)
    found = [compute, tax]
    tidy(con, found, [SERVICES], costs)
    assert outcome(found) == [
        ("services", "Compute", "open", None, None),
        ("services", "Tax", "open", None, None),
    ]


def test_a_team_holding_little_of_a_service_spike_is_its_own_event(
    con: duckdb.DuckDBPyConnection,
) -> None:
    compute = anomaly(SERVICES, "Compute", 3000, 1000)
    search = anomaly(TEAMS, "search", 900, 700)  # search's spend did not move with compute
    found = [compute, search]
    tidy(con, found, [SERVICES, TEAMS], costs)
    assert outcome(found) == [
        ("services", "Compute", "open", None, None),
        ("teams", "search", "open", None, None),
    ]
