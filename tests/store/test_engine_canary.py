"""Engine canary: the DuckDB query shapes cloudtally and its users rely on, each against a small
real lake (ingested, Hive folders, two sources with different columns) with an answer worked
out by hand. A DuckDB upgrade that breaks one of these shapes fails here, before a user sees a
wrong number.

Every query goes through `Store.sql`, the path `cloudtally sql` takes, on the connection every
command uses.

The lake (BillingAccountId `payer` throughout):

    file A, USD                         file B, gcp EUR + VND, extension column CostCentreCode
    aws   2024-09 Compute   100.25      gcp   2024-10 Compute  30  (CC-1, team web)
    aws   2024-09 Storage    49.75      gcp   2024-10 Storage  10  (CC-2)
    aws   2024-10 Compute   300.50 web  gcp   2024-11 Compute  5.000000000000000001  (CC-1)
    aws   2024-10 Storage    99.50 data gcp   2024-11 Compute  0.000000000000000002  (CC-1)
    azure 2024-09 Compute    40         gcp   2024-11 Network  1234567890.123456789012345678 VND
    azure 2024-10 Compute    60  web    gcp   2024-11 Network  0.000000000000000001 VND
"""

from __future__ import annotations

import csv
import json
import re
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from cloudtally.ingest.pipeline import ingest
from cloudtally.store import Store
from tests.allocate.lake import Line, write_focus_csv

D = Decimal


