"""Business metrics from a real PostgreSQL server: the same unit costs as the same data in a
CSV file, a query that tries to write is refused and changes nothing, and each way a source
can be wrong is one message and exit 1."""

from __future__ import annotations

import csv
import io
import json
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tests.allocate.lake import write_rules
from tests.conftest import lake_snapshot
from tests.query.lake import day_store
from tests.unit.postgres_server import PASSWORD, USER, PostgresServer, free_port
from tests.unit.test_unit_costs import LINES, METRIC

QUERY = "SELECT date, product, tenant, value FROM orders ORDER BY 1, 2, 3"


@pytest.fixture(scope="module")
def orders_db(postgres_server: PostgresServer) -> PostgresServer:
    """Table `orders` holding METRIC's rows, and a function that writes when called."""
    with postgres_server.connect() as con:
        con.execute("DROP TABLE IF EXISTS orders")
        con.execute("CREATE TABLE orders (date date, product text, tenant text, value numeric)")
        with con.cursor() as cur:
            cur.executemany(
                "INSERT INTO orders VALUES (%s, %s, %s, %s)",
                [tuple(r.values()) for r in csv.DictReader(io.StringIO(METRIC))],
            )
        con.execute(
            "CREATE OR REPLACE FUNCTION sneaky() RETURNS numeric LANGUAGE sql AS "
            "$$ INSERT INTO orders VALUES ('2024-10-09', 'x', 'x', 1) RETURNING 1 $$"
        )
    return postgres_server


