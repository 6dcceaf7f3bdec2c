"""Small cost lakes built from code: a few lines with exactly the fields a test cares about."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb

from cloudtally.focus.canonical import CANONICAL
from cloudtally.focus.spec import columns
from cloudtally.ingest.pipeline import ingest
from cloudtally.store import Store

HEADER = [c for c, col in columns("1.2").items() if col.mandatory] + [
    "Tags",
    "SubAccountId",
    "SubAccountName",
    "RegionId",
    "ResourceId",
    "ResourceName",
    "CommitmentDiscountId",
    "CommitmentDiscountStatus",
]
PROVIDER_NAMES = {"aws": "AWS", "azure": "Microsoft", "gcp": "Google Cloud"}
NEXT = {"2024-08": "2024-09", "2024-09": "2024-10", "2024-10": "2024-11", "2024-11": "2024-12"}


@dataclass
class Line:
    account: str = "111"
    billed: str = "10"
    effective: str | None = None  # default: = billed
    period: str = "2024-09"
    service: str = "Compute"
    charge_category: str = "Usage"
    tags: dict[str, str] | None = field(default_factory=dict)
    resource: str | None = None
    region: str | None = "us-east-1"
    currency: str = "USD"
    provider: str = "aws"
    account_name: str | None = None
    commitment: str | None = None
    commitment_status: str | None = None
    list_cost: str | None = None  # default: = billed
    contracted_cost: str | None = None  # default: = billed

    @property
    def cost(self) -> tuple[str, str]:
        return self.billed, self.effective if self.effective is not None else self.billed

    @property
    def money(self) -> tuple[str, str, str, str]:
        """BilledCost, EffectiveCost, ListCost, ContractedCost."""
        return (*self.cost, self.list_cost or self.billed, self.contracted_cost or self.billed)


def write_focus_csv(path: Path, lines: list[Line]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=HEADER)
        writer.writeheader()
        for n, line in enumerate(lines):
            start = f"{line.period}-01T00:00:00Z"
            end = f"{NEXT[line.period]}-01T00:00:00Z"
            name = PROVIDER_NAMES[line.provider]
            billed, effective = line.cost
            writer.writerow(
                {
                    **{c: "x" for c in HEADER},
                    "ProviderName": name,
                    "PublisherName": name,
                    "InvoiceIssuerName": name,
                    "BillingAccountId": "payer",
                    "BillingPeriodStart": start,
                    "BillingPeriodEnd": end,
                    "ChargePeriodStart": start,
                    "ChargePeriodEnd": f"{line.period}-01T{n % 24:02d}:59:00Z",
                    "BillingCurrency": line.currency,
                    "BilledCost": billed,
                    "EffectiveCost": effective,
                    "ListCost": line.money[2],
                    "ContractedCost": line.money[3],
                    "PricingQuantity": "1",
                    "ChargeCategory": line.charge_category,
                    "ChargeClass": "",
                    "ServiceName": line.service,
                    "ServiceCategory": "Compute",
                    "Tags": "" if line.tags is None else json.dumps(line.tags),
                    "SubAccountId": line.account,
                    "SubAccountName": line.account_name or f"acct-{line.account}",
                    "RegionId": line.region or "",
                    "ResourceId": line.resource or "",
                    "ResourceName": line.resource or "",
                    "CommitmentDiscountId": line.commitment or "",
                    "CommitmentDiscountStatus": line.commitment_status or "",
                }
            )
    return path


def build_store(store: Store, tmp: Path, lines: list[Line]) -> Store:
    ingest(store, [write_focus_csv(tmp / "export.csv", lines)])
    return store


def costs_connection(lines: list[Line]) -> duckdb.DuckDBPyConnection:
    """An in-memory connection whose table `costs` holds the lines with canonical types
    (no ingest: fast enough for property tests)."""
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE costs (" + ", ".join(f'"{c.name}" {c.sql_type}' for c in CANONICAL) + ")"
    )
    rows = []
    for line in lines:
        billed, effective = line.cost
        rows.append(
            (
                line.provider,
                line.period,
                "payer",
                line.account,
                line.account_name or f"acct-{line.account}",
                line.charge_category,
                line.service,
                line.region,
                line.resource,
                line.resource,
                line.commitment,
                line.commitment_status,
                line.currency,
                Decimal(billed),
                Decimal(effective),
                Decimal(line.money[2]),
                Decimal(line.money[3]),
                line.tags,
                f"{line.period}-{1 + len(rows) % 3:02d}T{len(rows) % 24:02d}:00:00Z",
            )
        )
    con.executemany(
        """INSERT INTO costs (x_Provider, x_BillingPeriod, BillingAccountId, SubAccountId,
               SubAccountName, ChargeCategory, ServiceName, RegionId, ResourceId, ResourceName,
               CommitmentDiscountId, CommitmentDiscountStatus, BillingCurrency, BilledCost,
               EffectiveCost, ListCost, ContractedCost, Tags, ChargePeriodStart)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        rows,
    )
    return con


def write_rules(folder: Path, files: dict[str, str]) -> Path:
    """A rules folder from {relative path: text}."""
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder
