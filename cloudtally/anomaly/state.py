"""Durable anomaly state in `state.duckdb`: anomalies, their lifecycle, feedback, sends.

An anomaly's id is a hash of (monitor, dimension, value, first day), so detecting the same
episode again (a re-run, a replay with `--since`, a later daily run while it goes on) updates
one row and never adds a second. Status moves open -> acknowledged -> resolved; two more states
are set by detection itself: `suppressed` (inside a planned window given as feedback) and
`explained` (a child whose parent anomaly, on a coarser monitor, already covers it).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import duckdb

from cloudtally.anomaly.config import AnomalyError
from cloudtally.query.ownership import EVERYTHING, Lens, Scope, ScopeError

Day = date  # the `date` field of Anomaly hides the type inside the class body

STATUSES = ("open", "acknowledged", "resolved", "suppressed", "explained")
FEEDBACK = {
    "real": "real",
    "expected": "expected",
    "planned": "expected",
    "false-positive": "false-positive",
    "false_positive": "false-positive",
    "fp": "false-positive",
}
# Each false positive on a series raises its score threshold by this share (used by later runs).
FALSE_POSITIVE_STEP = 0.5

SCHEMA = """
CREATE TABLE IF NOT EXISTS anomalies (
    id VARCHAR PRIMARY KEY,
    monitor VARCHAR NOT NULL,
    dimension VARCHAR NOT NULL,
    value VARCHAR NOT NULL,
    date DATE NOT NULL,
    kind VARCHAR NOT NULL,
    days INTEGER NOT NULL,
    actual DECIMAL(18, 2) NOT NULL,
    expected DECIMAL(18, 2) NOT NULL,
    impact DECIMAL(18, 2) NOT NULL,
    total_impact DECIMAL(18, 2) NOT NULL,
    score DOUBLE NOT NULL,
    status VARCHAR NOT NULL,
    owner VARCHAR,
    parent VARCHAR,
    root_causes JSON,
    evidence JSON,
    first_seen DATE,
    detected_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    notified_at TIMESTAMPTZ,
    acknowledged_at TIMESTAMPTZ,
    resolved_at TIMESTAMPTZ,
    reason VARCHAR
);
CREATE TABLE IF NOT EXISTS anomaly_events (
    anomaly_id VARCHAR NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL,
    status_from VARCHAR,
    status_to VARCHAR NOT NULL,
    note VARCHAR
);
CREATE TABLE IF NOT EXISTS anomaly_feedback (
    anomaly_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    monitor VARCHAR NOT NULL,
    dimension VARCHAR NOT NULL,
    value VARCHAR NOT NULL,
    window_start DATE,
    window_end DATE,
    note VARCHAR,
    recorded_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS anomaly_sends (
    anomaly_id VARCHAR NOT NULL,
    destination VARCHAR NOT NULL,
    sent_at TIMESTAMPTZ NOT NULL,
    attempts INTEGER NOT NULL,
    PRIMARY KEY (anomaly_id, destination)
);
"""

COLUMNS = (
    "id",
    "monitor",
    "dimension",
    "value",
    "date",
    "kind",
    "days",
    "actual",
    "expected",
    "impact",
    "total_impact",
    "score",
    "status",
    "owner",
    "parent",
    "root_causes",
    "evidence",
    "first_seen",
)
# The lifecycle, kept by the state itself (the KPI scorecard's triage time reads them):
# detected (first stored), notified (first destination that took it), acknowledged (first
# time), resolved (latest, cleared when re-opened), and the reason detection gave for a status
# it set (explained by which anomaly, closed because the series is gone).
LIFECYCLE = ("detected_at", "notified_at", "acknowledged_at", "resolved_at", "reason")


@dataclass
class Anomaly:
    monitor: str
    dimension: str  # "ServiceName" or "ServiceName,SubAccountId"
    value: str  # "Amazon CloudWatch" or "Amazon EC2 / 123456789012"
    date: date
    kind: str
    days: int
    actual: Decimal
    expected: Decimal
    impact: Decimal
    total_impact: Decimal
    score: float
    status: str = "open"
    owner: str | None = None
    parent: str | None = None
    root_causes: list[dict[str, Any]] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)
    first_seen: Day | None = None  # new spend: the series' first day of spend
    id: str = ""
    detected_at: datetime | None = None
    notified_at: datetime | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    reason: str | None = None
    # The series' key values, one per dimension (known to the run that found it, not stored).
    keys: tuple[str, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.id:
            self.id = anomaly_id(self.monitor, self.dimension, self.value, self.date)

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in (*COLUMNS, *LIFECYCLE)}


def anomaly_id(monitor: str, dimension: str, value: str, day: date) -> str:
    """A short stable id for one episode of one series of one monitor.

    >>> anomaly_id("services", "ServiceName", "Amazon CloudWatch", date(2024, 9, 20))
    'a5ed48c4dd'
    """
    text = "\x1f".join([monitor, dimension, value, day.isoformat()])
    return "a" + hashlib.sha256(text.encode()).hexdigest()[:9]


def now() -> datetime:
    return datetime.now(UTC)


# Columns added after the first release, with how an older state file fills them in from what
# it already recorded (the events log and the sent-log), in one transaction.
MIGRATIONS = (
    ("first_seen", "DATE", None),
    (
        "notified_at",
        "TIMESTAMPTZ",
        "SELECT anomaly_id, min(sent_at) FROM anomaly_sends GROUP BY 1",
    ),
    (
        "acknowledged_at",
        "TIMESTAMPTZ",
        "SELECT anomaly_id, min(recorded_at) FROM anomaly_events "
        "WHERE status_to = 'acknowledged' GROUP BY 1",
    ),
    (
        "resolved_at",
        "TIMESTAMPTZ",
        "SELECT e.anomaly_id, max(e.recorded_at) FROM anomaly_events AS e "
        "JOIN anomalies AS a ON a.id = e.anomaly_id "
        "WHERE e.status_to = 'resolved' AND a.status = 'resolved' GROUP BY 1",
    ),
    ("reason", "VARCHAR", None),
)


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the tables, or bring a state file written by an older version up to date."""
    con.execute(SCHEMA)
    con.execute(ASSIGNMENTS)
    present = {
        row[0]
        for row in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'anomalies' "
            "AND database_name = current_database()"
        ).fetchall()
    }
    missing = [m for m in MIGRATIONS if m[0] not in present]
    if not missing:
        return
    con.execute("BEGIN TRANSACTION")
    try:
        for column, kind, backfill in missing:
            con.execute(f"ALTER TABLE anomalies ADD COLUMN {column} {kind}")
            if backfill:
                con.execute(
                    f"UPDATE anomalies SET {column} = b.stamp "
                    f"FROM ({backfill}) AS b(anomaly_id, stamp) WHERE anomalies.id = b.anomaly_id"
                )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def save(con: duckdb.DuckDBPyConnection, anomalies: list[Anomaly]) -> tuple[int, int]:
    """Insert new anomalies and update the measurements of known ones: (new, updated).

    A known anomaly keeps its status (someone may have acknowledged it) unless detection now
    finds it explained by a parent or inside a planned window.
    """
    ensure_schema(con)
    new = updated = 0
    stamp = now()
    con.execute("BEGIN TRANSACTION")
    try:
        for a in anomalies:
            if _save_one(con, a, stamp):
                new += 1
            else:
                updated += 1
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return new, updated


