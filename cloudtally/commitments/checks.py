"""The commitment invariant as a share, for the KPI scorecard: of a billing period's
commitments that can be checked (their purchase is in the lake, their term known where a
one-time purchase needs it), the share whose purchases amortize to their Used plus Unused rows
(`amortization.py`, the `commitment-amortization` check of `cloudtally check`)."""

from __future__ import annotations

from decimal import Decimal

from cloudtally.commitments.amortization import amortizations
from cloudtally.sqltext import literal
from cloudtally.store import Store


def invariant_share(store: Store, period: str) -> Decimal | None:
    """0-1, or None when the period has no commitment that can be checked."""
    rows = f"(SELECT * FROM costs WHERE x_BillingPeriod = {literal(period)})"
    checked = [
        a
        for a in amortizations(store.connect(), rows)
        if a.purchased_anywhere and a.expected is not None
    ]
    if not checked:
        return None
    return (Decimal(sum(a.holds for a in checked)) / len(checked)).quantize(Decimal("0.000001"))
