"""Vega-Lite specs to SVG and PNG, offline (vl-convert bundles Vega and Vega-Lite)."""

from __future__ import annotations

from typing import Any

Spec = dict[str, Any]

# One look for every chart: fonts present on a plain Debian machine, no web fonts.
CONFIG: dict[str, Any] = {
    "font": "DejaVu Sans",
    "view": {"stroke": None},
    "axis": {"labelFontSize": 10, "titleFontSize": 11, "grid": True, "gridColor": "#e6e6e6"},
    "legend": {"labelFontSize": 10, "titleFontSize": 11, "orient": "bottom"},
    "title": {"fontSize": 13, "anchor": "start"},
    "range": {"category": ["#2f6690", "#d1495b", "#66a182", "#edae49", "#8d6a9f", "#3a7ca5"]},
}


def with_config(spec: Spec) -> Spec:
    """The spec with the house look (a chart's own config wins)."""
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        **spec,
        "config": {**CONFIG, **spec.get("config", {})},
    }


def render_svg(spec: Spec) -> str:
    """An SVG document of the chart."""
    import vl_convert

    return str(vl_convert.vegalite_to_svg(with_config(spec)))


def render_png(spec: Spec, scale: float = 2.0) -> bytes:
    """A PNG of the chart (for email, where SVG is not shown)."""
    import vl_convert

    return bytes(vl_convert.vegalite_to_png(with_config(spec), scale=scale))