def _save_one(con: duckdb.DuckDBPyConnection, a: Anomaly, stamp: datetime) -> bool:
    """Insert or update one anomaly; True when it is new."""
    row = con.execute(
        f"SELECT status, {', '.join(LIFECYCLE)} FROM anomalies WHERE id = ?", [a.id]
    ).fetchone()
    values = [
        a.kind,
        a.days,
        a.actual,
        a.expected,
        a.impact,
        a.total_impact,
        a.score,
        a.owner,
        a.parent,
        json.dumps(a.root_causes),
        json.dumps(a.evidence),
        a.first_seen,
    ]
    if row is None:
        times = (stamp, stamp)  # detected_at, updated_at
        con.execute(
            """
            INSERT INTO anomalies (kind, days, actual, expected, impact, total_impact, score,
                owner, parent, root_causes, evidence, first_seen, id, monitor, dimension,
                value, date, status, reason, detected_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [*values, a.id, a.monitor, a.dimension, a.value, a.date, a.status, a.reason, *times],
        )
        con.execute(
            "INSERT INTO anomaly_events VALUES (?, ?, NULL, ?, ?)",
            [a.id, stamp, a.status, "detected" + (f": {a.reason}" if a.reason else "")],
        )
        a.detected_at = stamp
        return True
    status = row[0]
    if status == "open" and a.status in ("suppressed", "explained"):
        set_status(con, a.id, a.status, f"detection: {a.reason or a.status}", allowed=None)
    elif status != a.status or not a.reason:
        # A person moved it on (or detection has nothing new to say): keep what is stored.
        a.status, a.reason = status, row[5]
    con.execute(
        """
        UPDATE anomalies SET kind = ?, days = ?, actual = ?, expected = ?, impact = ?,
            total_impact = ?, score = ?, owner = ?, parent = ?, root_causes = ?,
            evidence = ?, first_seen = ?, reason = ?, updated_at = ?
        WHERE id = ?
        """,
        [*values, a.reason, stamp, a.id],
    )
    a.detected_at, a.notified_at, a.acknowledged_at, a.resolved_at = row[1:5]
    return False


def load(
    con: duckdb.DuckDBPyConnection,
    *,
    status: str | None = None,
    monitor: str | None = None,
    since: date | None = None,
    ids: list[str] | None = None,
    scope: Scope = EVERYTHING,
) -> list[Anomaly]:
    """Stored anomalies, newest first (for a scoped viewer: those of series of their teams
    or products only, as the lens decides). A scoped viewer's open anomalies include the
    explained ones whose parent lies outside their scope: the event reached them through a
    series they may see, and the parent they may not see cannot stand for it."""
    ensure_schema(con)
    where: list[str] = ["true"]
    params: list[object] = []
    orphans = status == "open" and not scope.unrestricted
    if status:
        where.append("(status = ? OR (? AND status = 'explained'))")
        params += [status, orphans]
    if monitor:
        where.append("monitor = ?")
        params.append(monitor)
    if since:
        where.append("date >= ?")
        params.append(since)
    if ids is not None:
        where.append("list_contains(?, id)")
        params.append(ids)
    names = (*COLUMNS, *LIFECYCLE)
    rows = con.execute(
        f"SELECT {', '.join(names)} FROM anomalies WHERE {' AND '.join(where)} "
        "ORDER BY date DESC, impact DESC, id",
        params,
    ).fetchall()
    found = []
    for row in rows:
        record = dict(zip(names, row, strict=True))
        record["root_causes"] = json.loads(record["root_causes"] or "[]")
        record["evidence"] = json.loads(record["evidence"] or "[]")
        found.append(Anomaly(**record))
    assigned = dict(con.execute("SELECT anomaly_id, owner FROM anomaly_assignments").fetchall())
    for a in found:
        a.owner = assigned.get(a.id, a.owner)
    if not scope.unrestricted:
        lens = Lens(scope=scope)
        found = [a for a in found if lens.covers(series_values(a))]
    if orphans:
        visible = {a.id for a in found}
        found = [a for a in found if a.status == "open" or a.parent not in visible]
    return found


def series_values(anomaly: Anomaly) -> dict[str, str]:
    """`{dimension: value}` of the series an anomaly was found on."""
    if anomaly.dimension == "total":
        return {}
    return dict(zip(anomaly.dimension.split(","), anomaly.value.split(" / "), strict=False))


def get(con: duckdb.DuckDBPyConnection, anomaly: str, scope: Scope = EVERYTHING) -> Anomaly:
    """One anomaly; a ScopeError when it lies outside a scoped viewer's teams and products."""
    found = load(con, ids=[anomaly])
    if not found:
        raise AnomalyError(
            f"No anomaly with id {anomaly!r}: `cloudtally anomalies list` shows the ids."
        )
    if not Lens(scope=scope).covers(series_values(found[0])):
        raise ScopeError(f"Anomaly {anomaly} is outside what you may see.")
    return found[0]


# Which moves a person may make with ack/resolve.
_MOVES = {
    "acknowledged": {"open", "explained", "suppressed"},
    "resolved": {"open", "acknowledged", "explained", "suppressed"},
    "open": {"acknowledged", "resolved", "explained", "suppressed"},
}


def set_status(
    con: duckdb.DuckDBPyConnection,
    anomaly: str,
    status: str,
    note: str | None,
    *,
    allowed: set[str] | str | None = "default",
) -> str:
    """Move an anomaly to `status`; returns the status it had."""
    ensure_schema(con)
    current = get(con, anomaly).status
    sources = _MOVES.get(status, set()) if allowed == "default" else allowed
    if current == status:
        return current
    if sources is not None and current not in sources:
        raise AnomalyError(f"Anomaly {anomaly} is {current}; it cannot become {status}.")
    stamp = now()
    con.execute(
        """
        UPDATE anomalies SET status = ?, updated_at = ?,
            acknowledged_at = CASE WHEN ? = 'acknowledged'
                THEN coalesce(acknowledged_at, ?) ELSE acknowledged_at END,
            resolved_at = CASE WHEN ? = 'resolved' THEN ?
                WHEN ? IN ('open', 'acknowledged') THEN NULL ELSE resolved_at END
        WHERE id = ?
        """,
        [status, stamp, status, stamp, status, stamp, status, anomaly],
    )
    con.execute(
        "INSERT INTO anomaly_events VALUES (?, ?, ?, ?, ?)", [anomaly, stamp, current, status, note]
    )
    return current


def close(con: duckdb.DuckDBPyConnection, anomaly: str, reason: str) -> None:
    """Resolve an anomaly for a reason detection found (its series is gone), whatever it was."""
    set_status(con, anomaly, "resolved", f"detection: {reason}", allowed=None)
    con.execute("UPDATE anomalies SET reason = ? WHERE id = ?", [reason, anomaly])


def add_feedback(
    con: duckdb.DuckDBPyConnection,
    anomaly: str,
    kind: str,
    *,
    window: tuple[date, date] | None = None,
    note: str | None = None,
) -> Anomaly:
    """Record feedback on an anomaly and move it along its lifecycle.

    `expected` (or `planned`) with a window suppresses that series' anomalies in the window in
    later runs; `false-positive` raises that series' score threshold in later runs; both resolve
    the anomaly. `real` acknowledges it.
    """
    ensure_schema(con)
    canonical = FEEDBACK.get(kind.lower())
    if canonical is None:
        raise AnomalyError(
            f"Unknown feedback {kind!r}: use real, expected (or planned) or false-positive."
        )
    if window is not None and canonical != "expected":
        raise AnomalyError("--from/--until give the window of planned activity: use `expected`.")
    target = get(con, anomaly)
    start, end = window if window else (target.date, target.date)
    if start > end:
        raise AnomalyError(f"The window {start}..{end} ends before it starts.")
    con.execute(
        "INSERT INTO anomaly_feedback VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            anomaly,
            canonical,
            target.monitor,
            target.dimension,
            target.value,
            start,
            end,
            note,
            now(),
        ],
    )
    if canonical == "real":
        if target.status in ("open", "explained", "suppressed"):
            set_status(con, anomaly, "acknowledged", f"feedback: real. {note or ''}".strip())
    elif target.status != "resolved":
        set_status(con, anomaly, "resolved", f"feedback: {canonical}. {note or ''}".strip())
    return get(con, anomaly)


