"""Routing against real servers on 127.0.0.1: exact payloads, retries, one send each."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from cloudtally.anomaly import notify, state
from cloudtally.anomaly.config import AnomalyError, MonitorsFile
from cloudtally.anomaly.notify import Secrets, route
from cloudtally.store import Store


class Recorder(ThreadingHTTPServer):
    """Records every request; answers each path from a queue of status codes (then 200)."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[tuple[str, dict[str, str], object]] = []
        self.replies: dict[str, list[int]] = {}
        self.location = ""  # where a 302 points

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                server.requests.append((self.path, dict(self.headers), body))
                queue = server.replies.get(self.path, [])
                code = queue.pop(0) if queue else 200
                self.send_response(code)
                if code == 503:
                    self.send_header("Retry-After", "0")
                if code == 302:
                    self.send_header("Location", server.location)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            do_GET = do_POST

            def log_message(self, *args: object) -> None:
                pass

        server = self
        super().__init__(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)
            self.scheme = "https"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server_address[1]}"


@contextmanager
def serving(tls: ssl.SSLContext | None = None) -> Iterator[Recorder]:
    server = Recorder(tls)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def http() -> Iterator[Recorder]:
    with serving() as server:
        yield server


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1, made by the openssl CLI (Debian's openssl)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return Certificate(cert, key)


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.logins: list[tuple[bytes, bytes]] = []  # every AUTH the server was given

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:  # type: ignore[no-untyped-def]
        self.logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"s3cret-smtp", handled=False)

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:  # aiosmtpd's start() cannot take port 0
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, ready_timeout=5)
    controller.start()
    yield box, port
    controller.stop()


@pytest.fixture
def smtp_tls(self_signed: Certificate) -> Iterator[tuple[Mailbox, int]]:
    """SMTP on 127.0.0.1 with STARTTLS (a self-signed certificate) and AUTH required."""
    box = Mailbox()
    port = free_port()
    controller = Controller(
        box,
        hostname="127.0.0.1",
        port=port,
        ready_timeout=5,
        tls_context=self_signed.server_context(),
        require_starttls=True,
        auth_required=True,
        authenticator=box.authenticate,
    )
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
    line = (
        "Spike in ServiceName Amazon EC2: 717.49 vs 382.81 expected (+334.68, +87%, 3 days so far) "
        "[services]"
    )
    assert card["content"]["body"][1:] == [
        {"type": "RichTextBlock", "inlines": [{"type": "TextRun", "text": line}]},
        {
            "type": "FactSet",
            "facts": [
                {"title": "Date", "value": "2024-10-12"},
                {"title": "Impact", "value": "334.68"},
                {"title": "Score", "value": "41.5"},
            ],
        },
        {
            "type": "RichTextBlock",
            "inlines": [
                {"type": "TextRun", "text": "Owner: ", "weight": "Bolder"},
                {"type": "TextRun", "text": "payments"},
            ],
        },
        {
            "type": "RichTextBlock",
            "inlines": [
                {"type": "TextRun", "text": "- team payments: 92% of the excess (378.40 vs 70.10)"}
            ],
        },
    ]
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


def test_failures_name_the_destination_and_cause_never_the_secret(
    tmp_path: Path, http: Recorder
) -> None:
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
    assert [r.outcome for r in results] == [
        "failed: Destination 'chat' failed after 3 attempts: HTTP 503 Service Unavailable."
    ]
    assert secret_url not in results[0].outcome
    with pytest.raises(AnomalyError) as missing:
        route(store, config, Secrets({}))
    assert str(missing.value) == (
        "Nothing was sent: 1 destination is not ready:\n"
        "  Destination 'chat' has no url: set environment variable SLACK_URL."
    )
    with store.state() as con:
        assert not state.was_sent(con, ANOMALY.id, "chat")


# --------------------------------------------------------------------------------------------
# Data is data in every message


HOSTILE = state.Anomaly(
    **{
        **ANOMALY.as_dict(),
        "id": "",
        "value": "<!channel> [pay](https://evil.example) <https://evil.example|invoice> "
        "[~admin] {html}<b>x</b>{html} [code]<img src=x>[/code]\r\nBcc: victim@example.com",
        "owner": "<@U024BE7LH>",
    }
)


