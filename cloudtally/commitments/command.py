"""`cloudtally commitments ...`: parse, call the query function, render its result."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from cloudtally.clikit import format_option, rules_option, store_of
from cloudtally.results import render_result

_period = click.option("--period", help="Billing period YYYY-MM, or a range YYYY-MM..YYYY-MM.")
_sql = click.option(
    "--show-sql", is_flag=True, help="Print the SQL (over the lake's views) that gives the rows."
)


def _by(default: str | None, words: str) -> Any:
    return click.option(
        "--by", default=default, show_default=default is not None, help=f"Comma-separated: {words}."
    )


@click.group()
def commitments() -> None:
    """Commitment discounts: inventory, utilization, coverage, savings, expiry, alerts and
    purchase scenarios.

    Savings plans, reservations and committed use discounts of every provider, read from the
    FOCUS commitment columns. docs/commitments.md defines every number and gives its SQL.
    """


@commitments.command()
@_period
@format_option
@_sql
@click.pass_context
def inventory(ctx: click.Context, period: str | None, fmt: str, show_sql: bool) -> None:
    """Each commitment: provider, type, category, unit, purchases, term and amortized cost."""
    from cloudtally.commitments.inventory import inventory as run

    render_result(run(store_of(ctx), period=period), fmt, show_sql=show_sql)


@commitments.command()
@_period
@_by("period", "period (default), month, day, or any cost dimension")
@format_option
@_sql
@click.pass_context
def utilization(ctx: click.Context, period: str | None, by: str, fmt: str, show_sql: bool) -> None:
    """Committed, used and unused (cost and quantity) and utilization per commitment."""
    from cloudtally.commitments.utilization import utilization as run

    render_result(run(store_of(ctx), period=period, by=by), fmt, show_sql=show_sql)


@commitments.command()
@_period
@_by("service", "service, region, account, instance-family, or any cost dimension")
@format_option
@_sql
@click.pass_context
def coverage(ctx: click.Context, period: str | None, by: str, fmt: str, show_sql: bool) -> None:
    """Eligible usage covered by commitments, by on-demand-equivalent cost and by hours."""
    from cloudtally.commitments.coverage import coverage as run

    render_result(run(store_of(ctx), period=period, by=by), fmt, show_sql=show_sql)


@commitments.command()
@_period
@_by(None, "provider, service, account, ... (default: totals per currency)")
@format_option
@_sql
@click.pass_context
def savings(
    ctx: click.Context, period: str | None, by: str | None, fmt: str, show_sql: bool
) -> None:
    """List, contracted, effective cost; savings, waste and Effective Savings Rates."""
    from cloudtally.commitments.savings import savings as run

    render_result(run(store_of(ctx), period=period, by=by), fmt, show_sql=show_sql)


@commitments.command()
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Count days from this date (default: the end of the lake's data).",
)
@format_option
@_sql
@click.pass_context
def expiry(ctx: click.Context, as_of: datetime | None, fmt: str, show_sql: bool) -> None:
    """The expiry ladder: what ends within 30, 90 and 180 days, its utilization now and the
    on-demand cost that would replace it."""
    from cloudtally.commitments.expiry import expiry as run

    day: date | None = as_of.date() if as_of else None
    render_result(run(store_of(ctx), as_of=day), fmt, show_sql=show_sql)


@commitments.command()
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Judge the 7 days before this date (default: the end of the lake's data).",
)
@rules_option("Rules folder: commitments.yaml (thresholds, routing) and monitors.yaml.")
@click.option("--notify", "send", is_flag=True, help="Send the alerts (each one once).")
@click.option("--dry-run", is_flag=True, help="With --notify: show who would be told.")
@click.option(
    "--secrets",
    "secrets_path",
    type=click.Path(path_type=Path),
    envvar="CLOUDTALLY_SECRETS_FILE",
    help="YAML file of secrets named by `*_secret` keys (never printed).",
)
@format_option
@click.pass_context
def alerts(
    ctx: click.Context,
    as_of: datetime | None,
    rules_dir: Path,
    send: bool,
    dry_run: bool,
    secrets_path: Path | None,
    fmt: str,
) -> None:
    """Utilization below a threshold or falling, coverage dropping, commitments expiring.

    Thresholds and routing: commitments.yaml in the rules folder; destinations and teams:
    its monitors.yaml. With --notify each alert goes to each destination once.
    """
    import os

    from cloudtally.commitments.alerts import alerts_result, deliver, find_alerts, load_rules

    store = store_of(ctx)
    rules = load_rules(rules_dir)
    day = as_of.date() if as_of else None
    found = find_alerts(store, rules, as_of=day)
    render_result(alerts_result(found, f"as of {day}" if day else "(end of data)"), fmt)
    if not send:
        return
    from cloudtally.anomaly.config import load_monitors
    from cloudtally.anomaly.notify import Secrets

    monitors = load_monitors(rules_dir / "monitors.yaml")
    results = deliver(
        store, found, rules, monitors, Secrets(os.environ, secrets_path), dry_run=dry_run
    )
    for r in results:
        click.echo(f"{r.alert_id} -> {r.destination}: {r.outcome}", err=fmt != "table")
    if any(r.outcome.startswith("failed") for r in results):
        raise click.exceptions.Exit(1)


@commitments.command()
@click.option(
    "--type",
    "kind",
    type=click.Choice(["savings-plan", "reservation", "cud"]),
    required=True,
    help="Spend-based and flexible (savings-plan) or per SKU (reservation, cud).",
)
@click.option("--term", type=click.Choice(["1y", "3y"]), default="1y", show_default=True)
@click.option(
    "--payment", type=click.Choice(["none", "partial", "all"]), default="none", show_default=True
)
@click.option("--amount", help="Commitment per hour, e.g. 12.5/h.")
@click.option("--target-coverage", type=float, help="Or: the coverage to reach, 0-1.")
@click.option(
    "--lookback", type=click.Choice(["30d", "60d", "90d"]), default="30d", show_default=True
)
@click.option(
    "--rates",
    "rates_file",
    type=click.Path(path_type=Path),
    help="CSV of commitment rates (sku_id,type,term,payment,rate); default: from the lake.",
)
@click.option("--provider", help="The provider whose usage to commit (when there are several).")
@click.option("--service", help="Only this service's usage.")
@format_option
@click.pass_context
def scenario(
    ctx: click.Context,
    kind: str,
    term: str,
    payment: str,
    amount: str | None,
    target_coverage: float | None,
    lookback: str,
    rates_file: Path | None,
    provider: str | None,
    service: str | None,
    fmt: str,
) -> None:
    """Project a purchase: coverage, utilization, monthly savings, break-even month, a risk
    range, and a table of amounts up to the usage's peak (where savings stop paying)."""
    from cloudtally.commitments.scenario import parse_amount
    from cloudtally.commitments.scenario import scenario as run

    result = run(
        store_of(ctx),
        kind=kind,
        term=term,
        payment=payment,
        amount=parse_amount(amount) if amount is not None else None,
        target_coverage=target_coverage,
        lookback=lookback,
        rates_file=rates_file,
        provider=provider,
        service=service,
    )
    render_result(result, fmt)
