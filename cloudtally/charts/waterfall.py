"""A variance bridge: from one total to the next through its parts."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from cloudtally.charts.render import Spec


def waterfall(
    start: tuple[str, Decimal],
    parts: Sequence[tuple[str, Decimal]],
    end: tuple[str, Decimal],
    *,
    title: str,
    currency: str,
    width: int = 560,
) -> Spec:
    """Bars from `start` through each part (up green, down red) to `end`."""
    # Totals stand on a floor a little under the lowest level, so the parts are visible.
    levels = [start[1]]
    for _, amount in parts:
        levels.append(levels[-1] + amount)
    every = [*levels, end[1]]
    lowest, highest = min(every), max(every)
    floor = float(max(Decimal(0), lowest - (highest - lowest) * 2)) if highest > lowest else 0.0
    values = []
    level = start[1]
    values.append(
        {
            "step": start[0],
            "low": floor,
            "high": float(level),
            "kind": "total",
            "amount": float(level),
        }
    )
    for name, amount in parts:
        after = level + amount
        values.append(
            {
                "step": name,
                "low": float(min(level, after)),
                "high": float(max(level, after)),
                "kind": "up" if amount >= 0 else "down",
                "amount": float(amount),
            }
        )
        level = after
    values.append(
        {
            "step": end[0],
            "low": floor,
            "high": float(end[1]),
            "kind": "total",
            "amount": float(end[1]),
        }
    )
    order = [v["step"] for v in values]
    return {
        "title": title,
        "width": width,
        "height": 240,
        "data": {"values": values},
        "mark": {"type": "bar"},
        "encoding": {
            "x": {
                "field": "step",
                "type": "nominal",
                "sort": order,
                "title": None,
                "axis": {"labelAngle": -35},
            },
            "y": {
                "field": "low",
                "type": "quantitative",
                "title": currency,
                "scale": {"zero": False},
            },
            "y2": {"field": "high"},
            "color": {
                "field": "kind",
                "type": "nominal",
                "legend": None,
                "scale": {
                    "domain": ["total", "up", "down"],
                    "range": ["#2f6690", "#66a182", "#d1495b"],
                },
            },
            "tooltip": [
                {"field": "step", "type": "nominal"},
                {"field": "amount", "type": "quantitative", "format": ",.2f"},
            ],
        },
    }
