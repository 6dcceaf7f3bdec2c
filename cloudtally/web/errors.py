"""One error shape for the whole API (and the status codes the pages use):

    {"error": {"status": 403, "type": "forbidden", "message": "team 'web' is outside ..."}}

Every CloudtallyError is translated here, at the web boundary, as the CLI translates it at its
own; an unexpected error answers 500 with no traceback (the server log has it)."""

from __future__ import annotations

import logging
from typing import Any

import duckdb

from cloudtally.errors import CloudtallyError, StoreError
from cloudtally.query.ownership import ScopeError

log = logging.getLogger("cloudtally.web")

TYPES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


class WebError(Exception):
    """An answer other than 200 that the web layer itself decides (401, 403, 404, 429)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def error_body(status: int, message: str) -> dict[str, Any]:
    return {"error": {"status": status, "type": TYPES.get(status, "error"), "message": message}}


def status_of(exc: BaseException) -> int:
    """The HTTP status an error maps to."""
    if isinstance(exc, WebError):
        return exc.status
    if isinstance(exc, ScopeError):
        return 403
    if isinstance(exc, StoreError):
        return 503
    if isinstance(exc, CloudtallyError | duckdb.BinderException):
        return 400
    return 500


def message_of(exc: BaseException) -> str:
    if isinstance(exc, WebError | CloudtallyError):
        return str(exc)
    if isinstance(exc, duckdb.BinderException):
        # A dimension the relation answering the question lacks (allocated_costs keeps fewer
        # columns than the lake): a question that cannot be answered, not a server failure.
        first = str(exc).strip().splitlines()[0].removeprefix("Binder Error: ")
        log.warning("Question the data cannot answer: %s", first)
        return f"This question cannot be answered from the data: {first}"
    log.exception("Unexpected error", exc_info=exc)
    return "An unexpected error occurred; the server log has the details."
