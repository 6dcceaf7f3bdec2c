"""`cloudtally export --bi`: the star schema read back gives the lake's totals exactly."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import duckdb

from tests.web.company import Company, cli


def test_the_star_schema_adds_up_to_the_lake(company: Company, tmp_path: Path) -> None:
    out = tmp_path / "bi"
    printed = cli(company.lake, "export", "--bi", str(out))
    assert printed.startswith("Wrote a star schema (")
    assert "owners from allocated_costs" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        ".cloudtally-export.json",  # what export wrote (--overwrite replaces only that)
        "dim_account.parquet",
        "dim_date.parquet",
        "dim_owner.parquet",
        "dim_region.parquet",
        "dim_service.parquet",
        "fact_daily_cost.parquet",
    ]
    con = duckdb.connect()
    for table in (
        "fact_daily_cost",
        "dim_date",
        "dim_account",
        "dim_service",
        "dim_region",
        "dim_owner",
    ):
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM '{out / table}.parquet'")
    # Per billing period and currency, exactly the lake's totals.
    star = con.execute(
        "SELECT billing_period, currency, sum(BilledCost), sum(EffectiveCost) "
        "FROM fact_daily_cost GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    lake = json.loads(
        cli(company.lake, "sql", "SELECT x_BillingPeriod, BillingCurrency, sum(BilledCost), "
            "sum(EffectiveCost) FROM costs GROUP BY ALL ORDER BY ALL", "--format", "json")
    )  # fmt: skip
    assert [(p, c, b, e) for p, c, b, e in star] == [
        (r["x_BillingPeriod"], r["BillingCurrency"], Decimal(r["sum(BilledCost)"]),
         Decimal(r["sum(EffectiveCost)"]))
        for r in lake
    ]  # fmt: skip
    # Through the dimensions: EffectiveCost by team in October is showback's, to the digit.
    by_team = dict(
        con.execute(
            "SELECT coalesce(o.team, '(unallocated)'), sum(f.EffectiveCost) FROM fact_daily_cost f "
            "JOIN dim_owner o USING (owner_key) WHERE f.billing_period = '2024-10' GROUP BY 1"
        ).fetchall()
    )
    showback = json.loads(cli(company.lake, "showback", "--period", "2024-10", "--format", "json"))
    assert by_team == {r["team"]: Decimal(r["total"]) for r in showback}
    # Every key of the fact table finds its dimension row (the day only where there is one).
    for name in ("account", "service", "region", "owner"):
        orphans = con.execute(
            f"SELECT count(*) FROM fact_daily_cost LEFT JOIN dim_{name} USING ({name}_key) "
            f"WHERE dim_{name}.{name}_key IS NULL"
        ).fetchone()
        assert orphans == (0,), name
    dated = con.execute(
        "SELECT sum(f.BilledCost) FROM fact_daily_cost f JOIN dim_date d USING (date_key) "
        "WHERE f.billing_period = '2024-10'"
    ).fetchone()
    undated = con.execute(
        "SELECT sum(BilledCost) FROM fact_daily_cost WHERE date_key IS NULL "
        "AND billing_period = '2024-10'"
    ).fetchone()
    # Shared pools are split per charge day, so every fact row has its day.
    assert undated == (None,)
    assert dated is not None and dated[0] == star[-1][2]


def test_an_existing_folder_is_kept_unless_overwrite(company: Company, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cloudtally.cli import app

    out = tmp_path / "bi"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = CliRunner().invoke(app, ["--data-dir", str(company.lake), "export", "--bi", str(out)])
    assert result.exit_code == 1
    assert (
        result.stderr == f"Error: {out} already exists; choose another path or pass --overwrite.\n"
    )
    assert (out / "keep.txt").read_text() == "mine"
    # --overwrite replaces only a folder export wrote: someone's own files are never deleted.
    result = CliRunner().invoke(
        app, ["--data-dir", str(company.lake), "export", "--bi", str(out), "--overwrite"]
    )
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {out} was not written by `cloudtally export` (it has no "
        ".cloudtally-export.json); --overwrite replaces only folders export wrote. Choose "
        "another path.\n"
    )
    assert (out / "keep.txt").read_text() == "mine"
    (out / "keep.txt").unlink()
    cli(company.lake, "export", "--bi", str(out))
    cli(company.lake, "export", "--bi", str(out), "--overwrite")
    assert sorted(p.name for p in out.iterdir())[0] == ".cloudtally-export.json"
