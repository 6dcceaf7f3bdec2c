"""Sending a report to a destination of the monitors file: the same destinations, secrets,
TLS checks and retries as the anomaly notifications (`cloudtally.anomaly.notify`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from cloudtally.anomaly.config import (
    EmailDestination,
    MonitorsFile,
    SlackDestination,
    TeamsDestination,
    WebhookDestination,
)
from cloudtally.anomaly.notify import Outgoing, Secrets, SendError, post_json, prepare, send_email

SENDABLE = (SlackDestination, TeamsDestination, WebhookDestination, EmailDestination)


@dataclass(frozen=True)
class Renderers:
    """How one report becomes each kind of message."""

    slack: Callable[[], dict[str, Any]]
    teams: Callable[[], dict[str, Any]]
    webhook: Callable[[], dict[str, Any]]
    email: Callable[[str, list[str]], EmailMessage]


def outgoing_for(dest: Any, renderers: Renderers) -> Outgoing:
    if isinstance(dest, SlackDestination):
        return Outgoing(renderers.slack())
    if isinstance(dest, TeamsDestination):
        return Outgoing(renderers.teams())
    if isinstance(dest, WebhookDestination):
        return Outgoing(renderers.webhook())
    return Outgoing(email=renderers.email(dest.sender, list(dest.to)))


def send_report(
    rules: MonitorsFile,
    name: str,
    renderers: Renderers,
    secrets: Secrets,
    *,
    key: str,
    dry_run: bool = False,
) -> Outgoing:
    """Send a report to destination `name` (or only build it, with `dry_run`).

    `key` identifies the report (e.g. `weekly-2024-W43`): a webhook receives it as its
    Idempotency-Key, so a retried delivery is not taken twice.
    """
    dest = rules.destinations.get(name)
    if dest is None:
        known = ", ".join(sorted(rules.destinations)) or "none"
        raise SendError(
            f"No destination {name!r} in the monitors file (known: {known}); destinations are "
            "listed under `destinations:` (see docs/anomalies.md)."
        )
    if not isinstance(dest, SENDABLE):
        raise SendError(
            f"Destination {name!r} is a {dest.type} destination: reports go to slack, teams, "
            "webhook or email destinations."
        )
    delivery = prepare(name, dest, secrets)  # secrets, URL and TLS checked before anything
    outgoing = outgoing_for(dest, renderers)
    if dry_run:
        return outgoing
    if outgoing.email is not None:
        send_email(delivery, outgoing.email)
    else:
        assert outgoing.body is not None
        post_json(delivery, outgoing.body, idempotency_key=key)
    return outgoing