def test_values_are_escaped_for_each_destination(
    tmp_path: Path, http: Recorder, smtp: tuple[Mailbox, int]
) -> None:
    box, port = smtp
    store = Store(tmp_path / "lake")
    with store.state() as con:
        state.save(con, [state.Anomaly(**HOSTILE.as_dict())])
    config = rules(
        {
            "hook": {"type": "webhook", "url_env": "HOOK"},
            "chat": {"type": "slack", "url_env": "SLACK_URL"},
            "msteams": {"type": "teams", "url_env": "TEAMS_URL"},
            "tickets": {"type": "jira", "url": http.url + "/jira", "project": "FIN",
                        "user_env": "U", "token_env": "T"},
            "snow": {"type": "servicenow", "url": http.url + "/snow",
                     "user_env": "U", "password_env": "T"},
            "mail": {"type": "email", "host": "127.0.0.1", "port": port,
                     "sender": "cloudtally@acme", "to": ["payments@acme"], "starttls": False},
        },
        teams={"<@U024BE7LH>": {"notify": ["chat", "msteams", "tickets", "snow", "mail", "hook"]}},
    )  # fmt: skip
    env = {
        "SLACK_URL": http.url + "/slack",
        "TEAMS_URL": http.url + "/teams",
        "HOOK": http.url + "/hook",
        "U": "bot",
        "T": "tok",
    }
    results = route(store, config, Secrets(env))
    assert [r.outcome for r in results] == ["sent (1 attempt(s))"] * 6
    sent = {path: body for path, _, body in http.requests}
    one_line = HOSTILE.value.replace("\r\n", "\\x0d\\x0a")
    slack = sent["/slack"]
    assert slack["text"] == (
        "Spike in ServiceName &lt;!channel&gt; [pay](https://evil.example) "
        "&lt;https://evil.example|invoice&gt; [~admin] {html}&lt;b&gt;x&lt;/b&gt;{html} "
        "[code]&lt;img src=x&gt;[/code]\\x0d\\x0aBcc: victim@example.com: 717.49 vs 382.81 "
        "expected (+334.68, +87%, 3 days so far) [services]"
    )
    assert slack["blocks"][2]["fields"][1]["text"] == "*Owner*\n&lt;@U024BE7LH&gt;"
    card = sent["/teams"]["attachments"][0]["content"]["body"]
    assert card[1]["inlines"][0]["text"] == (
        f"Spike in ServiceName {one_line}: 717.49 vs 382.81 expected "
        "(+334.68, +87%, 3 days so far) [services]"
    )
    assert all(block["type"] != "TextBlock" for block in card[1:])  # no Markdown for data
    jira = sent["/jira/rest/api/2/issue"]["fields"]
    assert jira["summary"] == f"Cost anomaly {HOSTILE.id}: ServiceName {one_line} on 2024-10-12"
    assert jira["description"].splitlines()[0] == (
        "Spike in ServiceName <\\!channel> \\[pay\\](https://evil.example) "
        "<https://evil.example\\|invoice> \\[\\~admin\\] \\{html\\}<b>x</b>\\{html\\} "
        "\\[code\\]<img src=x>\\[/code\\]\\\\x0d\\\\x0aBcc: victim@example.com: 717.49 vs 382.81 "
        "expected (+334.68, +87%, 3 days so far) [services]"
    )
    assert "Owner: <@U024BE7LH>" in jira["description"]
    snow = sent["/snow/api/now/table/incident"]
    assert snow["short_description"] == (
        f"Cost anomaly {HOSTILE.id}: ServiceName <!channel> [pay](https://evil.example) "
        "<https://evil.example|invoice> [~admin] {html}<b>x</b>{html} "
        "[ code]<img src=x>[ /code]\\x0d\\x0aBcc: victim@example.com on 2024-10-12"
    )
    assert "[code]" not in snow["description"]
    assert sent["/hook"]["anomaly"]["value"] == HOSTILE.value  # JSON for programs: as it is
    _, to, content = box.messages[0]
    assert to == ["payments@acme"]  # no Bcc smuggled in through the subject
    message = email.message_from_bytes(content, policy=email.policy.default)
    assert message["Bcc"] is None
    assert message.get_content_type() == "text/plain" and not message.is_multipart()
    assert str(message["Subject"]) == (
        f"[cloudtally] Cost anomaly {HOSTILE.id}: ServiceName {one_line} on 2024-10-12"
    )


def test_a_newline_in_a_value_does_not_stop_later_notifications(
    tmp_path: Path, smtp: tuple[Mailbox, int]
) -> None:
    box, port = smtp
    store = Store(tmp_path / "lake")
    second = state.Anomaly(**{**ANOMALY.as_dict(), "id": "", "value": "Amazon S3"})
    with store.state() as con:
        state.save(con, [state.Anomaly(**HOSTILE.as_dict()), second])
    config = rules(
        {
            "hook": {"type": "email", "host": "127.0.0.1", "port": port,
                     "sender": "cloudtally@acme", "to": ["finops@acme"], "starttls": False},
        },
        teams={},
    )  # fmt: skip
    results = route(store, config, Secrets({}))
    assert sorted(r.anomaly_id for r in results if r.outcome.startswith("sent")) == sorted(
        [HOSTILE.id, second.id]
    )
    assert len(box.messages) == 2