def _with_column(path: Path, name: str, values: list[str]) -> Path:
    """Add a column (not a FOCUS one: it is kept as the extension column x_<name>)."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=[*rows[0], name])
        writer.writeheader()
        for row, value in zip(rows, values, strict=True):
            writer.writerow({**row, name: value})
    return path


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Store:
    tmp = tmp_path_factory.mktemp("canary")
    a = tmp / "a"
    b = tmp / "b"
    a.mkdir()
    b.mkdir()
    file_a = write_focus_csv(
        a / "usd.csv",
        [
            Line(provider="aws", period="2024-09", service="Compute", billed="100.25"),
            Line(provider="aws", period="2024-09", service="Storage", billed="49.75"),
            Line(provider="aws", period="2024-10", service="Compute", billed="300.50",
                 tags={"team": "web"}),
            Line(provider="aws", period="2024-10", service="Storage", billed="99.50",
                 tags={"team": "data"}),
            Line(provider="azure", period="2024-09", service="Compute", billed="40"),
            Line(provider="azure", period="2024-10", service="Compute", billed="60",
                 tags={"team": "web"}),
        ],
    )  # fmt: skip
    file_b = _with_column(
        write_focus_csv(
            b / "gcp.csv",
            [
                Line(provider="gcp", period="2024-10", service="Compute", billed="30",
                     currency="EUR", tags={"team": "web"}),
                Line(provider="gcp", period="2024-10", service="Storage", billed="10",
                     currency="EUR"),
                Line(provider="gcp", period="2024-11", service="Compute",
                     billed="5.000000000000000001", currency="EUR"),
                Line(provider="gcp", period="2024-11", service="Compute",
                     billed="0.000000000000000002", currency="EUR"),
                Line(provider="gcp", period="2024-11", service="Network",
                     billed="1234567890.123456789012345678", currency="VND"),
                Line(provider="gcp", period="2024-11", service="Network",
                     billed="0.000000000000000001", currency="VND"),
            ],
        ),
        "CostCentreCode",
        ["CC-1", "CC-2", "CC-1", "CC-1", "", ""],
    )  # fmt: skip
    store = Store(tmp / "data")
    ingest(store, [file_a])
    ingest(store, [file_b])
    return store


def rows(store: Store, query: str) -> list[tuple[object, ...]]:
    return sorted(store.sql(query).rows, key=repr)


OCT = "x_BillingPeriod = '2024-10'"

# 2024-10: USD aws 400 + azure 60 = 460; EUR gcp 40.
OCT_CURRENCY_TOTALS = [("aws", D(460)), ("azure", D(460)), ("gcp", D(40))]

WINDOW_SHAPES = {
    "sum over partition by currency, period filter": (
        f"SELECT DISTINCT x_Provider, sum(BilledCost) OVER (PARTITION BY BillingCurrency) "
        f"FROM costs WHERE {OCT}",
        OCT_CURRENCY_TOTALS,
    ),
    "sum over partition by provider, period filter": (
        f"SELECT DISTINCT x_Provider, sum(BilledCost) OVER (PARTITION BY x_Provider) "
        f"FROM costs WHERE {OCT}",
        [("aws", D(400)), ("azure", D(60)), ("gcp", D(40))],
    ),
    "sum over partition by service, provider filter": (
        "SELECT DISTINCT ServiceName, sum(BilledCost) OVER (PARTITION BY ServiceName) "
        "FROM costs WHERE x_Provider = 'aws'",
        [("Compute", D("400.75")), ("Storage", D("149.25"))],
    ),
    "sum over partition by currency, period IN filter": (
        "SELECT DISTINCT BillingCurrency, sum(BilledCost) OVER (PARTITION BY BillingCurrency) "
        "FROM costs WHERE x_BillingPeriod IN ('2024-09', '2024-10') AND x_Provider <> 'gcp'",
        [("USD", D(650))],
    ),
    "sum over partition by currency, period range filter": (
        "SELECT DISTINCT BillingCurrency, count(*) OVER (PARTITION BY BillingCurrency) "
        "FROM costs WHERE x_BillingPeriod BETWEEN '2024-10' AND '2024-11'",
        [("EUR", 4), ("USD", 3), ("VND", 2)],
    ),
    # The share `cloudtally costs` computes: a window over the grouped totals.
    "share of currency total over groups, period filter": (
        "SELECT x_Provider, round(sum(BilledCost) / sum(sum(BilledCost)) "
        "OVER (PARTITION BY BillingCurrency), 6) FROM costs "
        f"WHERE {OCT} GROUP BY x_Provider, BillingCurrency",
        [("aws", 0.869565), ("azure", 0.130435), ("gcp", 1.0)],
    ),
    "running sum ordered, period filter": (
        "SELECT max(r) FROM (SELECT sum(BilledCost) OVER (PARTITION BY x_Provider ORDER BY "
        f"BilledCost) AS r FROM costs WHERE {OCT} AND x_Provider = 'aws')",
        [(D(400),)],
    ),
    "qualify row_number per partition, period filter": (
        "SELECT x_Provider, ServiceName FROM costs "
        f"WHERE {OCT} QUALIFY row_number() OVER (PARTITION BY x_Provider ORDER BY BilledCost DESC) = 1",
        [("aws", "Compute"), ("azure", "Compute"), ("gcp", "Compute")],
    ),
    "lag per partition, provider filter": (
        "SELECT sum(d) FROM (SELECT BilledCost - lag(BilledCost) OVER (PARTITION BY "
        "ServiceName ORDER BY x_BillingPeriod) AS d FROM costs WHERE x_Provider = 'aws')",
        [(D("250.00"),)],  # Compute 300.50 - 100.25, Storage 99.50 - 49.75
    ),
    "the same window over a direct Hive read of the lake": (
        "SELECT DISTINCT x_Provider, sum(BilledCost) OVER (PARTITION BY BillingCurrency) "
        "FROM read_parquet('{lake}/x_Provider=*/x_BillingPeriod=*/*.parquet', "
        f"hive_partitioning = true, union_by_name = true) WHERE {OCT}",
        OCT_CURRENCY_TOTALS,
    ),
}


@pytest.mark.parametrize("shape", WINDOW_SHAPES)
def test_windows_under_partition_filters(lake: Store, shape: str) -> None:
    query, expected = WINDOW_SHAPES[shape]
    assert rows(lake, query.replace("{lake}", str(lake.lake_dir))) == sorted(expected, key=repr)


REUSED_INPUT_SHAPES = {
    "CTE used twice": (
        f"WITH t AS (SELECT * FROM costs WHERE {OCT} AND BillingCurrency = 'USD') "
        "SELECT (SELECT sum(BilledCost) FROM t), (SELECT count(*) FROM t)",
        [(D(460), 3)],
    ),
    "scalar subquery for the total": (
        "SELECT x_Provider, round(sum(BilledCost) / (SELECT sum(BilledCost) FROM costs "
        f"WHERE {OCT} AND BillingCurrency = 'USD'), 6) FROM costs "
        f"WHERE {OCT} AND BillingCurrency = 'USD' GROUP BY 1",
        [("aws", 0.869565), ("azure", 0.130435)],
    ),
    "self join on grouped totals": (
        "SELECT a.x_Provider, sum(a.BilledCost), any_value(b.total) FROM costs a JOIN "
        f"(SELECT x_Provider, sum(BilledCost) AS total FROM costs WHERE {OCT} GROUP BY 1) b "
        f"USING (x_Provider) WHERE a.{OCT} GROUP BY 1",
        [("aws", D(400), D(400)), ("azure", D(60), D(60)), ("gcp", D(40), D(40))],
    ),
    "semi join on the same lake": (
        f"SELECT count(*) FROM costs WHERE {OCT} AND ServiceName IN "
        f"(SELECT ServiceName FROM costs WHERE {OCT} AND BilledCost > 90)",
        [(5,)],  # Compute (300.50) and Storage (99.50) qualify: every October row
    ),
}


@pytest.mark.parametrize("shape", REUSED_INPUT_SHAPES)
def test_plans_that_read_the_lake_twice(lake: Store, shape: str) -> None:
    query, expected = REUSED_INPUT_SHAPES[shape]
    assert rows(lake, query) == sorted(expected, key=repr)


def test_partition_filters_select_rows_and_skip_folders(lake: Store) -> None:
    assert rows(lake, f"SELECT count(*), sum(BilledCost) FROM costs WHERE {OCT}") == [(5, D(500))]
    assert rows(
        lake,
        "SELECT x_BillingPeriod, sum(BilledCost) FROM costs WHERE x_Provider = 'aws' GROUP BY ALL",
    ) == [("2024-09", D(150)), ("2024-10", D(400))]
    # Filters on the folder columns skip the other folders' files (the lake has 6 files).
    plan = "\n".join(r[1] for r in lake.sql(f"EXPLAIN SELECT * FROM costs WHERE {OCT}").rows)
    assert re.search(r"Scanning Files: 3/6\b", plan), plan
    plan = "\n".join(
        r[1]
        for r in lake.sql(
            "EXPLAIN SELECT * FROM costs WHERE x_Provider = 'gcp' AND x_BillingPeriod = '2024-11'"
        ).rows
    )
    assert re.search(r"Scanning Files: 1/6\b", plan), plan


def test_hive_folders_give_the_folder_columns(lake: Store) -> None:
    assert rows(lake, "SELECT DISTINCT x_Provider, x_BillingPeriod FROM costs") == [
        ("aws", "2024-09"),
        ("aws", "2024-10"),
        ("azure", "2024-09"),
        ("azure", "2024-10"),
        ("gcp", "2024-10"),
        ("gcp", "2024-11"),
    ]
    folders = sorted(
        str(p.parent.relative_to(lake.lake_dir))
        for p in lake.lake_dir.rglob("*.parquet")
        if "_derived" not in p.parts  # the daily cube of the costs
    )
    assert folders[0] == "x_Provider=aws/x_BillingPeriod=2024-09"
    assert rows(lake, "SELECT typeof(x_Provider), typeof(x_BillingPeriod) FROM costs LIMIT 1") == [
        ("VARCHAR", "VARCHAR")
    ]


def test_union_by_name_with_a_column_one_source_lacks(lake: Store) -> None:
    assert rows(
        lake,
        "SELECT x_Provider, count(x_CostCentreCode), count(*) FROM costs GROUP BY 1",
    ) == [("aws", 0, 4), ("azure", 0, 2), ("gcp", 4, 6)]
    assert rows(
        lake,
        "SELECT x_CostCentreCode, sum(BilledCost) FROM costs "
        "WHERE BillingCurrency = 'EUR' GROUP BY 1",
    ) == [("CC-1", D("35.000000000000000003")), ("CC-2", D(10))]
    # Canonical columns come first in their order, extension columns after.
    columns = lake.sql("SELECT * FROM costs LIMIT 0").columns
    assert columns.index("x_CostCentreCode") > columns.index("x_BillingPeriod")


def test_decimal_38_18_sums_are_exact(lake: Store) -> None:
    assert rows(lake, "SELECT typeof(BilledCost) FROM costs LIMIT 1") == [("DECIMAL(38,18)",)]
    assert rows(
        lake,
        "SELECT BillingCurrency, sum(BilledCost) FROM costs "
        "WHERE x_BillingPeriod = '2024-11' GROUP BY 1",
    ) == [
        ("EUR", D("5.000000000000000003")),
        ("VND", D("1234567890.123456789012345679")),
    ]
    # The whole lake, per currency: the exact sum of what was ingested.
    assert rows(lake, "SELECT BillingCurrency, sum(BilledCost) FROM costs GROUP BY 1") == [
        ("EUR", D("45.000000000000000003")),
        ("USD", D(650)),
        ("VND", D("1234567890.123456789012345679")),
    ]


def test_map_access_on_tags(lake: Store) -> None:
    assert rows(
        lake,
        "SELECT Tags['team'], sum(BilledCost) FROM costs WHERE BillingCurrency = 'USD' GROUP BY 1",
    ) == [("data", D("99.50")), ("web", D("360.50")), (None, D(190))]
    assert rows(
        lake, "SELECT DISTINCT unnest(map_keys(Tags)) FROM costs WHERE Tags IS NOT NULL"
    ) == [("team",)]
    assert rows(
        lake,
        "SELECT count(*) FROM costs WHERE element_at(Tags, 'team') IS NOT NULL "
        "AND cardinality(Tags) = 1",
    ) == [(4,)]


def test_the_latest_name_of_a_key_is_one_answer(lake: Store) -> None:
    # `query.dimensions.latest`: arg_max over a (day, value) struct, NULLs filtered out. aws
    # has Compute and Storage on its latest day (2024-10-01): the greater, Storage; azure's
    # latest row is Compute; gcp's latest day holds Compute and Network: Network.
    assert rows(
        lake,
        "SELECT x_Provider, arg_max(ServiceName, (date_trunc('day', ChargePeriodStart), "
        "ServiceName)) FILTER (WHERE ServiceName IS NOT NULL) FROM costs GROUP BY 1",
    ) == [("aws", "Storage"), ("azure", "Compute"), ("gcp", "Network")]
    # A key never named gets NULL, not an error.
    assert rows(
        lake,
        "SELECT arg_max(CAST(NULL AS VARCHAR), (ChargePeriodStart, CAST(NULL AS VARCHAR))) "
        "FILTER (WHERE false) FROM costs",
    ) == [(None,)]


# -- the ingest's ordered copy of a text file ------------------------------------------------------
# A text file's lines are numbered by their row in the staged Parquet file, which a parallel
# COPY writes in the reader's order (`pipeline._copy_in_file_order`). DuckDB keeps that order
# only when it plans an ordered copy (BATCH_COPY_TO_FILE); `x IN (five constants)` becomes a
# join against the list (the `in_clause` optimizer) and the plan an unordered COPY_TO_FILE,
# which put the rows of a 1M-line FOCUS export out of order past its first 9,952 lines.


def _copy_plan(con: duckdb.DuckDBPyConnection, copy: str) -> str:
    """The operator DuckDB plans a COPY as (its plan's root)."""
    plan = json.loads(con.execute(f"EXPLAIN (FORMAT json) {copy}").fetchall()[0][1])
    return str(plan[0]["name"])


def test_an_ordered_copy_of_a_gzip_csv_keeps_the_files_row_order(tmp_path: Path) -> None:
    source, target = tmp_path / "rows.csv.gz", tmp_path / "rows.parquet"
    con = duckdb.connect()
    con.execute(
        "COPY (SELECT range AS n, ['Usage', 'Tax', 'Credit', 'Purchase', 'Adjustment', 'usage']"
        "[range % 6 + 1] AS category, repeat('x', 200) AS pad FROM range(200000)) "
        f"TO '{source}' (HEADER, COMPRESSION gzip)"
    )
    reader = (
        f"read_csv('{source}', columns = {{'n': 'BIGINT', 'category': 'VARCHAR', 'pad': "
        "'VARCHAR'}, header = true, auto_detect = false, compression = 'gzip')"
    )
    known = "category IN ('Usage', 'Purchase', 'Tax', 'Credit', 'Adjustment')"
    copy = f"COPY (SELECT n, {known} AS known, pad FROM {reader}) TO '{target}' (FORMAT parquet)"
    con.execute("SET preserve_insertion_order = true")
    # The IN of five constants is planned as a join: an unordered copy.
    assert _copy_plan(con, copy) == "COPY_TO_FILE"
    # Evaluated as an expression, the copy is ordered, and every row is at its place.
    con.execute("SET disabled_optimizers = 'in_clause'")
    assert _copy_plan(con, copy) == "BATCH_COPY_TO_FILE"
    con.execute(copy)
    assert con.execute(
        "SELECT count(*), count(*) FILTER (WHERE n <> file_row_number), "
        "count(*) FILTER (WHERE known) FROM read_parquet(?, file_row_number = true)",
        [str(target)],
    ).fetchall() == [(200_000, 0, 166_667)]
    # The window numbering the ingest falls back to runs in one thread, in the same order.
    assert con.execute(
        f"SELECT count(*) FILTER (WHERE n <> r) FROM (SELECT n, row_number() OVER () - 1 AS r "
        f"FROM {reader})"
    ).fetchall() == [(0,)]
