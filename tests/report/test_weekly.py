"""The weekly summary: exact numbers, each format, values escaped for each channel."""

from __future__ import annotations

import email
import json
from pathlib import Path

import pytest

from tests.query.lake import Day, day_store

# Week 2024-W41 (Oct 7-13) against W40 (Sep 30 - Oct 6).
LINES = [
    *(
        Day(f"2024-10-{d:02d}", "10", service="<!channel> Compute", tags={"team": "web"})
        for d in range(1, 7)
    ),
    Day("2024-09-30", "10", service="<!channel> Compute", tags={"team": "web"}),
    *(
        Day(f"2024-10-{d:02d}", "12", service="<!channel> Compute", tags={"team": "web"})
        for d in range(7, 14)
    ),
    *(
        Day(f"2024-10-{d:02d}", "1", service="Storage", resource="s3", tags={})
        for d in range(7, 14)
    ),
]


@pytest.fixture
def week(store, tmp_path: Path, cli):  # type: ignore[no-untyped-def]
    day_store(store, tmp_path, LINES)
    return cli


def test_the_numbers(week) -> None:  # type: ignore[no-untyped-def]
    result = week("report", "weekly", "-f", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["week"], data["previous_week"], data["total"], data["previous_total"], data["change"]) == (
        "2024-W41", "2024-W40", "91", "70", "21",
    )  # fmt: skip
    assert data["unowned"] == "7"
    assert [(m["service"], m["change"]) for m in data["top_movers"]] == [
        ("<!channel> Compute", "14"),
        ("Storage", "7"),
    ]


def test_markdown_and_slack_escape_the_data(week) -> None:  # type: ignore[no-untyped-def]
    markdown = week("report", "weekly", "--week", "2024-W41").stdout
    assert markdown.splitlines()[:3] == [
        "# Cloud spend, week 2024-W41",
        "",
        "2024-W41 (2024-10-07..2024-10-13): 91.00 USD, +21.00 vs 2024-W40 (+30.0%)",
    ]
    assert "- \\<!channel\\> Compute: 70.00 -> 84.00 (+14.00)" in markdown
    slack = json.loads(week("report", "weekly", "-f", "slack").stdout)
    text = json.dumps(slack)
    assert "<!channel>" not in text and "&lt;!channel&gt; Compute" in text
    assert slack["blocks"][0]["type"] == "header"
    teams = json.loads(week("report", "weekly", "-f", "teams").stdout)
    assert teams["attachments"][0]["content"]["type"] == "AdaptiveCard"


def test_email_has_text_html_and_the_chart_inline(week) -> None:  # type: ignore[no-untyped-def]
    raw = week("report", "weekly", "-f", "email").stdout
    message = email.message_from_string(raw)
    types = [part.get_content_type() for part in message.walk()]
    assert types == [
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
    ]
    html = (
        next(p for p in message.walk() if p.get_content_type() == "text/html")
        .get_payload(decode=True)
        .decode()
    )
    png = next(p for p in message.walk() if p.get_content_type() == "image/png")
    assert f'src="cid:{png["Content-ID"][1:-1]}"' in html
    assert png.get_payload(decode=True)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "&lt;!channel&gt; Compute" in html


def test_a_week_that_is_not_a_week(week) -> None:  # type: ignore[no-untyped-def]
    result = week("report", "weekly", "--week", "2024-10")
    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        == "Error: --week '2024-10': give one ISO week, YYYY-Www (e.g. 2024-W43)."
    )


def test_teams_text_blocks_escape_the_data(week) -> None:  # type: ignore[no-untyped-def]
    teams = json.loads(week("report", "weekly", "-f", "teams", "--week", "2024-W41").stdout)
    texts = [b["text"] for b in teams["attachments"][0]["content"]["body"]]
    assert "- \\<!channel\\> Compute: 70.00 -> 84.00 (+14.00)" in texts
    assert not any("<!channel>" in t for t in texts)


def test_the_pack_csv_neutralises_formulas() -> None:
    from decimal import Decimal

    from cloudtally.report.pack import _csv

    assert _csv(["team", "cost"], [["=HYPERLINK(1)", Decimal("-12.50")]]) == (
        "team,cost\n'=HYPERLINK(1),-12.5\n"
    )


