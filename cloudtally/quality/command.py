"""`cloudtally check`: the data-quality report, and the gate a pipeline runs after ingest."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.text import Text

from cloudtally.clikit import format_option, store_of
from cloudtally.output import OutputFormat, render, visible
from cloudtally.quality.checks import Check, CheckResult, Finding, QualityReport, run_checks

# Findings a check shows in the table before folding the rest into one line; json and csv
# list them all.
TABLE_FINDINGS_PER_CHECK = 10

TABLE_COLUMNS = ["check", "level", "status", "count", "detail"]
MACHINE_COLUMNS = [
    "check",
    "level",
    "status",
    "count",
    "cost",
    "currency",
    "provider",
    "billing_account",
    "sub_account",
    "billing_period",
    "column",
    "rule",
    "detail",
]

_STATUS_STYLE = {"PASS": "green", "WARN": "yellow", "FAIL": "bold red"}


def _checks_epilog() -> str:
    """The checks, their levels and titles, from the registry (so `--help` cannot drift)."""
    width = max(len(name) for name in Check.registry)
    lines = [
        f"  {name:<{width}}  {cls.level.value:<7}  {cls.title}"
        for name, cls in Check.registry.items()
    ]
    # \b keeps click from re-wrapping the table.
    return "\b\nChecks (level is the worst a check reports):\n" + "\n".join(lines)


@click.command("check", epilog=_checks_epilog())
@click.option("--period", metavar="YYYY-MM", help="Check one billing period (default: all).")
@click.option(
    "--today",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    metavar="YYYY-MM-DD",
    help="The day freshness and closed periods are judged on (default: today, UTC).",
)
@click.option("--only", metavar="CHECKS", help="Comma-separated checks to run (default: all).")
@format_option
@click.pass_context
def check(
    ctx: click.Context, period: str | None, today: datetime | None, only: str | None, fmt: str
) -> None:
    """Check the lake's data quality; exit 1 when an error-level check fails.

    Warnings and info findings are reported without failing the run, so `cloudtally check`
    can gate a pipeline after `cloudtally ingest`. FOCUS rule findings name the rule by its id
    in the FinOps Foundation validator's model (e.g. ChargeCategory-C-003-M). `--format json`
    or `csv` lists every finding with its cost, account, period, column and rule.
    """
    names = [n.strip() for n in only.split(",") if n.strip()] if only else []
    report = run_checks(
        store_of(ctx),
        today=today.date() if today else None,
        period=period,
        only=names,
    )
    output = OutputFormat(fmt)
    if output is OutputFormat.table:
        _print_table(report)
    else:
        rows = [
            _machine_row(result, finding)
            for result in report.results
            for finding in result.findings or [None]
        ]
        render(MACHINE_COLUMNS, rows, output)
        # stdout stays machine-readable; the verdict goes to stderr.
        Console(stderr=True, soft_wrap=True).print(
            visible(report.summary(), lines=True), highlight=False, markup=False
        )
    if report.failed:
        raise click.exceptions.Exit(1)


def _print_table(report: QualityReport) -> None:
    rows: list[list[Any]] = []
    for result in report.results:
        if not result.findings:
            rows.append([result.id, result.level.value, _styled("PASS"), 0, result.title])
            continue
        for finding in result.findings[:TABLE_FINDINGS_PER_CHECK]:
            rows.append(
                [
                    result.id,
                    finding.level.value,
                    _styled(finding.level.status),
                    finding.count,
                    finding.detail,
                ]
            )
        hidden = len(result.findings) - TABLE_FINDINGS_PER_CHECK
        if hidden > 0:
            rows.append(["", "", "", "", f"... {hidden} more; `--format json` lists every finding"])
    scope = f"billing period {report.period}" if report.period else "all billing periods"
    render(
        TABLE_COLUMNS,
        rows,
        OutputFormat.table,
        title=f"Data quality: {scope}, today {report.today}",
    )
    style = _STATUS_STYLE["FAIL" if report.failed else "PASS"]
    Console(soft_wrap=True).print(Text(visible(report.summary(), lines=True), style=style))


def _styled(status: str) -> Text:
    return Text(status, style=_STATUS_STYLE[status])


def _machine_row(result: CheckResult, finding: Finding | None) -> list[Any]:
    if finding is None:
        return [result.id, result.level.value, "PASS", 0, *[None] * 8, result.title]
    return [
        result.id,
        finding.level.value,
        finding.level.status,
        finding.count,
        finding.cost,
        finding.currency,
        finding.provider,
        finding.billing_account,
        finding.sub_account,
        finding.billing_period,
        finding.column,
        finding.rule,
        finding.detail,
    ]
