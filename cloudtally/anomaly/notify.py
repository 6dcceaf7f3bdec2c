"""Routing anomalies to their owners: Slack, Microsoft Teams, email, webhook, Jira, ServiceNow.

Who: the anomaly's owner (the team carrying most of the excess, else the monitor's mapping)
-> that team's destinations in the rules; else the monitor's own `notify` list. Each
(anomaly, destination) is sent once: a success is written to the sent-log in `state.duckdb`
before the next, and a re-run skips what the log holds. Failures are retried with exponential
backoff (honouring `Retry-After`, bounded). Secrets come from environment variables or the
secrets file, by name; they are never printed: errors name the destination, not the URL.
"""

from __future__ import annotations

import base64
import json
import smtplib
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import yaml

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
from cloudtally.store import Store

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
            try:
                data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError):
                raise AnomalyError(f"Secrets file {path} cannot be read as YAML.") from None
            if not isinstance(data, dict):
                raise AnomalyError(f"Secrets file {path} must map names to values.")
            self.file = {str(k): str(v) for k, v in data.items()}

    def value(self, dest: Any, name: str, where: str, *, required: bool = True) -> str | None:
        env = getattr(dest, f"{name}_env", None)
        key = getattr(dest, f"{name}_secret", None)
        if env and self.environ.get(env):
            return self.environ[env]
        if key and key in self.file:
            return self.file[key]
        if not required:
            return None
        origin = f"environment variable {env}" if env else f"secret {key!r}" if key else None
        hint = f"set {origin}" if origin else f"give {name}_env or {name}_secret"
        raise SendError(f"Destination {where!r} has no {name}: {hint}.")


def describe(a: Any) -> str:
    """One line a person acts on.

    >>> from types import SimpleNamespace as S
    >>> describe(S(kind="spike", dimension="ServiceName", value="Amazon EC2", actual=500,
    ...            expected=100, impact=400, days=1, score=9.5, monitor="services"))
    'Spike in ServiceName Amazon EC2: 500.00 vs 100.00 expected (+400.00, +400%) [services]'
    """
    kind = {"spike": "Spike", "level-shift": "Step up", "new-spend": "New spend"}.get(
        a.kind, a.kind
    )
    rel = f", +{float(a.impact) / float(a.expected):.0%}" if float(a.expected) > 0 else ""
    lasting = f", {a.days} days so far" if a.days > 1 else ""
    if getattr(a, "first_seen", None) and a.first_seen != a.date:
        lasting += f", first seen {a.first_seen}"
    return (
        f"{kind} in {a.dimension} {a.value}: {float(a.actual):,.2f} vs "
        f"{float(a.expected):,.2f} expected (+{float(a.impact):,.2f}{rel}{lasting}) [{a.monitor}]"
    )


def cause_lines(a: state.Anomaly, limit: int = 5) -> list[str]:
    return [
        f"{c['dimension']} {c['value']}: {c['share']:.0%} of the excess "
        f"({c['actual']:,.2f} vs {c['expected']:,.2f})"
        for c in a.root_causes[:limit]
    ]


# --------------------------------------------------------------------------------------------
# Payloads (pure functions: the tests pin them exactly)


def slack_payload(a: state.Anomaly) -> dict[str, Any]:
    """Slack incoming webhook, Block Kit."""
    causes = "\n".join(f"• {line}" for line in cause_lines(a)) or "• no breakdown available"
    return {
        "text": describe(a),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": f"Cost anomaly {a.id}"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": describe(a)}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*Date*\n{a.date}"},
                    {"type": "mrkdwn", "text": f"*Owner*\n{a.owner or 'unknown'}"},
                    {"type": "mrkdwn", "text": f"*Impact*\n{a.impact:,.2f} on the day"},
                    {"type": "mrkdwn", "text": f"*Score*\n{a.score:g}"},
                ],
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*Root causes*\n{causes}"}},
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"`cloudtally anomalies ack {a.id}` · planned? "
                        f"`cloudtally anomalies feedback {a.id} expected`",
                    }
                ],
            },
        ],
    }


