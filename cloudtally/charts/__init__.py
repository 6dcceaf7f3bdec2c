"""Charts as data: one Vega-Lite spec per chart, built from a typed query result.

The same spec is drawn interactively in the dashboard (by the JavaScript bundle
`vl-convert-python` carries) and rendered to SVG for the PDF pack or to PNG for an email,
with the numbers behind it written as CSV beside it. Specs never embed a URL: the data is
inline, so nothing is fetched when a chart is drawn.
"""

from __future__ import annotations

from cloudtally.charts.render import render_png, render_svg

__all__ = ["render_png", "render_svg"]
