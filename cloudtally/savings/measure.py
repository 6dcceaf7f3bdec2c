"""Realized savings, measured from the billing data (never copied from the estimate).

From the implementation date D, each day's actual cost of the item's scope (EffectiveCost, so
commitment purchases count as they are used) is compared with a counterfactual baseline, what
the scope would have cost without the change, learned from the `BASELINE_DAYS` days before D:

- `unit-cost`, when the scope's usage has one unit and goes on after D at its volume (at least
  90% of its daily quantity before): the change was to the rate, so the counterfactual is the
  cost per unit before D times the quantity used that day. Usage that grows does not count as
  lost savings; a cheaper rate counts as savings.
- `run-rate`, otherwise (the change removed or cut the usage, or the scope has no single
  unit): the scope's average cost on that weekday before D, so weekends and weekdays are
  compared with their own kind. The usage cut is the saving.

Per calendar month: baseline_per_month, actual_per_month and realized_per_month = baseline -
actual over the days measured, with a 95% range from the baseline's day-to-day noise
(1.96 x its standard deviation x the square root of the days). An item whose latest full week
realizes less than half of its best week is flagged as eroding (the cost is coming back).
An item without data after D is "implemented, not yet measurable".
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from cloudtally.query.ownership import Lens, tag_policy
from cloudtally.savings.scope import scope_sql
from cloudtally.savings.tracker import Item
from cloudtally.sqltext import literal
from cloudtally.store import Store

BASELINE_DAYS = 28
VOLUME_KEPT = Decimal("0.9")  # usage after / before at which a change counts as a rate change
CENT = Decimal("0.01")


@dataclass
class Month:
    month: str
    days: int
    baseline: Decimal
    actual: Decimal
    uncertainty: Decimal

    @property
    def realized(self) -> Decimal:
        return self.baseline - self.actual


@dataclass
class Measurement:
    state: str  # measured | not yet measurable | not implemented | no baseline
    method: str | None = None
    method_note: str = ""
    months: list[Month] = field(default_factory=list)
    currency: str | None = None
    baseline_days: int = 0
    daily: list[tuple[date, Decimal, Decimal]] = field(
        default_factory=list
    )  # day, baseline, actual

    @property
    def measured(self) -> bool:
        return self.state == "measured"

    @property
    def realized_per_month(self) -> Decimal | None:
        """Realized savings per 30.4375 days, over every day measured."""
        days = sum(m.days for m in self.months)
        if not days:
            return None
        total = sum((m.realized for m in self.months), Decimal(0))
        return (total / days * Decimal("30.4375")).quantize(CENT)

    @property
    def eroding(self) -> bool:
        weeks = [
            sum((b - a for _, b, a in self.daily[n : n + 7]), Decimal(0))
            for n in range(0, len(self.daily) - 6, 7)
        ]
        if len(weeks) < 2:
            return False
        best = max(weeks)
        return best > 0 and weeks[-1] < best / 2

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "month": m.month,
                "days": m.days,
                "baseline_per_month": m.baseline.quantize(CENT),
                "actual_per_month": m.actual.quantize(CENT),
                "realized_per_month": m.realized.quantize(CENT),
                "uncertainty": m.uncertainty,
            }
            for m in self.months
        ]


def daily_sql(scope: str, start: date) -> str:
    return f"""
        SELECT CAST(ChargePeriodStart AS DATE) AS day, BillingCurrency AS currency,
               sum(EffectiveCost) AS cost,
               sum(ConsumedQuantity) AS quantity,
               list(DISTINCT ConsumedUnit) FILTER (WHERE ConsumedUnit IS NOT NULL) AS units
        FROM costs
        WHERE {scope} AND ChargePeriodStart >= CAST({literal(start.isoformat())} AS TIMESTAMPTZ)
        GROUP BY 1, 2 ORDER BY 1"""


def measure(store: Store, item: Item) -> Measurement:
    """The realized savings of an item, month by month, from its implementation date."""
    if item.implemented_on is None:
        return Measurement("not implemented")
    implemented = item.implemented_on
    start = implemented - timedelta(days=BASELINE_DAYS)
    con = store.connect()
    span = con.execute(
        "SELECT CAST(min(ChargePeriodStart) AS DATE), CAST(max(ChargePeriodStart) AS DATE) "
        "FROM costs WHERE ChargeCategory = 'Usage'"
    ).fetchone()
    if span is None or span[0] is None:
        return Measurement("not yet measurable")
    first_day, last_day = span
    lens = Lens("costs", tag_policy(store))
    rows = con.execute(daily_sql(scope_sql(item.scope, lens), start)).fetchall()
    currencies = sorted({r[1] for r in rows})
    currency = currencies[0] if currencies else None
    cost: dict[date, Decimal] = defaultdict(Decimal)
    quantity: dict[date, Decimal] = defaultdict(Decimal)
    units: set[str] = set()
    for day, row_currency, amount, used, unit_list in rows:
        if row_currency != currency:
            continue
        cost[day] += amount or Decimal(0)
        quantity[day] += used or Decimal(0)
        units.update(unit_list or [])
    before = [start + timedelta(days=n) for n in range(BASELINE_DAYS)]
    before = [d for d in before if first_day <= d <= last_day]
    after = [implemented + timedelta(days=n) for n in range((last_day - implemented).days + 1)]
    if not after:
        return Measurement("not yet measurable", currency=currency)
    if not before or not any(cost[d] for d in before):
        return Measurement("no baseline", currency=currency)
    quantity_before = sum((quantity[d] for d in before), Decimal(0))
    quantity_after = sum((quantity[d] for d in after), Decimal(0))
    per_day_before = quantity_before / len(before)
    per_day_after = quantity_after / len(after)
    if len(units) == 1 and quantity_before > 0 and per_day_after >= per_day_before * VOLUME_KEPT:
        unit = next(iter(units))
        rate = sum((cost[d] for d in before), Decimal(0)) / quantity_before
        method = "unit-cost"
        note = (
            f"cost per {unit} in the {len(before)} days before {implemented} "
            f"({rate.quantize(Decimal('0.000001'))}) x the {unit} used each day after"
        )

        def expected(day: date) -> Decimal:
            return rate * quantity[day]
    else:
        by_weekday: dict[int, list[Decimal]] = defaultdict(list)
        for d in before:
            by_weekday[d.weekday()].append(cost[d])
        overall = sum((cost[d] for d in before), Decimal(0)) / len(before)
        profile = {w: sum(v, Decimal(0)) / len(v) for w, v in by_weekday.items()}
        method = "run-rate"
        note = f"average cost of the same weekday in the {len(before)} days before {implemented}"

        def expected(day: date) -> Decimal:
            return profile.get(day.weekday(), overall)

    residuals = [float(cost[d] - expected(d)) for d in before]
    sigma = statistics.pstdev(residuals) if len(residuals) > 1 else 0.0
    months: dict[str, list[date]] = defaultdict(list)
    for d in after:
        months[d.strftime("%Y-%m")].append(d)
    measured = [
        Month(
            month,
            len(days),
            sum((expected(d) for d in days), Decimal(0)),
            sum((cost[d] for d in days), Decimal(0)),
            Decimal(str(round(1.96 * sigma * math.sqrt(len(days)), 2))).quantize(CENT),
        )
        for month, days in sorted(months.items())
    ]
    daily = [(d, expected(d), cost[d]) for d in after]
    return Measurement("measured", method, note, measured, currency, len(before), daily)
