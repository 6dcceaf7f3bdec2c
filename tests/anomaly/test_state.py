"""The anomaly state: lifecycle timestamps, and state files written by older versions."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from cloudtally.anomaly import state

T0 = datetime(2024, 10, 13, 6, 0, tzinfo=UTC)


def stamp(hours: float) -> datetime:
    return datetime.fromtimestamp(T0.timestamp() + 3600 * hours, UTC)


def anomaly(value: str = "Amazon EC2") -> state.Anomaly:
    return state.Anomaly(
        monitor="services",
        dimension="ServiceName",
        value=value,
        date=date(2024, 10, 12),
        kind="spike",
        days=1,
        actual=Decimal("500.00"),
        expected=Decimal("100.00"),
        impact=Decimal("400.00"),
        total_impact=Decimal("400.00"),
        score=9.5,
    )


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """state.now() returns the next of these times."""
    times: list[datetime] = []
    monkeypatch.setattr(state, "now", lambda: times.pop(0))
    return times


def lifecycle(con: duckdb.DuckDBPyConnection, anomaly_id: str) -> tuple:
    found = state.get(con, anomaly_id)
    return (
        found.status,
        found.detected_at,
        found.notified_at,
        found.acknowledged_at,
        found.resolved_at,
    )


def test_detected_notified_acknowledged_resolved_are_recorded(
    tmp_path: Path, clock: list[datetime]
) -> None:
    con = duckdb.connect(str(tmp_path / "state.duckdb"))
    con.execute("SET TimeZone = 'UTC'")
    a = anomaly()
    clock.extend(stamp(h) for h in (0, 1, 2, 3, 4, 5, 6, 7))
    assert state.save(con, [a]) == (1, 0)  # detected at +0h
    state.mark_sent(con, a.id, "finops-slack", 1)  # notified at +1h
    state.mark_sent(con, a.id, "payments-jira", 2)  # a second destination: still +1h
    state.set_status(con, a.id, "acknowledged", "on it")  # +3h
    state.set_status(con, a.id, "resolved", "scaled back")  # +4h
    assert lifecycle(con, a.id) == ("resolved", stamp(0), stamp(1), stamp(3), stamp(4))
    # Re-opened: no longer resolved, and the first acknowledgement stays.
    state.set_status(con, a.id, "open", "came back")  # +5h
    state.set_status(con, a.id, "acknowledged", None)  # +6h
    assert lifecycle(con, a.id) == ("acknowledged", stamp(0), stamp(1), stamp(3), None)
    # Detecting it again changes none of them.
    clock.append(stamp(8))
    assert state.save(con, [anomaly()]) == (0, 1)
    assert lifecycle(con, a.id) == ("acknowledged", stamp(0), stamp(1), stamp(3), None)


OLD_SCHEMA = """
CREATE TABLE anomalies (
    id VARCHAR PRIMARY KEY, monitor VARCHAR NOT NULL, dimension VARCHAR NOT NULL,
    value VARCHAR NOT NULL, date DATE NOT NULL, kind VARCHAR NOT NULL, days INTEGER NOT NULL,
    actual DECIMAL(18, 2) NOT NULL, expected DECIMAL(18, 2) NOT NULL,
    impact DECIMAL(18, 2) NOT NULL, total_impact DECIMAL(18, 2) NOT NULL,
    score DOUBLE NOT NULL, status VARCHAR NOT NULL, owner VARCHAR, parent VARCHAR,
    root_causes JSON, evidence JSON, detected_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE anomaly_events (anomaly_id VARCHAR NOT NULL, recorded_at TIMESTAMPTZ NOT NULL,
    status_from VARCHAR, status_to VARCHAR NOT NULL, note VARCHAR);
CREATE TABLE anomaly_sends (anomaly_id VARCHAR NOT NULL, destination VARCHAR NOT NULL,
    sent_at TIMESTAMPTZ NOT NULL, attempts INTEGER NOT NULL,
    PRIMARY KEY (anomaly_id, destination));
"""


def test_an_older_state_file_gains_the_timestamps_from_what_it_recorded(tmp_path: Path) -> None:
    path = tmp_path / "state.duckdb"
    con = duckdb.connect(str(path))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(OLD_SCHEMA)
    rows = [
        ("a1", "Amazon EC2", "resolved"),
        ("a2", "Amazon S3", "acknowledged"),
        ("a3", "AWS Lambda", "open"),
        ("a4", "Amazon RDS", "open"),  # resolved once, then re-opened
    ]
    for anomaly_id, value, status in rows:
        con.execute(
            "INSERT INTO anomalies VALUES (?, 'services', 'ServiceName', ?, DATE '2024-10-12', "
            "'spike', 1, 500, 100, 400, 400, 9.5, ?, NULL, NULL, '[]', '[]', ?, ?)",
            [anomaly_id, value, status, stamp(0), stamp(0)],
        )
    events = [
        ("a1", 2, "open", "acknowledged"),
        ("a1", 5, "acknowledged", "resolved"),
        ("a2", 3, "open", "acknowledged"),
        ("a4", 1, "open", "resolved"),
        ("a4", 2, "resolved", "open"),
    ]
    con.executemany(
        "INSERT INTO anomaly_events VALUES (?, ?, ?, ?, NULL)",
        [[i, stamp(h), f, t] for i, h, f, t in events],
    )
    con.executemany(
        "INSERT INTO anomaly_sends VALUES (?, ?, ?, 1)",
        [["a1", "slack", stamp(1.5)], ["a1", "jira", stamp(1)], ["a2", "slack", stamp(0.5)]],
    )
    con.close()
    with duckdb.connect(str(path)) as con:
        con.execute("SET TimeZone = 'UTC'")
        assert [lifecycle(con, i) for i, _, _ in rows] == [
            ("resolved", stamp(0), stamp(1), stamp(2), stamp(5)),
            ("acknowledged", stamp(0), stamp(0.5), stamp(3), None),
            ("open", stamp(0), None, None, None),
            ("open", stamp(0), None, None, None),
        ]
        # The migration runs once: a second open finds nothing to add.
        state.ensure_schema(con)
        columns = con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'anomalies'"
        ).fetchall()
        assert [c[0] for c in columns][-6:] == [
            "updated_at",
            "first_seen",
            "notified_at",
            "acknowledged_at",
            "resolved_at",
            "reason",
        ]


def test_a_run_is_stored_whole_or_not_at_all(tmp_path: Path, clock: list[datetime]) -> None:
    con = duckdb.connect(str(tmp_path / "state.duckdb"))
    con.execute("SET TimeZone = 'UTC'")
    good, bad = anomaly("Amazon EC2"), anomaly("Amazon S3")
    bad.actual = Decimal("1e20")  # does not fit the column: the insert fails
    clock.extend([stamp(0), stamp(1)])
    with pytest.raises(duckdb.ConversionException):
        state.save(con, [good, bad])
    assert state.load(con) == []
    assert con.execute("SELECT count(*) FROM anomaly_events").fetchone() == (0,)
