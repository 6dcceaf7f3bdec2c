"""Invoice files: one row per invoice (or invoice line), CSV or JSON, read exactly.

Columns: `InvoiceId`, `BillingAccountId`, `period` (YYYY-MM), `currency`, `amount` (the
invoice's total, tax and credits included), and optionally `tax` (the tax in `amount`),
`credits` (credits applied on the invoice, negative), `fx_rate` (invoice currency per unit of
the lake's currency, when the invoice is in another currency) and `line` (a description).
Rows with the same InvoiceId are lines of one invoice and are added up.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from cloudtally.errors import CloudtallyError

REQUIRED = ("InvoiceId", "BillingAccountId", "period", "currency", "amount")
OPTIONAL = ("tax", "credits", "fx_rate", "line")
MONEY = ("amount", "tax", "credits", "fx_rate")
_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class InvoiceError(CloudtallyError, ValueError):
    """An invoice file cannot be read."""


@dataclass
class Invoice:
    """One invoice, its lines added up (exact decimals)."""

    invoice_id: str
    billing_account_id: str
    period: str
    currency: str
    amount: Decimal
    tax: Decimal | None = None
    credits: Decimal | None = None
    fx_rate: Decimal | None = None
    lines: list[str] = field(default_factory=list)


def load_invoices(path: Path) -> list[Invoice]:
    """Read an invoice file (CSV or JSON, by suffix or content), validated row by row."""
    if not path.is_file():
        raise InvoiceError(f"Invoice file {path} does not exist.")
    text = path.read_text(encoding="utf-8-sig")
    rows = _json_rows(path, text) if _is_json(path, text) else _csv_rows(path, text)
    if not rows:
        raise InvoiceError(f"{path}: no invoices in the file.")
    invoices: dict[str, Invoice] = {}
    seen_lines: dict[tuple[str, str], str] = {}
    for where, row in rows:
        invoice = _parse(path, where, row)
        line = (row.get("line") or "").strip()
        key = (invoice.invoice_id, line)
        if key in seen_lines:
            what = f"line {line!r} of invoice" if line else "invoice"
            raise InvoiceError(
                f"{path}:{where}: {what} {invoice.invoice_id!r} is also on {seen_lines[key]}; "
                "give each invoice (or invoice line) once."
            )
        seen_lines[key] = where
        known = invoices.get(invoice.invoice_id)
        if known is None:
            invoices[invoice.invoice_id] = invoice
            invoice.lines = [line] if line else []
            continue
        for name in ("billing_account_id", "period", "currency", "fx_rate"):
            if getattr(known, name) != getattr(invoice, name):
                raise InvoiceError(
                    f"{path}:{where}: invoice {invoice.invoice_id!r} has {name} "
                    f"{getattr(invoice, name)!r} here and {getattr(known, name)!r} on an earlier "
                    "line; an invoice belongs to one account, period and currency."
                )
        known.amount += invoice.amount
        known.tax = _add(known.tax, invoice.tax)
        known.credits = _add(known.credits, invoice.credits)
        if line:
            known.lines.append(line)
    return list(invoices.values())


def _add(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    if a is None and b is None:
        return None
    return (a or Decimal(0)) + (b or Decimal(0))


def _is_json(path: Path, text: str) -> bool:
    if path.suffix.lower() == ".json":
        return True
    return path.suffix.lower() != ".csv" and text.lstrip()[:1] in ("[", "{")


def _json_rows(path: Path, text: str) -> list[tuple[Any, dict[str, Any]]]:
    try:
        data = json.loads(text, parse_float=str, parse_int=str)
    except json.JSONDecodeError as exc:
        raise InvoiceError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})."
        ) from None
    if isinstance(data, dict):
        data = data.get("invoices")
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise InvoiceError(
            f'{path}: expected a JSON list of invoice objects (or {{"invoices": [...]}}).'
        )
    rows = []
    for n, item in enumerate(data, start=1):
        missing = [c for c in REQUIRED if c not in item]
        if missing:
            raise InvoiceError(
                f"{path}: invoice #{n} has no {missing[0]!r}; every invoice needs "
                f"{', '.join(REQUIRED)}."
            )
        rows.append((f"invoice #{n}", {k: None if v is None else str(v) for k, v in item.items()}))
    return rows


def _csv_rows(path: Path, text: str) -> list[tuple[Any, dict[str, Any]]]:
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InvoiceError(
            f"{path}: the header has no column {missing[0]!r}. Invoice files need the columns "
            f"{', '.join(REQUIRED)} (and optionally {', '.join(OPTIONAL)})."
        )
    return [(f"row {n}", row) for n, row in enumerate(reader, start=2)]


def _parse(path: Path, where: Any, row: dict[str, Any]) -> Invoice:
    def text(name: str) -> str:
        value = (row.get(name) or "").strip()
        if not value:
            raise InvoiceError(f"{path}:{where}: {name} is empty; give a value.")
        return value

    period = text("period")
    if not _PERIOD.match(period):
        raise InvoiceError(f"{path}:{where}: period {period!r} is not YYYY-MM.")
    currency = text("currency").upper()
    if not _CURRENCY.match(currency):
        raise InvoiceError(
            f"{path}:{where}: currency {currency!r} is not a three-letter ISO 4217 code."
        )
    values: dict[str, Decimal | None] = {}
    for name in MONEY:
        raw = (row.get(name) or "").strip()
        if not raw:
            values[name] = None
            continue
        try:
            number = Decimal(
                raw.replace(",", "") if re.fullmatch(r"-?[\d,]+(\.\d+)?", raw) else raw
            )
        except InvalidOperation:
            number = None
        if number is None or not number.is_finite():
            raise InvoiceError(f"{path}:{where}: {name} {raw!r} is not a number.")
        values[name] = number
    if values["amount"] is None:
        raise InvoiceError(f"{path}:{where}: amount is empty; give the invoice total.")
    if values["fx_rate"] is not None and values["fx_rate"] <= 0:
        raise InvoiceError(f"{path}:{where}: fx_rate must be positive.")
    return Invoice(
        invoice_id=text("InvoiceId"),
        billing_account_id=text("BillingAccountId"),
        period=period,
        currency=currency,
        amount=values["amount"],
        tax=values["tax"],
        credits=values["credits"],
        fx_rate=values["fx_rate"],
    )
