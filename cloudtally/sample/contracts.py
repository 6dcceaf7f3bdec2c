"""The FOCUS 1.3 Contract Commitment files of a sample (`cloudtally sample --commitments`):
one per provider, `<provider>/contract_commitments.csv`, with each commitment's term, cost and
quantity, as a provider that supports contract commitments delivers them beside its costs."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from cloudtally.output import exact
from cloudtally.sample.organisation import Organisation
from cloudtally.sample.tables import Commitments, SizedReservation
from cloudtally.sample.window import Window

COLUMNS = (
    "ContractCommitmentId",
    "ContractCommitmentType",
    "ContractCommitmentCategory",
    "ContractCommitmentCost",
    "ContractCommitmentQuantity",
    "ContractCommitmentUnit",
    "ContractCommitmentDescription",
    "ContractCommitmentPeriodStart",
    "ContractCommitmentPeriodEnd",
    "ContractId",
    "ContractPeriodStart",
    "ContractPeriodEnd",
    "BillingCurrency",
)


def _stamp(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def term_ending_after(window: Window, term_days: int, ends_after: int) -> tuple[date, date]:
    """A term that ends `ends_after` days after the window, or sooner if the window is so long
    that the term would otherwise start inside it: it always covers the whole window."""
    end = min(window.end + timedelta(days=ends_after), window.start + timedelta(days=term_days))
    return end - timedelta(days=term_days), end


def write_contract_commitments(
    out_dir: Path,
    org: Organisation,
    window: Window,
    plans: Commitments,
    reservations: list[SizedReservation],
) -> list[Path]:
    rows: dict[str, list[dict[str, str]]] = {}
    for provider, (sp, daily, _) in sorted(plans.items()):
        start, end = term_ending_after(window, sp.term_days, sp.ends_after_window_days)
        rows.setdefault(provider, []).append(
            {
                "ContractCommitmentId": sp.id,
                "ContractCommitmentType": sp.type,
                "ContractCommitmentCategory": "Spend",
                "ContractCommitmentCost": exact(daily * (end - start).days),
                "ContractCommitmentQuantity": "",
                "ContractCommitmentUnit": "",
                "ContractCommitmentDescription": sp.name,
                "ContractCommitmentPeriodStart": _stamp(start),
                "ContractCommitmentPeriodEnd": _stamp(end),
            }
        )
    for r in reservations:
        hours = r.units * r.term_hours
        rows.setdefault(r.plan.provider, []).append(
            {
                "ContractCommitmentId": r.plan.id,
                "ContractCommitmentType": r.plan.type,
                "ContractCommitmentCategory": "Usage",
                "ContractCommitmentCost": exact(r.price * Decimal(hours)),
                "ContractCommitmentQuantity": str(hours),
                "ContractCommitmentUnit": "Hours",
                "ContractCommitmentDescription": r.plan.name,
                "ContractCommitmentPeriodStart": _stamp(r.start),
                "ContractCommitmentPeriodEnd": _stamp(r.end),
            }
        )
    written = []
    for provider in (p.key for p in org.providers):
        if provider not in rows:
            continue
        path = out_dir / provider / "contract_commitments.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
            for n, row in enumerate(rows[provider], start=1):
                writer.writerow(
                    {
                        **row,
                        "ContractId": f"ACME-{provider.upper()}-{n:03d}",
                        "ContractPeriodStart": row["ContractCommitmentPeriodStart"],
                        "ContractPeriodEnd": row["ContractCommitmentPeriodEnd"],
                        "BillingCurrency": "USD",
                    }
                )
        written.append(path)
    return written
