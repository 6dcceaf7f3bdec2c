"""The commitment invariant as a share, for the KPI scorecard: of a billing period's
commitments that can be checked (their purchase is in the lake, their term known where a
one-time purchase needs it), the share whose purchases amortize to their Used plus Unused rows
(`amortization.py`, the `commitment-amortization` check of `cloudtally check`)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from cloudtally.commitments.amortization import amortizations
from cloudtally.sqltext import literals
from cloudtally.store import Store


def invariant_share(store: Store, period: str) -> Decimal | None:
    """0-1, or None when the period has no commitment that can be checked."""
    return invariant_shares(store, [period])[period]


def invariant_shares(store: Store, periods: Sequence[str]) -> dict[str, Decimal | None]:
    """`invariant_share` of each period, read in one pass over their rows (a commitment's
    amortization is per billing period, so reading several changes none of them)."""
    rows = f"(SELECT * FROM costs WHERE x_BillingPeriod IN ({literals(periods)}))"
    checked: dict[str, list[bool]] = {p: [] for p in periods}
    for a in amortizations(store.connect(), rows):
        if a.purchased_anywhere and a.expected is not None:
            checked[a.billing_period].append(a.holds)
    return {
        p: (Decimal(sum(h)) / len(h)).quantize(Decimal("0.000001")) if h else None
        for p, h in checked.items()
    }
