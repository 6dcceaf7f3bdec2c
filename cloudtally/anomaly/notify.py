"""Routing anomalies to their owners: Slack, Microsoft Teams, email, webhook, Jira, ServiceNow.

Who: the anomaly's owner (the team carrying most of the excess, else the monitor's mapping)
-> that team's destinations in the rules; else the monitor's own `notify` list. Each
(anomaly, destination) is sent once: a success is written to the sent-log in `state.duckdb`
before the next, and a re-run skips what the log holds; a failure is never logged as sent.

Before anything is sent, every destination about to be used is checked: its secrets exist,
its URL is an http(s) URL, its CA bundle can be read. All problems are reported together and
nothing is sent. Secrets come from environment variables or the secrets file, by name; they
are never printed: messages name the destination and where its secret comes from, never the
URL or a token.

Delivery: TLS certificates are verified for every HTTPS call and for SMTP STARTTLS (against
the system's CAs, or the destination's `ca_bundle`); redirects are not followed (a 3xx would
carry the Authorization header to wherever the server points); failures are retried with
exponential backoff (honouring `Retry-After`, bounded) when retrying can help, and the final
error names the cause: connection refused, certificate not trusted, authentication, HTTP
status.
"""

from __future__ import annotations

import base64
import http.client
import json
import smtplib
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Any

from cloudtally.anomaly import state
from cloudtally.anomaly.config import (
    AnomalyError,
    EmailDestination,
    JiraDestination,
    MonitorsFile,
    ServiceNowDestination,
    SlackDestination,
    TeamsDestination,
    WebhookDestination,
)
from cloudtally.anomaly.messages import (
    cause_lines,
    describe,
    email_message,
    jira_payload,
    one_line,
    servicenow_payload,
    slack_payload,
    teams_payload,
    text_body,
    webhook_payload,
)
from cloudtally.rules.yaml_loader import load_yaml
from cloudtally.store import Store

__all__ = [
    "Secrets",
    "SendError",
    "cause_lines",
    "describe",
    "email_message",
    "jira_payload",
    "route",
    "servicenow_payload",
    "slack_payload",
    "teams_payload",
    "text_body",
    "webhook_payload",
]

BACKOFF_SECONDS = 0.5  # first retry after this, doubling; tests set it lower
MAX_RETRY_AFTER = 30.0


class SendError(AnomalyError):
    """A destination refused or could not be reached (message names it, never its secret)."""


class Secrets:
    """Secret values by name: environment variables, and keys of an optional YAML file."""

    def __init__(self, environ: Mapping[str, str], path: Path | None = None) -> None:
        self.environ = environ
        self.file: dict[str, str] = {}
        if path is not None:
            path = Path(path)
            if not path.is_file():
                raise AnomalyError(f"Secrets file {path} not found.")
            data, _ = load_yaml(path)  # its errors name the line, never a value
            if not isinstance(data, dict | None):
                raise AnomalyError(f"Secrets file {path} must map names to values.")
            self.file = {str(k): str(v) for k, v in (data or {}).items()}

    def value(self, dest: Any, name: str, where: str, *, required: bool = True) -> str | None:
        """A secret of `dest`; None only when it is optional and not configured at all."""
        env = getattr(dest, f"{name}_env", None)
        key = getattr(dest, f"{name}_secret", None)
        if env and self.environ.get(env):
            return self.environ[env]
        if key and key in self.file:
            return self.file[key]
        if not required and not (env or key):
            return None
        origin = self.origin(dest, name)
        hint = f"set {origin}" if origin else f"give {name}_env or {name}_secret"
        raise SendError(f"Destination {where!r} has no {name}: {hint}.")

    def origin(self, dest: Any, name: str) -> str | None:
        """Where a secret comes from, in words (never its value)."""
        env = getattr(dest, f"{name}_env", None)
        key = getattr(dest, f"{name}_secret", None)
        if env:
            return f"environment variable {env}"
        if key:
            return f"secret {key!r} of the secrets file"
        return None


# --------------------------------------------------------------------------------------------
# What a destination needs, resolved and checked before anything is sent


@dataclass
class Delivery:
    """One destination, ready: where to send, with which credentials, trusting which CAs."""

    name: str
    dest: Any
    url: str | None = None  # HTTP destinations
    headers: dict[str, str] = field(default_factory=dict)
    username: str | None = None  # email
    password: str | None = None
    tls: ssl.SSLContext | None = None

    @property
    def kind(self) -> str:
        return str(self.dest.type)