@dataclass(frozen=True)
class FeedbackRules:
    """What earlier feedback tells a run of one monitor."""

    planned: dict[tuple[str, str], list[tuple[date, date]]]  # (dimension, value) -> windows
    false_positives: dict[tuple[str, str], int]

    def suppressed(self, dimension: str, value: str, day: date) -> bool:
        return any(s <= day <= e for s, e in self.planned.get((dimension, value), []))

    def z_scale(self, dimension: str, value: str) -> float:
        return 1.0 + FALSE_POSITIVE_STEP * self.false_positives.get((dimension, value), 0)


def feedback_rules(con: duckdb.DuckDBPyConnection, monitor: str) -> FeedbackRules:
    ensure_schema(con)
    planned: dict[tuple[str, str], list[tuple[date, date]]] = {}
    false_positives: dict[tuple[str, str], int] = {}
    rows = con.execute(
        "SELECT kind, dimension, value, window_start, window_end FROM anomaly_feedback "
        "WHERE monitor = ?",
        [monitor],
    ).fetchall()
    for kind, dimension, value, start, end in rows:
        if kind == "expected":
            planned.setdefault((dimension, value), []).append((start, end))
        elif kind == "false-positive":
            false_positives[(dimension, value)] = false_positives.get((dimension, value), 0) + 1
    return FeedbackRules(planned, false_positives)


