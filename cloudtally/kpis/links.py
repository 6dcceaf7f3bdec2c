"""KPIs read from other parts of the product: the savings tracker's evidence and the
commitment invariant. Without their data they are `no data`."""

from __future__ import annotations

from collections.abc import Sequence

from cloudtally.store import Store


def savings_evidence_share(store: Store) -> float | None:
    """Percent of claimed savings with a measurement, a ticket and an owner (None: no tracker
    data)."""
    from cloudtally.savings.tracker import evidence_share

    share = evidence_share(store)
    return None if share is None else float(share) * 100


def commitment_invariant_share(store: Store, period: str) -> float | None:
    """Percent of a period's commitments whose amortized purchase equals the effective cost of
    their used and unused rows (None: no commitments in the lake)."""
    return commitment_invariant_shares(store, [period])[period]


def commitment_invariant_shares(store: Store, periods: Sequence[str]) -> dict[str, float | None]:
    """`commitment_invariant_share` of each period, in one pass."""
    from cloudtally.commitments.checks import invariant_shares

    return {
        p: None if share is None else float(share) * 100
        for p, share in invariant_shares(store, periods).items()
    }
