"""`cloudtally models`: write the dbt project."""

from __future__ import annotations

from pathlib import Path

import click

from cloudtally.clikit import rules_option
from cloudtally.output import echo


@click.command("models")
@click.option(
    "--dialect",
    type=click.Choice(["bigquery", "snowflake", "databricks", "duckdb", "spark"]),
    required=True,
    help="The warehouse's SQL dialect.",
)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="The project folder.")
@rules_option("Rules folder for the allocation models (none there: no allocation models).")
@click.option(
    "--source-schema", default="billing", show_default=True, help="Schema of the FOCUS table."
)
@click.option(
    "--source-table",
    default="focus_cost_and_usage",
    show_default=True,
    help="The warehouse table holding the FOCUS export.",
)
@click.option("--overwrite", is_flag=True, help="Replace --out if it exists.")
def models(
    dialect: str,
    out: Path,
    rules_dir: Path,
    source_schema: str,
    source_table: str,
    overwrite: bool,
) -> None:
    """Write a dbt project that runs cloudtally's logic in a warehouse.

    Models: the canonical FOCUS view over the warehouse's FOCUS table, allocation by the rules
    folder (mapping tables, rules, shared pools split exactly), a daily cube and showback. The
    SQL is the same the CLI runs, transpiled to the dialect; see docs/models.md.
    """
    from cloudtally.models.project import write_models
    from cloudtally.rules.allocation import load_rules

    rules = load_rules(rules_dir) if (rules_dir / "allocation.yaml").exists() else None
    report = write_models(
        out,
        dialect,
        rules,
        source_schema=source_schema,
        source_table=source_table,
        overwrite=overwrite,
    )
    echo(f"Wrote a dbt project for {dialect} with {len(report.models)} models to {out}:")
    for name in report.models:
        echo(f"  {name}")
