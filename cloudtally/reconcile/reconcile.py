"""Invoice reconciliation: does the lake agree with the invoice, and if not, why.

For each invoice the lake's BilledCost is taken for its InvoiceId (or, when the lake has no
line with that id, for its billing account, period and currency). The difference
`invoice - lake` is explained by named parts, each an amount the data measures:

- `tax_not_in_export`: the invoice's tax (when the file gives it) minus the lake's Tax lines;
- `credits_not_in_export`: the invoice's credits (when given) minus the lake's Credit lines;
- `later_corrections`: lines of ChargeClass `Correction` in the lake, which arrived after the
  invoice was issued (the invoice cannot hold them);
- `marketplace`: lines whose publisher is not the provider, invoiced separately;
- `rounding`: the invoice rounds each of its lines to the currency's minor unit, so what is
  left within half a minor unit per invoice line (at least one line) is rounding;
- `currency_conversion`: for an invoice in another currency (`fx_rate`), the rounding of the
  converted amount to the invoice currency's minor unit.

Tax and credits given on the invoice are always applied. Later corrections and marketplace
lines are applied when the data says they happened and they close the gap: of the subsets of
them that leave a residue within the tolerance, the one leaving the smallest residue (then the
fewest parts) is used; none is applied to part of an unrelated difference. Rounding comes
last. The `residue` is
what is left, an exact decimal. Status: `reconciled` (the difference is within tolerance),
`explained` (the residue is) or `open`.
"""

from __future__ import annotations

import decimal
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import duckdb

from cloudtally.errors import QueryError
from cloudtally.focus.currency import minor_unit
from cloudtally.reconcile.invoices import Invoice, InvoiceError
from cloudtally.store import Store

PARTS = (
    "tax_not_in_export",
    "credits_not_in_export",
    "later_corrections",
    "marketplace",
    "rounding",
    "currency_conversion",
)
CANDIDATES = ("later_corrections", "marketplace")
# Exact for any DECIMAL(38,18) amount and its products with a rate (Python's default is 28 digits).
WIDE = decimal.Context(prec=80)
STATE = """
CREATE TABLE IF NOT EXISTS reconciliations (
    run_at TIMESTAMPTZ NOT NULL,
    lake_generation INTEGER NOT NULL,
    invoice_id VARCHAR NOT NULL,
    billing_account_id VARCHAR NOT NULL,
    period VARCHAR NOT NULL,
    currency VARCHAR NOT NULL,
    invoice_amount DECIMAL(38, 18) NOT NULL,
    lake_amount DECIMAL(38, 18) NOT NULL,
    difference DECIMAL(38, 18) NOT NULL,
    residue DECIMAL(38, 18) NOT NULL,
    status VARCHAR NOT NULL,
    parts JSON NOT NULL
)
"""


@dataclass(frozen=True)
class Tolerance:
    """`0.5%` of the invoice amount, or an absolute amount (`5`)."""

    text: str

    def limit(self, amount: Decimal) -> Decimal:
        if self.text.endswith("%"):
            return abs(amount) * Decimal(self.text[:-1]) / 100
        return Decimal(self.text)

    @staticmethod
    def parse(text: str) -> Tolerance:
        raw = text.strip()
        try:
            number = Decimal(raw[:-1] if raw.endswith("%") else raw)
        except ArithmeticError:
            number = Decimal(-1)
        if not number.is_finite() or number < 0:
            raise QueryError(
                f"--tolerance {text!r}: give a percentage of the invoice (0.5%) or an amount."
            )
        return Tolerance(raw)


@dataclass
class Previous:
    """What the last reconciliation of an invoice found."""

    run_at: datetime
    lake_generation: int
    lake_amount: Decimal
    residue: Decimal
    status: str


