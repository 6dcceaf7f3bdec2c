"""The chart library, served from the package: `vl-convert-python` carries the Vega, Vega-Lite
and Vega-Embed bundle (`vl_convert.javascript_bundle()`), so no page loads anything from
another site. htmx is vendored in static/ (see static/SOURCES.md)."""

from __future__ import annotations

import hashlib
import threading

from fastapi import APIRouter
from fastapi.responses import Response
from starlette.requests import Request

router = APIRouter(include_in_schema=False)

# What the pages use: vega-embed, Vega and Vega-Lite as globals of the page.
GLOBALS = "window.vegaEmbed = vegaEmbed; window.vega = vega; window.vegaLite = vegaLite;"

_lock = threading.Lock()
_bundle: tuple[bytes, str] | None = None


def chart_bundle() -> tuple[bytes, str]:
    """The bundle's bytes and ETag (built once per process: it takes a few seconds)."""
    global _bundle
    with _lock:
        if _bundle is None:
            import vl_convert

            body = vl_convert.javascript_bundle(GLOBALS).encode()
            _bundle = (body, '"' + hashlib.sha256(body).hexdigest()[:16] + '"')
        return _bundle


def warm_up() -> None:
    """Build the bundle in the background so the first page with a chart does not wait."""
    threading.Thread(target=chart_bundle, name="chart-bundle", daemon=True).start()


@router.get("/static/vega.js")
def vega_bundle(request: Request) -> Response:
    body, etag = chart_bundle()
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"etag": etag})
    return Response(body, media_type="text/javascript", headers={"etag": etag})
