"""The audit log: every data access (who, what, when, with which scope) and every sign-in,
kept in the state database. Credentials are never written: requests carry them in headers and
form bodies, and the log records only the method, the path and the query string."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

SCHEMA = """
CREATE TABLE IF NOT EXISTS access_audit (
    id VARCHAR NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL,
    name VARCHAR,
    role VARCHAR,
    scope VARCHAR,
    action VARCHAR NOT NULL,
    target VARCHAR NOT NULL,
    status INTEGER,
    client VARCHAR
);
"""

COLUMNS = ("recorded_at", "name", "role", "scope", "action", "target", "outcome", "client")


@dataclass(frozen=True)
class Entry:
    recorded_at: datetime
    name: str | None
    role: str | None
    scope: str | None
    action: str  # GET, POST, sign-in, sign-out
    target: str  # path and query string
    outcome: str  # "served", or the status of a refusal or failure ("403")
    client: str | None


def record(
    con: duckdb.DuckDBPyConnection,
    *,
    entry_id: str,
    name: str | None,
    role: str | None,
    scope: str | None,
    action: str,
    target: str,
    status: int | None,
    client: str | None,
) -> None:
    """Write one entry (before the data is read: nothing is served unrecorded)."""
    con.execute(SCHEMA)
    con.execute(
        "INSERT INTO access_audit VALUES (?, now(), ?, ?, ?, ?, ?, ?, ?)",
        [entry_id, name, role, scope, action, target[:2000], status, client],
    )


def set_status(con: duckdb.DuckDBPyConnection, entry_id: str, status: int) -> None:
    """Record that the request an entry describes was refused or failed."""
    con.execute(SCHEMA)
    con.execute("UPDATE access_audit SET status = ? WHERE id = ?", [status, entry_id])


def entries(
    con: duckdb.DuckDBPyConnection,
    *,
    name: str | None = None,
    since: datetime | None = None,
    limit: int | None = 100,
) -> list[Entry]:
    """Audit entries, newest first."""
    con.execute(SCHEMA)
    where: list[str] = ["true"]
    params: list[object] = []
    if name is not None:
        where.append("name = ?")
        params.append(name)
    if since is not None:
        where.append("recorded_at >= ?")
        params.append(since)
    tail = f" LIMIT {int(limit)}" if limit else ""
    rows = con.execute(
        "SELECT recorded_at, name, role, scope, action, target, "
        "coalesce(CAST(status AS VARCHAR), 'served'), client "
        f"FROM access_audit WHERE {' AND '.join(where)} "
        f"ORDER BY recorded_at DESC{tail}",
        params,
    ).fetchall()
    return [Entry(*r) for r in rows]
