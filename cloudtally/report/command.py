"""`cloudtally report monthly|weekly`: the packs finance and engineering leaders read."""

from __future__ import annotations

from pathlib import Path

import click

from cloudtally.clikit import rules_option, store_of


@click.group("report")
def report() -> None:
    """The monthly pack and the weekly summary."""


@report.command("monthly")
@click.option("--period", required=True, help="Billing period YYYY-MM.")
@click.option(
    "--out", "out", required=True, type=click.Path(path_type=Path), help="Folder to write."
)
@rules_option("Rules folder (tags.yaml for coverage; budgets.yaml when budgets exist).")
@click.option(
    "--metric", default="EffectiveCost", show_default=True, help="Cost metric of the pack."
)
@click.option("--no-pdf", is_flag=True, help="Skip pack.pdf (HTML, Markdown and data/ only).")
@click.pass_context
def monthly(
    ctx: click.Context, period: str, out: Path, rules_dir: Path, metric: str, no_pdf: bool
) -> None:
    """Write the monthly pack for PERIOD to OUT: pack.html (self-contained), pack.pdf, pack.md
    and data/ (a CSV per table and chart, variance.json).

    Sections: headline (vs last month, budget and forecast where they exist), 13-month trend,
    the variance bridge whose parts add up exactly, top drivers in plain sentences,
    breakdowns by team, product and environment, unallocated spend, tag coverage, anomalies,
    and a footer with the lake generation, ingests, rules hash and the command that
    reproduces it.
    """
    from cloudtally.progress import Reporter
    from cloudtally.report.extras import extras_for
    from cloudtally.report.monthly import monthly_pack
    from cloudtally.report.pack import write_pack
    from cloudtally.report.runs import record_report_run

    store = store_of(ctx)
    rules = rules_dir if rules_dir.is_dir() else None
    reporter = Reporter(None)
    with reporter.session():
        task = reporter.task("Computing the pack", total=1)
        pack = monthly_pack(store, period, rules_dir=rules, metric=metric)
        reporter.advance(task)
        extras = extras_for(store, pack, rules)
        task = reporter.task("Writing HTML, PDF, Markdown and data", total=1)
        files = write_pack(pack, out, extras, pdf=not no_pdf)
        reporter.advance(task)
    record_report_run(store, "monthly", period)
    for note in pack.notes:
        click.echo(f"Note: {note}", err=True)
    click.echo(f"Wrote the {period} pack to {out}: {len(files)} files")
    for name in ("pack.html", "pack.pdf", "pack.md", "data/variance.json"):
        if (out / name).exists():
            click.echo(f"  {out / name}")


@report.command("weekly")
@click.option("--week", help="ISO week YYYY-Www (default: the newest complete week).")
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(["markdown", "slack", "teams", "email", "json"]),
    default="markdown",
    show_default=True,
    help="Output format.",
)
@rules_option("Rules folder (tags.yaml for owners, monitors.yaml for --send destinations).")
@click.option(
    "--send",
    "destination",
    metavar="DESTINATION",
    help="Send it to a destination of the rules folder's monitors.yaml (slack, teams, webhook "
    "or email); its format follows the destination's type.",
)
@click.option(
    "--secrets",
    "secrets_path",
    type=click.Path(path_type=Path),
    help="YAML file of secrets named by `*_secret` keys (never printed).",
)
@click.option(
    "--dry-run", is_flag=True, help="With --send: print what would be sent, send nothing."
)
@click.pass_context
def weekly(
    ctx: click.Context,
    week: str | None,
    fmt: str,
    rules_dir: Path,
    destination: str | None,
    secrets_path: Path | None,
    dry_run: bool,
) -> None:
    """The weekly summary: the week against the one before, top movers, top services and
    accounts, untagged spend and unknown owners, open anomalies with owner and age.

    `--format slack|teams` prints the message payload (Block Kit, Adaptive Card); `email`
    prints the MIME message (HTML with the trend chart inline and a plain-text part).
    """
    import json
    import sys

    from cloudtally.report import weekly_render
    from cloudtally.report.runs import record_report_run
    from cloudtally.report.weekly import weekly_summary

    store = store_of(ctx)
    summary = weekly_summary(store, week, rules_dir=rules_dir if rules_dir.is_dir() else None)
    for note in summary.notes:
        click.echo(f"Note: {note}", err=True)
    if destination:
        _send_weekly(store, summary, rules_dir, destination, secrets_path, dry_run)
        return
    if fmt == "markdown":
        sys.stdout.write(weekly_render.to_markdown(summary))
    elif fmt == "slack":
        sys.stdout.write(json.dumps(weekly_render.to_slack(summary), indent=2) + "\n")
    elif fmt == "teams":
        sys.stdout.write(json.dumps(weekly_render.to_teams(summary), indent=2) + "\n")
    elif fmt == "email":
        message = weekly_render.to_email(summary, "cloudtally@localhost", ["finops@localhost"])
        sys.stdout.write(message.as_string())
    else:
        sys.stdout.write(json.dumps(weekly_render.to_json(summary), indent=2) + "\n")
    record_report_run(store, "weekly", summary.week)


def _send_weekly(
    store: object,
    summary: object,
    rules_dir: Path,
    destination: str,
    secrets_path: Path | None,
    dry_run: bool,
) -> None:
    import os

    from cloudtally.anomaly.config import load_monitors
    from cloudtally.anomaly.notify import Secrets
    from cloudtally.errors import RuleError
    from cloudtally.report import weekly_render as r
    from cloudtally.report.runs import record_report_run
    from cloudtally.report.send import Renderers, send_report
    from cloudtally.report.weekly import WeeklySummary
    from cloudtally.store import Store

    assert isinstance(store, Store) and isinstance(summary, WeeklySummary)
    monitors = rules_dir / "monitors.yaml"
    if not monitors.exists():
        raise RuleError(
            f"--send {destination}: {monitors} does not exist; destinations are listed in the "
            "rules folder's monitors.yaml (see docs/anomalies.md)."
        )
    renderers = Renderers(
        slack=lambda: r.to_slack(summary),
        teams=lambda: r.to_teams(summary),
        webhook=lambda: r.to_json(summary),
        email=lambda sender, to: r.to_email(summary, sender, to),
    )
    outgoing = send_report(
        load_monitors(monitors),
        destination,
        renderers,
        Secrets(os.environ, secrets_path),
        key=f"weekly-{summary.week}",
        dry_run=dry_run,
    )
    if dry_run:
        click.echo(f"Would send the {summary.week} summary to {destination}:")
        click.echo(outgoing.preview())
        return
    record_report_run(store, "weekly", summary.week, destination=destination)
    click.echo(f"Sent the {summary.week} summary to {destination}.")
