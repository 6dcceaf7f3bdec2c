"""Unit economics: cost per unit with exact values, tenant splits that conserve cost, metrics
from files and databases, and bad metric files."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.allocate.lake import write_rules
from tests.query.lake import Day, day_store

LINES = [
    Day("2024-09-01", "100", tags={"product": "shop"}),
    Day("2024-09-02", "50", tags={"product": "search"}),
    Day("2024-10-01", "120", tags={"product": "shop"}),
    Day("2024-10-02", "60", tags={"product": "search"}),
    Day("2024-10-03", "30", tags={"product": "platform"}),
]
METRIC = """date,product,tenant,value
2024-09-01,shop,acme,200
2024-09-01,shop,globex,300
2024-10-01,shop,acme,300
2024-10-01,shop,globex,300
2024-10-01,platform,acme,1
2024-10-01,platform,globex,2
"""


@pytest.fixture
def lake(store, tmp_path: Path, cli):  # type: ignore[no-untyped-def]
    day_store(store, tmp_path, LINES)
    rules = write_rules(tmp_path / "rules", {"metrics/orders.csv": METRIC})
    return cli, rules


def _rows(result) -> list[dict]:  # type: ignore[no-untyped-def, type-arg]
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cost_per_unit_per_product_and_month(lake) -> None:  # type: ignore[no-untyped-def]
    cli, rules = lake
    rows = _rows(
        cli("unit-costs", "--metric", "orders", "--by", "product", "--rules", rules, "-f", "json")
    )
    got = [
        (
            r["product"],
            r["period"],
            r["EffectiveCost"],
            r["orders"],
            r["cost_per_unit"],
            r["change_pct"],
        )
        for r in rows
    ]
    assert got == [
        ("platform", "2024-10", "30", "3", "10", None),
        ("search", "2024-09", "50", None, None, None),  # no data: never zero or infinity
        ("search", "2024-10", "60", None, None, None),
        ("shop", "2024-09", "100", "500", "0.2", None),
        ("shop", "2024-10", "120", "600", "0.2", 0.0),
    ]


def test_a_tenant_split_conserves_the_cost(lake) -> None:  # type: ignore[no-untyped-def]
    cli, rules = lake
    rows = _rows(
        cli("unit-costs", "--metric", "orders", "--by", "tenant", "--where", "product=platform",
            "--rules", rules, "-f", "json")
    )  # fmt: skip
    assert [(r["tenant"], r["EffectiveCost"], r["orders"], r["cost_per_unit"]) for r in rows] == [
        ("acme", "10", "1", "10"),
        ("globex", "20", "2", "10"),
    ]
    thirds = _rows(
        cli("unit-costs", "--metric", "orders", "--by", "tenant", "--period", "2024-09",
            "--where", "product=shop", "--rules", rules, "-f", "json")
    )  # fmt: skip
    assert sum(Decimal(r["EffectiveCost"]) for r in thirds) == Decimal(100)
    assert [r["EffectiveCost"] for r in thirds] == ["40", "60"]


def test_a_sqlite_query_may_only_read(store, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    day_store(store, tmp_path, LINES)
    with sqlite3.connect(tmp_path / "app.sqlite") as db:
        db.execute("CREATE TABLE orders (day TEXT, product TEXT)")
    for n, query in enumerate(
        [
            f"ATTACH '{tmp_path / 'made.sqlite'}' AS m",
            "PRAGMA user_version = 7",
            "DELETE FROM orders",
        ]
    ):
        rules = write_rules(
            tmp_path / f"rules{n}",
            {
                "metrics.yaml": f"metrics:\n  - name: orders\n    database: ../app.sqlite\n    query: {query}\n"
            },
        )
        result = cli("unit-costs", "--metric", "orders", "--rules", rules)
        assert result.exit_code == 1
        assert result.stderr.strip() == (
            f"Error: {rules / 'metrics.yaml'}: metric 'orders': the query failed: not authorized"
        )
    assert not (tmp_path / "made.sqlite").exists()
    with sqlite3.connect(tmp_path / "app.sqlite") as db:
        assert db.execute("PRAGMA user_version").fetchone() == (0,)


def test_metrics_from_a_sqlite_and_a_duckdb_database(store, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    day_store(store, tmp_path, LINES)
    with sqlite3.connect(tmp_path / "app.sqlite") as db:
        db.execute("CREATE TABLE orders (day TEXT, product TEXT)")
        db.executemany("INSERT INTO orders VALUES (?, ?)", [("2024-10-01", "shop")] * 4)
    warehouse = duckdb.connect(str(tmp_path / "wh.duckdb"))
    warehouse.execute(
        "CREATE TABLE users AS SELECT DATE '2024-10-01' AS date, 'search' AS product, 12 AS value"
    )
    warehouse.close()
    rules = write_rules(
        tmp_path / "rules",
        {
            "metrics.yaml": (
                "metrics:\n"
                "  - name: orders\n    database: ../app.sqlite\n"
                "    query: SELECT day AS date, product, count(*) AS value FROM orders GROUP BY 1, 2\n"
                "  - name: users\n    database: ../wh.duckdb\n    query: SELECT * FROM users\n"
            )
        },
    )
    orders = _rows(
        cli(
            "unit-costs",
            "--metric",
            "orders",
            "--by",
            "product",
            "--period",
            "2024-10",
            "--rules",
            rules,
            "-f",
            "json",
        )
    )
    assert [(r["product"], r["cost_per_unit"]) for r in orders if r["orders"]] == [("shop", "30")]
    users = _rows(
        cli(
            "unit-costs",
            "--metric",
            "users",
            "--by",
            "product",
            "--period",
            "2024-10",
            "--rules",
            rules,
            "-f",
            "json",
        )
    )
    assert [(r["product"], r["cost_per_unit"]) for r in users if r["users"]] == [("search", "5")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("date,value\n2024-10-01,ten\n", "orders.csv:2: value 'ten' is not a number."),
        ("date,value\n2024-10-01,NaN\n", "orders.csv:2: value 'NaN' is not a finite number."),
        ("date,value\n2024-10-01,1e50\n", "orders.csv:2: value '1e50' is out of range (|value| < 1e20)."),
        ("date,product,value\n2024-10-01,a,1\n2024-10-01,a,2\n",
         "orders.csv:3: metric 'orders' for 2024-10-01 {'product': 'a'} is also given at "),
        ("day,value\n2024-10-01,1\n", "orders.csv: a metric needs a `date` (YYYY-MM-DD) or `period` (YYYY-MM) column and a `value` column; it has day, value."),
    ],
)  # fmt: skip
def test_bad_metric_files(lake, tmp_path: Path, text: str, message: str) -> None:  # type: ignore[no-untyped-def]
    cli, rules = lake
    (rules / "metrics" / "orders.csv").write_text(text, encoding="utf-8")
    result = cli("unit-costs", "--metric", "orders", "--rules", rules)
    assert result.exit_code == 1
    assert message in result.stderr
    assert "Traceback" not in result.output


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.integers(1, 10**9), min_size=1, max_size=7))
def test_any_split_adds_up_to_the_cost(store_with_lines, counts: list[int]) -> None:  # type: ignore[no-untyped-def]
    from cloudtally.unit.costs import unit_costs
    from cloudtally.unit.metrics import MetricRow, Metrics

    metrics = Metrics(
        [
            MetricRow(
                "orders",
                None,
                "2024-10",
                Decimal(n),
                {"product": "platform", "tenant": f"t{i}"},
                "test",
            )
            for i, n in enumerate(counts)
        ]
    )
    table = unit_costs(
        store_with_lines, metrics, "orders", ["tenant"], filters={"product": ["platform"]}
    )
    at = table.columns.index("EffectiveCost")
    assert sum(r[at] for r in table.rows) == Decimal(30)
    assert len(table.rows) == len(counts)


@pytest.fixture(scope="module")
def store_with_lines(tmp_path_factory):  # type: ignore[no-untyped-def]
    from cloudtally.store import Store

    tmp = tmp_path_factory.mktemp("unit")
    return day_store(Store(tmp / "lake"), tmp, LINES)


def test_metrics_are_views_in_sql(lake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli, rules = lake
    (rules / "metrics" / "api-calls.csv").write_text("date,value\n2024-10-01,7\n")
    per_product = _rows(
        cli("sql", "SELECT product, period, sum(value) AS orders FROM metric_orders "
            "GROUP BY ALL ORDER BY ALL", "--rules", rules, "-f", "json")
    )  # fmt: skip
    assert per_product == [
        {"product": "platform", "period": "2024-10", "orders": "3"},
        {"product": "shop", "period": "2024-09", "orders": "500"},
        {"product": "shop", "period": "2024-10", "orders": "600"},
    ]
    # A name that is not an identifier is spelled with underscores; unit_metrics has them all.
    calls = cli("sql", "SELECT day, value FROM metric_api_calls", "--rules", rules, "-f", "csv")
    assert calls.stdout == "day,value\n2024-10-01,7\n"
    every = cli("sql", "SELECT metric, count(*) FROM unit_metrics GROUP BY 1 ORDER BY 1", "--rules", rules, "-f", "csv")  # fmt: skip
    assert every.stdout == "metric,count_star()\napi-calls,1\norders,6\n"
    # The metrics are read, not files: the sandbox still refuses the folder itself.
    read = cli("sql", f"SELECT * FROM read_csv('{rules}/metrics/orders.csv')", "--rules", rules)
    assert read.exit_code == 1


def test_a_metrics_folder_whose_path_reads_as_a_pattern_is_read_itself(tmp_path: Path) -> None:
    """`rules[1]/metrics/users.parquet` beside `rules1/metrics/users.parquet`: DuckDB's reader
    takes `[1]` as a pattern; the file read is the one named."""
    import duckdb

    from cloudtally.unit.metrics import load_metrics

    for folder, value in (("rules[1]", 10), ("rules1", 999)):
        (tmp_path / folder / "metrics").mkdir(parents=True)
        target = str(tmp_path / folder / "metrics" / "users.parquet").replace("'", "''")
        duckdb.execute(
            f"COPY (SELECT '2024-01' AS period, 'web' AS team, {value} AS value) "
            f"TO '{target}' (FORMAT parquet)"
        )
    assert [row.value for row in load_metrics(tmp_path / "rules[1]").rows] == [10]
