"""The sign-in page (a token, or a name and password), sign-out, and who-am-I.

Sign-in is rate limited per client address and per name; a failure says nothing about which
part was wrong. The session cookie is HttpOnly and SameSite=Strict (and Secure with
`serve --secure-cookies`, behind TLS). The sign-in form carries its own CSRF token (a cookie
set with the form), so no other site can sign a browser in to an account of its choosing.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import RedirectResponse, Response
from starlette.requests import Request

from cloudtally.access import audit
from cloudtally.access.sessions import SESSION_HOURS, end_session, start_session
from cloudtally.access.users import User, user_for_password, user_for_token
from cloudtally.web.context import (
    SESSION_COOKIE,
    Viewer,
    authenticate,
    check_csrf,
    client_of,
    serving,
)
from cloudtally.web.errors import WebError

router = APIRouter(include_in_schema=False)

SIGNIN_COOKIE = "ct_signin"


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (never `//host` or a URL)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def signin_page(
    request: Request, *, status: int = 200, message: str | None = None, target: str | None = None
) -> Response:
    from cloudtally.web.pages.base import render

    csrf = secrets.token_urlsafe(24)
    response = render(
        request,
        "signin.html",
        {
            "csrf": csrf,
            "message": message,
            "next": safe_next(target if target is not None else _here(request)),
        },
        status=status,
    )
    response.set_cookie(
        SIGNIN_COOKIE,
        csrf,
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=serving(request).secure_cookies,
        path="/signin",
    )
    return response


def _here(request: Request) -> str:
    if request.url.path in ("/signin", "/signout"):
        return request.query_params.get("next", "/")
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


@router.get("/signin")
def signin_form(request: Request, next: str = "/") -> Response:
    return signin_page(request, target=next)


@router.post("/signin")
def signin(
    request: Request,
    csrf: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    state = serving(request)
    client = client_of(request)
    keys = [f"client:{client}"] + ([f"name:{name.strip()}"] if name.strip() else [])
    wait = state.limiter.retry_after(*keys)
    if wait:
        raise WebError(
            429,
            f"Too many failed sign-ins: try again in {wait} seconds.",
            {"Retry-After": str(wait)},
        )
    cookie = request.cookies.get(SIGNIN_COOKIE, "")
    if not cookie or not csrf or not secrets.compare_digest(cookie, csrf):
        return signin_page(
            request, status=403, message="The sign-in form expired: try again.", target=next
        )
    with state.store.state() as con:
        user: User | None = None
        if token.strip():
            user = user_for_token(con, token.strip())
        elif name.strip() and password:
            user = user_for_password(con, name.strip(), password)
        shown = user.name if user else (name.strip() or "(token)")
        if user is None:
            audit.record(
                con,
                entry_id=secrets.token_hex(8),
                name=shown[:64],
                role=None,
                scope=None,
                action="sign-in",
                target="/signin",
                status=401,
                client=client,
            )
        else:
            session_id, _ = start_session(con, user)
            audit.record(
                con,
                entry_id=secrets.token_hex(8),
                name=user.name,
                role=user.role,
                scope=user.scope_label(),
                action="sign-in",
                target="/signin",
                status=None,
                client=client,
            )
    if user is None:
        state.limiter.failed(*keys)
        return signin_page(
            request,
            status=401,
            message="Not signed in: the token, or the name and password, were not recognised.",
            target=next,
        )
    state.limiter.succeeded(*keys)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=SESSION_HOURS * 3600,
        httponly=True,
        samesite="strict",
        secure=state.secure_cookies,
        path="/",
    )
    response.delete_cookie(SIGNIN_COOKIE, path="/signin")
    return response


@router.post("/signout")
def signout(
    request: Request,
    viewer: Annotated[Viewer, Depends(authenticate)],
    csrf: Annotated[str, Form()] = "",
) -> Response:
    check_csrf(request, viewer, csrf)
    cookie = request.cookies.get(SESSION_COOKIE)
    with viewer.store.state() as con:
        if cookie:
            end_session(con, cookie)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
