"""`GET /metrics`: the OpenMetrics of `cloudtally metrics serve`, behind the app's sign-in.

Prometheus scrapes it with a token (`bearer_token` in the scrape job). The series are every
team's cost, so only the admin and finops roles may read them.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from cloudtally.web.api import Authenticated
from cloudtally.web.errors import WebError

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics(viewer: Authenticated) -> Response:
    from cloudtally.observe.command import CONTENT_TYPE
    from cloudtally.observe.openmetrics import render

    if not viewer.sees_unallocated:
        raise WebError(403, "/metrics holds every team's cost: admin and finops roles only.")
    return Response(render(viewer.store, rules_dir=viewer.rules_dir), media_type=CONTENT_TYPE)
