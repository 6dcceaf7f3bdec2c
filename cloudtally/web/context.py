"""Who is asking: every request but sign-in, /health and static assets needs a credential (an
API token as `Authorization: Bearer TOKEN`, or a session cookie from the sign-in page), and
every authenticated request is written to the audit log before it is served."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from starlette.requests import Request

from cloudtally.access import audit
from cloudtally.access.sessions import session_for
from cloudtally.access.users import User, user_for_token
from cloudtally.query.ownership import Scope, tag_policy
from cloudtally.store import Store
from cloudtally.web.errors import WebError
from cloudtally.web.serving import Serving, ServingStore

SESSION_COOKIE = "ct_session"
CSRF_HEADER = "x-csrf-token"

T = TypeVar("T")


@dataclass
class Viewer:
    """The signed-in user of one request, with the scope every query of it runs under."""

    user: User
    scope: Scope
    store: Store
    rules_dir: Path | None
    csrf: str | None = None  # set for a session (cookie) sign-in: forms must post it back
    audit_id: str = ""

    @property
    def name(self) -> str:
        return self.user.name

    def remembered(self, question: Hashable, answer: Callable[[], T]) -> T:
        """`answer()`, kept for the live generation of the lake when the server holds one
        (`ServingStore.remembered`); `question` must name everything the answer depends on
        besides the lake, the viewer's scope included."""
        if isinstance(self.store, ServingStore):
            return self.store.remembered(question, answer)
        return answer()

    @property
    def sees_unallocated(self) -> bool:
        return self.user.sees_unallocated

    def require_unallocated(self) -> None:
        if not self.sees_unallocated:
            raise WebError(403, "Unallocated spend is shown to the admin and finops roles only.")


def serving(request: Request) -> Serving:
    found: Serving = request.app.state.serving
    return found


def client_of(request: Request) -> str:
    return request.client.host if request.client else "-"


def target_of(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def authenticate(request: Request) -> Viewer:
    """The viewer a request's credential names (and its audit entry), or 401."""
    state = serving(request)
    store = state.store
    token = bearer_token(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    user: User | None = None
    csrf = None
    audit_id = secrets.token_hex(8)
    with store.state() as con:
        if token is not None:
            user = user_for_token(con, token)
        elif cookie:
            session = session_for(con, cookie)
            if session is not None:
                user, csrf = session.user, session.csrf
        if user is None:
            raise WebError(
                401,
                "Sign in first: send `Authorization: Bearer TOKEN` (from `cloudtally access "
                "add`) or sign in at /signin."
                if token is None
                else "The token is not valid (unknown, mistyped or revoked).",
                {"WWW-Authenticate": 'Bearer realm="cloudtally"'},
            )
        scope = _normalised(user.scope, store, state.rules_dir)
        audit.record(
            con,
            entry_id=audit_id,
            name=user.name,
            role=user.role,
            scope=user.scope_label(),
            action=request.method,
            target=target_of(request),
            status=None,
            client=client_of(request),
        )
    viewer = Viewer(user, scope, store, state.rules_dir, csrf, audit_id)
    request.state.viewer = viewer
    return viewer


def check_csrf(request: Request, viewer: Viewer, form_value: str | None) -> None:
    """A request that changes something with a session cookie must carry the session's CSRF
    token (form field `csrf` or header X-CSRF-Token); token (Bearer) requests need none."""
    if viewer.csrf is None:
        return
    given = form_value or request.headers.get(CSRF_HEADER)
    if not given or not secrets.compare_digest(given, viewer.csrf):
        raise WebError(403, "The form is out of date or was not sent by this site: reload it.")


def viewer_scopes(store: Store, rules_dir: Path | None) -> list[Scope]:
    """The scopes of the active users who see part of the data, as their requests run under
    them (what the server warms for each new generation)."""
    from cloudtally.access.users import list_users

    if not store.has_state():
        return []
    with store.state() as con:
        users = list_users(con)
    restricted = [u.scope for u in users if not u.scope.unrestricted]
    return [_normalised(scope, store, rules_dir) for scope in dict.fromkeys(restricted)]


def _normalised(scope: Scope, store: Store, rules_dir: Path | None) -> Scope:
    """A viewer's teams and products as the lake spells them (aliases, case)."""
    if scope.unrestricted:
        return scope
    policy = tag_policy(store, rules_dir)
    return Scope(
        teams=tuple(policy.normalise_value("team", t) or t for t in scope.teams),
        products=tuple(policy.normalise_value("product", p) or p for p in scope.products),
    )
