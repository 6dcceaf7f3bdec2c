"""`cloudtally reconcile`: the lake against the invoices, the difference explained."""

from __future__ import annotations

from pathlib import Path

import click

from cloudtally.clikit import format_option, print_notes, store_of
from cloudtally.output import OutputFormat, render

TABLE = [
    "InvoiceId",
    "period",
    "currency",
    "invoice_amount",
    "lake_amount",
    "difference",
    "explained_by",
    "residue",
    "status",
    "since_last",
]


@click.command("reconcile")
@click.option(
    "--invoices",
    "invoices_path",
    required=True,
    type=click.Path(path_type=Path),
    help="CSV or JSON: InvoiceId, BillingAccountId, period, currency, amount [, tax, credits, "
    "fx_rate, line] (see docs/reconcile.md).",
)
@click.option("--period", help="Only the invoices of this billing period (YYYY-MM).")
@click.option(
    "--tolerance",
    default="0.5%",
    show_default=True,
    help="Residue allowed per invoice: a percentage of its amount (0.5%) or an amount (5).",
)
@format_option
@click.pass_context
def reconcile_command(
    ctx: click.Context, invoices_path: Path, period: str | None, tolerance: str, fmt: str
) -> None:
    """Reconcile invoices with the lake: per invoice, the lake's and the allocated view's
    totals, the difference explained (tax, credits, later corrections, marketplace, rounding,
    currency conversion) and the unexplained residue.

    Exits 1 when a residue exceeds the tolerance, so it can gate a month-end job. Each run is
    recorded; the next one says what changed since (a restated delivery of the period).
    """
    from cloudtally.query.periods import parse_periods
    from cloudtally.reconcile.invoices import load_invoices
    from cloudtally.reconcile.reconcile import PARTS, Tolerance, reconcile

    if period:
        parse_periods(period)
    report = reconcile(
        store_of(ctx),
        load_invoices(invoices_path),
        period=period,
        tolerance=Tolerance.parse(tolerance),
    )
    print_notes(report.notes)
    rows = [r.as_row() for r in report.rows]
    if fmt == "table":
        for row in rows:
            row["explained_by"] = "; ".join(
                f"{name} {row[name]:,.2f}" for name in PARTS if row[name]
            )
        render(
            TABLE,
            [[row[c] for c in TABLE] for row in rows],
            OutputFormat.table,
            title=f"Invoice reconciliation (tolerance {tolerance})",
            money_columns=["invoice_amount", "lake_amount", "difference", "residue"],
        )
        open_ = len(report.failed)
        click.echo(
            f"{len(rows)} invoice(s): "
            + ", ".join(
                f"{sum(1 for r in report.rows if r.status == s)} {s}"
                for s in ("reconciled", "explained", "open")
            )
        )
    else:
        columns = list(rows[0]) if rows else []
        render(columns, [list(r.values()) for r in rows], OutputFormat(fmt))
        open_ = len(report.failed)
    if open_:
        ctx.exit(1)
