"""The dbt project `cloudtally models --dialect duckdb` writes, run by dbt-duckdb over the
generated company loaded as text, gives the CLI's rows and totals exactly."""

from __future__ import annotations

import os
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cloudtally.allocate.engine import allocate
from cloudtally.allocate.reports import showback
from cloudtally.ingest.pipeline import ingest
from cloudtally.models import write_models
from cloudtally.query.costs import grouped_costs
from cloudtally.query.periods import parse_range
from cloudtally.rules.allocation import load_rules
from cloudtally.sample import generate_sample
from cloudtally.store import Store

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "examples" / "rules"
DBT = ROOT / ".venv-dbt" / "bin" / "dbt"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, duckdb.DuckDBPyConnection]:
    if not DBT.exists():
        if os.environ.get("CLOUDTALLY_REQUIRE_DBT"):
            pytest.fail("CLOUDTALLY_REQUIRE_DBT is set but .venv-dbt has no dbt (make dbt).")
        pytest.skip("dbt-duckdb is not installed: `make dbt` builds .venv-dbt")
    root = tmp_path_factory.mktemp("warehouse")
    export = root / "export"
    generate_sample(export, months=2, scale=0.02, seed=5, fmt="csv")
    # The CLI's answer.
    store = Store(root / "lake")
    ingest(store, [export])
    allocate(store, load_rules(RULES))
    # The warehouse: the same export loaded as text into billing.focus_cost_and_usage.
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
    done = subprocess.run(
        [str(DBT), "run", "--project-dir", str(project), "--profiles-dir", str(project)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=project,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    con = duckdb.connect(str(warehouse), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    return store, con


def _cli(store: Store, sql: str) -> list[tuple[Any, ...]]:
    return store.connect().execute(sql).fetchall()


def test_the_canonical_model_has_the_lake_rows(
    run: tuple[Store, duckdb.DuckDBPyConnection],
) -> None:
    store, warehouse = run
    skip = "EXCLUDE (x_SourceFile, x_IngestId)"
    lake = _cli(store, f"SELECT * {skip} FROM costs ORDER BY ALL")
    model = warehouse.execute(f"SELECT * {skip} FROM main.costs ORDER BY ALL").fetchall()
    assert len(lake) == 3_279
    assert model == lake


def test_allocated_costs_are_the_cli_rows(run: tuple[Store, duckdb.DuckDBPyConnection]) -> None:
    store, warehouse = run
    lake = _cli(store, "SELECT * FROM allocated_costs ORDER BY ALL")
    model = warehouse.execute("SELECT * FROM main.allocated_costs ORDER BY ALL").fetchall()
    assert model == lake
    totals = warehouse.execute(
        "SELECT sum(BilledCost), sum(EffectiveCost) FROM main.allocated_costs"
    ).fetchall()
    assert totals == [(Decimal("10249.055587326460000000"), Decimal("10249.055587326460000000"))]


@pytest.mark.parametrize("by", ["team", "product", "cost_center", "env"])
def test_showback_is_the_cli_showback(
    run: tuple[Store, duckdb.DuckDBPyConnection], by: str
) -> None:
    store, warehouse = run
    for period in ("2024-09", "2024-10"):
        cli = [r[:5] for r in showback(store, by, period).rows]
        model = warehouse.execute(
            "SELECT k, currency, direct, shared, total FROM main.showback "
            "WHERE dimension = ? AND period = ? "
            "ORDER BY currency, k = '(unallocated)', total DESC, k",
            [by, period],
        ).fetchall()
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
        "SELECT day, team, BillingCurrency, sum(EffectiveCost) FROM main.daily_costs "
        "WHERE day BETWEEN DATE '2024-10-01' AND DATE '2024-10-31' GROUP BY ALL"
    ).fetchall()
    assert sorted(model, key=lambda r: (r[0], r[1] or "", r[2])) == sorted(
        expected, key=lambda r: (r[0], r[1] or "", r[2])
    )