@pytest.fixture(autouse=True)
def no_ambient_login(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only what a test sets reaches libpq: no password or user from the environment."""
    for name in ("PGPASSWORD", "PGUSER", "PGOPTIONS", "PGSERVICE", "APP_DB_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))


def _count(server: PostgresServer) -> int:
    with server.connect() as con:
        row = con.execute("SELECT count(*) FROM orders").fetchone()
    assert row is not None
    return int(row[0])


def _spec(database: str, query: str = QUERY, extra: str = "") -> str:
    return (
        "metrics:\n  - name: orders\n"
        f"    database: {json.dumps(database)}\n{extra}"
        f"    query: {json.dumps(query)}\n"
    )


def _json(result) -> list[dict]:  # type: ignore[no-untyped-def, type-arg]
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


ASKS = [
    ("--by", "product"),
    ("--by", "tenant", "--where", "product=platform"),
    ("--by", "tenant", "--period", "2024-09", "--where", "product=shop"),
    ("--by", "product,tenant", "--grain", "day"),
]


def test_unit_costs_from_postgres_equal_those_from_the_same_csv(  # type: ignore[no-untyped-def]
    orders_db: PostgresServer, store, tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    day_store(store, tmp_path, LINES)
    monkeypatch.setenv("APP_DB_PASSWORD", PASSWORD)
    from_csv = write_rules(tmp_path / "csv", {"metrics/orders.csv": METRIC})
    from_pg = write_rules(
        tmp_path / "pg",
        {"metrics.yaml": _spec(orders_db.url(), extra="    password_env: APP_DB_PASSWORD\n")},
    )
    for ask in ASKS:
        want = _json(
            cli("unit-costs", "--metric", "orders", *ask, "--rules", from_csv, "-f", "json")
        )
        got = _json(cli("unit-costs", "--metric", "orders", *ask, "--rules", from_pg, "-f", "json"))
        assert got == want, ask
    by_product = _json(
        cli("unit-costs", "--metric", "orders", "--by", "product", "--rules", from_pg, "-f", "json")
    )
    assert [(r["product"], r["period"], r["orders"], r["cost_per_unit"]) for r in by_product] == [
        ("platform", "2024-10", "3", "10"),
        ("search", "2024-09", None, None),
        ("search", "2024-10", None, None),
        ("shop", "2024-09", "500", "0.2"),
        ("shop", "2024-10", "600", "0.2"),
    ]
    # The metric views of `cloudtally sql` read the same rows.
    view = "SELECT day, product, tenant, value FROM metric_orders ORDER BY ALL"
    assert (
        cli("sql", view, "--rules", from_pg, "-f", "csv").stdout
        == cli("sql", view, "--rules", from_csv, "-f", "csv").stdout
        == (
            "day,product,tenant,value\n2024-09-01,shop,acme,200\n2024-09-01,shop,globex,300\n"
            "2024-10-01,platform,acme,1\n2024-10-01,platform,globex,2\n"
            "2024-10-01,shop,acme,300\n2024-10-01,shop,globex,300\n"
        )
    )


def test_values_are_exact_decimals_and_pgpassword_is_read(
    orders_db: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cloudtally.unit.metrics import load_metrics

    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    queries = [  # one query each: a UNION would give all values one type
        "SELECT date_trunc('day', timestamp '2024-10-01 13:45') AS date, 'a' AS product, "
        "0.1::float8 AS value",
        "SELECT DATE '2024-10-01' AS date, 'b' AS product, "
        "12345678901234567.123456789::numeric AS value",
        "SELECT DATE '2024-10-02' AS date, 'c' AS product, 7::bigint AS value",
    ]
    spec = "metrics:\n" + "".join(
        f"  - name: orders\n    database: {orders_db.url()}\n    query: {json.dumps(q)}\n"
        for q in queries
    )
    rules = write_rules(tmp_path / "rules", {"metrics.yaml": spec})
    rows = load_metrics(rules).rows
    assert [(str(r.day), r.dims, r.value) for r in rows] == [
        ("2024-10-01", {"product": "a"}, Decimal("0.1")),
        ("2024-10-01", {"product": "b"}, Decimal("12345678901234567.123456789")),
        ("2024-10-02", {"product": "c"}, Decimal(7)),
    ]
    assert all(type(r.value) is Decimal for r in rows)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("DELETE FROM orders", "the query must be one SELECT that only reads."),
        ("WITH gone AS (DELETE FROM orders RETURNING *) SELECT date, value FROM gone",
         "the query must be one SELECT that only reads."),
        ("WITH new AS (INSERT INTO orders VALUES ('2024-10-09', 'x', 'x', 1) RETURNING *) "
         "SELECT date, value FROM new", "the query must be one SELECT that only reads."),
        ("SELECT date, value FROM orders; DELETE FROM orders",
         "the query must be one SELECT that only reads."),
        ("SELECT date, value FROM orders FOR UPDATE", "the query must be one SELECT that only reads."),
        ("SELECT * INTO orders_copy FROM orders", "the query must be one SELECT that only reads."),
        # A write the parser cannot see (inside a function): the read-only transaction refuses it.
        ("SELECT DATE '2024-10-01' AS date, sneaky() AS value",
         "the query tried to write (cannot execute INSERT in a read-only transaction); "
         "metric queries only read."),
    ],
)  # fmt: skip
def test_a_query_that_writes_is_refused_and_changes_nothing(  # type: ignore[no-untyped-def]
    orders_db: PostgresServer,
    store,
    data_dir: Path,
    tmp_path: Path,
    cli,
    monkeypatch: pytest.MonkeyPatch,
    query: str,
    message: str,
) -> None:
    day_store(store, tmp_path, LINES)
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    rules = write_rules(tmp_path / "rules", {"metrics.yaml": _spec(orders_db.url(), query)})
    before, lake = _count(orders_db), lake_snapshot(data_dir)
    result = cli("unit-costs", "--metric", "orders", "--rules", rules)
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: {rules / 'metrics.yaml'}: metric 'orders': {message}"
    assert _count(orders_db) == before == 6
    assert lake_snapshot(data_dir) == lake
    with orders_db.connect() as con:
        assert con.execute("SELECT to_regclass('orders_copy')").fetchone() == (None,)


def _cases(server: PostgresServer) -> list[tuple[str, str, str, str]]:
    """(database, query, password, message after "metric 'orders': ")."""
    closed = free_port()
    target = f"127.0.0.1:{server.port}"
    return [
        (server.url(port=closed), QUERY, PASSWORD,
         f"cannot connect to PostgreSQL at 127.0.0.1:{closed} (Connection refused); check the "
         "host and port in `database:` and that the server is running."),
        (server.url(), QUERY, "wrong",
         f'PostgreSQL at {target} refused user {USER} (password authentication failed for user '
         f'"{USER}"); set the user\'s password in PGPASSWORD or in the variable `password_env:` names.'),
        (server.url(), QUERY, "",
         f"PostgreSQL at {target} refused user {USER} (fe_sendauth: no password supplied); set the "
         "user's password in PGPASSWORD or in the variable `password_env:` names."),
        (server.url(user="nobody"), QUERY, PASSWORD,
         f'PostgreSQL at {target} refused user nobody (password authentication failed for user '
         '"nobody"); set the user\'s password in PGPASSWORD or in the variable `password_env:` names.'),
        (f"postgresql://{USER}@127.0.0.1:{server.port}/nodb", QUERY, PASSWORD,
         f'PostgreSQL at {target}: database "nodb" does not exist; fix `database:`.'),
        (f"postgresql://{USER}@127.0.0.1:port/postgres", QUERY, PASSWORD,
         f"database 'postgresql://{USER}@127.0.0.1:port/postgres' has port 'port', not a number; "
         "write postgresql://USER@HOST:PORT/DBNAME."),
        ("postgresql://[::1/postgres", QUERY, PASSWORD,
         "database 'postgresql://[::1/postgres' is not a PostgreSQL URL (end of string reached "
         'when looking for matching "]" in IPv6 host address in URI: "postgresql://[::1/postgres"); '
         "write postgresql://USER@HOST:PORT/DBNAME."),
        (f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{server.port}/postgres", QUERY, PASSWORD,
         "the database URL holds a password; remove it and set PGPASSWORD, or name an "
         "environment variable that holds it in `password_env:`."),
        (server.url(), "SELECT date, 'ten' AS value FROM orders ORDER BY date", PASSWORD,
         "row 1: value 'ten' is not a number."),
        (server.url(), "SELECT date, 'NaN'::numeric AS value FROM orders", PASSWORD,
         "row 1: value 'NaN' is not a finite number."),
        (server.url(), "SELECT date AS day, value FROM orders", PASSWORD,
         "a metric needs a `date` (YYYY-MM-DD) or `period` (YYYY-MM) column and a `value` "
         "column; it has day, value."),
        (server.url(), "SELECT now() AS date, 1 AS value", PASSWORD, "row 1: date "),
        (server.url(), "SELECT date, value FROM no_such_table", PASSWORD,
         'the query failed: relation "no_such_table" does not exist; fix `query:`.'),
    ]  # fmt: skip


def test_each_bad_source_is_one_message_and_exit_1(  # type: ignore[no-untyped-def]
    orders_db: PostgresServer,
    store,
    data_dir: Path,
    tmp_path: Path,
    cli,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    day_store(store, tmp_path, LINES)
    lake = lake_snapshot(data_dir)
    for n, (database, query, password, message) in enumerate(_cases(orders_db)):
        if password:
            monkeypatch.setenv("PGPASSWORD", password)
        else:
            monkeypatch.delenv("PGPASSWORD", raising=False)
        rules = write_rules(tmp_path / f"rules{n}", {"metrics.yaml": _spec(database, query)})
        spec = rules / "metrics.yaml"
        for command in (["unit-costs", "--metric", "orders"], ["sql", "SELECT 1"]):
            result = cli(*command, "--rules", rules)
            assert result.exit_code == 1, (message, result.output)
            assert "Traceback" not in result.output
            if message.endswith(" "):  # a message whose rest depends on the clock
                assert result.stderr.startswith(f"Error: {spec}: metric 'orders', {message}")
                assert result.stderr.strip().endswith(
                    "has a time of day; give a date (in SQL: CAST(... AS DATE))."
                )
            else:
                sep = ", " if message.startswith("row ") else ": "
                assert result.stderr.strip() == f"Error: {spec}: metric 'orders'{sep}{message}"
        assert lake_snapshot(data_dir) == lake
    assert _count(orders_db) == 6


def test_password_env_that_is_not_set_and_on_a_file_database(  # type: ignore[no-untyped-def]
    orders_db: PostgresServer, store, tmp_path: Path, cli
) -> None:
    day_store(store, tmp_path, LINES)
    unset = write_rules(
        tmp_path / "a",
        {"metrics.yaml": _spec(orders_db.url(), extra="    password_env: APP_DB_PASSWORD\n")},
    )
    result = cli("unit-costs", "--metric", "orders", "--rules", unset)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {unset / 'metrics.yaml'}: metric 'orders': password_env names APP_DB_PASSWORD, "
        "which is not set; export it with the database user's password."
    )
    on_file = write_rules(
        tmp_path / "b",
        {"metrics.yaml": _spec("../app.duckdb", extra="    password_env: APP_DB_PASSWORD\n")},
    )
    result = cli("unit-costs", "--metric", "orders", "--rules", on_file)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {on_file / 'metrics.yaml'}: metric 'orders': password_env is for a PostgreSQL "
        "database (postgresql://...); ../app.duckdb is a file: remove password_env."
    )


def test_a_slow_query_is_cancelled(  # type: ignore[no-untyped-def]
    orders_db: PostgresServer, store, tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    day_store(store, tmp_path, LINES)
    from cloudtally.unit import postgres

    monkeypatch.setattr(postgres, "STATEMENT_TIMEOUT_SECONDS", 1)
    monkeypatch.setenv("PGPASSWORD", PASSWORD)
    query = "SELECT DATE '2024-10-01' AS date, 1 AS value FROM pg_sleep(5)"
    rules = write_rules(tmp_path / "rules", {"metrics.yaml": _spec(orders_db.url(), query)})
    result = cli("unit-costs", "--metric", "orders", "--rules", rules)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {rules / 'metrics.yaml'}: metric 'orders': the query ran longer than 1 s and "
        "was cancelled; make it cheaper (aggregate in a view, filter by date)."
    )


def test_without_psycopg_the_message_names_the_extra(  # type: ignore[no-untyped-def]
    store, tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    day_store(store, tmp_path, LINES)
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the extra were not installed
    rules = write_rules(
        tmp_path / "rules", {"metrics.yaml": _spec("postgresql://app@127.0.0.1:1/app")}
    )
    result = cli("unit-costs", "--metric", "orders", "--rules", rules)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {rules / 'metrics.yaml'}: metric 'orders': reading a PostgreSQL database needs "
        "psycopg: pip install 'cloudtally[postgres]'."
    )
