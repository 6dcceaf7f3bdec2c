"""What `savings list` and `savings show` answer, as typed results: every item with its
measured savings and evidence, and the share of claimed savings that has evidence."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from cloudtally.results import Column, Result
from cloudtally.savings import tracker
from cloudtally.savings.measure import Measurement, measure
from cloudtally.savings.scope import describe
from cloudtally.store import Store

CLAIMED = ("implemented", "realized")

LIST_COLUMNS = [
    Column("id", "text", "item id"),
    Column("title", "text", "what saves money"),
    Column("status", "text", "identified, accepted, implemented, realized, rejected"),
    Column("owner", "text", "owning team"),
    Column("estimate_per_month", "money", "the estimate given when the item was added"),
    Column("realized_per_month", "money", "measured from the data (never the estimate)"),
    Column("measurement", "text", "measured (method), not yet measurable, ..."),
    Column("eroding", "text", "yes when the latest month realizes under half the best"),
    Column("evidence", "text", "before/after measurement, ticket, owner: what it has"),
    Column("ticket", "text", "ticket URL", table=False),
    Column("scope", "text", "the cost lines it is about", table=False),
    Column("implemented_on", "date", "the date savings are measured from", table=False),
]


def _state(item: tracker.Item, m: Measurement) -> str:
    if item.status in ("identified", "accepted", "rejected"):
        return "-"
    if m.state == "not yet measurable":
        return "implemented, not yet measurable"
    if m.state == "no baseline":
        return "no baseline (no cost in scope before the implementation date)"
    return f"measured ({m.method})"


def evidence(item: tracker.Item, m: Measurement) -> dict[str, bool]:
    return {"measurement": m.measured, "ticket": bool(item.ticket), "owner": bool(item.owner)}


def _evidence_text(found: dict[str, bool]) -> str:
    missing = [k for k, v in found.items() if not v]
    return "complete" if not missing else "missing " + ", ".join(missing)


def list_items(store: Store) -> Result:
    with store.state() as con:
        items = tracker.items(con)
    rows = []
    claimed = with_evidence = Decimal(0)
    realized_total = Decimal(0)
    for item in items:
        m = measure(store, item)
        found = evidence(item, m)
        if item.status in CLAIMED:
            claimed += item.estimate
            if all(found.values()):
                with_evidence += item.estimate
        realized = m.realized_per_month if m.measured else None
        if realized is not None and item.status in CLAIMED:
            realized_total += realized
        rows.append(
            (
                item.id,
                item.title,
                item.status,
                item.owner,
                item.estimate,
                realized,
                _state(item, m),
                "yes" if m.eroding else "",
                _evidence_text(found),
                item.ticket,
                describe(item.scope),
                item.implemented_on,
            )
        )
    result = Result(title="Savings tracker", columns=LIST_COLUMNS, rows=rows)
    share = (with_evidence / claimed).quantize(Decimal("0.000001")) if claimed else None
    # (the same figure as tracker.evidence_share, which the KPI scorecard reads)
    result.totals.update(
        {
            "claimed savings per month (implemented or realized, estimates)": claimed,
            "realized savings per month (measured)": realized_total,
            "share of claimed savings with evidence (measurement, ticket, owner)": share,
        }
    )
    result.fraction_totals.add(
        "share of claimed savings with evidence (measurement, ticket, owner)"
    )
    if not items:
        result.notes.append(
            "No items yet: `cloudtally savings add TITLE --where ... --estimate ...`."
        )
    return result


SHOW_COLUMNS = [
    Column("month", "text", "calendar month"),
    Column("days", "count", "days measured in it"),
    Column("baseline_per_month", "money", "counterfactual cost of the scope those days"),
    Column("actual_per_month", "money", "its actual EffectiveCost those days"),
    Column("realized_per_month", "money", "baseline - actual"),
    Column("uncertainty", "money", "95% range of realized (+/-), from the baseline's noise"),
]


def show_item(store: Store, item_id: str) -> Result:
    with store.state() as con:
        item = tracker.get(con, item_id)
    m = measure(store, item)
    rows = [tuple(r[c.name] for c in SHOW_COLUMNS) for r in m.rows()]
    result = Result(title=f"{item.id}: {item.title}", columns=SHOW_COLUMNS, rows=rows)
    found = evidence(item, m)
    details: dict[str, Any] = {
        "status": item.status,
        "scope": describe(item.scope),
        "estimate per month": item.estimate,
        "owner": item.owner or "none",
        "ticket": item.ticket or "none",
        "identified on": item.identified_on,
        "implemented on": item.implemented_on or "not yet",
        "measurement": _state(item, m),
        "method": m.method or "none",
        "realized per month (all days measured)": m.realized_per_month,
        "eroding": "yes" if m.eroding else "no",
        "evidence": _evidence_text(found),
    }
    if item.source:
        details["from recommendation"] = item.source
    result.totals.update(details)
    if m.method_note:
        result.notes.append(f"Baseline ({m.method}): {m.method_note}.")
    for event in item.events:
        note = f" ({event['note']})" if event["note"] else ""
        forced = " [forced]" if event["forced"] else ""
        result.notes.append(f"{event['on']}: {event['status']}{note}{forced}")
    return result
