"""Business metrics read from PostgreSQL: one SELECT, run read-only, values as exact decimals.

DuckDB reaches PostgreSQL through its `postgres` extension, which it downloads at first use;
cloudtally reads through psycopg (the `postgres` extra) instead, so no download is needed.

What keeps the query from writing, in layers (any one of them refuses a write):

- the query is parsed (sqlglot, PostgreSQL dialect) and must be one SELECT with no
  data-modifying part (a `WITH x AS (INSERT ...)`, `SELECT ... INTO`, `FOR UPDATE`);
- it runs as a prepared statement, which the server refuses to hold more than one command;
- the session starts with `default_transaction_read_only=on` and the query runs inside
  `BEGIN READ ONLY`, which the query cannot undo (the server refuses read-write mode after a
  transaction's first query); the transaction is rolled back after the rows are read.

Passwords are never written in metrics.yaml: libpq reads PGPASSWORD (or ~/.pgpass), or the
source names an environment variable in `password_env:`.
"""

from __future__ import annotations

import os
import re
from typing import Any

from cloudtally.errors import CloudtallyError

URL_SCHEMES = ("postgresql://", "postgres://")
STATEMENT_TIMEOUT_SECONDS = 300
CONNECT_TIMEOUT_SECONDS = 10
# libpq's words for a login the server refused (pg_hba.conf, wrong or missing password).
_AUTH_FAILURES = ("authentication failed", "no password supplied", "pg_hba.conf")


class PostgresMetricError(CloudtallyError, ValueError):
    """A metric query against PostgreSQL cannot run."""


def is_postgres_url(database: str) -> bool:
    return database.strip().lower().startswith(URL_SCHEMES)


def query_postgres(
    where: str, url: str, query: str, password_env: str | None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run `query` read-only against the database at `url`: (column names, rows).

    `where` starts every message ("rules/metrics.yaml: metric 'orders'")."""
    try:
        import psycopg
        from psycopg.types.numeric import NumericLoader
    except ImportError:
        raise PostgresMetricError(
            f"{where}: reading a PostgreSQL database needs psycopg: "
            "pip install 'cloudtally[postgres]'."
        ) from None
    params = _connection_params(where, url.strip())
    _check_one_select(where, query)
    extra: dict[str, Any] = {}
    if password_env is not None:
        if password_env not in os.environ:
            raise PostgresMetricError(
                f"{where}: password_env names {password_env}, which is not set; export it "
                "with the database user's password."
            )
        extra["password"] = os.environ[password_env]
    options = " ".join(
        part
        for part in (
            params.get("options", ""),
            "-c default_transaction_read_only=on",
            f"-c statement_timeout={STATEMENT_TIMEOUT_SECONDS}s",
        )
        if part
    )
    target = _target(params)
    try:
        conn = psycopg.connect(
            url.strip(),
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            application_name="cloudtally",
            options=options,
            **extra,
        )
    except psycopg.Error as exc:
        raise _connect_error(where, target, params, exc) from None
    try:
        conn.read_only = True
        # Floats come back as the decimal the server prints (the shortest exact spelling),
        # numerics as they are: no binary floating point on the way.
        for name in ("float4", "float8"):
            conn.adapters.register_loader(name, NumericLoader)
        with conn.cursor() as cursor:
            cursor.execute(query, prepare=True)
            names = [d.name for d in cursor.description or []]
            rows = cursor.fetchall()
        conn.rollback()
    except psycopg.errors.QueryCanceled:
        raise PostgresMetricError(
            f"{where}: the query ran longer than {STATEMENT_TIMEOUT_SECONDS} s and was cancelled; "
            "make it cheaper (aggregate in a view, filter by date)."
        ) from None
    except psycopg.errors.ReadOnlySqlTransaction as exc:
        raise PostgresMetricError(
            f"{where}: the query tried to write ({_first_line(exc)}); metric queries only read."
        ) from None
    except psycopg.Error as exc:
        raise PostgresMetricError(
            f"{where}: the query failed: {_first_line(exc)}; fix `query:`."
        ) from None
    finally:
        conn.close()
    return names, rows


def _connection_params(where: str, url: str) -> dict[str, str]:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    usage = "write postgresql://USER@HOST:PORT/DBNAME"
    try:
        params = {k: str(v) for k, v in conninfo_to_dict(url).items() if v is not None}
    except psycopg.Error as exc:  # libpq could not parse it
        raise PostgresMetricError(
            f"{where}: database {url!r} is not a PostgreSQL URL ({_first_line(exc)}); {usage}."
        ) from None
    if "password" in params:
        raise PostgresMetricError(
            f"{where}: the database URL holds a password; remove it and set PGPASSWORD, or "
            "name an environment variable that holds it in `password_env:`."
        )
    port = params.get("port", "")
    if port and not all(p.isdigit() for p in port.split(",")):
        raise PostgresMetricError(
            f"{where}: database {url!r} has port {port!r}, not a number; {usage}."
        )
    return params


def _check_one_select(where: str, query: str) -> None:
    import sqlglot
    from sqlglot import exp

    writes = (exp.Insert, exp.Update, exp.Delete, exp.Merge, exp.Into, exp.Lock, exp.Command)
    try:
        statements = [s for s in sqlglot.parse(query, read="postgres") if s is not None]
    except sqlglot.errors.ParseError:
        # PostgreSQL syntax sqlglot does not know: the server's read-only transaction and the
        # one-command prepared statement still refuse anything but a read.
        return
    if (
        len(statements) != 1
        or not isinstance(statements[0], exp.Query)
        or statements[0].find(*writes) is not None
    ):
        raise PostgresMetricError(f"{where}: the query must be one SELECT that only reads.")


def _target(params: dict[str, str]) -> str:
    host = params.get("host") or params.get("hostaddr") or "localhost"
    return f"{host}:{params.get('port') or '5432'}"


def _connect_error(
    where: str, target: str, params: dict[str, str], exc: Exception
) -> PostgresMetricError:
    reason = _first_line(exc)
    if "failed: " in reason:  # "connection to server at "h", port p failed: WHY"
        reason = reason.rsplit("failed: ", 1)[1]
    reason = re.sub(r"^FATAL:\s+", "", reason)
    if any(word in reason for word in _AUTH_FAILURES):
        user = params.get("user") or os.environ.get("PGUSER") or "(the login user)"
        return PostgresMetricError(
            f"{where}: PostgreSQL at {target} refused user {user} ({reason}); set the user's "
            "password in PGPASSWORD or in the variable `password_env:` names."
        )
    if "database" in reason and "does not exist" in reason:
        return PostgresMetricError(f"{where}: PostgreSQL at {target}: {reason}; fix `database:`.")
    return PostgresMetricError(
        f"{where}: cannot connect to PostgreSQL at {target} ({reason}); check the host and "
        "port in `database:` and that the server is running."
    )


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    text = lines[0].strip() if lines else type(exc).__name__
    return text.removeprefix("connection failed: ")
