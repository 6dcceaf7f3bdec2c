"""`cloudtally models --dialect bigquery`: BigQuery has no lambdas, no MAP type and no exact
decimal with 18 places but BIGNUMERIC, so its models are rewritten (`cloudtally/models/
bigquery.py`). BigQuery does not run here. Its models are parsed back in BigQuery's dialect
(test_dialects.py) and, here, read back by sqlglot into DuckDB and run on the CLI's canonical
rows, which checks the rewrites' logic against the CLI row by row: the tag lookups as array
subqueries, 1-based list lookups, `||` with numbers, the exact split's integer division.
BigQuery's types are put back as the DuckDB types they stand for (a BIGNUMERIC rounded to s
places as DECIMAL(38, s), to 0 places as HUGEINT): BigQuery's own arithmetic is not checked.
The canonical model is not read back (its JSON functions have no DuckDB reading in sqlglot):
the allocation starts from the CLI's canonical rows, their Tags as key/value entries."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from cloudtally.allocate.reports import showback
from cloudtally.engine.dialect import bottom_up
from cloudtally.errors import UnsupportedError
from cloudtally.models import write_models
from cloudtally.models.project import Model, all_models, render
from cloudtally.rules.allocation import load_rules
from cloudtally.store import Store
from tests.models.conftest import RULES, model_showback

BIGNUMERIC = exp.DataType.Type.BIGDECIMAL


def _as_duckdb(node: exp.Expression) -> exp.Expression:
    """BigQuery's exact forms back as the DuckDB types and operator they stand for."""
    if isinstance(node, exp.Cast) and node.to.this == BIGNUMERIC:
        if isinstance(node.parent, exp.Round):
            places = node.parent.args["decimals"].this
            to = f"DECIMAL(38, {places})" if places != "0" else "HUGEINT"
        elif node.this.is_string and "." not in node.this.this:
            to = "HUGEINT"
        else:
            to = "DECIMAL(38, 18)"
        return exp.Cast(this=node.this, to=exp.DataType.build(to))
    if isinstance(node, exp.Round) and isinstance(node.this, exp.Cast):
        return node.this
    # (a - MOD(a, b)) / b is DuckDB's a // b on integers
    if (
        isinstance(node, exp.Div)
        and isinstance(node.this, exp.Paren)
        and isinstance(node.this.this, exp.Sub)
        and isinstance(node.this.this.expression, exp.Mod)
    ):
        return exp.IntDiv(this=node.this.this.this, expression=node.expression)
    return node


def _plain(text: str) -> str:
    text = re.sub(r"\{\{ config\(.*?\) \}\}", "", text)
    return re.sub(r"\{\{ ref\('(\w+)'\) \}\}", r"\1", text)


@pytest.fixture(scope="module")
def read_back(cli_store: Store) -> duckdb.DuckDBPyConnection:
    models = all_models(load_rules(RULES))
    rendered = render(models, "bigquery")
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    lake = cli_store.costs_select(cli_store.catalog())  # the CLI's `costs` view
    con.execute(f"CREATE TABLE costs AS SELECT * REPLACE (map_entries(Tags) AS Tags) FROM ({lake})")
    for model in models[1:]:
        tree = sqlglot.parse_one(_plain(rendered[model.name]), read="bigquery")
        sql = bottom_up(tree, _as_duckdb).sql("duckdb")
        con.execute(f"CREATE TABLE {model.name} AS {sql}")
    return con


def _cli(store: Store, sql: str) -> list[tuple[Any, ...]]:
    return store.connect().execute(sql).fetchall()


def test_the_allocation_read_back_is_the_clis_row_for_row(
    cli_store: Store, read_back: duckdb.DuckDBPyConnection
) -> None:
    lake = _cli(
        cli_store,
        "SELECT * REPLACE (map_entries(Tags) AS Tags) FROM allocated_costs ORDER BY ALL",
    )
    model = read_back.execute("SELECT * FROM allocated_costs ORDER BY ALL").fetchall()
    assert len(model) == 7_335
    assert model == lake
    assert read_back.execute(
        "SELECT allocation_kind, sum(BilledCost), sum(EffectiveCost) FROM allocated_costs "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall() == [
        ("direct", Decimal("8391.388337028460000000"), Decimal("8582.528177028460000000")),
        ("shared", Decimal("1857.667250298000000000"), Decimal("1666.527410298000000000")),
    ]
    # owners found by the tag lookups (the array subqueries), not only by rules and mappings
    by_tag = "SELECT count(*) FROM allocated_costs WHERE allocation_rule = 'tag:team'"
    assert read_back.execute(by_tag).fetchall() == _cli(cli_store, by_tag) == [(1_603,)]


@pytest.mark.parametrize("by", ["team", "product", "cost_center", "env"])
def test_showback_read_back_is_the_cli_showback(
    cli_store: Store, read_back: duckdb.DuckDBPyConnection, by: str
) -> None:
    for period in ("2024-09", "2024-10"):
        cli = [r[:5] for r in showback(cli_store, by, period).rows]
        model = model_showback(read_back, by, period)
        assert model == cli
        assert len(model) > 1


def test_the_sql_has_bigquerys_forms(tmp_path: Path) -> None:
    out = tmp_path / "project"
    write_models(out, "bigquery", load_rules(RULES))
    lines = (out / "models" / "allocation" / "alloc_lines.sql").read_text(encoding="utf-8")
    assert "->" not in lines and "LAMBDA" not in lines.upper()  # no lambdas
    assert "FROM UNNEST(c.Tags) AS" in lines
    assert "[SAFE_ORDINAL(ri_team)]" in lines
    assert "'inherited:mappings/accounts.csv:' || CAST(`m0__line` AS STRING)" in lines
    shares = (out / "models" / "allocation" / "alloc_shares.sql").read_text(encoding="utf-8")
    assert "HUGEINT" not in shares and "INT128" not in shares and "DIV(" not in shares
    assert "ROUND(CAST(weight AS BIGNUMERIC), 6)" in shares
    assert "CAST('0.000000000001' AS BIGNUMERIC)" in shares  # not a FLOAT64 literal
    costs = (out / "models" / "canonical" / "costs.sql").read_text(encoding="utf-8")
    assert "ROUND(CAST(`BilledCost` AS BIGNUMERIC), 18)" in costs
    assert "UNNEST(JSON_KEYS(" in costs and ", 1)) AS" in costs
    assert "FORMAT_TIMESTAMP('%Y-%m', CAST(`BillingPeriodStart` AS TIMESTAMP), 'UTC')" in costs
    assert "MAP" not in costs.upper().replace("MAPPING", "")
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert (
        "Run with a profile named `cloudtally` (days are UTC days whatever the session's time "
        "zone; the source table's `Tags` and `SkuPriceDetails` must be JSON text (STRING), and "
        "`Tags` becomes an array of key/value structs):"
    ) in readme


def test_what_bigquery_cannot_express_is_refused_by_name() -> None:
    model = Model("odd", "canonical", "SELECT regexp_replace(a, b, 'x') AS y FROM t")
    with pytest.raises(UnsupportedError) as raised:
        render([model], "bigquery")
    assert str(raised.value) == (
        "The models cannot be written for bigquery: odd: regexp_replace with a computed "
        "pattern cannot go to BigQuery."
    )
