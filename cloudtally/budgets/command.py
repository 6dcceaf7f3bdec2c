"""`cloudtally budgets ...`: thin commands over the budgets package."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from cloudtally.budgets.config import BudgetError, Budgets, load_budgets
from cloudtally.clikit import format_option, print_notes, rules_option, store_of
from cloudtally.forecast.command import interval
from cloudtally.output import OutputFormat, plain, render

_rules = rules_option("Rules folder holding budgets.yaml (and monitors.yaml for notify).")


def load_folder(rules_dir: Path) -> Budgets:
    """The budgets of a rules folder, checked against its monitors' destinations."""
    from cloudtally.anomaly.config import load_monitors

    path = Path(rules_dir) / "budgets.yaml"
    if not path.exists():
        raise BudgetError(
            f"No budgets file {path}: write one (see docs/budgets.md and "
            "examples/rules/budgets.yaml), or pass --rules."
        )
    monitors = Path(rules_dir) / "monitors.yaml"
    destinations = set(load_monitors(monitors).destinations) if monitors.exists() else set()
    return load_budgets(path, destinations)


@click.group("budgets")
def budgets() -> None:
    """Budgets as code (rules/budgets.yaml): status against actuals and forecasts, alerts."""


@budgets.command("check")
@_rules
def check_command(rules_dir: Path) -> None:
    """Check budgets.yaml: amounts, phasing, overlaps, parents and destinations."""
    loaded = load_folder(rules_dir)
    click.echo(f"{loaded.path}: {len(loaded.plans)} budget(s), no problems.")


@budgets.command("status")
@_rules
@click.option("--period", help="Billing period YYYY-MM (default: the newest month of data).")
@format_option
@click.pass_context
def status_command(ctx: click.Context, rules_dir: Path, period: str | None, fmt: str) -> None:
    """Each budget's amount, actual to date, month-to-date budget, forecast with its 80% and
    95% intervals, and status: ok, at risk (forecast above the budget) or over (actual above).
    """
    from cloudtally.budgets.status import budget_status
    from cloudtally.query.costs import parse_periods

    if period is not None:
        first, last = parse_periods(period) or (period, period)
        if first != last:
            raise BudgetError(f"--period {period}: give one month, YYYY-MM.")
    report = budget_status(store_of(ctx), load_folder(rules_dir), period=period)
    for warning in report.warnings:
        click.echo(f"Warning: {warning}", err=True)
    print_notes(report.notes)
    output = OutputFormat(fmt)
    if output is OutputFormat.json:
        data = [plain(r.as_dict()) for r in report.rows]
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    columns = ["budget", "scope", "period", "currency", "amount", "actual_to_date"]
    columns += ["mtd_budget", "forecast"]
    if output is OutputFormat.csv:
        columns += ["lower_80", "upper_80", "lower_95", "upper_95"]
    else:
        columns += ["80% interval"]
    columns += ["status", "breaches"]
    rows = []
    for r in report.rows:
        bands: tuple[object, ...] = (r.lower_80, r.upper_80, r.lower_95, r.upper_95)
        if output is not OutputFormat.csv:
            bands = (interval(r.lower_80, r.upper_80),)
        breaches = "; ".join(b.threshold.label for b in r.breaches)
        rows.append(
            (r.budget, r.scope, r.period, r.currency, r.amount, r.actual_to_date, r.mtd_budget,
             r.forecast, *bands, r.status, breaches)
        )  # fmt: skip
    when = "complete" if report.complete else f"as of {report.as_of}"
    render(
        columns,
        rows,
        output,
        title=f"Budgets, {report.period} ({when})",
        money_columns=["amount", "actual_to_date", "mtd_budget", "forecast", "lower_80",
                       "upper_80", "lower_95", "upper_95"],
    )  # fmt: skip
