"""Lakes of daily lines for the query layer's tests: each line says its day, resource, SKU,
quantity and owner tags, and nothing else."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from cloudtally.ingest.pipeline import ingest
from cloudtally.store import Store
from tests.allocate.lake import HEADER, PROVIDER_NAMES

COLUMNS = [*HEADER, *(c for c in ("SkuId", "PricingUnit") if c not in HEADER)]


@dataclass
class Day:
    day: str
    billed: str
    service: str = "Compute"
    resource: str | None = "i-1"
    sku: str = "sku-1"
    quantity: str | None = "1"
    tags: dict[str, str] = field(default_factory=dict)
    category: str = "Usage"
    covered: bool = False
    account: str = "111"
    provider: str = "aws"
    currency: str = "USD"
    account_name: str | None = None  # default: acct-<account>; "" for none


def write_days(path: Path, lines: list[Day]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS)
        writer.writeheader()
        for line in lines:
            day = date.fromisoformat(line.day)
            period = day.replace(day=1)
            following = (period + timedelta(days=32)).replace(day=1)
            name = PROVIDER_NAMES[line.provider]
            writer.writerow(
                {
                    **{c: "x" for c in COLUMNS},
                    "ProviderName": name,
                    "PublisherName": name,
                    "InvoiceIssuerName": name,
                    "BillingAccountId": "payer",
                    "BillingPeriodStart": f"{period}T00:00:00Z",
                    "BillingPeriodEnd": f"{following}T00:00:00Z",
                    "ChargePeriodStart": f"{day}T00:00:00Z",
                    "ChargePeriodEnd": f"{day + timedelta(days=1)}T00:00:00Z",
                    "BillingCurrency": line.currency,
                    "BilledCost": line.billed,
                    "EffectiveCost": line.billed,
                    "ListCost": line.billed,
                    "ContractedCost": line.billed,
                    "PricingQuantity": line.quantity or "",
                    "PricingUnit": "Hours" if line.quantity else "",
                    "ChargeCategory": line.category,
                    "ChargeClass": "",
                    "ServiceName": line.service,
                    "ServiceCategory": "Compute",
                    "Tags": json.dumps(line.tags),
                    "SubAccountId": line.account,
                    "SubAccountName": (
                        f"acct-{line.account}" if line.account_name is None else line.account_name
                    ),
                    "RegionId": "us-east-1",
                    "ResourceId": line.resource or "",
                    "ResourceName": line.resource or "",
                    "SkuId": line.sku,
                    "CommitmentDiscountId": "cd-1" if line.covered else "",
                    "CommitmentDiscountStatus": "Used" if line.covered else "",
                }
            )
    return path


def day_store(store: Store, tmp: Path, lines: list[Day]) -> Store:
    ingest(store, [write_days(tmp / "days.csv", lines)])
    return store