# Real servers on 127.0.0.1, the same as the anomaly notifications' tests.
from tests.anomaly.test_notify import Mailbox, Recorder, http, smtp  # noqa: E402, F401


def test_send_to_slack_and_email_for_real(  # type: ignore[no-untyped-def]
    week,
    http: Recorder,  # noqa: F811 - the fixture imported above
    smtp: tuple[Mailbox, int],  # noqa: F811
    tmp_path: Path,
    monkeypatch,
) -> None:
    box, port = smtp
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "monitors.yaml").write_text(
        "destinations:\n"
        "  leads: {type: slack, url_env: LEADS_SLACK_URL}\n"
        f"  finance: {{type: email, host: 127.0.0.1, port: {port}, starttls: false, sender: cost@example.com, to: [finance@example.com]}}\n"
        "  tickets: {type: jira, url: http://127.0.0.1:9, project: FIN, user_env: J_USER, token_env: J_TOKEN}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("LEADS_SLACK_URL", http.url + "/hooks/leads")
    dry = week("report", "weekly", "--rules", rules, "--send", "leads", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.startswith("Would send the 2024-W41 summary to leads:\n{")
    assert http.requests == []
    sent = week("report", "weekly", "--rules", rules, "--send", "leads")
    assert sent.exit_code == 0, sent.output
    assert sent.stdout.strip() == "Sent the 2024-W41 summary to leads."
    path, _headers, body = http.requests[0]
    assert (
        path == "/hooks/leads" and body["blocks"][0]["text"]["text"] == "Cloud spend, week 2024-W41"
    )
    mailed = week("report", "weekly", "--rules", rules, "--send", "finance")
    assert mailed.exit_code == 0, mailed.output
    sender, recipients, content = box.messages[0]
    message = email.message_from_bytes(content)
    assert (sender, recipients, message["Subject"]) == (
        "cost@example.com",
        ["finance@example.com"],
        "[cloudtally] Cloud spend, week 2024-W41",
    )
    assert [p.get_content_type() for p in message.walk()][-1] == "image/png"
    refused = week("report", "weekly", "--rules", rules, "--send", "tickets")
    assert refused.exit_code == 1
    assert (
        "Destination 'tickets' is a jira destination: reports go to slack, teams, webhook or email destinations."
        in refused.stderr
    )
    unknown = week("report", "weekly", "--rules", rules, "--send", "nobody")
    assert (
        "No destination 'nobody' in the monitors file (known: finance, leads, tickets)"
        in unknown.stderr
    )


def test_budgets_at_risk_and_actions_in_progress(week, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "budgets.yaml").write_text(
        "budgets:\n"
        "  - {id: web, scope: {team: web}, monthly: 100}\n"
        "  - {id: storage, scope: {service: Storage}, monthly: 1000}\n"
    )
    added = week("savings", "add", "Rightsize compute", "--where", "team=web", "--estimate", "30", "--owner", "web", "--on", "2024-10-08")  # fmt: skip
    assert added.exit_code == 0, added.stderr
    week("savings", "add", "Delete old snapshots", "--where", "service=Storage", "--estimate", "2", "--on", "2024-10-08")  # fmt: skip
    accepted = week("savings", "set", "S1", "--status", "accepted", "--on", "2024-10-09")
    assert accepted.exit_code == 0, accepted.stderr
    result = week("report", "weekly", "--rules", rules, "-f", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    # October to the 13th: web spent 6 x 10 + 7 x 12 = 144 of its 100; storage 7 of 1,000.
    assert [(b["budget"], b["status"], b["actual_to_date"]) for b in data["budgets_at_risk"]] == [
        ("web", "over", "144")
    ]
    assert [
        (a["id"], a["title"], a["status"], a["owner"]) for a in data["actions_in_progress"]
    ] == [("S1", "Rightsize compute", "accepted", "web")]
    markdown = week("report", "weekly", "--rules", rules, "-f", "markdown").stdout
    assert "web: over, 144.00 of 100.00 USD spent" in markdown
    assert "Rightsize compute (S1): accepted, owner web, estimated 30.00 a month" in markdown
