"""Data health (admin and finops): ingests, the `check` results and freshness per provider."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from starlette.requests import Request

from cloudtally.quality.checks import QualityReport, run_checks
from cloudtally.query.freshness import freshness
from cloudtally.store import Store
from cloudtally.web.context import Viewer, authenticate
from cloudtally.web.errors import WebError
from cloudtally.web.pages.base import Page, render
from cloudtally.web.params import check_known

router = APIRouter(include_in_schema=False)
page = Page("/health/data", "Data health", router, order=60, visible=lambda v: v.scope.unrestricted)
INGESTS_SHOWN = 50

_lock = threading.Lock()
_reports: dict[tuple[str, int, str], QualityReport] = {}


def checks(store: Store, today: str) -> QualityReport:
    """`cloudtally check` over the lake, run once per catalog generation and day."""
    key = (str(store.data_dir), store.catalog().generation, today)
    with _lock:
        if key not in _reports:
            _reports.clear()
            _reports[key] = run_checks(store)
        return _reports[key]


@router.get("/health/data")
def data_health(request: Request, viewer: Annotated[Viewer, Depends(authenticate)]) -> Response:
    check_known(request, (), filters=False)
    if not viewer.scope.unrestricted:
        raise WebError(403, "Data health covers every team's data: admin and finops only.")
    from datetime import UTC, datetime

    store = viewer.store
    catalog = store.catalog()
    report = checks(store, datetime.now(UTC).date().isoformat())
    # The newest entries only: the history can hold hundreds of thousands.
    ingests = sorted(store.manifest(last=INGESTS_SHOWN), key=lambda e: e.ingested_at, reverse=True)
    return render(
        request,
        "health.html",
        {
            "title": "Data health",
            "catalog": catalog,
            "ingests": ingests,
            "ingest_count": store.manifest_count(),
            "report": report,
            "freshness": freshness(store),
            "derived": catalog.derived,
        },
    )
