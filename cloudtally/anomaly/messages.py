"""The messages `anomalies notify` sends: Slack, Microsoft Teams, email, webhook, Jira,
ServiceNow. Pure functions, so tests (and `notify --dry-run`) show exactly what is sent.

Data is data here too. Values come from billing data and tags (a service name, a tag value,
an account name), so each value is escaped for the place it lands before it is put into a
message: one line (control characters, CR and LF shown as `\\xNN`, so a value cannot add
lines, fake fields or reach another email header), and then

- Slack mrkdwn: `&`, `<` and `>` as entities, so `<!channel>`, `<@U123>` and disguised links
  `<https://evil|Click>` show as text (Slack's "Escaping text" rule);
- Teams: data goes into `TextRun`s of a `RichTextBlock`, which Adaptive Cards never read as
  Markdown, so `[Click](https://evil)` stays text;
- Jira (REST API v2 takes wiki markup): the characters that make links, mentions, macros and
  images (`[ ] { } | !`) and text effects are backslash-escaped;
- ServiceNow: `[code]` tags, which would let HTML through in journal fields, are broken;
- email: plain text only (no HTML part), header values on one line;
- the generic webhook: JSON, values as they are (its consumers are programs).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from email.message import EmailMessage
from typing import Any

from cloudtally.anomaly import state
from cloudtally.anomaly.config import EmailDestination, JiraDestination, ServiceNowDestination
from cloudtally.output import plain, visible

Escape = Callable[[object], str]


def one_line(value: object) -> str:
    """A value on one line: control characters (CR and LF too) as visible escapes."""
    return visible(value)


def slack_text(value: object) -> str:
    """A value for Slack mrkdwn: no mentions, no links, one line.

    >>> slack_text("<!channel> see <https://evil.example|the bill> & pay")
    '&lt;!channel&gt; see &lt;https://evil.example|the bill&gt; &amp; pay'
    """
    return one_line(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_JIRA_SPECIAL = re.compile(r"([\\\[\]{}|!*_~^+?#-])")


def jira_text(value: object) -> str:
    """A value for Jira wiki markup: links, mentions, macros and images escaped.

    >>> jira_text("[~admin] {html}<b>x</b>{html} [pay|https://evil.example] !https://t.example/p.png!")
    '\\\\[\\\\~admin\\\\] \\\\{html\\\\}<b>x</b>\\\\{html\\\\} \\\\[pay\\\\|https://evil.example\\\\] \\\\!https://t.example/p.png\\\\!'
    """
    return _JIRA_SPECIAL.sub(r"\\\1", one_line(value))


_SNOW_CODE = re.compile(r"\[(/?)(code)\]", re.IGNORECASE)


def servicenow_text(value: object) -> str:
    """A value for a ServiceNow text field: `[code]` (raw HTML in journals) broken.

    >>> servicenow_text("[code]<img src=x onerror=alert(1)>[/CODE]")
    '[ code]<img src=x onerror=alert(1)>[ /CODE]'
    """
    return _SNOW_CODE.sub(r"[ \1\2]", one_line(value))


def describe(a: Any, esc: Escape = one_line) -> str:
    """One line a person acts on.

    >>> from types import SimpleNamespace as S
    >>> describe(S(kind="spike", dimension="ServiceName", value="Amazon EC2", actual=500,
    ...            expected=100, impact=400, days=1, score=9.5, monitor="services"))
    'Spike in ServiceName Amazon EC2: 500.00 vs 100.00 expected (+400.00, +400%) [services]'
    """
    kind = {"spike": "Spike", "level-shift": "Step up", "new-spend": "New spend"}.get(
        a.kind, esc(a.kind)
    )
    rel = f", +{float(a.impact) / float(a.expected):.0%}" if float(a.expected) > 0 else ""
    lasting = f", {a.days} days so far" if a.days > 1 else ""
    if getattr(a, "first_seen", None) and a.first_seen != a.date:
        lasting += f", first seen {a.first_seen}"
    return (
        f"{kind} in {esc(a.dimension)} {esc(a.value)}: {float(a.actual):,.2f} vs "
        f"{float(a.expected):,.2f} expected (+{float(a.impact):,.2f}{rel}{lasting}) "
        f"[{esc(a.monitor)}]"
    )


def cause_lines(a: state.Anomaly, limit: int = 5, esc: Escape = one_line) -> list[str]:
    return [
        f"{esc(c['dimension'])} {esc(c['value'])}: {c['share']:.0%} of the excess "
        f"({c['actual']:,.2f} vs {c['expected']:,.2f})"
        for c in a.root_causes[:limit]
    ]


def owner_of(a: state.Anomaly, esc: Escape = one_line) -> str:
    return esc(a.owner) if a.owner else "unknown"


def slack_payload(a: state.Anomaly) -> dict[str, Any]:
    """Slack incoming webhook, Block Kit."""
    line = describe(a, slack_text)
    causes = "\n".join(f"• {c}" for c in cause_lines(a, esc=slack_text))
    return {
        "text": line,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": f"Cost anomaly {a.id}"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": line}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*Date*\n{a.date}"},
                    {"type": "mrkdwn", "text": f"*Owner*\n{owner_of(a, slack_text)}"},
                    {"type": "mrkdwn", "text": f"*Impact*\n{a.impact:,.2f} on the day"},
                    {"type": "mrkdwn", "text": f"*Score*\n{a.score:g}"},
                ],
            },
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*Root causes*\n{causes or '• no breakdown available'}",
                },
            },
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


def _runs(*parts: str | tuple[str, bool]) -> dict[str, Any]:
    """A RichTextBlock of TextRuns (never Markdown); (text, True) is bold."""
    inlines = []
    for part in parts:
        body, bold = part if isinstance(part, tuple) else (part, False)
        run: dict[str, Any] = {"type": "TextRun", "text": body}
        if bold:
            run["weight"] = "Bolder"
        inlines.append(run)
    return {"type": "RichTextBlock", "inlines": inlines}


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
                        _runs(describe(a)),
                        {
                            "type": "FactSet",
                            "facts": [
                                {"title": "Date", "value": str(a.date)},
                                {"title": "Impact", "value": f"{a.impact:,.2f}"},
                                {"title": "Score", "value": f"{a.score:g}"},
                            ],
                        },
                        _runs(("Owner: ", True), owner_of(a)),
                        *[_runs(f"- {line}") for line in cause_lines(a)],
                    ],
                },
            }
        ],
    }


def webhook_payload(a: state.Anomaly) -> dict[str, Any]:
    """The generic JSON webhook: the anomaly as `anomalies list --format json` shows it."""
    return {"event": "cost_anomaly", "anomaly": plain(a.as_dict())}


def text_body(a: state.Anomaly, esc: Escape = one_line) -> str:
    lines = [describe(a, esc), "", f"Date: {a.date}", f"Owner: {owner_of(a, esc)}", ""]
    if a.root_causes:
        lines += ["Root causes:", *(f"  - {line}" for line in cause_lines(a, esc=esc))]
    if a.evidence:
        lines += ["", "Top line items:"]
        lines += [
            f"  - {esc(e['resource'] or '(no resource)')} {esc(e['sku'] or '')}: {e['cost']:,.2f}"
            for e in a.evidence
        ]
    lines += [
        "",
        f"Acknowledge: cloudtally anomalies ack {a.id}",
        f"Planned? cloudtally anomalies feedback {a.id} expected --until YYYY-MM-DD",
    ]
    return "\n".join(lines)


def summary(a: state.Anomaly, esc: Escape = one_line) -> str:
    """The one-line title of a ticket or an email."""
    return f"Cost anomaly {a.id}: {esc(a.dimension)} {esc(a.value)} on {a.date}"


def jira_payload(a: state.Anomaly, dest: JiraDestination) -> dict[str, Any]:
    """Jira REST API v2 `POST /rest/api/2/issue` (v2 reads the description as wiki markup;
    the summary is plain text on one line)."""
    return {
        "fields": {
            "project": {"key": dest.project},
            "summary": summary(a),
            "description": text_body(a, jira_text),
            "issuetype": {"name": dest.issue_type},
            "labels": list(dest.labels),
        }
    }


def servicenow_payload(a: state.Anomaly, dest: ServiceNowDestination) -> dict[str, Any]:
    """ServiceNow Table API `POST /api/now/table/incident`."""
    payload = {
        "short_description": summary(a, servicenow_text),
        "description": text_body(a, servicenow_text),
        "category": "cost",
        "impact": "3",
        "urgency": "3",
        "correlation_id": a.id,
    }
    if dest.assignment_group:
        payload["assignment_group"] = dest.assignment_group
    return payload


def email_message(a: state.Anomaly, dest: EmailDestination) -> EmailMessage:
    """A plain-text email; every header value is one line (the models refuse CR/LF in the
    addresses, and data values are escaped)."""
    message = EmailMessage()
    message["Subject"] = f"[cloudtally] {summary(a)}"
    message["From"] = dest.sender
    message["To"] = ", ".join(dest.to)
    message["X-Cloudtally-Anomaly"] = a.id
    message.set_content(text_body(a))
    return message
