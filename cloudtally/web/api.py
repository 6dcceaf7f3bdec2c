"""The JSON API: one endpoint per CLI question, answering the same rows.

`GET /api/costs?by=service&period=2024-10&metric=EffectiveCost&top=10` returns
`{"columns": [...], "rows": [...], ...}` whose `rows` are exactly what
`cloudtally costs --by service --period 2024-10 --metric EffectiveCost --top 10 --format json`
prints, because both render the same typed result of the same query function. Every query
runs with the viewer's scope, which the lens applies (cloudtally.query.ownership).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query
from starlette.requests import Request

from cloudtally.output import plain
from cloudtally.query.periods import DateRange, parse_range
from cloudtally.web.context import Viewer, authenticate, check_csrf
from cloudtally.web.params import check_known, filter_parameters, filters_from, words

router = APIRouter(prefix="/api", tags=["api"])
Authenticated = Annotated[Viewer, Depends(authenticate)]
FILTERED = {"parameters": filter_parameters()}

Period = Annotated[
    str | None,
    Query(
        description="YYYY-MM, YYYY-MM..YYYY-MM, YYYY-MM-DD..YYYY-MM-DD, YYYY-Www or "
        "YYYY-Www..YYYY-Www (as --period)."
    ),
]
Day = Annotated[str | None, Query(description="YYYY-MM-DD (with the other of since/until).")]
Metric = Annotated[str, Query(description="BilledCost, EffectiveCost, ListCost or ContractedCost.")]


def rows_of(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    """Rows as `--format json` prints them: exact decimals as strings, dates in ISO 8601."""
    return [dict(zip(columns, (plain(v) for v in row), strict=True)) for row in rows]


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], **meta: Any) -> dict[str, Any]:
    return {"columns": list(columns), "rows": rows_of(columns, rows), **plain(meta)}


def date_range(period: str | None, since: str | None, until: str | None) -> DateRange | None:
    return parse_range(period, since=since, until=until)


@router.get("/me", summary="Who you are and what you may see")
def me(request: Request, viewer: Authenticated) -> dict[str, Any]:
    check_known(request, (), filters=False)
    user = viewer.user
    return {
        "name": user.name,
        "role": user.role,
        "teams": list(viewer.scope.teams),
        "products": list(viewer.scope.products),
        "sees_unallocated": viewer.sees_unallocated,
    }


@router.get("/costs", summary="cloudtally costs", openapi_extra=FILTERED)
def costs(
    request: Request,
    viewer: Authenticated,
    by: str = "service",
    period: Period = None,
    since: Day = None,
    until: Day = None,
    metric: Metric = "BilledCost",
    top: Annotated[int | None, Query(ge=1, le=100_000)] = None,
) -> dict[str, Any]:
    """Cost totals grouped by dimensions, largest first, with each group's share."""
    from cloudtally.query.costs import grouped_costs

    check_known(request, ("by", "period", "since", "until", "metric", "top"))
    result = grouped_costs(
        viewer.store,
        words(by, "service"),
        when=date_range(period, since, until),
        metric_name=metric,
        top=top,
        filters=filters_from(request),
        rules_dir=viewer.rules_dir,
        scope=viewer.scope,
    )
    return table(
        result.columns,
        result.rows,
        metric=result.metric,
        total_by_currency=result.total_by_currency,
        notes=result.notes,
    )


@router.get("/movers", summary="cloudtally movers", openapi_extra=FILTERED)
def movers(
    request: Request,
    viewer: Authenticated,
    by: str = "service",
    period: Period = None,
    since: Day = None,
    until: Day = None,
    metric: Metric = "BilledCost",
    top: Annotated[int, Query(ge=1, le=100_000)] = 10,
) -> dict[str, Any]:
    """The groups whose cost changed most since the range before (same length)."""
    from cloudtally.query.movers import top_movers

    check_known(request, ("by", "period", "since", "until", "metric", "top"))
    result = top_movers(
        viewer.store,
        words(by, "service"),
        when=date_range(period, since, until),
        metric_name=metric,
        top=top,
        filters=filters_from(request),
        rules_dir=viewer.rules_dir,
        scope=viewer.scope,
    )
    return table(
        result.columns,
        result.rows,
        period=result.period,
        previous=result.previous,
        metric=result.metric,
        notes=result.notes,
    )


