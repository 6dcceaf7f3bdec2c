"""Anomalies: the queue, and one anomaly with its evidence, the explain breakdown and triage
(acknowledge, resolve, mark expected, assign an owner)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import RedirectResponse, Response
from starlette.requests import Request

from cloudtally.anomaly import state
from cloudtally.errors import CloudtallyError, QueryError
from cloudtally.query.explain import Explanation, explain_change
from cloudtally.query.periods import DateRange
from cloudtally.web.context import Viewer, authenticate, check_csrf
from cloudtally.web.pages.base import Page, render
from cloudtally.web.params import check_known

router = APIRouter(include_in_schema=False)
page = Page("/anomalies", "Anomalies", router, order=30)

STATUSES = ("open", "acknowledged", "resolved", "suppressed", "explained")
BASELINE_DAYS = 7
# Monitor dimensions the query layer names differently.
WORDS = {"ServiceName": "service", "SubAccountId": "account", "RegionId": "region",
         "ResourceId": "resource", "SkuId": "sku", "x_Provider": "provider"}  # fmt: skip


@router.get("/anomalies")
def queue(
    request: Request,
    viewer: Annotated[Viewer, Depends(authenticate)],
    status: str = "open",
) -> Response:
    check_known(request, ("status",), filters=False)
    if status not in (*STATUSES, "all"):
        raise QueryError(f"status={status!r}: use {', '.join(STATUSES)} or all.")
    with viewer.store.state() as con:
        found = state.load(con, status=None if status == "all" else status, scope=viewer.scope)
    return render(
        request,
        "anomalies.html",
        {"title": "Anomalies", "anomalies": found, "status": status, "statuses": STATUSES},
    )


@router.get("/anomalies/{anomaly_id}")
def detail(
    request: Request, viewer: Annotated[Viewer, Depends(authenticate)], anomaly_id: str
) -> Response:
    check_known(request, (), filters=False)
    with viewer.store.state() as con:
        anomaly = state.get(con, anomaly_id, scope=viewer.scope)
        history = state.history(con, anomaly_id)
    explanation, why_not = breakdown(viewer, anomaly)
    return render(
        request,
        "anomaly.html",
        {
            "title": f"Anomaly {anomaly.id}",
            "a": anomaly,
            "history": history,
            "explanation": explanation,
            "why_not": why_not,
            "series": state.series_values(anomaly),
        },
    )


def breakdown(viewer: Viewer, anomaly: state.Anomaly) -> tuple[Explanation | None, str | None]:
    """What the anomaly's days are made of against the week before, for its series (and only
    the viewer's lines of it)."""
    filters = {WORDS.get(k, k): [v] for k, v in state.series_values(anomaly).items()}
    first = anomaly.date
    last = first + timedelta(days=max(anomaly.days, 1) - 1)
    baseline = DateRange(first - timedelta(days=BASELINE_DAYS), first - timedelta(days=1), "day")
    by = "account" if "service" in filters else "service"
    try:
        return (
            explain_change(
                viewer.store,
                baseline,
                DateRange(first, last, "day"),
                words=[by],
                filters=filters,
                top=8,
                rules_dir=viewer.rules_dir,
                scope=viewer.scope,
            ),
            None,
        )
    except CloudtallyError as exc:
        if exc.__class__.__name__ == "ScopeError":
            raise
        return None, str(exc)


ACTIONS = ("ack", "resolve", "expected", "assign")


@router.post("/anomalies/{anomaly_id}")
def triage(
    request: Request,
    viewer: Annotated[Viewer, Depends(authenticate)],
    anomaly_id: str,
    action: Annotated[str, Form()],
    note: Annotated[str, Form(max_length=2000)] = "",
    owner: Annotated[str, Form(max_length=200)] = "",
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, viewer, csrf)
    if action not in ACTIONS:
        raise QueryError(f"action={action!r}: use {', '.join(ACTIONS)}.")
    said = f"{note.strip()} (by {viewer.name})" if note.strip() else f"by {viewer.name}"
    with viewer.store.state() as con:
        state.get(con, anomaly_id, scope=viewer.scope)  # refused outside the viewer's scope
        if action == "ack":
            state.set_status(con, anomaly_id, "acknowledged", said)
        elif action == "resolve":
            state.set_status(con, anomaly_id, "resolved", said)
        elif action == "expected":
            state.add_feedback(con, anomaly_id, "expected", note=said)
        else:
            if not owner.strip():
                raise QueryError("Say who owns it: give an owner (a team or a person).")
            state.assign(con, anomaly_id, owner.strip(), said)
    return RedirectResponse(f"/anomalies/{anomaly_id}", status_code=303)
