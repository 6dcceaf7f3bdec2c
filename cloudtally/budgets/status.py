"""`budget_status`: where each budget stands in a month: the amount, the actual cost to date
(exact), the month-to-date budget, the month-end forecast with its interval, and a status.

- `over`: the actual cost to date is above the month's budget;
- `at risk`: not yet, but the forecast is;
- `ok`: neither.

The thresholds of each budget (percent of the month's amount, on the actual or the forecast)
are listed as `breaches` when reached; `budgets notify` sends each once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from cloudtally.allocate.sql import match_sql
from cloudtally.budgets.config import BudgetError, BudgetPlan, Budgets, Scope, Threshold
from cloudtally.errors import QueryError
from cloudtally.forecast.history import (
    add_months,
    data_range,
    load_history,
    month_length,
    month_start,
    period_of,
)
from cloudtally.forecast.query import CENT, money, run_forecast
from cloudtally.query.ownership import EVERYTHING, Lens, lens_for
from cloudtally.query.ownership import Scope as Viewer
from cloudtally.sqltext import literal, literals
from cloudtally.store import Store

STATUSES = ("ok", "at risk", "over")


@dataclass(frozen=True)
class Breach:
    threshold: Threshold
    value: Decimal  # the actual or forecast that reached it
    limit: Decimal  # the threshold in money


@dataclass(frozen=True)
class BudgetRow:
    budget: str
    name: str
    scope: str
    period: str
    currency: str
    amount: Decimal  # the month's budget
    actual_to_date: Decimal  # exact
    mtd_budget: Decimal  # amount x days elapsed / days in the month
    forecast: Decimal  # estimate, rounded to cents (the actual once the month is over)
    lower_80: Decimal
    upper_80: Decimal
    lower_95: Decimal
    upper_95: Decimal
    status: str  # ok | at risk | over
    breaches: tuple[Breach, ...]
    parent: str | None

    @property
    def used(self) -> float | None:
        """Actual to date as a share of the amount."""
        return float(self.actual_to_date / self.amount) if self.amount else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "budget": self.budget,
            "name": self.name,
            "scope": self.scope,
            "period": self.period,
            "currency": self.currency,
            "amount": self.amount,
            "actual_to_date": self.actual_to_date,
            "mtd_budget": self.mtd_budget,
            "forecast": self.forecast,
            "lower_80": self.lower_80,
            "upper_80": self.upper_80,
            "lower_95": self.lower_95,
            "upper_95": self.upper_95,
            "status": self.status,
            "breaches": [b.threshold.label for b in self.breaches],
            "parent": self.parent,
        }


@dataclass
class BudgetReport:
    period: str
    as_of: date  # charges dated before this day count
    complete: bool  # the period is over: forecasts are the actuals
    rows: list[BudgetRow]
    warnings: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # budgets not in force in the period
    notes: list[str] = field(default_factory=list)  # how owners were read


def scope_sql(scope: Scope, lens: Lens) -> str:
    """A budget's scope as a condition over the lens's relation: owners and tags read and
    normalised as every other question reads them (`query.ownership`)."""
    terms = []
    for word in scope.ownership():
        values = [lens.normalise(word, v) for v in getattr(scope, word)]
        terms.append(f"CAST({lens.dimension(word).expr} AS VARCHAR) IN ({literals(values)})")
    if scope.account is not None:
        listed = literals(scope.account)
        terms.append(f"(SubAccountId IN ({listed}) OR SubAccountName IN ({listed}))")
    if scope.service is not None:
        terms.append(f"ServiceName IN ({literals(scope.service)})")
    if scope.provider is not None:
        terms.append(f"x_Provider IN ({literals(scope.provider)})")
    for key, values in (scope.tag or {}).items():
        terms.append(f"CAST({lens.tag_sql(key)} AS VARCHAR) IN ({literals(values)})")
    if scope.when is not None:
        terms.append(match_sql(scope.when))
    terms.append(lens.scope_sql())
    return " AND ".join(f"({t})" for t in terms if t != "true") or "true"


def budget_status(
    store: Store,
    budgets: Budgets,
    *,
    period: str | None = None,
    rules_dir: Path | None = None,
    viewer: Viewer = EVERYTHING,
) -> BudgetReport:
    """Each budget in force in `period` (default: the month of the newest charge's next day).

    Args:
        rules_dir: the rules folder whose tags.yaml normalises owners read from tags (default:
            the budgets file's folder).
        viewer: what the viewer may see; costs outside it count in no budget.
    """
    con = store.connect()
    owners = [w for p in budgets.plans for w in p.scope.ownership()]
    lens = lens_for(store, owners, rules_dir=rules_dir or budgets.path.parent, scope=viewer)
    source = str(lens)
    span = data_range(con, source)
    if span is None:
        raise BudgetError(
            "The lake has no charges: ingest data first with `cloudtally ingest PATH`."
        )
    first, last = span
    today = last + timedelta(days=1)
    current = period_of(today)
    period = period or current
    if not period_of(first) <= period <= current:
        raise BudgetError(
            f"--period {period} has no data: the lake's charges run from {first} to {last} "
            f"({period_of(first)} to {period_of(last)})."
        )
    complete = period < current
    as_of = add_months(month_start(period), 1) if complete else today
    report = BudgetReport(period, as_of, complete, [], notes=[lens.note] if lens.note else [])
    plans = []
    for plan in budgets.plans:
        if plan.amount(period) is None:
            report.skipped.append(plan.id)
        else:
            plans.append(plan)
    if not plans:
        return report
    conditions = {p.id: scope_sql(p.scope, lens) for p in plans}
    _check_scopes(con, source, plans, conditions, period, report)
    exact = _actuals(con, source, plans, conditions, period, as_of)
    forecasts = _forecasts(con, lens, plans, conditions, period, as_of, complete)
    days = month_length(month_start(period))
    elapsed = (as_of - month_start(period)).days
    for plan in plans:
        amount = plan.amount(period)
        assert amount is not None
        actual = exact.get(plan.id, Decimal(0))
        bands = (actual,) * 5 if complete else forecasts.get(plan.id, (actual,) * 5)
        forecast, lower_95, lower_80, upper_80, upper_95 = bands
        breaches = []
        for threshold in plan.thresholds:
            limit = (amount * threshold.at / 100).quantize(CENT)
            value = actual if threshold.on == "actual" else forecast
            if value >= limit and amount > 0:
                breaches.append(Breach(threshold, value, limit))
        status = "over" if actual > amount else "at risk" if forecast > amount else "ok"
        report.rows.append(
            BudgetRow(
                budget=plan.id,
                name=plan.name,
                scope=plan.scope.describe(),
                period=period,
                currency=plan.currency,
                amount=amount,
                actual_to_date=actual,
                mtd_budget=(amount * elapsed / days).quantize(CENT),
                forecast=forecast,
                lower_80=lower_80,
                upper_80=upper_80,
                lower_95=lower_95,
                upper_95=upper_95,
                status=status,
                breaches=tuple(breaches),
                parent=plan.parent,
            )
        )
    return report


def _check_scopes(
    con: Any,
    source: str,
    plans: list[BudgetPlan],
    conditions: dict[str, str],
    period: str,
    report: BudgetReport,
) -> None:
    """A scope that matches nothing is named (a warning); costs in another currency than the
    budget's are an error (the budget could not be compared with them)."""
    parts = ", ".join(
        f"count(*) FILTER (WHERE {conditions[p.id]}), "
        f"list(DISTINCT BillingCurrency) FILTER (WHERE {conditions[p.id]} "
        f"AND x_BillingPeriod <= {literal(period)})"
        for p in plans
    )
    try:
        row = con.execute(f"SELECT {parts} FROM {source}").fetchone()
    except Exception as exc:  # duckdb.Error: a scope naming a column that is not there
        raise QueryError(f"A budget's scope cannot be read: {str(exc).splitlines()[0]}") from None
    mixed = []
    for n, plan in enumerate(plans):
        count, currencies = row[2 * n], sorted(row[2 * n + 1] or [])
        if count == 0:
            report.warnings.append(
                f"Budget {plan.id!r}: its scope ({plan.scope.describe()}) matches no cost in the "
                "lake; check its spelling."
            )
        other = [c for c in currencies if c != plan.currency]
        if other:
            mixed.append(
                f"  budget {plan.id!r} is in {plan.currency} but its scope "
                f"({plan.scope.describe()}) has costs in {', '.join(currencies)}"
            )
    if mixed:
        raise BudgetError(
            "A budget has one currency and its scope's costs must be in it:\n"
            + "\n".join(mixed)
            + "\nNarrow the scope (for example by provider or account) or set the budget's "
            "currency."
        )


def _actuals(
    con: Any,
    source: str,
    plans: list[BudgetPlan],
    conditions: dict[str, str],
    period: str,
    as_of: date,
) -> dict[str, Decimal]:
    """Exact cost of the period dated before `as_of`, per budget (one scan)."""
    charged = (
        f"(ChargePeriodStart < CAST(DATE '{as_of}' AS TIMESTAMPTZ) OR "
        f"(ChargePeriodStart IS NULL AND x_BillingPeriod < {literal(period_of(as_of))}))"
    )
    parts = ", ".join(
        f"coalesce(sum({p.metric}) FILTER (WHERE {conditions[p.id]}), 0)" for p in plans
    )
    row = con.execute(
        f"SELECT {parts} FROM {source} WHERE x_BillingPeriod = {literal(period)} AND {charged}"
    ).fetchone()
    return {p.id: Decimal(row[n]) for n, p in enumerate(plans)}


def _forecasts(
    con: Any,
    lens: Lens,
    plans: list[BudgetPlan],
    conditions: dict[str, str],
    period: str,
    as_of: date,
    complete: bool,
) -> dict[str, tuple[Decimal, ...]]:
    """(forecast, lower 95, lower 80, upper 80, upper 95) per budget, from the forecast model;
    the known part is the exact actual to date."""
    if complete:
        return {}
    out: dict[str, tuple[Decimal, ...]] = {}
    exact = _actuals(con, str(lens), plans, conditions, period, as_of)
    for metric in sorted({p.metric for p in plans}):
        chosen = [p for p in plans if p.metric == metric]
        history = load_history(
            con,
            lens,
            ["budget"],
            metric=metric,
            as_of=as_of,
            last_period=period,
            scopes={p.id: conditions[p.id] for p in chosen},
        )
        if not history.keys:
            continue
        point, bands = run_forecast(history, as_of, 0)
        for i, key in enumerate(history.keys):
            known, base = exact[key[0]], float(point.known[i, 0])
            values = (
                point.forecast,
                bands.lower_95,
                bands.lower_80,
                bands.upper_80,
                bands.upper_95,
            )
            out[key[0]] = tuple(money(known, float(v[i, 0]), base) for v in values)
    return out
