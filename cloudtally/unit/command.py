"""`cloudtally unit-costs`: cost per unit of a business metric."""

from __future__ import annotations

from pathlib import Path

import click

from cloudtally.clikit import (
    date_range,
    filters_of,
    format_option,
    print_notes,
    range_options,
    rules_option,
    store_of,
    where_option,
)
from cloudtally.output import OutputFormat, render


@click.command("unit-costs")
@click.option("--metric", "metric_name", required=True, help="The business metric (units).")
@click.option("--by", default="", help="Comma-separated dimensions (product, tenant, team, ...).")
@range_options
@click.option(
    "--grain",
    type=click.Choice(["month", "week", "day"]),
    default="month",
    show_default=True,
    help="Period of each row.",
)
@click.option("--cost", default="EffectiveCost", show_default=True, help="Cost metric to divide.")
@where_option
@rules_option("Rules folder with metrics/ and metrics.yaml (and tags.yaml for owners).")
@format_option
@click.pass_context
def unit_costs_command(
    ctx: click.Context,
    metric_name: str,
    by: str,
    period: str | None,
    since: str | None,
    until: str | None,
    grain: str,
    cost: str,
    filters: tuple[str, ...],
    rules_dir: Path,
    fmt: str,
) -> None:
    """Cost per unit of a business metric per group and period, with its change and the
    elasticity of cost to volume. Shared costs are included through the allocation; a group
    the metric has but the costs do not (a tenant) splits the cost by its share of the units.
    Missing metric data shows as "no data"."""
    from cloudtally.unit.costs import unit_costs
    from cloudtally.unit.metrics import load_metrics

    words = [w.strip() for w in by.split(",") if w.strip()]
    table = unit_costs(
        store_of(ctx),
        load_metrics(rules_dir),
        metric_name,
        words,
        when=date_range(period, since, until),
        grain=grain,
        cost=cost,
        filters=filters_of(filters),
        rules_dir=rules_dir if rules_dir.exists() else None,
    )
    print_notes(table.notes)
    rows = table.rows
    if fmt == "table":
        at = table.columns.index("cost_per_unit")
        rows = [
            (*r[:at], "no data" if r[at] is None else f"{r[at]:,.6f}", *r[at + 1 :]) for r in rows
        ]
    render(
        table.columns,
        rows,
        OutputFormat(fmt),
        title=f"{table.cost_metric} per {metric_name}"
        + (f" by {', '.join(words)}" if words else ""),
        money_columns=[table.cost_metric],
        share_columns=["change_pct"],
    )