def tls_context(dest: Any, name: str) -> ssl.SSLContext:
    """Certificates and host names are verified; `ca_bundle` replaces the system's CAs."""
    bundle = getattr(dest, "ca_bundle", None)
    if bundle is None:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=str(bundle))
    except (OSError, ssl.SSLError):
        raise SendError(
            f"Destination {name!r}: ca_bundle {bundle} cannot be read as PEM certificates."
        ) from None


def _checked_url(name: str, url: str, origin: str) -> str:
    """An http(s) URL with a host; the message never shows the URL (it may hold a secret)."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a bad port or an unbalanced IPv6 bracket
        valid = False
    if not valid or any(c in url for c in "\r\n\t "):
        raise SendError(
            f"Destination {name!r}: its URL (from {origin}) is not an http:// or https:// "
            "URL with a host; check that value."
        )
    return url.strip()


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def prepare(name: str, dest: Any, secrets: Secrets) -> Delivery:
    """Resolve and check one destination's secrets, URL and TLS trust (raises SendError)."""
    delivery = Delivery(name, dest, tls=tls_context(dest, name))
    if isinstance(dest, SlackDestination | TeamsDestination | WebhookDestination):
        url = secrets.value(dest, "url", name) or ""
        delivery.url = _checked_url(name, url, secrets.origin(dest, "url") or "the rules")
        if isinstance(dest, WebhookDestination):
            token = secrets.value(dest, "token", name, required=False)
            if token:
                delivery.headers["Authorization"] = f"Bearer {token}"
    elif isinstance(dest, JiraDestination):
        base = _checked_url(name, dest.url, "the rules")
        delivery.url = base.rstrip("/") + "/rest/api/2/issue"
        user = secrets.value(dest, "user", name) or ""
        token = secrets.value(dest, "token", name) or ""
        delivery.headers.update(_basic(user, token))
    elif isinstance(dest, ServiceNowDestination):
        base = _checked_url(name, dest.url, "the rules")
        delivery.url = base.rstrip("/") + "/api/now/table/incident"
        user = secrets.value(dest, "user", name) or ""
        password = secrets.value(dest, "password", name) or ""
        delivery.headers.update({**_basic(user, password), "Accept": "application/json"})
    elif isinstance(dest, EmailDestination):
        named = bool(dest.username_env or dest.username_secret)
        keyed = bool(dest.password_env or dest.password_secret)
        if named or keyed:
            delivery.username = secrets.value(dest, "username", name)
            delivery.password = secrets.value(dest, "password", name)
            if not dest.starttls:
                raise SendError(
                    f"Destination {name!r} would send its password without TLS: set "
                    "starttls: true (or drop username and password for a relay that needs none)."
                )
    else:  # pragma: no cover - the rules model admits no other type
        raise AnomalyError(f"Destination {name!r} has an unknown type.")
    return delivery


# --------------------------------------------------------------------------------------------
# Messages as sent


@dataclass(frozen=True)
class Outgoing:
    """The exact message for one (anomaly, destination): a JSON body or an email."""

    body: dict[str, Any] | None = None
    email: EmailMessage | None = None

    def preview(self) -> str:
        """What is sent, as text (JSON pretty-printed; an email with its headers)."""
        if self.email is not None:
            return self.email.as_string(policy=SMTP_POLICY).replace("\r\n", "\n").rstrip("\n")
        return json.dumps(self.body, indent=2, ensure_ascii=False)


def message_for(delivery: Delivery, a: state.Anomaly) -> Outgoing:
    dest = delivery.dest
    if isinstance(dest, SlackDestination):
        return Outgoing(slack_payload(a))
    if isinstance(dest, TeamsDestination):
        return Outgoing(teams_payload(a))
    if isinstance(dest, WebhookDestination):
        return Outgoing(webhook_payload(a))
    if isinstance(dest, JiraDestination):
        return Outgoing(jira_payload(a, dest))
    if isinstance(dest, ServiceNowDestination):
        return Outgoing(servicenow_payload(a, dest))
    return Outgoing(email=email_message(a, dest))


# --------------------------------------------------------------------------------------------
# Sending


class _Retry(Exception):
    """A failure worth retrying: its cause, and seconds the server asked us to wait."""

    def __init__(self, cause: str, wait: float = 0.0) -> None:
        super().__init__(cause)
        self.cause = cause
        self.wait = wait


