"""Ranked bars: the largest groups of a cost table, or changes (positive and negative)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"


def ranked_bars(
    items: Sequence[tuple[str, Decimal]],
    *,
    metric: str = "BilledCost",
    currency: str = "",
    title: str | None = None,
    diverging: bool = False,
) -> dict[str, Any]:
    """Horizontal bars, in the order given. `diverging` colours rises and falls apart."""
    values = [{"label": str(label), "value": float(value)} for label, value in items]
    encoding: dict[str, Any] = {
        "y": {"field": "label", "type": "nominal", "sort": None, "title": None,
              "axis": {"labelLimit": 260}},
        "x": {"field": "value", "type": "quantitative", "title": f"{metric} {currency}".strip()},
        "tooltip": [
            {"field": "label", "type": "nominal"},
            {"field": "value", "type": "quantitative", "format": ",.2f"},
        ],
    }  # fmt: skip
    if diverging:
        encoding["color"] = {
            "condition": {"test": "datum.value > 0", "value": "#b3261e"},
            "value": "#1e7a3c",
        }
    return {
        "$schema": SCHEMA,
        **({"title": title} if title else {}),
        "width": "container",
        "height": max(60, 22 * len(values)),
        "data": {"values": values},
        "mark": {"type": "bar"},
        "encoding": encoding,
        "config": {"view": {"stroke": None}},
    }
