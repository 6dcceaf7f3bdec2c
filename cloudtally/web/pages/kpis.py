"""KPIs (admin and finops): the FinOps KPI scorecard of `cloudtally kpis`, with its trend."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from starlette.requests import Request

from cloudtally.kpis.scorecard import scorecard
from cloudtally.kpis.targets import load_targets
from cloudtally.query.periods import parse_periods
from cloudtally.web.context import Viewer, authenticate
from cloudtally.web.errors import WebError
from cloudtally.web.pages.base import Page, latest_period, render
from cloudtally.web.params import check_known

router = APIRouter(include_in_schema=False)
DOCS = Path(__file__).resolve().parents[3] / "docs"


@router.get("/kpis")
def kpis(
    request: Request,
    viewer: Annotated[Viewer, Depends(authenticate)],
    period: str | None = None,
) -> Response:
    check_known(request, ("period",), filters=False)
    if not viewer.scope.unrestricted:
        raise WebError(403, "The KPI scorecard covers every team: admin and finops only.")
    chosen = parse_periods(period)[0] if period else latest_period(viewer)  # type: ignore[index]
    results = _scorecard(viewer, chosen)
    return render(request, "kpis.html", {"title": "KPIs", "period": chosen, "results": results})


def _scorecard(viewer: Any, period: str) -> Any:
    """The scorecard of `period`; its lake-only parts kept per generation."""
    rules = viewer.rules_dir
    return scorecard(
        viewer.store,
        period,
        targets=load_targets(rules / "kpis.yaml" if rules else None),
        rules_dir=rules,
        docs_dir=DOCS,
        remember=viewer.remembered,
    )


def _warm(viewer: Any) -> None:
    _scorecard(viewer, latest_period(viewer))


page = Page("/kpis", "KPIs", router, order=55, visible=lambda v: v.scope.unrestricted, warm=_warm)
