"""Routing against real servers on 127.0.0.1: exact payloads, retries, one send each."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from cloudtally.anomaly import notify, state
from cloudtally.anomaly.config import MonitorsFile
from cloudtally.anomaly.notify import Secrets, route
from cloudtally.store import Store


class Recorder(ThreadingHTTPServer):
    """Records every request; answers each path from a queue of status codes (then 200)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], object]] = []
        self.replies: dict[str, list[int]] = {}

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                server.requests.append((self.path, dict(self.headers), json.loads(body)))
                queue = server.replies.get(self.path, [])
                code = queue.pop(0) if queue else 200
                self.send_response(code)
                if code == 503:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        server = self
        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def http() -> Iterator[Recorder]:
    server = Recorder()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    with socket.socket() as probe:  # a free port (aiosmtpd's start() cannot take port 0)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port, ready_timeout=5)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notify, "BACKOFF_SECONDS", 0.01)


ANOMALY = state.Anomaly(
    monitor="services",
    dimension="ServiceName",
    value="Amazon EC2",
    date=date(2024, 10, 12),
    kind="spike",
    days=3,
    actual=Decimal("717.49"),
    expected=Decimal("382.81"),
    impact=Decimal("334.68"),
    total_impact=Decimal("980.10"),
    score=41.5,
    owner="payments",
    root_causes=[
        {
            "dimension": "team",
            "value": "payments",
            "actual": 378.4,
            "expected": 70.1,
            "excess": 308.3,
            "share": 0.92,
            "new": False,
        },
    ],
    evidence=[
        {
            "resource": "i-0abc",
            "service": "Amazon EC2",
            "sku": "m5.xlarge",
            "description": "m5.xlarge hours",
            "quantity": 24.0,
            "unit": "Hours",
            "cost": 120.5,
        },
    ],
)


def stored(tmp_path: Path) -> Store:
    store = Store(tmp_path / "lake")
    with store.state() as con:
        state.save(con, [state.Anomaly(**ANOMALY.as_dict())])
    return store


def rules(destinations: dict, teams: dict | None = None) -> MonitorsFile:
    return MonitorsFile.model_validate(
        {
            "monitors": [{"name": "services", "dimensions": ["ServiceName"], "notify": ["hook"]}],
            "teams": teams or {"payments": {"notify": sorted(set(destinations) - {"hook"})}},
            "destinations": destinations,
        }
    )


def test_slack_block_kit_payload_retries_then_sends_once(tmp_path: Path, http: Recorder) -> None:
    store = stored(tmp_path)
    http.replies["/slack"] = [503, 500]
    config = rules(
        {
            "hook": {"type": "webhook", "url_env": "HOOK"},
            "chat": {"type": "slack", "url_env": "SLACK_URL"},
        }
    )
    secrets = Secrets({"SLACK_URL": http.url + "/slack"})
    results = route(store, config, secrets)
    assert [(r.destination, r.outcome) for r in results] == [("chat", "sent (3 attempt(s))")]
    assert len(http.requests) == 3
    path, headers, body = http.requests[-1]
    assert path == "/slack" and headers["Content-Type"] == "application/json"
    line = (
        "Spike in ServiceName Amazon EC2: 717.49 vs 382.81 expected (+334.68, +87%, 3 days so far) "
        "[services]"
    )
    assert body == {
        "text": line,
        "blocks": [
            {
                "type": "header",
                "text": {"type": "plain_text", "text": f"Cost anomaly {ANOMALY.id}"},
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": line}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*Date*\n2024-10-12"},
                    {"type": "mrkdwn", "text": "*Owner*\npayments"},
                    {"type": "mrkdwn", "text": "*Impact*\n334.68 on the day"},
                    {"type": "mrkdwn", "text": "*Score*\n41.5"},
                ],
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "*Root causes*\n• team payments: 92% of the excess (378.40 vs 70.10)",
                },
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": f"`cloudtally anomalies ack {ANOMALY.id}` · planned? "
                        f"`cloudtally anomalies feedback {ANOMALY.id} expected`",
                    }
                ],
            },
        ],
    }
    # No duplicate send on a re-run.
    assert route(store, config, secrets) == []
    assert len(http.requests) == 3