@router.get("/explain", summary="cloudtally explain", openapi_extra=FILTERED)
def explain(
    request: Request,
    viewer: Authenticated,
    baseline: Annotated[str, Query(description="The baseline range (as --baseline).")],
    compare: Annotated[str, Query(description="The range to explain (as --compare).")],
    by: str = "service",
    metric: Metric = "BilledCost",
    top: Annotated[int, Query(ge=1, le=10_000)] = 10,
) -> dict[str, Any]:
    """What a change in spend per day is made of; the same document as `explain -f json`."""
    from cloudtally.query.explain import explain_change

    check_known(request, ("baseline", "compare", "by", "metric", "top"))
    result = explain_change(
        viewer.store,
        _range(baseline, "baseline"),
        _range(compare, "compare"),
        words=words(by, "service"),
        filters=filters_from(request),
        metric_name=metric,
        top=top,
        rules_dir=viewer.rules_dir,
        scope=viewer.scope,
    )
    document: dict[str, Any] = plain(result.as_dict())
    return document


def _range(text: str, option: str) -> DateRange:
    from cloudtally.errors import QueryError

    try:
        found = parse_range(text)
    except QueryError as exc:
        raise QueryError(str(exc).replace("--period", option)) from None
    if found is None:
        raise QueryError(f"{option} is empty: give a range such as 2024-10-01..2024-10-07.")
    return found


@router.get("/showback", summary="cloudtally showback")
def showback(
    request: Request,
    viewer: Authenticated,
    by: str = "team",
    period: Annotated[str | None, Query(description="YYYY-MM (default: the latest).")] = None,
    metric: Metric = "EffectiveCost",
) -> dict[str, Any]:
    """Direct, shared and total cost per team (or product, cost centre, env)."""
    from cloudtally.allocate.reports import showback as run_showback

    check_known(request, ("by", "period", "metric"), filters=False)
    result = run_showback(viewer.store, by, period, metric, scope=viewer.scope)
    return table(result.columns, result.rows, period=result.period, previous=result.previous)


@router.get("/chargeback", summary="cloudtally chargeback")
def chargeback(
    request: Request,
    viewer: Authenticated,
    period: Annotated[str | None, Query(description="YYYY-MM (default: the latest).")] = None,
    metric: Metric = "EffectiveCost",
) -> dict[str, Any]:
    """What each cost centre is charged for a billing period."""
    from cloudtally.allocate.reports import chargeback as run_chargeback

    check_known(request, ("period", "metric"), filters=False)
    result = run_chargeback(viewer.store, period, metric, scope=viewer.scope)
    return table(result.columns, result.rows, period=result.period)


@router.get("/unallocated", summary="Unallocated spend and why (admin and finops)")
def unallocated(
    request: Request,
    viewer: Authenticated,
    period: Annotated[str | None, Query(description="YYYY-MM (default: the latest).")] = None,
) -> dict[str, Any]:
    """The cost no team owns, per currency, with its largest accounts, services and the tag
    keys it misses."""
    from cloudtally.allocate.reports import unallocated as run_unallocated

    check_known(request, ("period",), filters=False)
    found = run_unallocated(viewer.store, period, scope=viewer.scope)
    return {
        "rows": [
            plain(
                {
                    "period": u.period,
                    "currency": u.currency,
                    "cost": u.cost,
                    "share": u.share,
                    "accounts": [{"account": k, "cost": v} for k, v in u.accounts],
                    "services": [{"service": k, "cost": v} for k, v in u.services],
                    "missing_keys": [{"key": k, "cost": v} for k, v in u.missing_keys],
                }
            )
            for u in found
        ]
    }


@router.get("/anomalies", summary="cloudtally anomalies list")
def anomalies(
    request: Request,
    viewer: Authenticated,
    status: Annotated[
        str | None,
        Query(pattern="^(open|acknowledged|resolved|suppressed|explained)$"),
    ] = None,
    monitor: str | None = None,
    since: Day = None,
) -> dict[str, Any]:
    """Stored anomalies, newest first, with their root causes and evidence."""
    from cloudtally.anomaly import state
    from cloudtally.anomaly.command import _day

    check_known(request, ("status", "monitor", "since"), filters=False)
    with viewer.store.state() as con:
        found = state.load(
            con, status=status, monitor=monitor, since=_day(since, "since"), scope=viewer.scope
        )
    return {"rows": [plain(a.as_dict()) for a in found]}


@router.get("/anomalies/{anomaly_id}", summary="One anomaly")
def anomaly(request: Request, viewer: Authenticated, anomaly_id: str) -> dict[str, Any]:
    from cloudtally.anomaly import state

    check_known(request, (), filters=False)
    with viewer.store.state() as con:
        found = state.get(con, anomaly_id, scope=viewer.scope)
    document: dict[str, Any] = plain(found.as_dict())
    return document