def _retrying(name: str, retries: int, attempt: Callable[[], None]) -> int:
    """Call `attempt` until it succeeds; it raises _Retry for failures worth another try.

    Returns the number of attempts made.
    """
    for n in range(retries + 1):
        try:
            attempt()
            return n + 1
        except _Retry as failure:
            if n == retries:
                raise SendError(
                    f"Destination {name!r} failed after {retries + 1} attempt"
                    f"{'s' if retries else ''}: {failure.cause}."
                ) from None
            time.sleep(min(max(failure.wait, BACKOFF_SECONDS * 2**n), MAX_RETRY_AFTER))
    raise AssertionError("unreachable")  # pragma: no cover


def _network_cause(error: BaseException, timeout: float) -> tuple[str, bool]:
    """A connection failure in words, and whether retrying may help."""
    if isinstance(error, ssl.SSLCertVerificationError):
        reason = one_line(error.verify_message or error.reason or "verification failed")
        return (
            f"the server's TLS certificate is not trusted ({reason}); if it is yours, name "
            "its CA in the destination's ca_bundle",
            False,
        )
    if isinstance(error, ssl.SSLError):
        return f"TLS failed ({one_line(error.reason or error)})", False
    if isinstance(error, ConnectionRefusedError):
        return "connection refused", True
    if isinstance(error, socket.gaierror):
        return "host name not found", True
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout:g} s", True
    if isinstance(error, ConnectionError):
        return f"connection lost ({one_line(error.strerror or type(error).__name__)})", True
    if isinstance(error, OSError):
        return one_line(error.strerror or type(error).__name__), True
    return one_line(error), True


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A 3xx is an answer, not an instruction: following it would send the Authorization
    header (and the message) to wherever the server points."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def post_json(delivery: Delivery, payload: dict[str, Any], *, idempotency_key: str) -> int:
    dest = delivery.dest
    assert delivery.url is not None
    opener = urllib.request.build_opener(
        _NoRedirects(), urllib.request.HTTPSHandler(context=delivery.tls)
    )
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", **delivery.headers}
    if isinstance(dest, WebhookDestination):
        headers["Idempotency-Key"] = idempotency_key
    name = delivery.name

    def attempt() -> None:
        request = urllib.request.Request(delivery.url or "", data=body, method="POST")
        for key, value in headers.items():
            request.add_header(key, value)
        try:
            with opener.open(request, timeout=dest.timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            status = f"HTTP {exc.code} {one_line(exc.reason)}".rstrip()
            if exc.code == 429 or exc.code >= 500:
                retry_after = exc.headers.get("Retry-After")
                try:
                    wait = float(retry_after) if retry_after else 0.0
                except ValueError:
                    wait = 0.0
                raise _Retry(status, wait) from None
            if 300 <= exc.code < 400:
                target = urllib.parse.urlsplit(exc.headers.get("Location") or "").hostname
                where = f" to {one_line(target)}" if target else ""
                raise SendError(
                    f"Destination {name!r} answered {status} (a redirect{where}); redirects "
                    "are not followed: set the destination's URL to the final address."
                ) from None
            hint = (
                ": check its credentials"
                if exc.code in (401, 403)
                else ": check its URL"
                if exc.code in (404, 405)
                else ""
            )
            raise SendError(f"Destination {name!r} refused the message: {status}{hint}.") from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            cause, again = _network_cause(
                reason if isinstance(reason, BaseException) else OSError(str(reason)),
                dest.timeout,
            )
            if not again:
                raise SendError(f"Destination {name!r} failed: {cause}.") from None
            raise _Retry(cause) from None
        except (TimeoutError, ConnectionError, ssl.SSLError) as exc:
            cause, again = _network_cause(exc, dest.timeout)
            if not again:
                raise SendError(f"Destination {name!r} failed: {cause}.") from None
            raise _Retry(cause) from None
        except http.client.HTTPException as exc:
            raise SendError(
                f"Destination {name!r} failed: the server's answer is not HTTP "
                f"({type(exc).__name__}); check its URL and port."
            ) from None

    return _retrying(name, dest.retries, attempt)


def send_email(delivery: Delivery, message: EmailMessage) -> int:
    dest: EmailDestination = delivery.dest
    name = delivery.name

    def attempt() -> None:
        try:
            with smtplib.SMTP(dest.host, dest.port, timeout=dest.timeout) as smtp:
                if dest.starttls:
                    smtp.starttls(context=delivery.tls)
                if delivery.username and delivery.password:
                    smtp.login(delivery.username, delivery.password)
                smtp.send_message(message)
        except smtplib.SMTPNotSupportedError:
            raise SendError(
                f"Destination {name!r} failed: the server does not offer STARTTLS, and "
                "cloudtally does not send mail in clear when starttls is set."
            ) from None
        except smtplib.SMTPAuthenticationError as exc:
            raise SendError(
                f"Destination {name!r} failed: authentication refused (SMTP {exc.smtp_code}): "
                "check its username and password."
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = ", ".join(f"{one_line(r)} (SMTP {c})" for r, (c, _) in exc.recipients.items())
            raise SendError(f"Destination {name!r} failed: recipients refused: {codes}.") from None
        except smtplib.SMTPResponseException as exc:
            status = f"SMTP {exc.smtp_code}"
            if 400 <= exc.smtp_code < 500:
                raise _Retry(f"the server answered {status} (try later)") from None
            raise SendError(f"Destination {name!r} refused the message: {status}.") from None
        except smtplib.SMTPServerDisconnected:
            raise _Retry("the server closed the connection") from None
        except (OSError, smtplib.SMTPException) as exc:
            cause, again = _network_cause(exc, dest.timeout)
            if not again:
                raise SendError(f"Destination {name!r} failed: {cause}.") from None
            raise _Retry(cause) from None

    return _retrying(name, dest.retries, attempt)


def deliver(delivery: Delivery, a: state.Anomaly, outgoing: Outgoing | None = None) -> int:
    """Send one anomaly to one prepared destination; the number of attempts it took."""
    outgoing = outgoing or message_for(delivery, a)
    if outgoing.email is not None:
        return send_email(delivery, outgoing.email)
    assert outgoing.body is not None
    return post_json(delivery, outgoing.body, idempotency_key=a.id)


def send(name: str, dest: Any, a: state.Anomaly, secrets: Secrets) -> int:
    """Prepare and deliver in one step (for one-off sends)."""
    return deliver(prepare(name, dest, secrets), a)


# --------------------------------------------------------------------------------------------
# Routing


@dataclass(frozen=True)
class RouteResult:
    anomaly_id: str
    destination: str
    outcome: str  # sent (N attempts) | would send | failed: ...
    message: str | None = None  # --dry-run: the exact message


def destinations_for(a: state.Anomaly, rules: MonitorsFile) -> list[str]:
    if a.owner and a.owner in rules.teams and rules.teams[a.owner].notify:
        return rules.teams[a.owner].notify
    for monitor in rules.monitors:
        if monitor.name == a.monitor:
            return monitor.notify
    return []


def route(
    store: Store, rules: MonitorsFile, secrets: Secrets, *, dry_run: bool = False
) -> list[RouteResult]:
    """Send every open anomaly to its destinations, once each.

    Every destination about to be used is checked first; if any is not ready (a missing
    secret, a malformed URL, an unreadable CA bundle) nothing is sent and one AnomalyError
    lists every problem. `dry_run` sends nothing and returns the exact messages; a
    destination that is not ready gets the outcome `not ready: ...`.
    """
    with store.state() as con:
        plan = [
            (a, name)
            for a in state.load(con, status="open")
            for name in destinations_for(a, rules)
            if not state.was_sent(con, a.id, name)
        ]
        ready: dict[str, Delivery] = {}
        problems: dict[str, str] = {}
        for name in dict.fromkeys(name for _, name in plan):
            try:
                ready[name] = prepare(name, rules.destinations[name], secrets)
            except SendError as exc:
                problems[name] = str(exc)
        if dry_run:
            return [
                RouteResult(a.id, name, "would send", message_for(ready[name], a).preview())
                if name in ready
                else RouteResult(a.id, name, f"not ready: {problems[name]}")
                for a, name in plan
            ]
        if problems:
            raise AnomalyError(
                f"Nothing was sent: {len(problems)} destination"
                f"{'s are' if len(problems) > 1 else ' is'} not ready:\n"
                + "\n".join(f"  {p}" for p in problems.values())
            )
        results = []
        for a, name in plan:
            try:
                attempts = deliver(ready[name], a)
            except SendError as exc:
                results.append(RouteResult(a.id, name, f"failed: {exc}"))
                continue
            state.mark_sent(con, a.id, name, attempts)
            results.append(RouteResult(a.id, name, f"sent ({attempts} attempt(s))"))
    return results
