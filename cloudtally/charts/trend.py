"""Monthly totals over time, with budget and forecast lines where they exist."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from cloudtally.charts.render import Spec


def monthly_trend(
    points: Sequence[tuple[str, Decimal]],
    *,
    title: str,
    currency: str,
    budget: Sequence[tuple[str, Decimal]] = (),
    forecast: Sequence[tuple[str, Decimal, Decimal | None, Decimal | None]] = (),
    width: int = 560,
) -> Spec:
    """Bars of actual cost per period; a budget line; forecast points with their 80% range."""
    values = [{"period": p, "series": "actual", "amount": float(v)} for p, v in points]
    values += [{"period": p, "series": "budget", "amount": float(v)} for p, v in budget]
    values += [
        {
            "period": p,
            "series": "forecast",
            "amount": float(v),
            "low": None if low is None else float(low),
            "high": None if high is None else float(high),
        }
        for p, v, low, high in forecast
    ]
    x = {"field": "period", "type": "ordinal", "title": None, "axis": {"labelAngle": -45}}
    y_title = f"{currency}"
    layers: list[Spec] = [
        {
            "transform": [{"filter": "datum.series === 'actual'"}],
            "mark": {"type": "bar", "color": "#2f6690"},
            "encoding": {
                "x": x,
                "y": {"field": "amount", "type": "quantitative", "title": y_title},
                "tooltip": [
                    {"field": "period", "type": "ordinal"},
                    {"field": "amount", "type": "quantitative", "format": ",.2f"},
                ],
            },
        }
    ]
    if budget:
        layers.append(
            {
                "transform": [{"filter": "datum.series === 'budget'"}],
                "mark": {"type": "line", "color": "#d1495b", "strokeDash": [6, 3], "point": True},
                "encoding": {"x": x, "y": {"field": "amount", "type": "quantitative"}},
            }
        )
    if forecast:
        layers.append(
            {
                "transform": [{"filter": "datum.series === 'forecast' && datum.low !== null"}],
                "mark": {"type": "rule", "color": "#edae49", "strokeWidth": 2},
                "encoding": {
                    "x": x,
                    "y": {"field": "low", "type": "quantitative"},
                    "y2": {"field": "high"},
                },
            }
        )
        layers.append(
            {
                "transform": [{"filter": "datum.series === 'forecast'"}],
                "mark": {"type": "point", "color": "#edae49", "filled": True, "size": 60},
                "encoding": {"x": x, "y": {"field": "amount", "type": "quantitative"}},
            }
        )
    return {
        "title": title,
        "width": width,
        "height": 220,
        "data": {"values": values},
        "layer": layers,
    }


def daily_trend(
    points: Sequence[tuple[object, Decimal]], *, title: str, currency: str, width: int = 560
) -> Spec:
    """A line of daily cost (the weekly summary's chart)."""
    return {
        "title": title,
        "width": width,
        "height": 160,
        "data": {"values": [{"day": str(d), "amount": float(v)} for d, v in points]},
        "mark": {"type": "line", "point": True, "color": "#2f6690"},
        "encoding": {
            "x": {"field": "day", "type": "temporal", "title": None},
            "y": {"field": "amount", "type": "quantitative", "title": currency},
            "tooltip": [
                {"field": "day", "type": "temporal"},
                {"field": "amount", "type": "quantitative", "format": ",.2f"},
            ],
        },
    }
