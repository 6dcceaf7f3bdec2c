"""The weekly summary's numbers: what engineering leaders read on Monday.

One typed result, from the query layer: the week's spend against the week before, top movers,
top services and accounts, untagged spend and unknown owners, open anomalies with their owner
and age, and (from the parts of the product that hold them) budgets at risk and actions in
progress.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from cloudtally.errors import QueryError
from cloudtally.query.costs import grouped_costs
from cloudtally.query.movers import top_movers
from cloudtally.query.ownership import lens_for
from cloudtally.query.periods import DateRange, parse_range, require_data
from cloudtally.store import Store

TOP = 5


@dataclass
class WeeklySummary:
    week: str
    previous: str
    first_day: date
    last_day: date
    currency: str
    total: Decimal
    previous_total: Decimal
    daily: list[tuple[date, Decimal]]  # the last five weeks, for the chart
    movers: list[dict[str, Any]]
    services: list[tuple[str, Decimal]]
    accounts: list[tuple[str, str | None, Decimal]]
    unowned: Decimal
    unowned_accounts: list[tuple[str, str | None, Decimal]]
    anomalies: list[dict[str, Any]]
    budgets: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def change(self) -> Decimal:
        return self.total - self.previous_total

    @property
    def change_pct(self) -> float | None:
        return float(self.change / self.previous_total) if self.previous_total else None


def last_complete_week(store: Store) -> str:
    """The newest ISO week whose every day has data."""
    span = require_data(store.connect(), None)
    day = span.last_day
    # A week is complete when its Sunday has data.
    sunday = day - timedelta(days=day.isoweekday() % 7)
    year, week, _ = sunday.isocalendar()
    return f"{year}-W{week:02d}"


def weekly_summary(
    store: Store, week: str | None = None, *, rules_dir: Path | None = None
) -> WeeklySummary:
    """The summary of ISO week `week` (default: the newest complete one)."""
    text = week or last_complete_week(store)
    when = parse_range(text)
    if when is None or when.grain != "week" or when.days != 7:
        raise QueryError(f"--week {text!r}: give one ISO week, YYYY-Www (e.g. 2024-W43).")
    before = when.previous()
    con = store.connect()
    require_data(con, when)
    totals = grouped_costs(store, ["currency"], when=when, metric_name="EffectiveCost")
    if not totals.rows:
        raise QueryError(f"No cost data in {when.label()}.")
    currency = max(totals.total_by_currency, key=lambda c: totals.total_by_currency[c])
    notes = []
    if len(totals.total_by_currency) > 1:
        notes.append(
            f"The week holds {len(totals.total_by_currency)} currencies; this summary shows "
            f"{currency}, the largest."
        )
    where = {"currency": [currency]}
    previous = grouped_costs(
        store, ["currency"], when=before, metric_name="EffectiveCost", filters=where
    )
    five = DateRange(when.first - timedelta(days=28), when.last, "day")
    daily = [
        (r[0], r[2])
        for r in grouped_costs(
            store, ["day"], when=five, metric_name="EffectiveCost", filters=where
        ).rows
    ]
    daily.sort()
    movers = top_movers(
        store, ["service"], when=when, metric_name="EffectiveCost", top=TOP, filters=where
    )
    mover_rows = [dict(zip(movers.columns, r, strict=True)) for r in movers.rows]
    services = grouped_costs(
        store, ["service"], when=when, metric_name="EffectiveCost", top=None, filters=where
    )
    accounts = grouped_costs(
        store, ["account"], when=when, metric_name="EffectiveCost", filters=where
    )
    lens = lens_for(store, ["team"], rules_dir=rules_dir)
    unowned = grouped_costs(
        store, ["account"], when=when, metric_name="EffectiveCost", rules_dir=rules_dir,
        filters={**where, "team": ["(none)"]}, lens=lens,
    )  # fmt: skip
    if lens.note:
        notes.append(lens.note)
    return WeeklySummary(
        week=when.label(),
        previous=before.label(),
        first_day=when.first,
        last_day=when.last,
        currency=currency,
        total=totals.total_by_currency[currency],
        previous_total=previous.total_by_currency.get(currency, Decimal(0)),
        daily=daily,
        movers=mover_rows,
        services=[(r[0], r[2]) for r in services.rows[:TOP]],
        accounts=[(r[0], r[1], r[3]) for r in accounts.rows[:TOP]],
        unowned=unowned.total_by_currency.get(currency, Decimal(0)),
        unowned_accounts=[(r[0], r[1], r[3]) for r in unowned.rows[:TOP]],
        anomalies=_open_anomalies(store, when.last),
        budgets=_budgets_at_risk(store, when.last, rules_dir),
        actions=_actions_in_progress(store),
        notes=notes,
    )


def _budgets_at_risk(store: Store, day: date, rules_dir: Path | None) -> list[dict[str, Any]]:
    """Budgets of the week's month that are over or forecast to go over (budgets.yaml)."""
    if rules_dir is None or not (Path(rules_dir) / "budgets.yaml").is_file():
        return []
    from cloudtally.budgets.command import load_folder
    from cloudtally.budgets.status import budget_status

    report = budget_status(store, load_folder(Path(rules_dir)), period=day.strftime("%Y-%m"))
    return [
        {
            "budget": r.name,
            "status": r.status,
            "amount": r.amount,
            "actual_to_date": r.actual_to_date,
            "forecast": r.forecast,
            "currency": r.currency,
            "detail": f"{r.actual_to_date:,.2f} of {r.amount:,.2f} {r.currency} spent, "
            f"{r.forecast:,.2f} forecast for {r.period}",
        }
        for r in report.rows
        if r.status != "ok"
    ]


def _actions_in_progress(store: Store) -> list[dict[str, Any]]:
    """Savings items accepted or implemented and not yet realized (the savings tracker)."""
    from cloudtally.savings.tracker import read_items

    return [
        {
            "id": i.id,
            "title": i.title,
            "status": i.status,
            "owner": i.owner,
            "ticket": i.ticket,
            "estimate": i.estimate,
        }
        for i in read_items(store)
        if i.status in ("accepted", "implemented")
    ]


def _open_anomalies(store: Store, today: date) -> list[dict[str, Any]]:
    if not store.has_state():
        return []
    from cloudtally.anomaly import state

    with store.state() as con:
        found = state.load(con, status="open") + state.load(con, status="acknowledged")
    found.sort(key=lambda a: (-a.total_impact, a.id))
    return [
        {
            "id": a.id,
            "series": a.value,
            "kind": a.kind,
            "since": a.date,
            "age_days": (today - a.date).days,
            "impact": a.total_impact,
            "status": a.status,
            "owner": a.owner,
        }
        for a in found[:10]
    ]
