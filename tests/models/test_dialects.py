"""`cloudtally models` for each dialect: the project's files, SQL that parses back in its
dialect, and the refusals (a dialect that cannot express a model, an --out in the way)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import sqlglot
from click.testing import CliRunner

from cloudtally.allocate.sql import ALLOCATION_COLUMNS
from cloudtally.cli import app
from cloudtally.errors import ExportError, UnsupportedError
from cloudtally.models import write_models
from cloudtally.rules.allocation import load_rules

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "examples" / "rules"

MODELS = [
    "models/allocation/alloc_groups.sql",
    "models/allocation/alloc_lines.sql",
    "models/allocation/alloc_map_0.sql",
    "models/allocation/alloc_map_1.sql",
    "models/allocation/alloc_metric.sql",
    "models/allocation/alloc_mix.sql",
    "models/allocation/alloc_parts.sql",
    "models/allocation/alloc_recipients.sql",
    "models/allocation/alloc_shares.sql",
    "models/allocation/alloc_summary.sql",
    "models/allocation/allocated_costs.sql",
    "models/canonical/costs.sql",
    "models/cube/daily_costs.sql",
    "models/showback/showback.sql",
]


def _plain_sql(text: str) -> str:
    """A model file without dbt's Jinja: refs and the source as plain table names."""
    text = re.sub(r"\{\{ config\(.*?\) \}\}", "", text)
    text = re.sub(r"\{\{ ref\('(\w+)'\) \}\}", r"\1", text)
    return re.sub(r"\{\{ source\(.*?\) \}\}", "billing.focus_cost_and_usage", text)


@pytest.mark.parametrize("dialect", ["duckdb", "spark", "databricks", "snowflake", "bigquery"])
def test_every_model_is_written_and_parses_in_its_dialect(tmp_path: Path, dialect: str) -> None:
    out = tmp_path / "project"
    report = write_models(out, dialect, load_rules(RULES))
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*.sql"))
    assert written == MODELS
    assert len(report.models) == 14
    for path in written:
        sql = _plain_sql((out / path).read_text(encoding="utf-8"))
        assert "EXCLUDE" not in sql.upper() or dialect in ("duckdb", "snowflake"), path
        sqlglot.parse_one(sql, read=dialect)  # raises on SQL its dialect cannot read
    assert "{{ source('billing', var('focus_table')) }}" in (
        out / "models" / "canonical" / "costs.sql"
    ).read_text(encoding="utf-8")
    assert (out / "dbt_project.yml").read_text(encoding="utf-8").splitlines()[1] == (
        "name: cloudtally"
    )


@pytest.mark.parametrize("dialect", ["duckdb", "spark", "databricks", "snowflake", "bigquery"])
def test_allocated_costs_has_every_column_of_costs(tmp_path: Path, dialect: str) -> None:
    """As the CLI's: the canonical model's columns, the converter's extensions among them
    (x_SourceValues), then the allocation's."""
    out = tmp_path / "project"
    write_models(out, dialect, load_rules(RULES))

    def columns(path: str) -> list[str]:
        sql = _plain_sql((out / "models" / path).read_text(encoding="utf-8"))
        return sqlglot.parse_one(sql, read=dialect).named_selects

    costs = columns("canonical/costs.sql")
    assert costs[-3:] == ["x_IngestId", "x_LineNo", "x_SourceValues"]
    assert columns("allocation/allocated_costs.sql") == [*costs, *ALLOCATION_COLUMNS]


def test_without_shared_pools_there_is_no_split(tmp_path: Path) -> None:
    """The models are the statements `cloudtally allocate` runs: no pools, no split tables."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    allocation = (rules / "allocation.yaml").read_text(encoding="utf-8")
    (rules / "allocation.yaml").write_text(
        allocation[: allocation.index("shared_pools:")], encoding="utf-8"
    )
    report = write_models(tmp_path / "project", "duckdb", load_rules(rules))
    assert report.models == [
        "costs",
        "alloc_map_0",
        "alloc_map_1",
        "alloc_metric",
        "alloc_lines",
        "allocated_costs",
        "daily_costs",
        "showback",
    ]


def test_spark_has_no_star_exclude_and_keeps_exact_decimals(tmp_path: Path) -> None:
    out = tmp_path / "project"
    write_models(out, "spark", load_rules(RULES))
    shares = (out / "models" / "allocation" / "alloc_shares.sql").read_text(encoding="utf-8")
    assert "EXCLUDE" not in shares and "EXCEPT" not in shares
    assert "DECIMAL(38, 0)" in shares  # HUGEINT weights, exact on Spark
    assert "HUGEINT" not in shares


def test_an_existing_out_is_kept_without_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "project"
    out.mkdir()
    (out / "mine.txt").write_text("keep", encoding="utf-8")
    with pytest.raises(ExportError, match="exists and is not empty"):
        write_models(out, "duckdb", load_rules(RULES))
    assert [p.name for p in out.iterdir()] == ["mine.txt"]


def test_the_command_lists_what_it_wrote(tmp_path: Path) -> None:
    out = tmp_path / "project"
    result = CliRunner().invoke(
        app, ["models", "--dialect", "duckdb", "--out", str(out), "--rules", str(RULES)]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"Wrote a dbt project for duckdb with 14 models to {out}:"
    assert lines[1:3] == ["  costs", "  alloc_map_0"]
    again = CliRunner().invoke(
        app, ["models", "--dialect", "duckdb", "--out", str(out), "--rules", str(RULES)]
    )
    assert again.exit_code == 1
    assert again.output.strip() == (
        f"Error: {out} exists and is not empty: choose another --out or give --overwrite."
    )


def test_a_kubernetes_pool_is_refused_by_name(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    with open(rules / "allocation.yaml", "a", encoding="utf-8") as fh:
        fh.write("  - id: prod-eu\n    match: {}\n    split: kubernetes\n    cluster: prod-eu\n")
    out = tmp_path / "project"
    with pytest.raises(UnsupportedError) as raised:
        write_models(out, "duckdb", load_rules(rules))
    assert str(raised.value) == (
        "Shared pool 'prod-eu' splits by OpenCost's allocations, which the models do not read "
        "yet: run `cloudtally allocate` for it, or leave the pool out of the rules folder given "
        "to `cloudtally models`."
    )
    assert not out.exists()
