"""Tags: coverage of the required keys by cost, its trend, and the resources to fix with their
likely owners."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from starlette.requests import Request

from cloudtally.charts.series import cost_trend
from cloudtally.query.costs import parse_periods
from cloudtally.tags.compliance import coverage, exceptions
from cloudtally.web.context import Viewer, authenticate
from cloudtally.web.pages.base import Page, latest_period, render, rules_of, spec_json
from cloudtally.web.params import check_known

router = APIRouter(include_in_schema=False)
DEFAULT_METRIC = "EffectiveCost"


@router.get("/tags")
def tags(
    request: Request,
    viewer: Annotated[Viewer, Depends(authenticate)],
    period: str | None = None,
    metric: str = DEFAULT_METRIC,
) -> Response:
    check_known(request, ("period", "metric"), filters=False)
    rules = rules_of(viewer)
    period = period or latest_period(viewer)
    overall, by_team, trend, found = _answers(viewer, rules, period, metric)
    keys = [c for c in trend.columns if c.startswith("tag:")] + ["all_keys"]
    points = [
        (row[0], key, row[trend.columns.index(key)] or 0.0) for row in trend.rows for key in keys
    ]
    chart = cost_trend(points, grain="month", metric="share of cost")
    chart["encoding"]["y"]["axis"] = {"format": ".0%"}
    chart["encoding"]["y"]["scale"] = {"domain": [0, 1]}
    chart["encoding"]["tooltip"][2]["format"] = ".1%"
    return render(
        request,
        "tags.html",
        {
            "title": "Tags",
            "period": period,
            "metric": metric,
            "overall": overall,
            "by_team": by_team,
            "chart": spec_json(chart),
            "exceptions": found,
            "required": rules.tags.required,
            "rules_folder": rules.folder,
        },
    )


def _answers(viewer: Any, rules: Any, period: str, metric: str) -> tuple[Any, Any, Any, Any]:
    """Coverage overall, by team, its monthly trend and the exceptions, kept per generation
    and view."""
    periods = parse_periods(period)
    store, scope = viewer.store, viewer.scope
    return viewer.remembered(
        ("tags page", rules.sha256, periods, metric, scope),
        lambda: (
            coverage(store, rules, None, periods, metric, scope=scope),
            coverage(store, rules, "team", periods, metric, scope=scope),
            coverage(store, rules, "month", None, metric, scope=scope),
            exceptions(store, rules, periods, 50, metric, scope=scope),
        ),
    )


def _warm(viewer: Any) -> None:
    _answers(viewer, rules_of(viewer), latest_period(viewer), DEFAULT_METRIC)


page = Page("/tags", "Tags", router, order=40, warm=_warm)
