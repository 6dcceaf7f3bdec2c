"""What every page shares: the Page record, the templates, the signed-in viewer, rendering.

Pages render typed results of the query layer; they never write SQL and never apply the
viewer's scope themselves (the lens does, in the query layer).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
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
    """A page of the dashboard: its path, title, place in the navigation and who sees it;
    `warm`, if given, computes the page's kept answers for the default view of a new
    generation (`serving.Warmer`), so its first viewer after an ingest does not wait."""

    path: str
    title: str
    router: APIRouter
    order: int = 50
    visible: Callable[[Any], bool] = field(default=lambda viewer: True)
    warm: Callable[[Any], object] | None = None


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


def number(value: Any) -> str:
    """A value of a record (evidence line items): numbers as numbers, never as shares.

    >>> number(15.34), number(2400.0), number(None)
    ('15.34', '2,400', '')
    """
    if value is None:
        return ""
    if isinstance(value, float | int | Decimal):
        return f"{value:,.6g}"
    return str(value)


def behind(hours: float) -> str:
    """How far data lags: hours for a day or two, days beyond.

    >>> behind(5.4), behind(50.0)
    ('5 h', '2 days')
    """
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:,.0f} days"


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
env.filters["behind"] = behind
env.filters["number"] = number
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


def spec_json(spec: dict[str, Any]) -> str:
    """A chart spec as the text of a JSON data block (`</` escaped, so it cannot end it)."""
    return json.dumps(spec).replace("</", "<\\/")


def csv_text(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Rows as `--format csv` writes them: exact decimals, empty cells for missing values."""
    from cloudtally.output import plain

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else plain(v) for v in row])
    return buffer.getvalue()


def latest_period(viewer: Any) -> str:
    """The newest billing period the viewer's data holds."""
    from cloudtally.query.cube import cube_lens, known_span
    from cloudtally.query.ownership import lens_for
    from cloudtally.query.periods import require_data

    lens = lens_for(viewer.store, rules_dir=viewer.rules_dir, scope=viewer.scope)
    lens = cube_lens(viewer.store, lens, [])
    span = known_span(viewer.store, lens)
    return require_data(viewer.store.connect(), None, str(lens), span).last_period


def rules_of(viewer: Any) -> Any:
    """The rules folder the server was given, else the one the allocation used."""
    from cloudtally.errors import QueryError
    from cloudtally.rules.allocation import load_rules_cached

    folder = viewer.rules_dir
    if folder is None:
        dataset = viewer.store.catalog().derived.get("allocated_costs")
        if dataset is not None and dataset.parameters.get("rules"):
            folder = Path(dataset.parameters["rules"])
    if folder is None or not (folder / "tags.yaml").exists():
        raise QueryError(
            "Tag compliance needs the rules folder's tags.yaml: start the server with "
            "`cloudtally serve --rules RULES_DIR`."
        )
    return load_rules_cached(folder)
