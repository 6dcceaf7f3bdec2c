"""Overview: this month against last, the trend, top movers, open anomalies, freshness."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from starlette.requests import Request

from cloudtally.charts.ranked import ranked_bars
from cloudtally.charts.series import cost_trend
from cloudtally.query.costs import grouped_costs
from cloudtally.query.cube import cube_lens, known_span
from cloudtally.query.movers import top_movers
from cloudtally.query.ownership import lens_for
from cloudtally.query.periods import parse_range, require_data
from cloudtally.web.context import Viewer, authenticate
from cloudtally.web.pages.base import Page, render, spec_json
from cloudtally.web.params import check_known

router = APIRouter(include_in_schema=False)
page = Page("/", "Overview", router, order=10)

TREND_MONTHS = 13


def month_before(period: str, months: int) -> str:
    """>>> month_before("2024-10", 12)
    '2023-10'
    """
    index = int(period[:4]) * 12 + int(period[5:7]) - 1 - months
    return f"{index // 12}-{index % 12 + 1:02d}"


@router.get("/")
def overview(
    request: Request,
    viewer: Annotated[Viewer, Depends(authenticate)],
    metric: Annotated[str, Query()] = "EffectiveCost",
) -> Response:
    check_known(request, ("metric",), filters=False)
    store, scope = viewer.store, viewer.scope
    lens = cube_lens(store, lens_for(store, rules_dir=viewer.rules_dir, scope=scope), [])
    span = require_data(store.connect(), None, str(lens), known_span(store, lens))
    latest = span.last_period
    previous = month_before(latest, 1)
    months = grouped_costs(
        store,
        ["period"],
        when=parse_range(f"{month_before(latest, TREND_MONTHS - 1)}..{latest}"),
        metric_name=metric,
        rules_dir=viewer.rules_dir,
        scope=scope,
    )
    by_period: dict[tuple[str, str], Decimal] = {(row[0], row[1]): row[2] for row in months.rows}
    currencies = sorted(months.total_by_currency)
    headline = []
    for currency in currencies:
        now = by_period.get((latest, currency), Decimal(0))
        before = by_period.get((previous, currency), Decimal(0))
        change = now - before
        headline.append(
            {
                "currency": currency,
                "now": now,
                "before": before,
                "change": change,
                "change_pct": float(change / before) if before else None,
            }
        )
    trend = cost_trend(
        sorted((row[0], row[1] if len(currencies) > 1 else None, row[2]) for row in months.rows),
        grain="month",
        metric=months.metric,
        currency=currencies[0] if len(currencies) == 1 else "",
    )
    movers = top_movers(
        store,
        ["service"],
        when=parse_range(latest),
        metric_name=metric,
        top=8,
        rules_dir=viewer.rules_dir,
        scope=scope,
    )
    change_at = movers.columns.index("change")
    movers_chart = ranked_bars(
        [(str(r[0]), r[change_at]) for r in movers.rows],
        metric=f"change in {movers.metric}",
        diverging=True,
    )
    from cloudtally.anomaly import state
    from cloudtally.query.freshness import freshness

    with store.state() as con:
        anomalies = state.load(con, status="open", scope=scope)
    return render(
        request,
        "overview.html",
        {
            "title": "Overview",
            "metric": months.metric,
            "latest": latest,
            "previous": previous,
            "span": span,
            "headline": headline,
            "trend": spec_json(trend),
            "movers": movers,
            "movers_chart": spec_json(movers_chart),
            "anomalies": anomalies[:8],
            "anomaly_count": len(anomalies),
            "freshness": freshness(store),
            "notes": months.notes,
        },
    )
