"""The dbt project `cloudtally models` writes, run by dbt over the generated company's export
loaded as text, gives the CLI's rows and totals exactly: the DuckDB flavour with dbt-duckdb,
the Spark flavour with dbt-spark in session mode (a local Spark session in dbt's process)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cloudtally.allocate.reports import showback
from cloudtally.engine.dialect import SESSION_CONF
from cloudtally.models import write_models
from cloudtally.query.costs import grouped_costs
from cloudtally.query.periods import parse_range
from cloudtally.rules.allocation import load_rules
from cloudtally.store import Store
from tests.engine.conftest import spark_missing
from tests.models.conftest import model_showback

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "examples" / "rules"
DBT = ROOT / ".venv-dbt" / "bin" / "dbt"
# The models the tests read (the allocation's intermediate steps are checked through them).
READ = ("costs", "allocated_costs", "showback", "daily_costs")


def _require(flavour: str) -> None:
    """Skip (or, in CI, fail) when dbt or its adapter for `flavour` cannot run here."""
    missing = None
    if not DBT.exists():
        missing = ".venv-dbt has no dbt (`make dbt` builds it)"
    elif flavour == "spark":
        missing = spark_missing()
        adapter = [str(DBT.with_name("python")), "-c", "import dbt.adapters.spark"]
        if missing is None and subprocess.run(adapter, capture_output=True).returncode != 0:
            missing = "dbt-spark is not in .venv-dbt (`make dbt`)"
    if missing is None:
        return
    if os.environ.get("CLOUDTALLY_REQUIRE_DBT"):
        pytest.fail(f"CLOUDTALLY_REQUIRE_DBT is set but {missing}.")
    pytest.skip(missing)


# dbt sends anonymous usage statistics unless told not to: the tests run without network and
# must never wait on it (docs/models.md says how a team turns it off).
DBT_ENV = {"DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"}


def _dbt_run(project: Path) -> None:
    done = subprocess.run(
        [str(DBT), "run", "--project-dir", str(project), "--profiles-dir", str(project)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=project,
        env={**os.environ, **DBT_ENV},
    )
    assert done.returncode == 0, done.stdout[-3000:]


def _duckdb_warehouse(root: Path, export: Path) -> duckdb.DuckDBPyConnection:
    """The export loaded as text into billing.focus_cost_and_usage, the models run by
    dbt-duckdb; the warehouse file, opened read-only."""
    warehouse = root / "warehouse.duckdb"
    con = duckdb.connect(str(warehouse))
    con.execute("CREATE SCHEMA billing")
    con.execute(
        "CREATE TABLE billing.focus_cost_and_usage AS SELECT * FROM "
        f"read_csv('{export}/*/*.csv', all_varchar = true, header = true)"
    )
    con.close()
    project = root / "project"
    write_models(project, "duckdb", load_rules(RULES))
    (project / "profiles.yml").write_text(
        "cloudtally:\n  target: test\n  outputs:\n    test:\n      type: duckdb\n"
        f"      path: {warehouse}\n      threads: 1\n      settings:\n        TimeZone: UTC\n",
        encoding="utf-8",
    )
    _dbt_run(project)
    return duckdb.connect(str(warehouse), read_only=True)


def _spark_warehouse(root: Path, export: Path) -> duckdb.DuckDBPyConnection:
    """The export as a CSV table (every column text) in the session's catalog, the models run
    by dbt-spark in session mode with the settings cloudtally's Spark sessions use; the tables
    dbt made (Parquet under the warehouse folder) read back by DuckDB as views."""
    warehouse = root / "spark-warehouse"
    project = root / "project"
    write_models(project, "spark", load_rules(RULES))
    settings = {
        **SESSION_CONF,
        "spark.sql.warehouse.dir": str(warehouse),
        "spark.ui.enabled": "false",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
    }
    (project / "profiles.yml").write_text(
        "cloudtally:\n  target: test\n  outputs:\n    test:\n      type: spark\n"
        "      method: session\n      host: NA\n      schema: billing\n"
        "      server_side_parameters:\n"
        + "".join(f'        {k}: "{v}"\n' for k, v in settings.items()),
        encoding="utf-8",
    )
    # The warehouse's table, as a team whose export lands in Spark would have it.
    with (project / "dbt_project.yml").open("a", encoding="utf-8") as yml:
        yml.write(
            "on-run-start:\n  - CREATE DATABASE IF NOT EXISTS billing\n  - |\n"
            "    CREATE TABLE IF NOT EXISTS billing.focus_cost_and_usage USING csv OPTIONS "
            f"(path '{export}/*/*.csv', header 'true', multiLine 'true', escape '\"')\n"
        )
    _dbt_run(project)
    con = duckdb.connect()
    for name in READ:
        folder = warehouse / "billing.db" / name
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{folder}/*.parquet')")
    return con


@pytest.fixture(scope="module")
def warehouses(
    tmp_path_factory: pytest.TempPathFactory, export: Path
) -> Iterator[dict[str, duckdb.DuckDBPyConnection]]:
    """Each flavour's warehouse, built once for the module whatever order the tests run in
    (under pytest-xdist a worker may interleave the flavours' tests)."""
    built: dict[str, duckdb.DuckDBPyConnection] = {}
    yield built
    for con in built.values():
        con.close()


@pytest.fixture(params=["duckdb", "spark"])
def run(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    export: Path,
    cli_store: Store,
    warehouses: dict[str, duckdb.DuckDBPyConnection],
) -> tuple[Store, duckdb.DuckDBPyConnection]:
    flavour = request.param
    _require(flavour)
    if flavour not in warehouses:
        root = tmp_path_factory.mktemp(f"warehouse-{flavour}")
        make = _duckdb_warehouse if flavour == "duckdb" else _spark_warehouse
        con = make(root, export)
        con.execute("SET TimeZone = 'UTC'")
        warehouses[flavour] = con
    return cli_store, warehouses[flavour]


def _cli(store: Store, sql: str) -> list[tuple[Any, ...]]:
    return store.connect().execute(sql).fetchall()


def test_the_canonical_model_has_the_lake_rows(
    run: tuple[Store, duckdb.DuckDBPyConnection],
) -> None:
    store, warehouse = run
    skip = "EXCLUDE (x_SourceFile, x_IngestId, x_LineNo)"
    lake = _cli(store, f"SELECT * {skip} FROM costs ORDER BY ALL")
    model = warehouse.execute(f"SELECT * {skip} FROM costs ORDER BY ALL").fetchall()
    assert len(lake) == 3_279
    assert model == lake
    # A warehouse table has no file rows to number: the lake's lines have keys, its none.
    keys = "SELECT count(*), count(x_LineNo) FROM costs"
    assert _cli(store, keys) == [(3_279, 3_279)]
    assert warehouse.execute(keys).fetchall() == [(3_279, 0)]


def test_allocated_costs_are_the_cli_rows(run: tuple[Store, duckdb.DuckDBPyConnection]) -> None:
    store, warehouse = run
    # Direct rows carry their line's lineage: the CLI's names the export file, the ingest and
    # the line's number in it, the warehouse's names its table (checked below) and has no
    # ingest nor line numbers.
    query = (
        "SELECT * EXCLUDE (x_SourceFile, x_IngestId, x_LineNo) FROM allocated_costs ORDER BY ALL"
    )
    lake = _cli(store, query)
    model = warehouse.execute(query).fetchall()
    assert len(model) == 7_335
    assert model == lake
    totals = warehouse.execute(
        "SELECT allocation_kind, sum(BilledCost), sum(EffectiveCost) FROM allocated_costs "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert totals == [
        ("direct", Decimal("8391.388337028460000000"), Decimal("8582.528177028460000000")),
        ("shared", Decimal("1857.667250298000000000"), Decimal("1666.527410298000000000")),
    ]
    assert warehouse.execute(
        "SELECT sum(BilledCost), sum(EffectiveCost) FROM allocated_costs"
    ).fetchall() == [(Decimal("10249.055587326460000000"), Decimal("10249.055587326460000000"))]
    # Shared pools are split per day and pool group: one shared row per group, recipient and
    # the recipient's product, cost centre and env.
    shared = (
        "SELECT count(DISTINCT CAST(ChargePeriodStart AS DATE)), count(DISTINCT product), "
        "count(DISTINCT cost_center), count(DISTINCT env) FROM allocated_costs "
        "WHERE allocation_kind = 'shared'"
    )
    assert warehouse.execute(shared).fetchall() == _cli(store, shared) == [(61, 9, 8, 3)]
    # The source's own spelling of respelled values (a column beyond the canonical ones).
    source_values = (
        "SELECT x_SourceValues, count(*) FROM allocated_costs "
        "WHERE x_SourceValues IS NOT NULL GROUP BY 1"
    )
    assert warehouse.execute(source_values).fetchall() == [
        ('{"ChargeFrequency":"Usage-based"}', 100)
    ]
    assert warehouse.execute(
        "SELECT DISTINCT x_SourceFile FROM allocated_costs WHERE allocation_kind = 'direct'"
    ).fetchall() == [("focus_cost_and_usage",)]


@pytest.mark.parametrize("by", ["team", "product", "cost_center", "env"])
def test_showback_is_the_cli_showback(
    run: tuple[Store, duckdb.DuckDBPyConnection], by: str
) -> None:
    store, warehouse = run
    for period in ("2024-09", "2024-10"):
        cli = [r[:5] for r in showback(store, by, period).rows]
        model = model_showback(warehouse, by, period)
        assert model == cli


def test_the_daily_cube_adds_up_to_costs_by_day(
    run: tuple[Store, duckdb.DuckDBPyConnection],
) -> None:
    store, warehouse = run
    cli = grouped_costs(
        store,
        ["day", "team"],
        when=parse_range("2024-10-01..2024-10-31"),
        metric_name="EffectiveCost",
    )
    expected = sorted((r[0], r[1], r[2], r[3]) for r in cli.rows)
    model = warehouse.execute(
        "SELECT day, team, BillingCurrency, sum(EffectiveCost) FROM daily_costs "
        "WHERE day BETWEEN DATE '2024-10-01' AND DATE '2024-10-31' GROUP BY ALL"
    ).fetchall()
    assert sorted(model, key=lambda r: (r[0], r[1] or "", r[2])) == sorted(
        expected, key=lambda r: (r[0], r[1] or "", r[2])
    )
