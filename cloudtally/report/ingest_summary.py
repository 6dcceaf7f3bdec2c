"""The one-screen summary that ends `cloudtally ingest`."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from cloudtally.ingest.pipeline import IngestReport
from cloudtally.output import visible


def print_ingest_summary(report: IngestReport, console: Console | None = None) -> None:
    console = console or Console(soft_wrap=True, markup=False)
    for path, reason in report.skipped:
        console.print(visible(f"Skipped {path}: {reason.split(': ', 1)[-1]}"), highlight=False)
    if not report.stored:
        if report.repair and not report.unchanged:
            console.print("Nothing to repair: every live file holds what was ingested.")
        else:
            console.print(
                f"Nothing to do: {len(report.unchanged)} file(s) already ingested, unchanged."
            )
        return
    for dataset, rows in sorted(report.datasets.items()):
        console.print(
            f"Stored {dataset}: {rows:,} rows after this delivery (the view `{dataset}`; "
            "beside the costs, not in them).",
            highlight=False,
        )
    if not report.partitions:
        console.print(f"Ingest id {report.ingest_id}.")
        return
    periods = sorted({k.billing_period for k in report.partitions})
    accounts = sorted({(k.provider, k.billing_account_id) for k in report.partitions})
    providers = sorted({k.provider for k in report.partitions})
    formats = ", ".join(f"{name} x{n}" for name, n in sorted(report.formats.items()))
    console.print(
        f"Ingested {len(report.stored)} file(s) ({formats}): {report.rows:,} rows, "
        f"{len(periods)} billing period(s) {', '.join(periods)}, {len(accounts)} billing "
        f"account(s), providers {', '.join(providers)}."
    )
    if report.unchanged:
        console.print(f"Skipped {len(report.unchanged)} unchanged file(s).")
    if report.replaced:
        console.print(
            f"Replaced {len(report.replaced)} account-period(s) with the new delivery: "
            + ", ".join(k.label() for k in report.replaced[:5])
            + (" ..." if len(report.replaced) > 5 else "")
        )
    if report.repaired:
        console.print(
            f"Repaired {len(report.repaired)} account-period(s) from their sources: "
            + ", ".join(k.label() for k in report.repaired[:5])
            + (" ..." if len(report.repaired) > 5 else "")
        )
    if report.numbered:
        console.print(
            f"Numbered the lines (x_LineNo) of {len(report.numbered)} account-period(s) "
            "ingested before lines had keys: "
            + ", ".join(k.label() for k in report.numbered[:5])
            + (" ..." if len(report.numbered) > 5 else "")
        )
    for key, paths in report.several:
        # Full paths: two files of one delivery often share a name (aws.csv in two folders).
        names = ", ".join(str(p) for p in paths[:3]) + (
            f" and {len(paths) - 3} more" if len(paths) > 3 else ""
        )
        console.print(
            f"Note: {key.label()} holds the sum of {len(paths)} files of this delivery ({names}). "
            "If they are versions of one export rather than its parts, ingest the newest alone "
            "(`cloudtally check` reports the duplicate line items).",
            highlight=False,
        )
    table = Table(title="Totals stored (reconciled with the source)", title_justify="left")
    table.add_column("currency")
    table.add_column("BilledCost", justify="right")
    table.add_column("EffectiveCost", justify="right")
    for currency, metrics in sorted(report.totals.items()):
        table.add_row(currency, f"{metrics['BilledCost']:,.2f}", f"{metrics['EffectiveCost']:,.2f}")
    console.print(table)
    console.print(f"Ingest id {report.ingest_id}.")
