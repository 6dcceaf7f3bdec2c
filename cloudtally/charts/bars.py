"""Horizontal bars: a breakdown of cost by one dimension."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from cloudtally.charts.render import Spec


def breakdown(
    rows: Sequence[tuple[str, Decimal]],
    *,
    title: str,
    currency: str,
    width: int = 520,
) -> Spec:
    """One bar per group, largest first."""
    values = [{"group": g, "amount": float(v)} for g, v in rows]
    return {
        "title": title,
        "width": width,
        "height": max(60, 18 * len(values)),
        "data": {"values": values},
        "mark": {"type": "bar", "color": "#2f6690"},
        "encoding": {
            "y": {"field": "group", "type": "nominal", "sort": "-x", "title": None},
            "x": {"field": "amount", "type": "quantitative", "title": currency},
            "tooltip": [
                {"field": "group", "type": "nominal"},
                {"field": "amount", "type": "quantitative", "format": ",.2f"},
            ],
        },
    }
