"""Cost over time: one line (or stacked areas, one per group) per day, week or month."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json"

OTHER = "(other)"
PALETTE = ["#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2",
           "#ff9da6", "#9d755d", "#79706e", "#1f5fbf", "#8fb3ff"]  # fmt: skip
TIME_FORMAT = {"day": "%d %b", "week": "%G-W%V", "month": "%b %Y"}


def cost_trend(
    points: Sequence[tuple[Any, Any, Decimal | float]],
    *,
    grain: str = "day",
    metric: str = "BilledCost",
    currency: str = "",
    title: str | None = None,
    stacked: bool = False,
) -> dict[str, Any]:
    """`points` are (time, group or None, cost); time is a date or a `YYYY-MM`/`YYYY-Www`
    label. With groups, one colour per group in the order the points first name them
    (stacked bars when `stacked`)."""
    values = [
        {"t": _time(t), "group": "total" if g is None else str(g), "cost": float(c)}
        for t, g, c in points
    ]
    grouped = len({v["group"] for v in values}) > 1
    temporal = bool(values) and isinstance(points[0][0], date)
    x: dict[str, Any] = {
        "field": "t",
        "type": "temporal" if temporal else "ordinal",
        "title": None,
    }
    if temporal:
        x["axis"] = {"format": TIME_FORMAT.get(grain, "%d %b"), "labelAngle": 0}
    else:
        x["axis"] = {"labelAngle": -40}
    encoding: dict[str, Any] = {
        "x": x,
        "y": {
            "field": "cost",
            "type": "quantitative",
            "title": f"{metric} {currency}".strip(),
            "stack": "zero" if stacked else None,
        },
        "tooltip": [
            {"field": "t", "type": "temporal" if temporal else "ordinal", "title": grain},
            {"field": "group", "type": "nominal"},
            {"field": "cost", "type": "quantitative", "format": ",.2f"},
        ],
    }
    if grouped:
        groups = list(dict.fromkeys(v["group"] for v in values))
        # Named groups in the order given; the rest folded into "(other)", drawn in grey.
        named = [g for g in groups if g != OTHER]
        encoding["color"] = {
            "field": "group",
            "type": "nominal",
            "title": None,
            "scale": {
                "domain": named + ([OTHER] if OTHER in groups else []),
                "range": (PALETTE * 3)[: len(named)] + (["#b8bec8"] if OTHER in groups else []),
            },
        }
    # Stacked groups are bars: an area would draw a slope across days without data.
    mark: dict[str, Any] = (
        {"type": "bar"} if stacked and grouped else {"type": "line", "point": True}
    )
    return {
        "$schema": SCHEMA,
        **({"title": title} if title else {}),
        "width": "container",
        "height": 240,
        "data": {"values": values},
        "mark": mark,
        "encoding": encoding,
        "config": {"legend": {"orient": "bottom"}, "view": {"stroke": None}},
    }


def _time(value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
