"""Sign-in sessions for the pages: a random id in an HttpOnly cookie, stored as its SHA-256,
with a CSRF token that every form posts back."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

import duckdb

from cloudtally.access.users import User, ensure_schema, find_user

SESSION_HOURS = 12

SCHEMA = """
CREATE TABLE IF NOT EXISTS access_sessions (
    id_hash VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    csrf VARCHAR NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
"""


@dataclass(frozen=True)
class Session:
    user: User
    csrf: str

    def csrf_ok(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(self.csrf, str(given))


def _ensure(con: duckdb.DuckDBPyConnection) -> None:
    ensure_schema(con)
    con.execute(SCHEMA)


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start_session(con: duckdb.DuckDBPyConnection, user: User) -> tuple[str, Session]:
    """A new session for `user`: (the cookie value, the session)."""
    _ensure(con)
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    con.execute(
        "DELETE FROM access_sessions WHERE expires_at < now()",
    )
    con.execute(
        "INSERT INTO access_sessions VALUES (?, ?, ?, now(), now() + ?)",
        [_digest(session_id), user.name, csrf, timedelta(hours=SESSION_HOURS)],
    )
    return session_id, Session(user, csrf)


def session_for(con: duckdb.DuckDBPyConnection, session_id: str) -> Session | None:
    """The live session a cookie names (its user still active), else None."""
    _ensure(con)
    row = con.execute(
        "SELECT name, csrf FROM access_sessions WHERE id_hash = ? AND expires_at > now()",
        [_digest(session_id)],
    ).fetchone()
    if row is None:
        return None
    user = find_user(con, row[0])
    return Session(user, row[1]) if user else None


def end_session(con: duckdb.DuckDBPyConnection, session_id: str) -> None:
    _ensure(con)
    con.execute("DELETE FROM access_sessions WHERE id_hash = ?", [_digest(session_id)])


def end_sessions_of(con: duckdb.DuckDBPyConnection, name: str) -> None:
    _ensure(con)
    con.execute("DELETE FROM access_sessions WHERE name = ?", [name])