def teams_payload(a: state.Anomaly) -> dict[str, Any]:
    """Microsoft Teams incoming webhook / Workflows, an Adaptive Card."""
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {
                            "type": "TextBlock",
                            "size": "Large",
                            "weight": "Bolder",
                            "text": f"Cost anomaly {a.id}",
                        },
                        {"type": "TextBlock", "wrap": True, "text": describe(a)},
                        {
                            "type": "FactSet",
                            "facts": [
                                {"title": "Date", "value": str(a.date)},
                                {"title": "Owner", "value": a.owner or "unknown"},
                                {"title": "Impact", "value": f"{a.impact:,.2f}"},
                                {"title": "Score", "value": f"{a.score:g}"},
                            ],
                        },
                        *[
                            {"type": "TextBlock", "wrap": True, "text": f"- {line}"}
                            for line in cause_lines(a)
                        ],
                    ],
                },
            }
        ],
    }


def webhook_payload(a: state.Anomaly) -> dict[str, Any]:
    """The generic JSON webhook: the anomaly as `anomalies list --format json` shows it."""
    from cloudtally.output import plain

    return {"event": "cost_anomaly", "anomaly": plain(a.as_dict())}


def text_body(a: state.Anomaly) -> str:
    lines = [describe(a), "", f"Date: {a.date}", f"Owner: {a.owner or 'unknown'}", ""]
    lines += ["Root causes:", *(f"  - {line}" for line in cause_lines(a))] if a.root_causes else []
    if a.evidence:
        lines += ["", "Top line items:"]
        lines += [
            f"  - {e['resource'] or '(no resource)'} {e['sku'] or ''}: {e['cost']:,.2f}"
            for e in a.evidence
        ]
    lines += [
        "",
        f"Acknowledge: cloudtally anomalies ack {a.id}",
        f"Planned? cloudtally anomalies feedback {a.id} expected --until YYYY-MM-DD",
    ]
    return "\n".join(lines)


def jira_payload(a: state.Anomaly, dest: JiraDestination) -> dict[str, Any]:
    """Jira REST API v2 `POST /rest/api/2/issue` (v2 takes a plain-text description)."""
    return {
        "fields": {
            "project": {"key": dest.project},
            "summary": f"Cost anomaly {a.id}: {a.dimension} {a.value} on {a.date}",
            "description": text_body(a),
            "issuetype": {"name": dest.issue_type},
            "labels": list(dest.labels),
        }
    }


def servicenow_payload(a: state.Anomaly, dest: ServiceNowDestination) -> dict[str, Any]:
    """ServiceNow Table API `POST /api/now/table/incident`."""
    payload = {
        "short_description": f"Cost anomaly {a.id}: {a.dimension} {a.value} on {a.date}",
        "description": text_body(a),
        "category": "cost",
        "impact": "3",
        "urgency": "3",
        "correlation_id": a.id,
    }
    if dest.assignment_group:
        payload["assignment_group"] = dest.assignment_group
    return payload


def email_message(a: state.Anomaly, dest: EmailDestination) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"[cloudtally] Cost anomaly {a.id}: {a.dimension} {a.value} on {a.date}"
    message["From"] = dest.sender
    message["To"] = ", ".join(dest.to)
    message["X-Cloudtally-Anomaly"] = a.id
    message.set_content(text_body(a))
    return message


# --------------------------------------------------------------------------------------------
# Sending


def _retrying(name: str, retries: int, attempt: Callable[[], float | None]) -> int:
    """Call `attempt` until it succeeds; it returns None, or seconds to wait before retrying.

    Returns the number of attempts made.
    """
    for n in range(retries + 1):
        wait = attempt()
        if wait is None:
            return n + 1
        if n == retries:
            break
        time.sleep(min(max(wait, BACKOFF_SECONDS * 2**n), MAX_RETRY_AFTER))
    raise SendError(f"Destination {name!r} failed after {retries + 1} attempts.")


