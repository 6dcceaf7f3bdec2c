"""What every page shares: the Page record, the templates, the signed-in viewer, rendering.

Pages render typed results of the query layer; they never write SQL and never apply the
viewer's scope themselves (the lens does, in the query layer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@dataclass
class Page:
    """A page of the dashboard: its path, title, place in the navigation and who sees it."""

    path: str
    title: str
    router: APIRouter
    order: int = 50
    visible: Callable[[Any], bool] = field(default=lambda viewer: True)


def money(value: Any) -> str:
    """Money for reading: cents and thousands separators (exact figures are in CSV and API)."""
    if value is None:
        return ""
    if isinstance(value, Decimal | int | float):
        return f"{value:,.2f}"
    return str(value)


def share(value: Any) -> str:
    if value is None:
        return ""
    return f"{float(value):.1%}"


def cell(value: Any) -> str:
    from cloudtally.output import plain

    if value is None:
        return "(none)"
    if isinstance(value, float):
        return f"{value:.1%}"
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    return str(plain(value))


env = Environment(
    loader=FileSystemLoader(str(TEMPLATES)),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
env.filters["money"] = money
env.filters["share"] = share
env.filters["cell"] = cell
env.globals["urlencode"] = urlencode


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    from cloudtally.web.pages import PAGES

    viewer = getattr(request.state, "viewer", None)
    nav = [p for p in PAGES if viewer is not None and p.visible(viewer)]
    body = env.get_template(template).render(
        request=request, viewer=viewer, nav=nav, path=request.url.path, **context
    )
    return HTMLResponse(body, status_code=status, headers=headers)


def error_page(request: Request, status: int, message: str, headers: dict[str, str]) -> Response:
    if status == 401:
        from cloudtally.web.auth import signin_page

        return signin_page(request, status=401, message=None)
    return render(
        request, "error.html", {"status": status, "message": message}, status=status,
        headers=headers,
    )  # fmt: skip
