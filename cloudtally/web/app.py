"""The application factory: `create_app(data_dir)` gives the ASGI app `cloudtally serve` runs.

Routes: `/health` and the sign-in page answer anyone; the JSON API under `/api/` and every
page need a credential. Pages are modules of `cloudtally.web.pages`, each an APIRouter; the
API mirrors the CLI (`cloudtally.web.api`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import duckdb
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request

from cloudtally.access import audit
from cloudtally.web import assets
from cloudtally.web.context import viewer_scopes
from cloudtally.web.errors import WebError, error_body, message_of, status_of
from cloudtally.web.security import SecurityHeaders
from cloudtally.web.serving import OneGeneration, Serving, ServingStore, Warmer

STATIC = Path(__file__).parent / "static"


def create_app(
    data_dir: Path | str,
    *,
    rules_dir: Path | None = None,
    secure_cookies: bool = False,
    warm: bool = False,
) -> Any:
    """The web app over the lake in `data_dir` (wrapped in the security-headers middleware,
    and in `OneGeneration`: a request reads the catalog once).

    With `warm`, a `Warmer` thread runs while the app does (from its startup to its
    shutdown): each new generation of the lake is loaded and the pages' kept answers computed
    before anyone asks."""
    from cloudtally import __version__
    from cloudtally.web import api, auth, metrics, pages

    serving = Serving(
        ServingStore(data_dir), Path(rules_dir) if rules_dir else None, secure_cookies
    )
    warmer = Warmer(
        serving.store,
        serving.rules_dir,
        [_warm_if_visible(p) for p in pages.PAGES if p.warm is not None],
        scopes=lambda: viewer_scopes(serving.store, serving.rules_dir),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if warm:
            warmer.start()
        try:
            yield
        finally:
            warmer.stop()

    app = FastAPI(
        title="cloudtally API",
        version=__version__,
        description=(
            "The cloudtally query layer over HTTP: each endpoint answers what the CLI command "
            "of the same name prints with `--format json` (the `rows`). Authenticate with "
            "`Authorization: Bearer TOKEN` (`cloudtally access add`). Filters are query "
            "parameters named after dimensions (`team=payments`); a viewer scoped to teams "
            "sees their rows only, and a filter naming another team answers 403."
        ),
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.serving = serving
    app.state.warmer = warmer
    app.include_router(assets.router)  # before the mount: /static/vega.js is built, not a file
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(auth.router)
    app.include_router(api.router)
    app.include_router(metrics.router)
    for page in pages.PAGES:
        app.include_router(page.router)

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    app.add_exception_handler(Exception, _error)
    app.add_exception_handler(WebError, _error)
    app.add_exception_handler(StarletteHTTPException, _error)
    app.add_exception_handler(RequestValidationError, _error)
    from cloudtally.errors import CloudtallyError

    app.add_exception_handler(CloudtallyError, _error)
    # A question the data cannot answer (see errors.status_of): answered, not re-raised.
    app.add_exception_handler(duckdb.BinderException, _error)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    assets.warm_up()
    return SecurityHeaders(OneGeneration(app, serving.store))


def _warm_if_visible(page: Any) -> Callable[[Any], object]:
    def warm(view: Any) -> object:
        return page.warm(view) if page.visible(view) else None

    warm.__name__ = f"the {page.path} page"
    return warm


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, with the bearer token every endpoint needs."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        document = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        document.setdefault("components", {})["securitySchemes"] = {
            "token": {"type": "http", "scheme": "bearer"}
        }
        document["security"] = [{"token": []}]
        app.openapi_schema = document
    return app.openapi_schema


def _error(request: Request, exc: Exception) -> Response:
    """Every error as one JSON shape under /api/ (and for API clients), a page elsewhere."""
    if isinstance(exc, StarletteHTTPException):
        status = exc.status_code
        message = {404: "No such page or endpoint.", 405: "Method not allowed here."}.get(
            status, str(exc.detail)
        )
        headers = dict(exc.headers or {})
    elif isinstance(exc, RequestValidationError):
        status = 400
        message = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        )
        headers = {}
    else:
        status, message = status_of(exc), message_of(exc)
        headers = exc.headers if isinstance(exc, WebError) else {}
    viewer = getattr(request.state, "viewer", None)
    if viewer is None and status in (404, 405):
        # Without a credential every path answers 401: which paths exist is not said.
        from cloudtally.web.context import authenticate

        try:
            viewer = authenticate(request)
        except WebError as refused:
            status, message, headers = refused.status, refused.message, refused.headers
    if viewer is not None:
        with viewer.store.state() as con:
            audit.set_status(con, viewer.audit_id, status)
    if _wants_json(request):
        return JSONResponse(error_body(status, message), status_code=status, headers=headers)
    from cloudtally.web.pages.base import error_page

    return error_page(request, status, message, headers)


def _wants_json(request: Request) -> bool:
    path = request.url.path
    if path.startswith("/api/") or path == "/health":
        return True
    accept = request.headers.get("accept", "")
    return "text/html" not in accept and "application/json" in accept