def _triage(request: Request, viewer: Viewer, anomaly_id: str, csrf: str | None) -> None:
    from cloudtally.anomaly import state

    check_csrf(request, viewer, csrf)
    with viewer.store.state() as con:
        state.get(con, anomaly_id, scope=viewer.scope)  # refused outside the viewer's scope


Note = Annotated[str | None, Form(max_length=2000)]
Csrf = Annotated[str | None, Form()]


@router.post("/anomalies/{anomaly_id}/ack", summary="cloudtally anomalies ack")
def ack(
    request: Request, viewer: Authenticated, anomaly_id: str, note: Note = None, csrf: Csrf = None
) -> dict[str, Any]:
    return _move(request, viewer, anomaly_id, "acknowledged", note, csrf)


@router.post("/anomalies/{anomaly_id}/resolve", summary="cloudtally anomalies resolve")
def resolve(
    request: Request, viewer: Authenticated, anomaly_id: str, note: Note = None, csrf: Csrf = None
) -> dict[str, Any]:
    return _move(request, viewer, anomaly_id, "resolved", note, csrf)


def _move(
    request: Request,
    viewer: Viewer,
    anomaly_id: str,
    status: str,
    note: str | None,
    csrf: str | None,
) -> dict[str, Any]:
    from cloudtally.anomaly import state

    _triage(request, viewer, anomaly_id, csrf)
    said = f"{note} (by {viewer.name})" if note else f"by {viewer.name}"
    with viewer.store.state() as con:
        before = state.set_status(con, anomaly_id, status, said)
        after = state.get(con, anomaly_id)
    return {"id": anomaly_id, "status_from": before, "status": after.status}


@router.post("/anomalies/{anomaly_id}/feedback", summary="cloudtally anomalies feedback")
def feedback(
    request: Request,
    viewer: Authenticated,
    anomaly_id: str,
    kind: Annotated[str, Form(pattern="^(real|expected|planned|false-positive)$")],
    note: Note = None,
    csrf: Csrf = None,
) -> dict[str, Any]:
    from cloudtally.anomaly import state

    _triage(request, viewer, anomaly_id, csrf)
    said = f"{note} (by {viewer.name})" if note else f"by {viewer.name}"
    with viewer.store.state() as con:
        after = state.add_feedback(con, anomaly_id, kind, note=said)
    return {"id": anomaly_id, "feedback": kind, "status": after.status}


@router.get("/tags/coverage", summary="cloudtally tags coverage")
def tags_coverage(
    request: Request,
    viewer: Authenticated,
    by: Annotated[str | None, Query(pattern="^(team|account|service|month|provider)$")] = None,
    period: Annotated[str | None, Query(description="YYYY-MM or YYYY-MM..YYYY-MM.")] = None,
    metric: Metric = "EffectiveCost",
) -> dict[str, Any]:
    """Share of usage cost carrying each required tag key with an allowed value."""
    from cloudtally.query.costs import parse_periods
    from cloudtally.tags.compliance import coverage

    check_known(request, ("by", "period", "metric"), filters=False)
    rules, periods = _rules(viewer), parse_periods(period)
    result = viewer.remembered(
        ("tags coverage", rules.sha256, by, periods, metric, viewer.scope),
        lambda: coverage(viewer.store, rules, by, periods, metric, scope=viewer.scope),
    )
    return table(result.columns, result.rows)


@router.get("/tags/exceptions", summary="cloudtally tags exceptions")
def tags_exceptions(
    request: Request,
    viewer: Authenticated,
    period: Annotated[str | None, Query(description="YYYY-MM or YYYY-MM..YYYY-MM.")] = None,
    top: Annotated[int, Query(ge=0, le=100_000)] = 50,
    metric: Metric = "EffectiveCost",
) -> dict[str, Any]:
    """Resources missing a required tag or carrying a value not allowed, with likely owners."""
    from cloudtally.query.costs import parse_periods
    from cloudtally.tags.compliance import exceptions

    check_known(request, ("period", "top", "metric"), filters=False)
    rules, periods = _rules(viewer), parse_periods(period)
    result = viewer.remembered(
        ("tags exceptions", rules.sha256, periods, top, metric, viewer.scope),
        lambda: exceptions(viewer.store, rules, periods, top or None, metric, scope=viewer.scope),
    )
    return table(result.columns, result.rows)


def _rules(viewer: Viewer) -> Any:
    from cloudtally.web.pages.base import rules_of

    return rules_of(viewer)


@router.get("/openapi.json", include_in_schema=False)
def openapi(request: Request, viewer: Authenticated) -> dict[str, Any]:
    """This API's OpenAPI document."""
    document: dict[str, Any] = request.app.openapi()
    return document
