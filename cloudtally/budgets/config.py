"""Budgets as code (`rules/budgets.yaml`): what a budget covers, how much it is per month, from
when to when, which thresholds alert and who hears about them.

    defaults:
      currency: USD
      thresholds: [forecast 80%, actual 100%]   # percent of the month's budget
      notify: [finops-slack]                 # destinations of rules/monitors.yaml
    budgets:
      - id: payments
        scope: {team: payments}              # team, product, cost_center, env, account,
        monthly: 40000                       # service, provider, tag: {key: value}, or
        effective_from: 2024-01              # when: {...} in the allocation rules' syntax
      - id: platform-fy24
        scope: {product: internal-tools}
        annual: 480000
        year_from: 2024-04                   # the 12 months from April 2024
        phasing: {2024-04: 30000, ...}       # optional (default: even); adds up to `annual`
      - id: web-team
        scope: {team: web}
        parent: web-product                  # children may not add up to more than the parent
        monthly: {2024-09: 20000, 2024-10: 21000}

Loaded with `load_model` (unknown keys are errors with file and line); the checks between
budgets (overlapping budgets for one scope, phasing that does not add up, children over their
parent, unknown destinations) are reported together, each with its file, line and key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cloudtally.errors import CloudtallyError, RuleError
from cloudtally.rules.allocation import Match
from cloudtally.rules.yaml_loader import RuleProblem, line_of, load_model, load_yaml

PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
FIRST_PERIOD, LAST_PERIOD = "0000-01", "9999-12"
OWNERSHIP = ("team", "product", "cost_center", "env")
CENT = Decimal("0.01")
ANY_PERIOD = "5000-01"  # a month inside every open-ended range


class BudgetError(CloudtallyError, ValueError):
    """A budget command cannot give a right answer (no data for the period, mixed currencies)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _listed(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class Threshold(_Strict):
    """Alert when the month's actual (or forecast) cost reaches `at` percent of the budget.

    Written `forecast 80%` or `{forecast: 80}` (YAML reads a bare `on:` key as true, so the
    rules never use one).
    """

    on: Literal["actual", "forecast"]
    at: Decimal = Field(gt=0)

    @model_validator(mode="before")
    @classmethod
    def _short(cls, value: Any) -> Any:
        if isinstance(value, str):
            match = re.fullmatch(r"\s*(actual|forecast)\s+([0-9]+(?:\.[0-9]+)?)\s*%\s*", value)
            if not match:
                raise ValueError(f"{value!r}: write a threshold as `forecast 80%` or `actual 100%`")
            return {"on": match.group(1), "at": match.group(2)}
        if (
            isinstance(value, dict)
            and len(value) == 1
            and next(iter(value)) in ("actual", "forecast")
        ):
            [(on, at)] = value.items()
            return {"on": on, "at": at}
        return value

    @property
    def label(self) -> str:
        return f"{self.on} {format(self.at.normalize(), 'f')}%"


class Scope(_Strict):
    """What a budget covers: every condition given must hold (lists: any value)."""

    team: list[str] | None = None
    product: list[str] | None = None
    cost_center: list[str] | None = None
    env: list[str] | None = None
    account: list[str] | None = None  # SubAccountId or SubAccountName
    service: list[str] | None = None  # ServiceName
    provider: list[str] | None = None  # x_Provider
    tag: dict[str, list[str]] | None = None  # tag key -> values
    when: Match | None = None  # the allocation rules' conditions

    _as_list = field_validator(
        "team", "product", "cost_center", "env", "account", "service", "provider", mode="before"
    )(_listed)

    @field_validator("tag", mode="before")
    @classmethod
    def _tag_lists(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: _listed(v) for k, v in value.items()}
        return value

    def key(self) -> str:
        """A canonical text of the scope: two budgets with the same key cover the same costs."""
        return self.model_dump_json(exclude_none=True)

    def describe(self) -> str:
        """`team=payments, service=Amazon EC2|AWS Lambda` (empty: everything)."""
        parts = []
        for name in ("team", "product", "cost_center", "env", "account", "service", "provider"):
            values = getattr(self, name)
            if values is not None:
                parts.append(f"{name}={'|'.join(values)}")
        for key, values in (self.tag or {}).items():
            parts.append(f"tag:{key}={'|'.join(values)}")
        if self.when is not None:
            conditions = []
            for name, value in self.when.model_dump(exclude_none=True).items():
                shown = "|".join(map(str, value)) if isinstance(value, list) else value
                conditions.append(f"{name}={shown}")
            parts.append(f"when({', '.join(conditions)})")
        return ", ".join(parts) or "everything"

    def ownership(self) -> list[str]:
        return [name for name in OWNERSHIP if getattr(self, name) is not None]


class Defaults(_Strict):
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    metric: Literal["BilledCost", "EffectiveCost"] = "BilledCost"
    thresholds: list[Threshold] = Field(
        default_factory=lambda: [
            Threshold(on="forecast", at=Decimal(100)),
            Threshold(on="actual", at=Decimal(100)),
        ]
    )
    notify: list[str] = Field(default_factory=list)


class Budget(_Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    name: str | None = None
    scope: Scope = Field(default_factory=Scope)
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    metric: Literal["BilledCost", "EffectiveCost"] | None = None
    monthly: Decimal | dict[str, Decimal] | None = None
    annual: Decimal | None = None
    year_from: str | None = None
    phasing: Literal["even"] | dict[str, Decimal] = "even"
    effective_from: str | None = None
    effective_to: str | None = None
    thresholds: list[Threshold] | None = None
    notify: list[str] | None = None
    parent: str | None = None

    @field_validator("year_from", "effective_from", "effective_to", mode="before")
    @classmethod
    def _period(cls, value: Any) -> Any:
        if value is not None and not PERIOD.match(str(value)):
            raise ValueError(f"{value!r} is not a billing period: use YYYY-MM")
        return value if value is None else str(value)


class BudgetsFile(_Strict):
    defaults: Defaults = Field(default_factory=lambda: Defaults())  # type: ignore[call-arg]
    budgets: list[Budget] = Field(default_factory=list)


@dataclass(frozen=True)
class BudgetPlan:
    """A budget with everything resolved: amounts per period, currency, thresholds, notify."""

    id: str
    name: str
    scope: Scope
    currency: str
    metric: str
    thresholds: tuple[Threshold, ...]
    notify: tuple[str, ...]
    parent: str | None
    first: str  # the first and last period it covers
    last: str
    monthly: Decimal | None  # the same amount every month, or
    amounts: dict[str, Decimal] | None  # an amount per period

    def amount(self, period: str) -> Decimal | None:
        """The budget of `period`, or None outside the budget's range."""
        if not self.first <= period <= self.last:
            return None
        if self.amounts is not None:
            return self.amounts.get(period)
        return self.monthly


@dataclass
class Budgets:
    path: Path
    plans: list[BudgetPlan]

    def plan(self, budget_id: str) -> BudgetPlan:
        for plan in self.plans:
            if plan.id == budget_id:
                return plan
        known = ", ".join(p.id for p in self.plans) or "none"
        raise BudgetError(f"No budget {budget_id!r} in {self.path} (budgets: {known}).")


def _add_months(period: str, months: int) -> str:
    index = int(period[:4]) * 12 + int(period[5:7]) - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _even(total: Decimal, periods: list[str]) -> dict[str, Decimal]:
    """`total` split evenly in cents; the rounding remainder goes to the last period, so the
    amounts add up to `total` exactly."""
    share = (total / len(periods)).quantize(CENT)
    amounts = dict.fromkeys(periods, share)
    amounts[periods[-1]] = total - share * (len(periods) - 1)
    return amounts


def load_budgets(path: Path, destinations: set[str] | None = None) -> Budgets:
    """Load and check a budgets file; every problem is reported at once.

    Args:
        path: the budgets file (`rules/budgets.yaml`).
        destinations: the destination names of the monitors file, to check `notify` against
            (None: not checked).
    """
    rules = load_model(path, BudgetsFile)
    _, node = load_yaml(path)
    problems: list[RuleProblem] = []

    def report(location: tuple[str | int, ...], message: str) -> None:
        key = ".".join(str(p) for p in location)
        problems.append(RuleProblem(path, line_of(node, location), key, message))

    defaults = rules.defaults
    plans: list[BudgetPlan] = []
    seen: dict[str, int] = {}
    for n, budget in enumerate(rules.budgets):
        where: tuple[str | int, ...] = ("budgets", n)
        if budget.id in seen:
            report(
                (*where, "id"),
                f"duplicate budget id {budget.id!r} (also budgets.{seen[budget.id]})",
            )
        seen.setdefault(budget.id, n)
        plan = _plan(budget, defaults, where, report)
        if plan is not None:
            plans.append(plan)
        for target in budget.notify if budget.notify is not None else []:
            if destinations is not None and target not in destinations:
                report((*where, "notify"), f"unknown destination {target!r}" + _known(destinations))
    for target in defaults.notify:
        if destinations is not None and target not in destinations:
            report(("defaults", "notify"), f"unknown destination {target!r}" + _known(destinations))
    index = {b.id: n for n, b in enumerate(rules.budgets)}
    _check_overlaps(plans, index, report)
    _check_hierarchy(plans, index, report)
    if problems:
        raise RuleError(
            f"{len(problems)} problem{'s' if len(problems) > 1 else ''} in {path}:\n"
            + "\n".join(f"  {p}" for p in problems)
        )
    return Budgets(path, plans)


def _known(destinations: set[str]) -> str:
    listed = ", ".join(sorted(destinations)) or "none"
    return f" (the monitors file's destinations: {listed})"


def _plan(
    budget: Budget, defaults: Defaults, where: tuple[str | int, ...], report: Any
) -> BudgetPlan | None:
    """The budget's amounts per period, or None after reporting why they cannot be had."""
    given = [k for k in ("monthly", "annual") if getattr(budget, k) is not None]
    if len(given) != 1:
        report(where, "give the amount as monthly: N, monthly: {YYYY-MM: N, ...} or annual: N "
               f"with year_from, not {' and '.join(given) or 'neither'}")  # fmt: skip
        return None
    monthly: Decimal | None = None
    amounts: dict[str, Decimal] | None = None
    first, last = budget.effective_from or FIRST_PERIOD, budget.effective_to or LAST_PERIOD
    ok = True
    if budget.annual is not None:
        for key in ("effective_from", "effective_to"):
            if getattr(budget, key) is not None:
                report((*where, key), "an annual budget covers the 12 months from year_from: "
                       "leave out effective_from/effective_to")  # fmt: skip
                ok = False
        if budget.year_from is None:
            report(
                (*where, "annual"), "an annual amount needs year_from: YYYY-MM (its first month)"
            )
            return None
        periods = [_add_months(budget.year_from, k) for k in range(12)]
        first, last = periods[0], periods[-1]
        if budget.annual < 0:
            report((*where, "annual"), "is negative")
            ok = False
        if budget.phasing == "even":
            amounts = _even(budget.annual, periods)
        else:
            bad = sorted(set(budget.phasing) - set(periods))
            if bad:
                report((*where, "phasing"), f"{', '.join(bad)} outside the budget year "
                       f"{first}..{last}")  # fmt: skip
                ok = False
            total = sum(budget.phasing.values(), Decimal(0))
            if total != budget.annual:
                report((*where, "phasing"), f"adds up to {_money(total)}, not the annual amount "
                       f"{_money(budget.annual)}: the months must add up to it exactly")  # fmt: skip
                ok = False
            amounts = {p: budget.phasing.get(p, Decimal(0)) for p in periods}
    else:
        if budget.year_from is not None or budget.phasing != "even":
            report((*where, "year_from" if budget.year_from else "phasing"),
                   "only an annual budget takes year_from and phasing")  # fmt: skip
            ok = False
        if isinstance(budget.monthly, dict):
            bad = [p for p in budget.monthly if not PERIOD.match(str(p))]
            if bad:
                report((*where, "monthly"), f"{', '.join(map(str, bad))}: not YYYY-MM")
                return None
            if budget.effective_from or budget.effective_to:
                report((*where, "monthly"), "amounts per month give the range: leave out "
                       "effective_from/effective_to")  # fmt: skip
                ok = False
            amounts = dict(sorted(budget.monthly.items()))
            if not amounts:
                report((*where, "monthly"), "no months given")
                return None
            first, last = next(iter(amounts)), list(amounts)[-1]
        else:
            monthly = budget.monthly
        values = [monthly] if monthly is not None else list(amounts.values()) if amounts else []
        if any(v is not None and v < 0 for v in values):
            report((*where, "monthly"), "is negative")
            ok = False
    if first > last:
        report((*where, "effective_to"), f"{last} is before effective_from {first}")
        ok = False
    if not ok:
        return None
    return BudgetPlan(
        id=budget.id,
        name=budget.name or budget.id,
        scope=budget.scope,
        currency=budget.currency or defaults.currency,
        metric=budget.metric or defaults.metric,
        thresholds=tuple(
            budget.thresholds if budget.thresholds is not None else defaults.thresholds
        ),
        notify=tuple(budget.notify if budget.notify is not None else defaults.notify),
        parent=budget.parent,
        first=first,
        last=last,
        monthly=monthly,
        amounts=amounts,
    )


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _span(first: str, last: str) -> str:
    """>>> _span("0000-01", "9999-12"), _span("2024-01", "9999-12"), _span("2024-01", "2024-03")
    ('in every month', 'from 2024-01', 'in 2024-01..2024-03')
    """
    if first == FIRST_PERIOD:
        return "in every month" if last == LAST_PERIOD else f"until {last}"
    return f"from {first}" if last == LAST_PERIOD else f"in {first}..{last}"


def _check_overlaps(plans: list[BudgetPlan], index: dict[str, int], report: Any) -> None:
    """Two budgets for the same scope (and metric) may not cover the same month."""
    by_scope: dict[tuple[str, str], list[BudgetPlan]] = {}
    for plan in plans:
        by_scope.setdefault((plan.scope.key(), plan.metric), []).append(plan)
    for group in by_scope.values():
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                if a.first <= b.last and b.first <= a.last:
                    both = _span(max(a.first, b.first), min(a.last, b.last))
                    report(("budgets", index[b.id], "scope"),
                           f"budget {b.id!r} covers the same scope ({b.scope.describe()}) as "
                           f"{a.id!r} {both}: one scope has one budget per month; give one of "
                           "them effective_from/effective_to")  # fmt: skip


def _check_hierarchy(plans: list[BudgetPlan], index: dict[str, int], report: Any) -> None:
    """Children name their parent; in every month the parent covers, the children's amounts
    may not add up to more than the parent's."""
    by_id = {p.id: p for p in plans}
    children: dict[str, list[BudgetPlan]] = {}
    for plan in plans:
        if plan.parent is None:
            continue
        where = ("budgets", index[plan.id], "parent")
        parent = by_id.get(plan.parent)
        if parent is None:
            report(where, f"no budget {plan.parent!r}")
            continue
        if (parent.currency, parent.metric) != (plan.currency, plan.metric):
            report(where, f"{plan.parent!r} is in {parent.currency} {parent.metric}, this budget "
                   f"in {plan.currency} {plan.metric}")  # fmt: skip
            continue
        children.setdefault(parent.id, []).append(plan)
    for parent_id, kids in children.items():
        seen, current = {parent_id}, by_id[parent_id].parent
        while current is not None and current in by_id:
            if current in seen:
                report(
                    ("budgets", index[parent_id], "parent"),
                    f"parents form a loop through {current!r}",
                )
                break
            seen.add(current)
            current = by_id[current].parent
        parent = by_id[parent_id]
        for period in _covered(parent, kids):
            limit = parent.amount(period)
            amounts = [(k.id, k.amount(period)) for k in kids]
            total = sum((a for _, a in amounts if a is not None), Decimal(0))
            if limit is not None and total > limit:
                names = ", ".join(f"{i} {_money(a)}" for i, a in amounts if a is not None)
                when = "each month" if period == ANY_PERIOD else f"in {period}"
                report(("budgets", index[parent_id]),
                       f"{when} the budgets under {parent_id!r} add up to {_money(total)} "
                       f"({names}), more than its {_money(limit)}")  # fmt: skip
                break


def _covered(parent: BudgetPlan, kids: list[BudgetPlan]) -> list[str]:
    """The months to compare: those with explicit amounts, and the first month of each
    range (an open-ended range is checked from its first month)."""
    months: set[str] = set()
    for plan in [parent, *kids]:
        if plan.amounts is not None:
            months.update(plan.amounts)
        else:
            months.add(plan.first if plan.first != FIRST_PERIOD else plan.last)
    found = sorted(m for m in months if m not in (FIRST_PERIOD, LAST_PERIOD))
    return found or [ANY_PERIOD]