@dataclass
class Reconciliation:
    invoice: Invoice
    lake_currency: str
    matched_by: str  # InvoiceId | account-period
    invoice_amount: Decimal
    lake_amount: Decimal  # in the invoice's currency
    allocated_amount: Decimal | None
    parts: dict[str, Decimal]
    residue: Decimal
    tolerance: Decimal
    status: str
    previous: Previous | None = None
    lake_rows: int = 0

    @property
    def difference(self) -> Decimal:
        return self.invoice_amount - self.lake_amount

    @property
    def difference_pct(self) -> float | None:
        return float(self.difference / self.invoice_amount) if self.invoice_amount else None

    @property
    def changed(self) -> str | None:
        """What changed since the last reconciliation of this invoice, in words."""
        if self.previous is None:
            return None
        before = self.previous
        if before.lake_amount == self.lake_amount and before.status == self.status:
            return "unchanged"
        return (
            f"lake {before.lake_amount.normalize():f} -> {self.lake_amount.normalize():f} "
            f"(generation {before.lake_generation}), {before.status} -> {self.status}"
        )

    def as_row(self) -> dict[str, object]:
        return {
            "InvoiceId": self.invoice.invoice_id,
            "BillingAccountId": self.invoice.billing_account_id,
            "period": self.invoice.period,
            "currency": self.invoice.currency,
            "matched_by": self.matched_by,
            "invoice_amount": self.invoice_amount,
            "lake_amount": self.lake_amount,
            "allocated_amount": self.allocated_amount,
            "difference": self.difference,
            "difference_pct": self.difference_pct,
            **self.parts,
            "residue": self.residue,
            "status": self.status,
            "since_last": self.changed,
        }


@dataclass
class ReconcileReport:
    rows: list[Reconciliation] = field(default_factory=list)
    generation: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Reconciliation]:
        return [r for r in self.rows if r.status == "open"]


def reconcile(
    store: Store,
    invoices: Sequence[Invoice],
    *,
    period: str | None = None,
    tolerance: Tolerance | None = None,
    record: bool = True,
) -> ReconcileReport:
    """Reconcile each invoice (of `period`, when given) with the lake; record the run."""
    tolerance = tolerance or Tolerance("0.5%")
    chosen = [i for i in invoices if period is None or i.period == period]
    if not chosen:
        raise InvoiceError(f"No invoice in the file is for period {period}.")
    catalog = store.catalog()
    con = store.connect(catalog)
    allocated = _allocation_current(store)
    report = ReconcileReport(generation=catalog.generation)
    if not allocated:
        report.notes.append(
            "allocated_amount is empty: run `cloudtally allocate` on the lake as it is now to "
            "compare the allocated view too."
        )
    previous = _previous(store) if record else {}
    for invoice in chosen:
        with decimal.localcontext(WIDE):
            found = _reconcile_one(con, invoice, tolerance, allocated)
        found.previous = previous.get(invoice.invoice_id)
        report.rows.append(found)
    if record:
        _record(store, report)
    return report


def _allocation_current(store: Store) -> bool:
    from cloudtally.query.ownership import allocation_state

    return allocation_state(store) == "current"