def test_teams_webhook_jira_servicenow_payloads(tmp_path: Path, http: Recorder) -> None:
    store = stored(tmp_path)
    config = rules(
        {
            "hook": {"type": "webhook", "url_env": "HOOK", "token_secret": "hook-token"},
            "msteams": {"type": "teams", "url_secret": "teams-url"},
            "tickets": {
                "type": "jira",
                "url": http.url + "/jira",
                "project": "FIN",
                "user_env": "JIRA_USER",
                "token_env": "JIRA_TOKEN",
            },
            "snow": {
                "type": "servicenow",
                "url": http.url + "/snow",
                "assignment_group": "FinOps",
                "user_env": "SN_USER",
                "password_secret": "sn-password",
            },
        },
        teams={"payments": {"notify": ["msteams", "tickets", "snow", "hook"]}},
    )
    secret_file = tmp_path / "secrets.yaml"
    secret_file.write_text(
        f"teams-url: {http.url}/teams\nhook-token: s3cret-hook\nsn-password: s3cret-sn\n"
    )
    env = {
        "HOOK": http.url + "/hook",
        "JIRA_USER": "bot@acme",
        "JIRA_TOKEN": "s3cret-jira",
        "SN_USER": "svc",
    }
    results = route(store, config, Secrets(env, secret_file))
    assert [r.outcome for r in results] == ["sent (1 attempt(s))"] * 4
    by_path = {path: (headers, body) for path, headers, body in http.requests}
    card = by_path["/teams"][1]["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["type"] == "AdaptiveCard" and card["content"]["version"] == "1.4"
    assert card["content"]["body"][2] == {
        "type": "FactSet",
        "facts": [
            {"title": "Date", "value": "2024-10-12"},
            {"title": "Owner", "value": "payments"},
            {"title": "Impact", "value": "334.68"},
            {"title": "Score", "value": "41.5"},
        ],
    }
    headers, jira = by_path["/jira/rest/api/2/issue"]
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"bot@acme:s3cret-jira").decode()
    assert jira["fields"]["project"] == {"key": "FIN"}
    assert jira["fields"]["summary"] == (
        f"Cost anomaly {ANOMALY.id}: ServiceName Amazon EC2 on 2024-10-12"
    )
    assert jira["fields"]["issuetype"] == {"name": "Task"}
    assert jira["fields"]["labels"] == ["cloudtally", "cost-anomaly"]
    assert "  - team payments: 92% of the excess (378.40 vs 70.10)" in jira["fields"]["description"]
    headers, incident = by_path["/snow/api/now/table/incident"]
    assert headers["Authorization"] == "Basic " + base64.b64encode(b"svc:s3cret-sn").decode()
    assert {k: v for k, v in incident.items() if k != "description"} == {
        "short_description": f"Cost anomaly {ANOMALY.id}: ServiceName Amazon EC2 on 2024-10-12",
        "category": "cost",
        "impact": "3",
        "urgency": "3",
        "correlation_id": ANOMALY.id,
        "assignment_group": "FinOps",
    }
    headers, hook = by_path["/hook"]
    assert headers["Authorization"] == "Bearer s3cret-hook"
    assert headers["Idempotency-Key"] == ANOMALY.id
    assert hook["event"] == "cost_anomaly"
    assert hook["anomaly"]["impact"] == "334.68" and hook["anomaly"]["status"] == "open"


def test_email_over_smtp(tmp_path: Path, smtp: tuple[Mailbox, int]) -> None:
    box, port = smtp
    store = stored(tmp_path)
    config = rules(
        {
            "hook": {"type": "webhook", "url_env": "HOOK"},
            "mail": {
                "type": "email",
                "host": "127.0.0.1",
                "port": port,
                "sender": "cloudtally@acme",
                "to": ["payments@acme"],
                "starttls": False,
            },
        },
    )
    results = route(store, config, Secrets({}))
    assert [r.outcome for r in results] == ["sent (1 attempt(s))"]
    sender, to, content = box.messages[0]
    assert (sender, to) == ("cloudtally@acme", ["payments@acme"])
    message = email.message_from_bytes(content, policy=email.policy.default)
    assert message["Subject"].strip() == (
        f"[cloudtally] Cost anomaly {ANOMALY.id}: ServiceName Amazon EC2 on 2024-10-12"
    )
    assert message["X-Cloudtally-Anomaly"] == ANOMALY.id
    assert message.get_content().replace("\r\n", "\n") == notify.text_body(ANOMALY) + "\n"
    assert "  - i-0abc m5.xlarge: 120.50" in message.get_content()


def test_failures_name_the_destination_never_the_secret(tmp_path: Path, http: Recorder) -> None:
    store = stored(tmp_path)
    http.replies["/slack"] = [503] * 10
    config = rules(
        {
            "hook": {"type": "webhook", "url_env": "HOOK"},
            "chat": {"type": "slack", "url_env": "SLACK_URL", "retries": 2},
        }
    )
    secret_url = http.url + "/slack"
    results = route(store, config, Secrets({"SLACK_URL": secret_url}))
    assert [r.outcome for r in results] == ["failed: Destination 'chat' failed after 3 attempts."]
    assert secret_url not in results[0].outcome
    missing = route(store, config, Secrets({}))
    assert (
        missing[0].outcome
        == "failed: Destination 'chat' has no url: set environment variable SLACK_URL."
    )
    with store.state() as con:
        assert not state.was_sent(con, ANOMALY.id, "chat")
