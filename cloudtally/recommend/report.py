"""`cloudtally recommend` as a typed result, and the one-page brief of a recommendation."""

from __future__ import annotations

from decimal import Decimal

from cloudtally.output import exact
from cloudtally.recommend.engine import Recommendation, recommendations
from cloudtally.results import Column, Result
from cloudtally.store import Store

COLUMNS = [
    Column("id", "text", "stable id (for `recommend brief ID` and `savings add`)"),
    Column("kind", "text", "what kind of finding"),
    Column("title", "text", "what to do"),
    Column("owner", "text", "owning team (team tag)"),
    Column("monthly_savings", "money", "estimated savings per month (see assumption)"),
    Column("confidence", "text", "high, medium or low"),
    Column("resources", "json", "the resource ids", table=False),
    Column("assumption", "text", "the assumption behind the estimate", table=False),
    Column("currency", "text", "BillingCurrency", table=False),
    Column("evidence", "json", "line items of the period behind it", table=False),
]


def recommend_result(store: Store, *, period: str | None = None) -> Result:
    chosen, found = recommendations(store, period=period)
    rows = [
        (
            r.id,
            r.kind,
            r.title,
            r.owner,
            r.monthly_savings,
            r.confidence,
            r.resources,
            r.assumption,
            r.currency,
            r.evidence,
        )
        for r in found
    ]
    result = Result(title=f"Recommendations from {chosen}", columns=COLUMNS, rows=rows)
    by_currency: dict[str, Decimal] = {}
    for r in found:
        by_currency[r.currency] = by_currency.get(r.currency, Decimal(0)) + (
            r.monthly_savings or Decimal(0)
        )
    for currency, total in sorted(by_currency.items()):
        result.totals[f"estimated savings per month ({currency})"] = total
    result.notes.append(
        "Estimates rest on the assumption each states (`cloudtally recommend brief ID`); track "
        "one with `cloudtally savings add --from-recommendation ID`, which measures what it "
        "really saves."
    )
    return result


def brief(rec: Recommendation, period: str) -> str:
    """A one-page Markdown brief: what, why, evidence, assumptions, impact, risk, verify."""
    saving = (
        f"{rec.monthly_savings:,.2f} {rec.currency} per month"
        if rec.monthly_savings is not None
        else "not estimated"
    )
    lines = [
        f"# {rec.title}",
        "",
        f"Recommendation `{rec.id}` ({rec.kind}), from billing period {period}. Owner: "
        f"{rec.owner or 'unknown'}. Confidence: {rec.confidence}.",
        "",
        "## What",
        "",
        rec.title + ".",
        "",
        "## Why",
        "",
        rec.why,
        "",
        "## Evidence",
        "",
        "| resource | service | SKU | meter | quantity | unit | cost | days |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in rec.evidence:
        lines.append(
            f"| {e['resource']} | {e['service']} | {e['sku'] or ''} | {e['meter'] or ''} | "
            f"{exact(e['quantity']) if e['quantity'] is not None else ''} | {e['unit'] or ''} | "
            f"{exact(e['cost'])} | {e['first_day']}..{e['last_day']} |"
        )
    if not rec.evidence:
        lines.append("| (no line items with a resource id) | | | | | | | |")
    lines += [
        "",
        "## Assumptions",
        "",
        f"The estimate assumes {rec.assumption}.",
        "",
        "## Impact",
        "",
        f"Estimated savings: {saving}.",
        "",
        "## Risk",
        "",
        rec.risk,
        "",
        "## How to verify",
        "",
        rec.verify,
        f" Track it: `cloudtally savings add --from-recommendation {rec.id} --ticket URL`, then "
        f"`cloudtally savings set ID --status implemented --on DATE`.",
        "",
    ]
    return "\n".join(lines)
