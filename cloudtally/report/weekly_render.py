"""The weekly summary as Markdown, Slack Block Kit, a Teams Adaptive Card, an email (HTML with
a plain-text part and the trend chart as an inline image) and JSON. Renderers only render:
every number comes from `weekly.WeeklySummary`. Values from the data are escaped for each
format, so a service or account name can never become markup, a mention or a link."""

from __future__ import annotations

import html
from decimal import Decimal
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from cloudtally.anomaly.messages import slack_text
from cloudtally.charts import render_png
from cloudtally.charts.trend import daily_trend
from cloudtally.output import plain
from cloudtally.report.weekly import WeeklySummary


def _m(value: Decimal) -> str:
    return f"{value:,.2f}"


def _pct(value: float | None) -> str:
    return "" if value is None else f" ({value:+.1%})"


def markdown_text(text: object) -> str:
    """Data as literal Markdown text."""
    out = str(text)
    for ch in "\\`*_[]<>|#":
        out = out.replace(ch, "\\" + ch)
    return out.replace("\n", " ")


def headline(s: WeeklySummary) -> str:
    return (
        f"{s.week} ({s.first_day}..{s.last_day}): {_m(s.total)} {s.currency}, "
        f"{'+' if s.change >= 0 else ''}{_m(s.change)} vs {s.previous}{_pct(s.change_pct)}"
    )


def _lines(s: WeeklySummary, esc: Any) -> dict[str, list[str]]:
    """The summary's sections as lines of text, data escaped by `esc`."""
    sections: dict[str, list[str]] = {}
    sections["Top movers"] = [
        f"{esc(m['service'])}: {_m(m[s.previous])} -> {_m(m[s.week])} ({'+' if m['change'] >= 0 else ''}{_m(m['change'])})"
        for m in s.movers
    ] or ["No service moved."]
    sections["Top services"] = [f"{esc(name)}: {_m(cost)}" for name, cost in s.services]
    sections["Top accounts"] = [
        f"{esc(name or account)} ({esc(account)}): {_m(cost)}" for account, name, cost in s.accounts
    ]
    share = f" ({float(s.unowned / s.total):.1%})" if s.total else ""
    sections["Untagged spend and unknown owners"] = [
        f"{_m(s.unowned)} {s.currency}{share} has no owning team."
    ] + [f"{esc(name or account)}: {_m(cost)}" for account, name, cost in s.unowned_accounts]
    sections["Open anomalies"] = [
        f"{esc(a['series'])} ({a['kind']}, since {a['since']}, {a['age_days']} days): impact "
        f"{_m(a['impact'])}, owner {esc(a['owner'] or 'unknown')}, {a['status']}"
        for a in s.anomalies
    ] or ["None open."]
    if s.budgets:
        sections["Budgets at risk"] = [
            f"{esc(b['budget'])}: {b['status']}, {b.get('detail', '')}" for b in s.budgets
        ]
    if s.actions:
        sections["Actions in progress"] = [
            f"{esc(a['title'])} ({esc(a['id'])}): {a['status']}, owner "
            f"{esc(a['owner'] or 'unknown')}, estimated {_m(a['estimate'])} a month"
            for a in s.actions
        ]
    return sections


def to_markdown(s: WeeklySummary) -> str:
    out = [f"# Cloud spend, week {s.week}", "", headline(s), ""]
    out += [f"> {n}" for n in s.notes]
    for title, lines in _lines(s, markdown_text).items():
        out += [f"## {title}", "", *(f"- {line}" for line in lines), ""]
    return "\n".join(out)


def to_slack(s: WeeklySummary) -> dict[str, Any]:
    """A Slack message in Block Kit."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Cloud spend, week {s.week}"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{slack_text(headline(s))}*"}},
    ]
    for title, lines in _lines(s, slack_text).items():
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*{title}*\n" + "\n".join(f"• {line}" for line in lines),
                },
            }
        )
    return {"text": f"Cloud spend, week {s.week}", "blocks": blocks}


def to_teams(s: WeeklySummary) -> dict[str, Any]:
    """A Teams message holding an Adaptive Card."""
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "size": "Large",
            "weight": "Bolder",
            "text": f"Cloud spend, week {s.week}",
        },
        {"type": "TextBlock", "wrap": True, "text": markdown_text(headline(s))},
    ]
    # TextBlocks read Markdown: data is escaped so `[x](https://...)` stays text.
    for title, lines in _lines(s, markdown_text).items():
        body.append({"type": "TextBlock", "weight": "Bolder", "text": title, "spacing": "Medium"})
        body += [{"type": "TextBlock", "wrap": True, "text": "- " + line} for line in lines]
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}
        ],
    }


def to_email(s: WeeklySummary, sender: str, to: list[str]) -> EmailMessage:
    """An email: a plain-text part and an HTML part with the trend chart inline."""
    message = EmailMessage()
    message["Subject"] = f"[cloudtally] Cloud spend, week {s.week}"
    message["From"] = sender
    message["To"] = ", ".join(to)
    message.set_content(to_markdown(s))
    chart_id = make_msgid(domain="cloudtally.local")
    parts = [
        f"<h1>Cloud spend, week {html.escape(s.week)}</h1>",
        f"<p><b>{html.escape(headline(s))}</b></p>",
    ]
    parts.append(
        f'<p><img src="cid:{chart_id[1:-1]}" alt="daily spend, last five weeks" width="560"></p>'
    )
    for title, lines in _lines(s, html.escape).items():
        parts.append(
            f"<h3>{html.escape(title)}</h3><ul>"
            + "".join(f"<li>{line}</li>" for line in lines)
            + "</ul>"
        )
    message.add_alternative("<html><body>" + "".join(parts) + "</body></html>", subtype="html")
    chart = render_png(
        daily_trend(s.daily, title=f"Daily spend, {s.currency}", currency=s.currency)
    )
    for part in message.iter_parts():
        if part.get_content_type() == "text/html":
            part.add_related(chart, "image", "png", cid=chart_id)
    return message


def to_json(s: WeeklySummary) -> dict[str, Any]:
    return plain(
        {
            "week": s.week,
            "previous_week": s.previous,
            "first_day": s.first_day,
            "last_day": s.last_day,
            "currency": s.currency,
            "total": s.total,
            "previous_total": s.previous_total,
            "change": s.change,
            "top_movers": s.movers,
            "top_services": [{"service": n, "cost": c} for n, c in s.services],
            "top_accounts": [
                {"account": a, "account_name": n, "cost": c} for a, n, c in s.accounts
            ],
            "unowned": s.unowned,
            "unowned_accounts": [
                {"account": a, "account_name": n, "cost": c} for a, n, c in s.unowned_accounts
            ],
            "open_anomalies": s.anomalies,
            "budgets_at_risk": s.budgets,
            "actions_in_progress": s.actions,
            "notes": s.notes,
        }
    )