# --------------------------------------------------------------------------------------------
# Secrets and TLS


def mail_rules(port: int, **extra: object) -> MonitorsFile:
    return rules(
        {
            "hook": {
                "type": "email",
                "host": "127.0.0.1",
                "port": port,
                "sender": "cloudtally@acme",
                "to": ["finops@acme"],
                "username_env": "SMTP_USER",
                "password_env": "SMTP_PASSWORD",
                "retries": 0,
                **extra,
            }
        },
        teams={},
    )


SMTP_LOGIN = {"SMTP_USER": "bot", "SMTP_PASSWORD": "s3cret-smtp"}


def test_starttls_verifies_the_certificate_before_sending_the_password(
    tmp_path: Path, smtp_tls: tuple[Mailbox, int], self_signed: Certificate
) -> None:
    box, port = smtp_tls
    store = stored(tmp_path)
    results = route(store, mail_rules(port), Secrets(SMTP_LOGIN))
    assert [r.outcome for r in results] == [
        "failed: Destination 'hook' failed: the server's TLS certificate is not trusted "
        "(self-signed certificate); if it is yours, name its CA in the destination's ca_bundle."
    ]
    assert box.logins == [] and box.messages == []  # the password never left
    with store.state() as con:
        assert not state.was_sent(con, ANOMALY.id, "hook")
    # Trusting the server's own certificate as the CA bundle: verified, logged in, sent.
    results = route(store, mail_rules(port, ca_bundle=str(self_signed.cert)), Secrets(SMTP_LOGIN))
    assert [r.outcome for r in results] == ["sent (1 attempt(s))"]
    assert box.logins == [(b"bot", b"s3cret-smtp")] and len(box.messages) == 1


def test_smtp_failures_name_the_cause(
    tmp_path: Path, smtp_tls: tuple[Mailbox, int], self_signed: Certificate
) -> None:
    box, port = smtp_tls
    store = stored(tmp_path)
    trusted = mail_rules(port, ca_bundle=str(self_signed.cert))
    wrong = Secrets({**SMTP_LOGIN, "SMTP_PASSWORD": "wrong"})
    assert [r.outcome for r in route(store, trusted, wrong)] == [
        "failed: Destination 'hook' failed: authentication refused (SMTP 535): check its "
        "username and password."
    ]
    closed = mail_rules(free_port())
    assert [r.outcome for r in route(store, closed, Secrets(SMTP_LOGIN))] == [
        "failed: Destination 'hook' failed after 1 attempt: connection refused."
    ]
    no_tls = mail_rules(port, starttls=False)
    with pytest.raises(AnomalyError) as refused:
        route(store, no_tls, Secrets(SMTP_LOGIN))
    assert str(refused.value) == (
        "Nothing was sent: 1 destination is not ready:\n"
        "  Destination 'hook' would send its password without TLS: set starttls: true (or drop "
        "username and password for a relay that needs none)."
    )
    assert box.messages == []


def test_https_verifies_the_certificate_and_a_ca_bundle_trusts_it(
    tmp_path: Path, self_signed: Certificate
) -> None:
    store = stored(tmp_path)
    with serving(self_signed.server_context()) as https:
        env = {"SLACK_URL": https.url + "/slack"}
        chat = {"type": "slack", "url_env": "SLACK_URL", "retries": 0}
        config = rules({"hook": {"type": "webhook", "url_env": "HOOK"}, "chat": chat})
        assert [r.outcome for r in route(store, config, Secrets(env))] == [
            "failed: Destination 'chat' failed: the server's TLS certificate is not trusted "
            "(self-signed certificate); if it is yours, name its CA in the destination's "
            "ca_bundle."
        ]
        assert https.requests == []
        config = rules(
            {
                "hook": {"type": "webhook", "url_env": "HOOK"},
                "chat": {**chat, "ca_bundle": str(self_signed.cert)},
            }
        )
        assert [r.outcome for r in route(store, config, Secrets(env))] == ["sent (1 attempt(s))"]
        assert [path for path, _, _ in https.requests] == ["/slack"]


def test_a_redirect_is_not_followed_and_the_anomaly_stays_unsent(
    tmp_path: Path, http: Recorder
) -> None:
    store = stored(tmp_path)
    with serving() as elsewhere:
        http.replies["/hook"] = [302]
        http.location = f"http://localhost:{elsewhere.server_address[1]}/collect"
        config = rules(
            {"hook": {"type": "webhook", "url_env": "HOOK", "token_env": "TOKEN"}}, teams={}
        )
        results = route(store, config, Secrets({"HOOK": http.url + "/hook", "TOKEN": "s3cret"}))
        assert [r.outcome for r in results] == [
            "failed: Destination 'hook' answered HTTP 302 Found (a redirect to localhost); "
            "redirects are not followed: set the destination's URL to the final address."
        ]
        assert elsewhere.requests == []  # the token went nowhere else
    with store.state() as con:
        assert not state.was_sent(con, ANOMALY.id, "hook")


