"""`cloudtally forecast` and `cloudtally forecast backtest`: thin commands over the query
functions of the forecast package; they parse options and render."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from cloudtally.clikit import DEFAULT_RULES, format_option, print_notes, rules_option, store_of
from cloudtally.output import OutputFormat, plain, render


def interval(lower: Decimal, upper: Decimal) -> str:
    """>>> interval(Decimal("1234.5"), Decimal("2000"))
    '1,234.50 .. 2,000.00'
    """
    return f"{lower:,.2f} .. {upper:,.2f}"


def _words(by: str | None) -> list[str]:
    return [w.strip() for w in (by or "").split(",") if w.strip()]


def _rules_dir(rules_dir: Path) -> Path | None:
    """The rules folder given, or None when the default ./rules is not there."""
    return rules_dir if rules_dir != DEFAULT_RULES or rules_dir.exists() else None


_rules = rules_option("Rules folder whose tags.yaml normalises owners read from tags.")


@click.group("forecast", invoke_without_command=True)
@click.option(
    "--by",
    help="Comma-separated dimensions to forecast each group of: team, product, service, "
    "account, provider, tag:KEY, ... (default: the whole lake).",
)
@click.option("--metric", default="BilledCost", show_default=True, help="Cost metric.")
@click.option(
    "--horizon",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Months after the current one.",
)
@click.option(
    "--as-of",
    "as_of",
    metavar="YYYY-MM-DD",
    help="Forecast as at the start of this day, from charges dated before it only "
    "(default: the day after the newest charge).",
)
@_rules
@format_option
@click.pass_context
def forecast(
    ctx: click.Context,
    by: str | None,
    metric: str,
    horizon: int,
    as_of: str | None,
    rules_dir: Path,
    fmt: str,
) -> None:
    """Month-end totals of this month and the next ones, with 80% and 95% intervals.

    The model reads daily costs: weekday patterns, trends, level shifts, services that start
    or stop, fees charged at the start of a month (known from day 1, never extrapolated) and
    late data in the newest days. Intervals come from the model's own errors on the lake's
    history; `cloudtally forecast backtest` measures them. Forecasts are estimates rounded to
    cents; actual_to_date is exact.

    \b
    Examples:
      cloudtally forecast
      cloudtally forecast --by team --horizon 1 --format json
      cloudtally forecast --as-of 2024-09-15
      cloudtally forecast backtest --by service
    """
    if ctx.invoked_subcommand is not None:
        return
    from cloudtally.forecast.query import forecast as run
    from cloudtally.forecast.query import parse_day

    words = _words(by)
    result = run(
        store_of(ctx),
        words,
        metric=metric,
        horizon=horizon,
        as_of=parse_day(as_of),
        rules_dir=_rules_dir(rules_dir),
    )
    output = OutputFormat(fmt)
    if output is OutputFormat.json:
        sys.stdout.write(json.dumps([plain(r.as_dict()) for r in result.rows], indent=2) + "\n")
        return
    columns = ["period", *words, "currency", "actual_to_date", "forecast"]
    if output is OutputFormat.csv:
        columns += ["lower_80", "upper_80", "lower_95", "upper_95", "method"]
    else:  # a table: each interval in one column
        columns += ["80% interval", "95% interval", "method"]
    rows = []
    for r in result.rows:
        bands: tuple[object, ...] = (r.lower_80, r.upper_80, r.lower_95, r.upper_95)
        if output is not OutputFormat.csv:
            bands = (interval(r.lower_80, r.upper_80), interval(r.lower_95, r.upper_95))
        dims = tuple((r.group or {}).get(w) for w in words)
        rows.append((r.period, *dims, r.currency, r.actual_to_date, r.forecast, *bands, r.method))
    title = (
        f"Forecast of {result.metric}{' by ' + ', '.join(words) if words else ''} as of "
        f"{result.as_of} (charges {result.data_from} to {result.data_to})"
    )
    money = ["actual_to_date", "forecast", "lower_80", "upper_80", "lower_95", "upper_95"]
    render(columns, rows, output, title=title, money_columns=money)
    print_notes(result.notes)


@forecast.command("backtest")
@click.option("--by", help="Comma-separated dimensions (default: the whole lake).")
@click.option("--metric", default="BilledCost", show_default=True, help="Cost metric.")
@click.option(
    "--horizon",
    type=click.IntRange(min=0, max=12),
    default=0,
    show_default=True,
    help="Also measure forecasts of this many later months.",
)
@click.option(
    "--days",
    default="2,8,15,22,28",
    show_default=True,
    help="Days of each month the forecasts are made on.",
)
@click.option(
    "--months", type=click.IntRange(min=1), help="Replay only the last N complete months."
)
@click.option(
    "--min-actual",
    type=click.FloatRange(min=0),
    default=100.0,
    show_default=True,
    help="Leave out months whose total is below this (their percentage errors mean little).",
)
@_rules
@format_option
@click.pass_context
def backtest_command(
    ctx: click.Context,
    by: str | None,
    metric: str,
    horizon: int,
    days: str,
    months: int | None,
    min_actual: float,
    rules_dir: Path,
    fmt: str,
) -> None:
    """Replay past months: forecasts made on several days of each month from the data known
    then, against the actual totals, next to the run-rate and seasonal-naive baselines.

    MAPE is the mean absolute percentage error; coverage is how often the actual fell inside
    the 80% and 95% intervals (they should hold it about 80% and 95% of the time).
    """
    from cloudtally.forecast.backtest import backtest_lake
    from cloudtally.forecast.query import ForecastError

    try:
        day_list = tuple(int(d) for d in days.split(",") if d.strip())
    except ValueError:
        raise ForecastError(f"--days {days!r} is not a list of days of the month.") from None
    result = backtest_lake(
        store_of(ctx),
        _words(by),
        metric=metric,
        horizon=horizon,
        days=day_list,
        months=months,
        min_actual=min_actual,
        rules_dir=_rules_dir(rules_dir),
    )
    output = OutputFormat(fmt)
    if output is OutputFormat.json:
        data: dict[str, Any] = asdict(result)
        data["by_day"] = {str(k): v for k, v in result.by_day.items()}
        sys.stdout.write(json.dumps(plain(data), indent=2) + "\n")
        return
    columns = ["horizon", "method", "forecasts", "MAPE %", "median APE %", "WAPE %"]
    columns += ["80% coverage", "95% coverage"]
    rows = [
        (
            s.horizon,
            s.method,
            s.points,
            round(s.mape, 2),
            round(s.median_ape, 2),
            round(s.wape, 2),
            "" if s.coverage_80 is None else f"{s.coverage_80:.1%}",
            "" if s.coverage_95 is None else f"{s.coverage_95:.1%}",
        )
        for s in result.scores
    ]
    span = f"{result.months[0]} to {result.months[-1]}"
    title = (
        f"Backtest of month-end forecasts, {len(result.months)} months ({span}), as of days "
        f"{', '.join(map(str, result.days))}; {result.groups} group(s), months under "
        f"{result.min_actual:g} left out"
    )
    render(columns, rows, output, title=title)
    if output is OutputFormat.table:
        model, baseline = result.score("model"), result.score("run-rate")
        if baseline.mape > 0:
            click.echo(
                f"Model MAPE is {model.mape / baseline.mape:.2f} x run-rate's "
                f"({model.mape:.2f}% vs {baseline.mape:.2f}%)."
            )
