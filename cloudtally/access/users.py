"""Users and their credentials: a role, the teams and products a viewer may see, an API token
(argon2-hashed, shown once) and an optional password (argon2-hashed).

Roles:

- `admin` and `finops` see everything, unallocated spend included, and triage anomalies;
- `viewer` sees the rows of their teams and products only (at least one is required) and
  triages their teams' anomalies.

A token reads `ctk_<id>_<secret>`: the id finds the user without scanning, the secret is
checked against its argon2 hash. Verifying argon2 costs tens of milliseconds by design, so a
token checked once is remembered by its SHA-256 (never the token itself) for a few minutes; the
user's row is still read on every request, so a revoked token stops working at once.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from cloudtally.errors import CloudtallyError
from cloudtally.query.ownership import EVERYTHING, Scope

ROLES = ("admin", "finops", "viewer")
TOKEN_PREFIX = "ctk_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_TOKEN = re.compile(r"^ctk_([0-9a-f]{12})_([A-Za-z0-9_-]{20,100})$")
MIN_PASSWORD = 12

SCHEMA = """
CREATE TABLE IF NOT EXISTS access_users (
    name VARCHAR PRIMARY KEY,
    role VARCHAR NOT NULL,
    teams VARCHAR[] NOT NULL,
    products VARCHAR[] NOT NULL,
    token_id VARCHAR,
    token_hash VARCHAR,
    password_hash VARCHAR,
    created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ
);
"""

_hasher = PasswordHasher()


class AccessError(CloudtallyError, ValueError):
    """An access command was given something it cannot do (unknown user, bad role, ...)."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    teams: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    created_at: datetime | None = None
    revoked_at: datetime | None = None
    has_password: bool = False

    @property
    def scope(self) -> Scope:
        """What the user may see: a viewer their teams and products, others everything."""
        if self.role == "viewer":
            return Scope(teams=self.teams, products=self.products)
        return EVERYTHING

    @property
    def sees_unallocated(self) -> bool:
        return self.role in ("admin", "finops")

    def scope_label(self) -> str:
        if self.scope.unrestricted:
            return "all"
        parts = [f"team={t}" for t in self.teams] + [f"product={p}" for p in self.products]
        return ",".join(parts)

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "role": self.role,
            "teams": list(self.teams),
            "products": list(self.products),
            "password": self.has_password,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        }


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(SCHEMA)


def add_user(
    con: duckdb.DuckDBPyConnection,
    name: str,
    role: str,
    *,
    teams: Sequence[str] = (),
    products: Sequence[str] = (),
) -> tuple[User, str]:
    """Create a user; returns the user and their API token (shown once, stored hashed)."""
    ensure_schema(con)
    if not _NAME.match(name):
        raise AccessError(
            f"User name {name!r} is not allowed: use up to 64 letters, digits, '.', '_', '@' "
            "or '-', starting with a letter or digit."
        )
    if role not in ROLES:
        raise AccessError(f"Role {role!r} is unknown: use one of {', '.join(ROLES)}.")
    teams = _values(teams, "--team")
    products = _values(products, "--product")
    if role == "viewer" and not teams and not products:
        raise AccessError(
            "A viewer sees the rows of their teams or products: give --team or --product "
            "(use --role finops for someone who reads everything)."
        )
    if role != "viewer" and (teams or products):
        raise AccessError(
            f"--team and --product scope a viewer; a {role} sees everything. "
            "Use --role viewer to scope the user."
        )
    existing = con.execute("SELECT revoked_at FROM access_users WHERE name = ?", [name]).fetchone()
    if existing is not None and existing[0] is None:
        raise AccessError(
            f"User {name!r} exists: `cloudtally access revoke {name}` first to replace it."
        )
    token_id, token = _new_token()
    now = _now(con)
    con.execute("DELETE FROM access_users WHERE name = ?", [name])
    con.execute(
        "INSERT INTO access_users VALUES (?, ?, ?, ?, ?, ?, NULL, ?, NULL)",
        [name, role, list(teams), list(products), token_id, _hasher.hash(token), now],
    )
    return User(name, role, teams, products, now), token


def set_password(con: duckdb.DuckDBPyConnection, name: str, password: str) -> None:
    """Give an active user a password for the sign-in page (stored as an argon2 hash)."""
    ensure_schema(con)
    if len(password) < MIN_PASSWORD:
        raise AccessError(f"A password needs at least {MIN_PASSWORD} characters.")
    _active(con, name)
    con.execute(
        "UPDATE access_users SET password_hash = ? WHERE name = ?", [_hasher.hash(password), name]
    )


