"""Docs: the project's docs folder (how to read the dashboard, the rules, the queries, ...)
rendered as pages. Markdown only, raw HTML in it is shown as text."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from markdown_it import MarkdownIt
from starlette.requests import Request

from cloudtally.web.context import Viewer, authenticate
from cloudtally.web.errors import WebError
from cloudtally.web.pages.base import Page, render
from cloudtally.web.params import check_known

router = APIRouter(include_in_schema=False)
page = Page("/docs", "Docs", router, order=90)

DOCS = Path(__file__).resolve().parents[3] / "docs"
FIRST = ("dashboard", "queries", "rules", "anomalies", "security", "bi", "data-model", "cli")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_markdown = MarkdownIt("commonmark", {"html": False}).enable("table")


def available() -> list[tuple[str, str]]:
    """(name, title) of each doc, the reader's first."""
    found = {}
    for path in sorted(DOCS.glob("*.md")):
        first = path.read_text(encoding="utf-8").lstrip().splitlines()
        title = next((line.lstrip("# ").strip() for line in first if line.startswith("#")), "")
        found[path.stem] = title or path.stem
    order = [n for n in FIRST if n in found] + [n for n in found if n not in FIRST]
    return [(n, found[n]) for n in order]


@router.get("/docs")
def index(request: Request, viewer: Annotated[Viewer, Depends(authenticate)]) -> Response:
    check_known(request, (), filters=False)
    return render(request, "docs.html", {"title": "Docs", "docs": available(), "body": None})


@router.get("/docs/{name}")
def doc(request: Request, viewer: Annotated[Viewer, Depends(authenticate)], name: str) -> Response:
    check_known(request, (), filters=False)
    path = DOCS / f"{name}.md"
    if not _NAME.match(name) or not path.is_file():
        raise WebError(404, f"No document called {name!r}.")
    body = _markdown.render(path.read_text(encoding="utf-8"))
    # Links between docs (`docs/rules.md`, `rules.md`) point at their pages.
    body = re.sub(r'href="(?:docs/)?([a-z0-9-]+)\.md"', r'href="/docs/\1"', body)
    return render(
        request, "docs.html", {"title": name, "docs": available(), "body": body, "name": name}
    )
