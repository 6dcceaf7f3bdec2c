"""Cost explorer: any dimension, drilled down along provider → account → service → resource or
team → product → environment, any metric, day/week/month grain; every choice is in the URL and
"Download CSV" gives the rows shown, exactly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from starlette.requests import Request

from cloudtally.charts.series import cost_trend
from cloudtally.errors import QueryError
from cloudtally.query.costs import CostTable, grouped_costs
from cloudtally.query.cube import cube_lens, known_span
from cloudtally.query.dimensions import METRICS
from cloudtally.query.ownership import NONE_LABEL, lens_for
from cloudtally.query.periods import DateRange, parse_range, require_data
from cloudtally.web.context import Viewer, authenticate
from cloudtally.web.pages.base import Page, render, spec_json
from cloudtally.web.params import FILTER_WORDS, check_known, filters_from

router = APIRouter(include_in_schema=False)
page = Page("/explorer", "Explorer", router, order=20)

HIERARCHIES = {
    "infra": ("provider", "account", "service", "resource"),
    "owner": ("team", "product", "env", "service", "resource"),
}
GRAINS = ("day", "week", "month")
CHART_GROUPS = 8
PARAMS = ("by", "h", "metric", "grain", "period", "since", "until")


@dataclass
class View:
    """What the URL asks for."""

    by: str
    hierarchy: str
    metric: str
    grain: str
    when: DateRange
    filters: dict[str, list[str]]
    period: str | None
    since: str | None
    until: str | None

    def query(self, **changes: Any) -> str:
        """This view's URL query, with `changes` (a filter value None removes it)."""
        params: list[tuple[str, str]] = []
        base = {"h": self.hierarchy, "by": self.by, "metric": self.metric, "grain": self.grain,
                "period": self.period, "since": self.since, "until": self.until}  # fmt: skip
        filters = {k: list(v) for k, v in self.filters.items()}
        for key, value in changes.items():
            if key in base:
                base[key] = value
            elif value is None:
                filters.pop(key, None)
            else:
                filters[key] = [value]
        params += [(k, v) for k, v in base.items() if v]
        params += [(k, v) for k, values in filters.items() for v in values]
        return urlencode(params)

    def drill(self, value: Any) -> str | None:
        """The URL of the level below, for a row whose `by` value is `value`."""
        levels = HIERARCHIES[self.hierarchy]
        if self.by not in levels or self.by not in FILTER_WORDS:
            return None
        following = levels[levels.index(self.by) + 1 :]
        label = NONE_LABEL if value is None else str(value)
        if not following:
            return None
        return self.query(by=following[0], **{self.by: label})

    def command(self) -> str:
        """The CLI command that prints this table."""
        parts = ["cloudtally costs", f"--by {self.by}", f"--metric {self.metric}"]
        if self.period:
            parts.append(f"--period {self.period}")
        elif self.since and self.until:
            parts.append(f"--since {self.since} --until {self.until}")
        for word, values in self.filters.items():
            parts += [f"--where '{word}={v}'" for v in values]
        return " ".join(parts)


def read_view(request: Request, viewer: Viewer) -> View:
    check_known(request, PARAMS)
    params = request.query_params
    hierarchy = params.get("h", "infra")
    if hierarchy not in HIERARCHIES:
        raise QueryError(f"h={hierarchy!r}: use infra or owner.")
    metric = params.get("metric", "EffectiveCost")
    grain = params.get("grain", "day")
    if grain not in GRAINS:
        raise QueryError(f"grain={grain!r}: use day, week or month.")
    period, since, until = params.get("period"), params.get("since"), params.get("until")
    when = parse_range(period, since=since, until=until)
    if when is None:
        lens = lens_for(viewer.store, rules_dir=viewer.rules_dir, scope=viewer.scope)
        lens = cube_lens(viewer.store, lens, [])
        span = require_data(viewer.store.connect(), None, str(lens), known_span(viewer.store, lens))
        period = span.last_period
        when = parse_range(period)
        assert when is not None
    by = params.get("by", HIERARCHIES[hierarchy][0])
    return View(by, hierarchy, metric, grain, when, filters_from(request), period, since, until)


def table_of(viewer: Viewer, view: View) -> CostTable:
    return grouped_costs(
        viewer.store,
        [view.by],
        when=view.when,
        metric_name=view.metric,
        filters=view.filters,
        rules_dir=viewer.rules_dir,
        scope=viewer.scope,
    )


@router.get("/explorer")
def explorer(request: Request, viewer: Annotated[Viewer, Depends(authenticate)]) -> Response:
    view = read_view(request, viewer)
    table = table_of(viewer, view)
    series = grouped_costs(
        viewer.store,
        [view.grain, view.by],
        when=view.when,
        metric_name=view.metric,
        filters=view.filters,
        rules_dir=viewer.rules_dir,
        scope=viewer.scope,
    )
    cost_at = table.columns.index(table.metric)
    leaders = {row[0] for row in table.rows[:CHART_GROUPS]}
    points: dict[tuple[Any, str], Any] = {}
    for row in series.rows:
        if row[0] is None:
            # Lines without a charge day (in allocated_costs: some shared-pool lines) are in
            # the table's totals; a time chart has no place for them.
            continue
        group = row[1] if row[1] in leaders else "(other)"
        label = NONE_LABEL if group is None else str(group)
        key = (row[0], label)
        points[key] = points.get(key, 0) + row[series.columns.index(series.metric)]
    currencies = sorted(table.total_by_currency)
    order = {NONE_LABEL if v is None else str(v): i for i, v in enumerate(r[0] for r in table.rows)}
    chart = cost_trend(
        sorted(
            ((t, g, c) for (t, g), c in points.items()),
            key=lambda p: (order.get(p[1], len(order)), str(p[0])),
        ),
        grain=view.grain,
        metric=table.metric,
        currency=currencies[0] if len(currencies) == 1 else "",
        stacked=True,
    )
    name_at = table.columns.index(view.by + "_name") if view.by + "_name" in table.columns else None
    rows = [
        {
            "value": row[0],
            "label": NONE_LABEL if row[0] is None else str(row[0]),
            "name": row[name_at] if name_at is not None else None,
            "currency": row[table.columns.index("currency")],
            "cost": row[cost_at],
            "share": row[table.columns.index("share")],
            "drill": view.drill(row[0]),
        }
        for row in table.rows
    ]
    return render(
        request,
        "explorer.html",
        {
            "title": "Explorer",
            "view": view,
            "table": table,
            "rows": rows,
            "chart": spec_json(chart),
            "levels": HIERARCHIES[view.hierarchy],
            "hierarchies": HIERARCHIES,
            "metrics": METRICS,
            "grains": GRAINS,
            "dimensions": [*dict.fromkeys([*HIERARCHIES["infra"], *HIERARCHIES["owner"],
                           "region", "charge-category", "service-category", "sku"])],
            "csv_url": "/explorer.csv?" + view.query(),
        },
    )  # fmt: skip


@router.get("/explorer.csv")
def explorer_csv(request: Request, viewer: Annotated[Viewer, Depends(authenticate)]) -> Response:
    """The table shown, as CSV with exact decimals (what `costs --format csv` writes)."""
    view = read_view(request, viewer)
    table = table_of(viewer, view)
    from cloudtally.web.pages.base import csv_text

    body = csv_text(table.columns, table.rows)
    name = f"costs-by-{view.by}-{view.when.label()}.csv".replace("..", "_to_")
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )
