"""Allocation: showback per team (or product, cost centre, env), the chargeback file, and for
admin and finops the unallocated spend and why nobody owns it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from starlette.requests import Request

from cloudtally.allocate.reports import chargeback, showback, unallocated
from cloudtally.allocate.sql import DIMENSIONS
from cloudtally.charts.ranked import ranked_bars
from cloudtally.errors import QueryError
from cloudtally.web.context import Viewer, authenticate
from cloudtally.web.pages.base import Page, csv_text, render, spec_json
from cloudtally.web.params import check_known

router = APIRouter(include_in_schema=False)
page = Page("/allocation", "Allocation", router, order=50)


@router.get("/allocation")
def allocation(
    request: Request,
    viewer: Annotated[Viewer, Depends(authenticate)],
    by: str = "team",
    period: str | None = None,
    metric: str = "EffectiveCost",
) -> Response:
    check_known(request, ("by", "period", "metric"), filters=False)
    if by not in DIMENSIONS:
        raise QueryError(f"by={by!r}: use one of {', '.join(DIMENSIONS)}.")
    table = showback(viewer.store, by, period, metric, scope=viewer.scope)
    total_at = table.columns.index("total")
    chart = ranked_bars([(str(r[0]), r[total_at]) for r in table.rows], metric=metric)
    missing = (
        unallocated(viewer.store, table.period, scope=viewer.scope)
        if viewer.scope.unrestricted
        else None
    )
    return render(
        request,
        "allocation.html",
        {
            "title": "Allocation",
            "by": by,
            "dimensions": DIMENSIONS,
            "metric": metric,
            "table": table,
            "chart": spec_json(chart),
            "unallocated": missing,
        },
    )


@router.get("/allocation/chargeback.csv")
def chargeback_csv(
    request: Request,
    viewer: Annotated[Viewer, Depends(authenticate)],
    period: str | None = None,
    metric: str = "EffectiveCost",
) -> Response:
    """What `cloudtally chargeback --out FILE.csv` writes (the viewer's lines only)."""
    check_known(request, ("period", "metric"), filters=False)
    table = chargeback(viewer.store, period, metric, scope=viewer.scope)
    body = csv_text(["period", *table.columns], [(table.period, *r) for r in table.rows])
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="chargeback-{table.period}.csv"'},
    )