def post_json(
    name: str,
    url: str,
    payload: dict[str, Any],
    *,
    headers: dict[str, str] | None = None,
    retries: int,
    timeout: float,
) -> int:
    body = json.dumps(payload).encode()

    def attempt() -> float | None:
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read()
                return None
        except urllib.error.HTTPError as exc:
            if exc.code == 429 or exc.code >= 500:
                retry_after = exc.headers.get("Retry-After")
                try:
                    return float(retry_after) if retry_after else 0.0
                except ValueError:
                    return 0.0
            raise SendError(
                f"Destination {name!r} refused the message: HTTP {exc.code} {exc.reason}."
            ) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError):
            return 0.0

    return _retrying(name, retries, attempt)


def _basic(user: str | None, password: str | None) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def send(name: str, dest: Any, a: state.Anomaly, secrets: Secrets) -> int:
    """Deliver one anomaly to one destination; the number of attempts it took."""
    if isinstance(dest, SlackDestination | TeamsDestination):
        url = secrets.value(dest, "url", name)
        payload = slack_payload(a) if isinstance(dest, SlackDestination) else teams_payload(a)
        return post_json(name, url or "", payload, retries=dest.retries, timeout=dest.timeout)
    if isinstance(dest, WebhookDestination):
        url = secrets.value(dest, "url", name)
        token = secrets.value(dest, "token", name, required=False)
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return post_json(
            name,
            url or "",
            webhook_payload(a),
            headers={**headers, "Idempotency-Key": a.id},
            retries=dest.retries,
            timeout=dest.timeout,
        )
    if isinstance(dest, JiraDestination):
        auth = _basic(secrets.value(dest, "user", name), secrets.value(dest, "token", name))
        return post_json(
            name,
            dest.url.rstrip("/") + "/rest/api/2/issue",
            jira_payload(a, dest),
            headers={**auth, "Accept": "application/json"},
            retries=dest.retries,
            timeout=dest.timeout,
        )
    if isinstance(dest, ServiceNowDestination):
        auth = _basic(secrets.value(dest, "user", name), secrets.value(dest, "password", name))
        return post_json(
            name,
            dest.url.rstrip("/") + "/api/now/table/incident",
            servicenow_payload(a, dest),
            headers={**auth, "Accept": "application/json"},
            retries=dest.retries,
            timeout=dest.timeout,
        )
    if isinstance(dest, EmailDestination):
        user = secrets.value(dest, "username", name, required=False)
        password = secrets.value(dest, "password", name, required=False)
        message = email_message(a, dest)

        def attempt() -> float | None:
            try:
                with smtplib.SMTP(dest.host, dest.port, timeout=dest.timeout) as smtp:
                    if dest.starttls:
                        smtp.starttls()
                    if user and password:
                        smtp.login(user, password)
                    smtp.send_message(message)
                return None
            except smtplib.SMTPResponseException as exc:
                if 400 <= exc.smtp_code < 500:
                    return 0.0
                raise SendError(
                    f"Destination {name!r} refused the message: SMTP {exc.smtp_code}."
                ) from None
            except (OSError, smtplib.SMTPException):
                return 0.0

        return _retrying(name, dest.retries, attempt)
    raise AnomalyError(f"Destination {name!r} has an unknown type.")  # pragma: no cover


@dataclass(frozen=True)
class RouteResult:
    anomaly_id: str
    destination: str
    outcome: str  # sent (N attempts) | already sent | would send | failed: ...


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
    """Send every open anomaly to its destinations, once each."""
    results = []
    with store.state() as con:
        for a in state.load(con, status="open"):
            for name in destinations_for(a, rules):
                if state.was_sent(con, a.id, name):
                    continue
                if dry_run:
                    results.append(RouteResult(a.id, name, "would send"))
                    continue
                try:
                    attempts = send(name, rules.destinations[name], a, secrets)
                except SendError as exc:
                    results.append(RouteResult(a.id, name, f"failed: {exc}"))
                    continue
                state.mark_sent(con, a.id, name, attempts)
                results.append(RouteResult(a.id, name, f"sent ({attempts} attempt(s))"))
    return results
