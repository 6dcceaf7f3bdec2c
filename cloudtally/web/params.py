"""Query parameters: filters are named after the dimension they filter (`team=payments`,
`service=Amazon EC2`; repeat a name for alternatives), `where=DIM=VALUE` reaches any other
dimension (`where=tag:owner=alice`). An unknown parameter is an error, not ignored: a typo
(`teams=payments`) must not silently show everything."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request

from cloudtally.errors import QueryError

FILTER_WORDS = (
    "provider",
    "billing-account",
    "account",
    "service",
    "service-category",
    "charge-category",
    "pricing-category",
    "region",
    "resource",
    "resource-type",
    "sku",
    "commitment",
    "currency",
    "team",
    "product",
    "cost_center",
    "env",
)


def filters_from(request: Request) -> dict[str, list[str]]:
    """The filters a request names: `{dimension: [values]}`."""
    found: dict[str, list[str]] = {}
    params = request.query_params
    for word in FILTER_WORDS:
        values = [v.strip() for v in params.getlist(word) if v.strip()]
        if values:
            found[word] = values
    for item in params.getlist("where"):
        word, sep, value = item.partition("=")
        if not sep or not word.strip():
            raise QueryError(f"where={item!r} is not DIM=VALUE.")
        found.setdefault(word.strip(), []).append(value.strip())
    return found


def check_known(request: Request, known: Iterable[str], *, filters: bool = True) -> None:
    """Refuse a parameter the endpoint does not know (with a suggestion)."""
    allowed = set(known) | ({*FILTER_WORDS, "where"} if filters else set())
    for name in request.query_params:
        if name not in allowed:
            close = difflib.get_close_matches(name, sorted(allowed), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise QueryError(
                f"Unknown parameter {name!r}.{hint} "
                + (
                    "Filters are named after dimensions (team=payments, service=...)."
                    if filters
                    else f"This endpoint takes {', '.join(sorted(allowed)) or 'no parameters'}."
                )
            )


def words(text: str | None, default: str) -> list[str]:
    return [w.strip() for w in (text or default).split(",") if w.strip()]


def filter_parameters() -> list[dict[str, Any]]:
    """The filter parameters as OpenAPI describes them (added to each route that takes them)."""
    described: list[dict[str, Any]] = [
        {
            "name": word,
            "in": "query",
            "required": False,
            "description": f"Keep only lines whose {word} is one of the values given.",
            "schema": {"type": "array", "items": {"type": "string"}},
            "style": "form",
            "explode": True,
        }
        for word in FILTER_WORDS
    ]
    described.append(
        {
            "name": "where",
            "in": "query",
            "required": False,
            "description": "DIM=VALUE for any other dimension (tag:KEY, a FOCUS column).",
            "schema": {"type": "array", "items": {"type": "string"}},
            "style": "form",
            "explode": True,
        }
    )
    return described
