"""Small lakes of daily charges, built from code, for forecast and budget tests."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from cloudtally.focus.spec import columns
from cloudtally.ingest.pipeline import ingest
from cloudtally.store import Store

HEADER = [c for c, col in columns("1.2").items() if col.mandatory] + [
    "ChargeFrequency",
    "Tags",
    "SubAccountId",
    "SubAccountName",
    "RegionId",
    "ResourceId",
]


@dataclass
class Charge:
    day: date
    amount: Decimal
    service: str = "Compute"
    account: str = "111"
    tags: dict[str, str] = field(default_factory=dict)
    frequency: str = "Usage-Based"
    category: str = "Usage"
    klass: str = ""  # ChargeClass: "" or "Correction"
    currency: str = "USD"
    period: str | None = None  # billing period (default: the day's month)


def month_after(period: str) -> str:
    year, month = int(period[:4]), int(period[5:7])
    return f"{year + month // 12}-{month % 12 + 1:02d}"


def days(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def daily(
    first: date, last: date, amount: Callable[[date], Decimal | str | int], **fields: object
) -> list[Charge]:
    """One charge a day from `first` to `last` (inclusive); `amount(day)` gives its cost."""
    out = []
    for day in days(first, last):
        value = Decimal(str(amount(day)))
        if value != 0:
            out.append(Charge(day, value, **fields))  # type: ignore[arg-type]
    return out


def write_csv(path: Path, charges: list[Charge]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=HEADER)
        writer.writeheader()
        for c in charges:
            period = c.period or c.day.strftime("%Y-%m")
            start = c.day.isoformat() + "T00:00:00Z"
            end = (c.day + timedelta(days=1)).isoformat() + "T00:00:00Z"
            writer.writerow(
                {
                    **{h: "x" for h in HEADER},
                    "ProviderName": "AWS",
                    "PublisherName": "AWS",
                    "InvoiceIssuerName": "AWS",
                    "BillingAccountId": "payer",
                    "BillingAccountName": "Payer",
                    "BillingPeriodStart": f"{period}-01T00:00:00Z",
                    "BillingPeriodEnd": f"{month_after(period)}-01T00:00:00Z",
                    "ChargePeriodStart": start,
                    "ChargePeriodEnd": end,
                    "BillingCurrency": c.currency,
                    "BilledCost": str(c.amount),
                    "EffectiveCost": str(c.amount),
                    "ListCost": str(c.amount),
                    "ContractedCost": str(c.amount),
                    "PricingQuantity": "1",
                    "ChargeCategory": c.category,
                    "ChargeClass": c.klass,
                    "ChargeFrequency": c.frequency,
                    "ServiceName": c.service,
                    "ServiceCategory": "Compute",
                    "Tags": json.dumps(c.tags),
                    "SubAccountId": c.account,
                    "SubAccountName": f"acct-{c.account}",
                    "RegionId": "us-east-1",
                    "ResourceId": "",
                }
            )
    return path


def build_lake(data_dir: Path, charges: list[Charge]) -> Store:
    """Ingest the charges into a lake at `data_dir` (the CSV is written beside it)."""
    store = Store(data_dir)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    export = data_dir.parent / f"{data_dir.name}-export.csv"
    ingest(store, [write_csv(export, charges)])
    return store