def was_sent(con: duckdb.DuckDBPyConnection, anomaly: str, destination: str) -> bool:
    ensure_schema(con)
    row = con.execute(
        "SELECT count(*) FROM anomaly_sends WHERE anomaly_id = ? AND destination = ?",
        [anomaly, destination],
    ).fetchone()
    return bool(row and row[0])


def mark_sent(
    con: duckdb.DuckDBPyConnection, anomaly: str, destination: str, attempts: int
) -> None:
    stamp = now()
    con.execute(
        "INSERT OR IGNORE INTO anomaly_sends VALUES (?, ?, ?, ?)",
        [anomaly, destination, stamp, attempts],
    )
    con.execute(
        "UPDATE anomalies SET notified_at = coalesce(notified_at, ?) WHERE id = ?",
        [stamp, anomaly],
    )


# A person's choice of owner, which wins over the owner detection found (and is kept when
# detection runs again).
ASSIGNMENTS = """
CREATE TABLE IF NOT EXISTS anomaly_assignments (
    anomaly_id VARCHAR PRIMARY KEY,
    owner VARCHAR NOT NULL,
    assigned_at TIMESTAMPTZ NOT NULL
);
"""


def assign(con: duckdb.DuckDBPyConnection, anomaly: str, owner: str, note: str | None) -> None:
    """Make `owner` (a team or a person) the anomaly's owner; the history records it."""
    ensure_schema(con)
    current = get(con, anomaly)
    stamp = now()
    con.execute(
        "INSERT OR REPLACE INTO anomaly_assignments VALUES (?, ?, ?)", [anomaly, owner, stamp]
    )
    con.execute(
        "INSERT INTO anomaly_events VALUES (?, ?, ?, ?, ?)",
        [anomaly, stamp, current.status, current.status, f"owner {owner}. {note or ''}".strip()],
    )


def history(
    con: duckdb.DuckDBPyConnection, anomaly: str
) -> list[tuple[datetime, str | None, str, str | None]]:
    """The anomaly's events, newest first: (when, status before, status after, note)."""
    ensure_schema(con)
    return [
        (r[0], r[1], r[2], r[3])
        for r in con.execute(
            "SELECT recorded_at, status_from, status_to, note FROM anomaly_events "
            "WHERE anomaly_id = ? ORDER BY recorded_at DESC",
            [anomaly],
        ).fetchall()
    ]
