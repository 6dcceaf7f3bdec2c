"""`cloudtally anomalies ...` and `cloudtally explain`: thin commands over the anomaly package."""

from __future__ import annotations

import json
import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from cloudtally.anomaly.config import AnomalyError, MonitorsFile, load_monitors
from cloudtally.anomaly.state import COLUMNS as STATE_COLUMNS
from cloudtally.anomaly.state import LIFECYCLE
from cloudtally.clikit import format_option, store_of
from cloudtally.output import OutputFormat, echo, plain, render, text, visible

DEFAULT_RULES = Path("rules") / "monitors.yaml"


def _rules_option(f: Any) -> Any:
    return click.option(
        "--rules",
        "rules_path",
        type=click.Path(path_type=Path),
        help=f"Monitors file (default: {DEFAULT_RULES} when it exists).",
    )(f)


def _day(text: str | None, option: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise AnomalyError(f"{option} {text!r} is not a date: use YYYY-MM-DD.") from None


def _rules(path: Path | None) -> MonitorsFile:
    if path is not None:
        return load_monitors(path)
    if DEFAULT_RULES.exists():
        return load_monitors(DEFAULT_RULES)
    return MonitorsFile()


@click.group("anomalies")
def anomalies() -> None:
    """Cost anomalies: detect, list, acknowledge, resolve, give feedback, notify owners."""


@anomalies.command("detect")
@click.option(
    "--by",
    help="Ad hoc monitor: comma-separated dimensions (ServiceName,SubAccountId, service, "
    "account, team, tag:KEY, ...). Without it, the monitors of the rules file run.",
)
@click.option("--where", "filters", multiple=True, metavar="DIM=VALUE", help="Filter (repeatable).")
@_rules_option
@click.option("--monitor", "only", help="Run only this monitor of the rules file.")
@click.option("--since", metavar="YYYY-MM-DD", help="Replay every day from this one.")
@click.option(
    "--until", metavar="YYYY-MM-DD", help="The last day scored (default: the newest complete)."
)
@click.option(
    "--complete-lag",
    type=click.IntRange(min=0),
    help="Days are complete N days after they end (default: once a later day has data).",
)
@click.option("--today", metavar="YYYY-MM-DD", help="The day --complete-lag counts from.")
@click.option(
    "--progress/--no-progress", default=None, help="Show a progress bar (default: on a terminal)."
)
@format_option
@click.pass_context
def detect_command(
    ctx: click.Context,
    by: str | None,
    filters: tuple[str, ...],
    rules_path: Path | None,
    only: str | None,
    since: str | None,
    until: str | None,
    complete_lag: int | None,
    today: str | None,
    progress: bool | None,
    fmt: str,
) -> None:
    """Score the newest complete day (or replay from --since) and store the anomalies.

    Each day is scored only from the days before it. Re-running never duplicates an anomaly.
    """
    from cloudtally.anomaly.run import adhoc_monitor, detect
    from cloudtally.progress import Reporter

    rules = _rules(rules_path)
    where: dict[str, str | list[str]] = {}
    for item in filters:
        word, sep, value = item.partition("=")
        if not sep or not word:
            raise AnomalyError(f"--where {item!r} is not DIM=VALUE.")
        where[word.strip()] = value.strip()
    if by:
        words = [w.strip() for w in by.split(",") if w.strip() and w.strip() != "total"]
        rules = rules.model_copy(update={"monitors": [adhoc_monitor(words, where)]})
    elif only:
        rules = rules.model_copy(update={"monitors": [rules.monitor(only)]})
    report = detect(
        store_of(ctx),
        rules,
        since=_day(since, "--since"),
        until=_day(until, "--until"),
        complete_lag=complete_lag,
        today=_day(today, "--today"),
        reporter=Reporter(progress),
    )
    if report.skipped:
        click.echo(report.skipped, err=True)
    if fmt != "table":
        _render_list(report.anomalies, OutputFormat(fmt))
        return
    span = (
        str(report.scored_to)
        if report.scored_from == report.scored_to
        else f"{report.scored_from}..{report.scored_to}"
    )
    click.echo(
        f"Scored {report.series:,} series on {span}: {len(report.anomalies)} anomalies "
        f"({report.new} new, {report.updated} already known)."
    )
    for gone, reason in report.closed:
        click.echo(f"Resolved {gone.id} ({gone.dimension} {gone.value}, {gone.date}): {reason}.")
    if report.anomalies:
        _render_list(report.anomalies, OutputFormat.table)


def _render_list(found: list[Any], fmt: OutputFormat) -> None:
    if fmt is OutputFormat.json:
        data = [plain(a.as_dict()) for a in found]
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    if fmt is OutputFormat.csv:
        render([*STATE_COLUMNS, *LIFECYCLE], [list(a.as_dict().values()) for a in found], fmt)
        return
    console = Console(soft_wrap=True, width=max(Console().width, 120))
    if not found:
        console.print("No anomalies.")
        return
    for a in found:
        alert_table(a, console)


def alert_table(a: Any, console: Console) -> None:
    """One anomaly as a short alert: what, how much, why, who, and what to do."""
    from cloudtally.anomaly.notify import describe

    style = {"open": "bold red", "acknowledged": "yellow", "resolved": "green"}.get(a.status, "dim")
    console.print(
        Text.assemble(
            text(a.status.upper(), style),
            " ",
            text(a.id, "bold"),
            f" {a.date}  ",
            text(describe(a)),
        ),
        highlight=False,
    )
    for cause in a.root_causes[:5]:
        console.print(
            visible(
                f"    {cause['dimension']:<10} {cause['value']}: {cause['share']:.0%} of the "
                f"excess ({cause['actual']:,.2f} vs {cause['expected']:,.2f} expected)"
            ),
            highlight=False,
            markup=False,
        )
    tail = f"owner {a.owner}" if a.owner else "no owner found"
    if a.parent:
        tail += f"; explained by {a.parent}"
    console.print(
        visible(
            f"    {tail}. Ack: cloudtally anomalies ack {a.id}   "
            f"Planned? cloudtally anomalies feedback {a.id} expected"
        ),
        highlight=False,
        markup=False,
    )


@anomalies.command("list")
@click.option(
    "--status",
    type=click.Choice(["open", "acknowledged", "resolved", "suppressed", "explained"]),
    help="Only anomalies in this state.",
)
@click.option("--monitor", help="Only this monitor's anomalies.")
@click.option("--since", metavar="YYYY-MM-DD", help="Only anomalies from this day on.")
@format_option
@click.pass_context
def list_command(
    ctx: click.Context, status: str | None, monitor: str | None, since: str | None, fmt: str
) -> None:
    """Stored anomalies, newest first, with their root causes."""
    from cloudtally.anomaly import state

    with store_of(ctx).state() as con:
        found = state.load(con, status=status, monitor=monitor, since=_day(since, "--since"))
    _render_list(found, OutputFormat(fmt))


@anomalies.command("ack")
@click.argument("anomaly_id")
@click.option("--note", help="Why, or who is on it.")
@click.pass_context
def ack_command(ctx: click.Context, anomaly_id: str, note: str | None) -> None:
    """Acknowledge an anomaly: someone is looking at it."""
    from cloudtally.anomaly import state

    with store_of(ctx).state() as con:
        before = state.set_status(con, anomaly_id, "acknowledged", note)
    click.echo(f"{anomaly_id}: {before} -> acknowledged")


@anomalies.command("resolve")
@click.argument("anomaly_id")
@click.option("--note", help="What was done.")
@click.pass_context
def resolve_command(ctx: click.Context, anomaly_id: str, note: str | None) -> None:
    """Resolve an anomaly."""
    from cloudtally.anomaly import state

    with store_of(ctx).state() as con:
        before = state.set_status(con, anomaly_id, "resolved", note)
    click.echo(f"{anomaly_id}: {before} -> resolved")


@anomalies.command("feedback")
@click.argument("anomaly_id")
@click.argument("kind", type=click.Choice(["real", "expected", "planned", "false-positive"]))
@click.option("--from", "start", metavar="YYYY-MM-DD", help="Planned window start.")
@click.option("--until", "end", metavar="YYYY-MM-DD", help="Planned window end (inclusive).")
@click.option("--note", help="Context for the next person.")
@click.pass_context
def feedback_command(
    ctx: click.Context,
    anomaly_id: str,
    kind: str,
    start: str | None,
    end: str | None,
    note: str | None,
) -> None:
    """Tell cloudtally whether an anomaly was real, expected (planned) or a false positive.

    `expected --until DATE` suppresses this series' anomalies until DATE in later runs;
    `false-positive` makes later runs stricter on this series.
    """
    from cloudtally.anomaly import state

    with store_of(ctx).state() as con:
        window = None
        if start or end:
            anomaly = state.get(con, anomaly_id)
            window = (
                _day(start, "--from") or anomaly.date,
                _day(end, "--until") or anomaly.date,
            )
        updated = state.add_feedback(con, anomaly_id, kind, window=window, note=note)
    suffix = f" (planned {window[0]}..{window[1]})" if window else ""
    click.echo(f"{anomaly_id}: feedback {kind}{suffix}; status {updated.status}")


@anomalies.command("notify")
@_rules_option
@click.option(
    "--secrets",
    "secrets_path",
    type=click.Path(path_type=Path),
    envvar="CLOUDTALLY_SECRETS_FILE",
    help="YAML file of secrets named by `*_secret` keys (never printed).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Check every destination and show the exact message each would get; send nothing.",
)
@click.pass_context
def notify_command(
    ctx: click.Context, rules_path: Path | None, secrets_path: Path | None, dry_run: bool
) -> None:
    """Send open anomalies to their owners' destinations (each one once).

    Every destination about to be used is checked first (secrets set, URL well formed, CA
    bundle readable); if one is not ready nothing is sent. TLS certificates are verified;
    a destination with a private CA names it with `ca_bundle`.
    """
    from cloudtally.anomaly.notify import Secrets, route

    rules = _rules(rules_path)
    secrets = Secrets(os.environ, secrets_path)
    results = route(store_of(ctx), rules, secrets, dry_run=dry_run)
    if not results:
        echo("Nothing to send.")
    for r in results:
        echo(f"{r.anomaly_id} -> {r.destination}: {r.outcome}")
        if r.message is not None:
            echo("\n".join(f"    {line}" for line in r.message.splitlines()))
    if any(r.outcome.startswith(("failed", "not ready")) for r in results):
        raise click.exceptions.Exit(1)