def revoke(con: duckdb.DuckDBPyConnection, name: str) -> User:
    """Revoke a user: the token and password stop working at once, sessions end."""
    ensure_schema(con)
    user = _active(con, name)
    con.execute(
        "UPDATE access_users SET token_id = NULL, token_hash = NULL, password_hash = NULL, "
        "revoked_at = ? WHERE name = ?",
        [_now(con), name],
    )
    from cloudtally.access.sessions import end_sessions_of

    end_sessions_of(con, name)
    return user


def list_users(con: duckdb.DuckDBPyConnection, *, include_revoked: bool = False) -> list[User]:
    ensure_schema(con)
    where = "" if include_revoked else "WHERE revoked_at IS NULL"
    rows = con.execute(
        "SELECT name, role, teams, products, created_at, revoked_at, password_hash IS NOT NULL "
        f"FROM access_users {where} ORDER BY name"
    ).fetchall()
    return [_user(r) for r in rows]


def find_user(con: duckdb.DuckDBPyConnection, name: str) -> User | None:
    """The active user called `name`, if any."""
    ensure_schema(con)
    row = con.execute(
        "SELECT name, role, teams, products, created_at, revoked_at, password_hash IS NOT NULL "
        "FROM access_users WHERE name = ? AND revoked_at IS NULL",
        [name],
    ).fetchone()
    return _user(row) if row else None


class _VerifiedTokens:
    """SHA-256 digests of tokens whose argon2 check passed recently (never the tokens)."""

    def __init__(self, ttl: float = 300.0) -> None:
        self.ttl = ttl
        self._seen: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def known(self, digest: str, token_hash: str) -> bool:
        with self._lock:
            found = self._seen.get(digest)
            return bool(found and found[0] == token_hash and found[1] > time.monotonic())

    def remember(self, digest: str, token_hash: str) -> None:
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen.clear()
            self._seen[digest] = (token_hash, time.monotonic() + self.ttl)


_verified = _VerifiedTokens()


def user_for_token(con: duckdb.DuckDBPyConnection, token: str) -> User | None:
    """The active user a token belongs to (None for an unknown, malformed or revoked token)."""
    ensure_schema(con)
    match = _TOKEN.match(token.strip())
    if not match:
        return None
    row = con.execute(
        "SELECT name, role, teams, products, created_at, revoked_at, password_hash IS NOT NULL, "
        "token_hash FROM access_users WHERE token_id = ? AND revoked_at IS NULL",
        [match.group(1)],
    ).fetchone()
    if row is None:
        return None
    token_hash = row[7]
    digest = hashlib.sha256(token.strip().encode()).hexdigest()
    if not _verified.known(digest, token_hash):
        if not _verify(token_hash, token.strip()):
            return None
        _verified.remember(digest, token_hash)
    return _user(row[:7])


def user_for_password(con: duckdb.DuckDBPyConnection, name: str, password: str) -> User | None:
    """The active user `name` if `password` is theirs."""
    ensure_schema(con)
    row = con.execute(
        "SELECT name, role, teams, products, created_at, revoked_at, password_hash IS NOT NULL, "
        "password_hash FROM access_users WHERE name = ? AND revoked_at IS NULL",
        [name],
    ).fetchone()
    if row is None or row[7] is None:
        # Spend the same time as a real check, so a wrong name is not told apart by timing.
        _verify(_DUMMY_HASH, password)
        return None
    return _user(row[:7]) if _verify(row[7], password) else None


# -- helpers -------------------------------------------------------------------------------

_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def _verify(stored: str, given: str) -> bool:
    try:
        return _hasher.verify(stored, given)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _new_token() -> tuple[str, str]:
    token_id = secrets.token_hex(6)
    return token_id, f"{TOKEN_PREFIX}{token_id}_{secrets.token_urlsafe(32)}"


def _values(values: Sequence[str], option: str) -> tuple[str, ...]:
    cleaned = tuple(dict.fromkeys(v.strip() for v in values))
    if any(not v for v in cleaned):
        raise AccessError(f"{option} needs a value.")
    return cleaned


def _active(con: duckdb.DuckDBPyConnection, name: str) -> User:
    user = find_user(con, name)
    if user is None:
        raise AccessError(f"No active user {name!r}: `cloudtally access list` shows them.")
    return user


def _user(row: Sequence[object]) -> User:
    name, role, teams, products, created, revoked, has_password = row
    return User(
        str(name),
        str(role),
        tuple(teams or ()),  # type: ignore[arg-type]
        tuple(products or ()),  # type: ignore[arg-type]
        created,  # type: ignore[arg-type]
        revoked,  # type: ignore[arg-type]
        bool(has_password),
    )


def _now(con: duckdb.DuckDBPyConnection) -> datetime:
    row = con.execute("SELECT now()").fetchone()
    assert row is not None
    return row[0]