def test_http_failures_name_the_cause(
    tmp_path: Path, http: Recorder, smtp: tuple[Mailbox, int]
) -> None:
    store = stored(tmp_path)
    http.replies["/hook"] = [401]
    config = rules({"hook": {"type": "webhook", "url_env": "HOOK", "retries": 1}}, teams={})
    results = route(store, config, Secrets({"HOOK": http.url + "/hook"}))
    assert [r.outcome for r in results] == [
        "failed: Destination 'hook' refused the message: HTTP 401 Unauthorized: check its "
        "credentials."
    ]
    closed = f"http://127.0.0.1:{free_port()}/hook"
    results = route(store, config, Secrets({"HOOK": closed}))
    assert [r.outcome for r in results] == [
        "failed: Destination 'hook' failed after 2 attempts: connection refused."
    ]
    not_http = f"http://127.0.0.1:{smtp[1]}/hook"  # an SMTP server greets instead
    results = route(store, config, Secrets({"HOOK": not_http}))
    assert [r.outcome for r in results] == [
        "failed: Destination 'hook' failed: the server's answer is not HTTP (BadStatusLine); "
        "check its URL and port."
    ]


def test_every_destination_is_checked_before_anything_is_sent(
    tmp_path: Path, http: Recorder
) -> None:
    store = stored(tmp_path)
    secret = "hxxps://hooks.example/services/T000/B000/s3cret"
    config = rules(
        {
            "hook": {"type": "webhook", "url_env": "HOOK"},
            "chat": {"type": "slack", "url_env": "SLACK_URL"},
            "msteams": {"type": "teams", "url_secret": "teams-url"},
            "tickets": {"type": "jira", "url": http.url, "project": "FIN",
                        "user_env": "JIRA_USER", "token_env": "JIRA_TOKEN"},
            "ok": {"type": "webhook", "url_env": "OK_URL", "ca_bundle": str(tmp_path / "none.pem")},
        },
        teams={"payments": {"notify": ["chat", "msteams", "tickets", "ok", "hook"]}},
    )  # fmt: skip
    env = {"SLACK_URL": secret, "JIRA_USER": "bot", "OK_URL": http.url, "HOOK": http.url}
    with pytest.raises(AnomalyError) as not_ready:
        route(store, config, Secrets(env))
    assert str(not_ready.value) == (
        "Nothing was sent: 4 destinations are not ready:\n"
        "  Destination 'chat': its URL (from environment variable SLACK_URL) is not an http:// "
        "or https:// URL with a host; check that value.\n"
        "  Destination 'msteams' has no url: set secret 'teams-url' of the secrets file.\n"
        "  Destination 'tickets' has no token: set environment variable JIRA_TOKEN.\n"
        f"  Destination 'ok': ca_bundle {tmp_path / 'none.pem'} cannot be read as PEM "
        "certificates."
    )
    assert secret not in str(not_ready.value)
    assert http.requests == []  # not even the destination that was ready


def test_dry_run_shows_the_exact_message_and_sends_nothing(
    cli, tmp_path: Path, http: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    data_dir = tmp_path / "lake"
    stored(tmp_path)
    rules_file = tmp_path / "monitors.yaml"
    rules_file.write_text(
        "monitors: [{name: services, dimensions: [ServiceName], notify: [chat]}]\n"
        "destinations:\n  chat: {type: slack, url_env: SLACK_URL}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("SLACK_URL", http.url + "/slack")
    preview = cli("anomalies", "notify", "--rules", rules_file, "--dry-run", data=data_dir)
    assert preview.exit_code == 0, preview.output
    head, *body = preview.stdout.splitlines()
    assert head == f"{ANOMALY.id} -> chat: would send"
    assert http.requests == []
    sent = cli("anomalies", "notify", "--rules", rules_file, data=data_dir)
    assert sent.stdout == f"{ANOMALY.id} -> chat: sent (1 attempt(s))\n"
    assert json.loads("\n".join(line[4:] for line in body)) == http.requests[0][2]
    monkeypatch.delenv("SLACK_URL")
    store = Store(data_dir)
    with store.state() as con:
        state.save(con, [state.Anomaly(**{**ANOMALY.as_dict(), "id": "", "value": "Amazon S3"})])
    missing = cli("anomalies", "notify", "--rules", rules_file, "--dry-run", data=data_dir)
    assert missing.exit_code == 1
    assert missing.stdout.endswith(
        "-> chat: not ready: Destination 'chat' has no url: set environment variable SLACK_URL.\n"
    )