def _reconcile_one(
    con: duckdb.DuckDBPyConnection, invoice: Invoice, tolerance: Tolerance, allocated: bool
) -> Reconciliation:
    by_id = con.execute(
        "SELECT count(*) FROM costs WHERE InvoiceId = ?", [invoice.invoice_id]
    ).fetchone()
    if by_id and by_id[0]:
        where, params, matched = "InvoiceId = ?", [invoice.invoice_id], "InvoiceId"
    else:
        where = "BillingAccountId = ? AND x_BillingPeriod = ?"
        params = [invoice.billing_account_id, invoice.period]
        matched = "account-period"
    currencies = [
        r[0]
        for r in con.execute(
            f"SELECT DISTINCT BillingCurrency FROM costs WHERE {where} ORDER BY 1", params
        ).fetchall()
    ]
    if not currencies:
        raise InvoiceError(
            f"Invoice {invoice.invoice_id}: the lake has no lines for it nor for billing account "
            f"{invoice.billing_account_id} in {invoice.period}. Ingest that period's export first."
        )
    lake_currency = invoice.currency if invoice.currency in currencies else currencies[0]
    if invoice.currency not in currencies and invoice.fx_rate is None:
        raise InvoiceError(
            f"Invoice {invoice.invoice_id} is in {invoice.currency} but the lake holds "
            f"{', '.join(currencies)} for billing account {invoice.billing_account_id} in "
            f"{invoice.period}: give the invoice's fx_rate (invoice currency per "
            f"{currencies[0]}) to reconcile across currencies."
        )
    unit = minor_unit(invoice.currency)
    row = con.execute(
        f"""
        SELECT count(*),
               coalesce(sum(BilledCost), 0),
               coalesce(sum(BilledCost) FILTER (WHERE ChargeCategory = 'Tax'), 0),
               coalesce(sum(BilledCost) FILTER (WHERE ChargeCategory = 'Credit'), 0),
               coalesce(sum(BilledCost) FILTER (WHERE ChargeClass = 'Correction'), 0),
               coalesce(sum(BilledCost) FILTER (
                   WHERE PublisherName IS NOT NULL AND PublisherName <> ProviderName), 0)
        FROM costs WHERE {where} AND BillingCurrency = ?
        """,
        [*params, lake_currency],
    ).fetchone()
    assert row is not None
    rows, lake, tax, credits, corrections, marketplace = row
    rate = invoice.fx_rate if invoice.currency != lake_currency else None
    allocated_amount = None
    if allocated:
        columns = {
            r[0]
            for r in con.execute("SELECT column_name FROM (DESCRIBE allocated_costs)").fetchall()
        }
        if matched == "InvoiceId" and "InvoiceId" not in columns:
            # An allocation without InvoiceId: the invoice's account-period is the same lines.
            where = "BillingAccountId = ? AND x_BillingPeriod = ?"
            params = [invoice.billing_account_id, invoice.period]
        total = con.execute(
            f"SELECT coalesce(sum(BilledCost), 0) FROM allocated_costs "
            f"WHERE {where} AND BillingCurrency = ?",
            [*params, lake_currency],
        ).fetchone()
        allocated_amount = total[0] if total else None

    def convert(value: Decimal) -> Decimal:
        return value * rate if rate is not None else value

    lake_amount = convert(lake)
    definite = dict.fromkeys(PARTS, Decimal(0))
    if invoice.tax is not None:
        definite["tax_not_in_export"] = invoice.tax - convert(tax)
    if invoice.credits is not None:
        definite["credits_not_in_export"] = invoice.credits - convert(credits)
    if rate is not None:
        definite["currency_conversion"] = lake_amount.quantize(unit) - lake_amount
    candidates = {
        "later_corrections": -convert(corrections),
        "marketplace": -convert(marketplace),
    }
    difference = invoice.amount - lake_amount
    base = difference - sum(definite.values(), Decimal(0))
    limit = tolerance.limit(invoice.amount)
    chosen: tuple[str, ...] = ()
    best: tuple[Decimal, int] | None = None
    for size in range(1, len(CANDIDATES) + 1):
        for names in itertools.combinations(CANDIDATES, size):
            if any(candidates[n] == 0 for n in names):
                continue
            left = abs(base - sum((candidates[n] for n in names), Decimal(0)))
            # A part explains only when it closes the gap: never part of an unrelated one.
            if left <= limit and (best is None or (left, size) < best):
                best, chosen = (left, size), names
    parts = {**definite, **{n: candidates[n] for n in chosen}}
    left = difference - sum(parts.values(), Decimal(0))
    if left and abs(left) <= max(1, len(invoice.lines)) * unit / 2:
        parts["rounding"] = left
    residue = difference - sum(parts.values(), Decimal(0))
    status = (
        "reconciled"
        if abs(difference) <= limit
        else "explained"
        if abs(residue) <= limit
        else "open"
    )
    return Reconciliation(
        invoice=invoice,
        lake_currency=lake_currency,
        matched_by=matched,
        invoice_amount=invoice.amount,
        lake_amount=lake_amount,
        allocated_amount=convert(allocated_amount) if allocated_amount is not None else None,
        parts=parts,
        residue=residue,
        tolerance=limit,
        status=status,
        lake_rows=rows,
    )


def _previous(store: Store) -> dict[str, Previous]:
    if not store.has_state():
        return {}
    with store.state() as con:
        con.execute(STATE)
        rows = con.execute(
            """
            SELECT invoice_id, run_at, lake_generation, lake_amount, residue, status
            FROM reconciliations
            QUALIFY row_number() OVER (PARTITION BY invoice_id ORDER BY run_at DESC) = 1
            """
        ).fetchall()
    return {r[0]: Previous(*r[1:]) for r in rows}


def _record(store: Store, report: ReconcileReport) -> None:
    now = datetime.now(UTC)
    with store.state() as con:
        con.execute(STATE)
        con.executemany(
            "INSERT INTO reconciliations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    now,
                    report.generation,
                    r.invoice.invoice_id,
                    r.invoice.billing_account_id,
                    r.invoice.period,
                    r.invoice.currency,
                    r.invoice_amount,
                    r.lake_amount,
                    r.difference,
                    r.residue,
                    r.status,
                    json.dumps({k: format(v, "f") for k, v in r.parts.items()}),
                )
                for r in report.rows
            ],
        )
