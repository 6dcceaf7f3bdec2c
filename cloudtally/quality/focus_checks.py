"""Checks of the rows' values against FOCUS 1.2: nulls in the Mandatory columns that allow
none, negative costs outside credits and adjustments, and the rules of focus_rules.sql, each
named by its id in the FinOps Foundation validator's model."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Any, ClassVar

from cloudtally.focus.canonical import CANONICAL_BY_NAME, CANONICAL_VERSION, FOCUS_COLUMNS
from cloudtally.focus.spec import columns
from cloudtally.quality.checks import (
    Check,
    Finding,
    Level,
    Scope,
    describe_place,
    load_sql,
    money,
    plural,
    quote,
)

# The FinOps Foundation validator's rule that a Mandatory, non-nullable FOCUS 1.2 column is
# never null (model-1.2.0.1.json), named on the findings of `mandatory-nulls`.
NOT_NULL_RULES = {
    "BilledCost": "BilledCost-C-003-M",
    "BillingAccountId": "BillingAccountId-C-001-M",
    "BillingCurrency": "BillingCurrency-C-004-M",
    "BillingPeriodEnd": "BillingPeriodEnd-C-003-M",
    "BillingPeriodStart": "BillingPeriodStart-C-003-M",
    "ChargeCategory": "ChargeCategory-C-002-M",
    "ChargePeriodEnd": "ChargePeriodEnd-C-003-M",
    "ChargePeriodStart": "ChargePeriodStart-C-003-M",
    "ContractedCost": "ContractedCost-C-003-M",
    "EffectiveCost": "EffectiveCost-C-003-M",
    "InvoiceIssuerName": "InvoiceIssuerName-C-003-M",
    "ListCost": "ListCost-C-003-M",
    "ProviderName": "ProviderName-C-003-M",
    "PublisherName": "PublisherName-C-003-M",
    "ServiceCategory": "ServiceCategory-C-002-M",
    "ServiceName": "ServiceName-C-003-M",
}


def mandatory_columns() -> list[str]:
    """FOCUS 1.2 columns that are Mandatory and allow no nulls, in canonical order."""
    spec = columns(CANONICAL_VERSION)
    return [c for c in FOCUS_COLUMNS if spec[c].mandatory and not spec[c].allows_nulls]


def null_counts_sql(names: Sequence[str]) -> str:
    """One pass counting each column's nulls (and their BilledCost) per partition."""
    aggregates = ",\n    ".join(
        f"sum(CAST({quote(c)} IS NULL AS INTEGER)) AS {quote(c + ':rows')},\n    "
        f"sum(if({quote(c)} IS NULL, BilledCost, NULL)) AS {quote(c + ':cost')}"
        for c in names
    )
    return f"""
SELECT
    x_Provider AS provider, BillingAccountId AS billing_account,
    x_BillingPeriod AS billing_period, BillingCurrency AS currency,
    {aggregates}
FROM checked_costs
GROUP BY ALL
"""


class MandatoryNulls(Check):
    id = "mandatory-nulls"
    level = Level.error
    title = "Nulls in Mandatory FOCUS 1.2 columns that allow none"

    def run(self, scope: Scope) -> list[Finding]:
        names = mandatory_columns()
        tallies = _Tallies()
        for r in scope.fetch(null_counts_sql(names)):
            for name in names:
                tallies.add(
                    (name, r["provider"], r["currency"]),
                    r,
                    r[f"{name}:rows"],
                    r[f"{name}:cost"],
                )
        return [
            tally.finding(
                level=self.level,
                message=f"{name} is null where FOCUS 1.2 requires a value "
                f"({NOT_NULL_RULES.get(name, 'Mandatory')}); "
                f"BilledCost {money(tally.cost, currency)}",
                provider=provider,
                column=name,
                rule=NOT_NULL_RULES.get(name),
                currency=currency,
            )
            for (name, provider, currency), tally in tallies.items()
        ]


class NegativeCosts(Check):
    id = "negative-costs"
    level = Level.warning
    title = "Negative BilledCost or EffectiveCost by ChargeCategory"

    # Credits and adjustments are negative by nature; any other category rarely is.
    EXPECTED: ClassVar[frozenset[str]] = frozenset({"Credit", "Adjustment"})

    def run(self, scope: Scope) -> list[Finding]:
        tallies = _Tallies()
        effective: dict[tuple[Any, ...], Decimal] = {}
        for r in scope.fetch(load_sql("negative_costs.sql")):
            key = (r["charge_category"], r["provider"], r["currency"])
            tallies.add(key, r, r["row_count"], r["negative_billed_cost"])
            effective[key] = effective.get(key, Decimal(0)) + r["negative_effective_cost"]
        findings = []
        for key, tally in tallies.items():
            category, provider, currency = key
            expected = category in self.EXPECTED
            findings.append(
                tally.finding(
                    level=Level.info if expected else Level.warning,
                    message=f"{plural(tally.count, f'{category} row')} with a negative cost"
                    + (" (expected)" if expected else "")
                    + f": BilledCost {money(tally.cost, currency)}, "
                    f"EffectiveCost {money(effective[key], currency)}",
                    provider=provider,
                    column="ChargeCategory",
                    currency=currency,
                )
            )
        return findings


@dataclass(frozen=True)
class FocusRule:
    """A FOCUS 1.2 rule from focus_rules.sql, named by its id in the validator's model."""

    id: str
    requirement: str  # the model's wording
    sql: str  # TRUE on a violating row; or, with `per`, the value that must be unique
    per: str | None = None

    @property
    def column(self) -> str:
        """The column the rule is about (the first part of its id)."""
        return self.id.split("-")[0]

    @property
    def level(self) -> Level:
        """MUST rules are errors; SHOULD and RECOMMENDED ones warnings."""
        return Level.error if "MUST" in self.requirement else Level.warning


_RULE_HEADER = re.compile(
    r"^-- (?P<id>[A-Za-z]+-[A-Z]-\d{3}-[MOC])(?: per (?P<per>[A-Za-z]+))?: (?P<text>.+)$"
)


@cache
def focus_rules() -> tuple[FocusRule, ...]:
    """The rules of focus_rules.sql, in file order."""
    rules: list[FocusRule] = []
    header: re.Match[str] | None = None
    body: list[str] = []
    for line in load_sql("focus_rules.sql").splitlines():
        if match := _RULE_HEADER.match(line):
            header, body = match, []
        elif header and line.strip() and not line.lstrip().startswith("--"):
            body.append(line.strip())
            if line.rstrip().endswith(";"):
                sql = " ".join(body).rstrip(";").strip()
                rules.append(FocusRule(header["id"], header["text"], sql, header["per"]))
                header = None
    return tuple(rules)


def rule_counts_sql(rules: Sequence[FocusRule]) -> str:
    """One pass over the rows testing every row rule, per partition and source file.

    Each rule's predicate is computed once per row in an inner projection; the outer query
    counts its rows, sums their BilledCost and keeps the first and last offending value of
    string columns as examples. The source file is kept so a rule about a column an export
    never fills can be skipped for that export, as the validator skips absent columns.

    Aggregates are written `sum(if(flag, x, NULL))` rather than `sum(x) FILTER (WHERE flag)`:
    with some 250 of them, DuckDB runs the first form ten times faster.
    """
    flags = ",\n        ".join(f"({r.sql}) AS {quote(r.id)}" for r in rules)
    subjects = sorted({r.column for r in rules})
    aggregates = []
    for r in rules:
        flag = quote(r.id)
        aggregates.append(f"sum(CAST({flag} AS INTEGER)) AS {quote(r.id + ':rows')}")
        aggregates.append(f"sum(if({flag}, BilledCost, NULL)) AS {quote(r.id + ':cost')}")
        if CANONICAL_BY_NAME[r.column].sql_type == "VARCHAR":
            value = quote("v:" + r.column)
            aggregates.append(f"min(if({flag}, {value}, NULL)) AS {quote(r.id + ':min')}")
            aggregates.append(f"max(if({flag}, {value}, NULL)) AS {quote(r.id + ':max')}")
    presence = [f"count({quote('v:' + c)}) AS {quote(c + ':present')}" for c in subjects]
    outer = ",\n    ".join(presence + aggregates)
    values = ", ".join(f"{quote(c)} AS {quote('v:' + c)}" for c in subjects)
    return f"""
SELECT
    provider, billing_account, billing_period, currency, source_file,
    {outer}
FROM (
    SELECT
        x_Provider AS provider, BillingAccountId AS billing_account,
        x_BillingPeriod AS billing_period, BillingCurrency AS currency,
        x_SourceFile AS source_file, BilledCost, {values},
        {flags}
    FROM checked_costs
)
GROUP BY ALL
"""


def consistency_sql(rules: Sequence[FocusRule]) -> str:
    """Keys (a ServiceName, a SkuPriceId) with more than one value of a column.

    min <> max finds them without distinct counts, which would hold every key's set of values;
    the two are shown as examples, and accounts and periods likewise by their first and last.
    """
    parts = [
        f"""
SELECT
    '{r.id}' AS rule, x_Provider AS provider, CAST({quote(r.per)} AS VARCHAR) AS key,
    CAST(min({r.sql}) AS VARCHAR) AS first_value, CAST(max({r.sql}) AS VARCHAR) AS last_value,
    count(*) AS row_count, sum(BilledCost) AS billed_cost,
    CASE WHEN min(BillingCurrency) = max(BillingCurrency) THEN min(BillingCurrency) END AS currency,
    min(BillingAccountId) AS first_account, max(BillingAccountId) AS last_account,
    min(x_BillingPeriod) AS first_period, max(x_BillingPeriod) AS last_period
FROM checked_costs
WHERE {quote(r.per)} IS NOT NULL
GROUP BY ALL
HAVING min({r.sql}) <> max({r.sql})"""
        for r in rules
        if r.per
    ]
    return "\nUNION ALL".join(parts) + "\nORDER BY rule, provider, key" if parts else ""


class FocusRules(Check):
    id = "focus-rules"
    level = Level.error
    title = "FOCUS 1.2 rules, by FinOps Foundation validator rule id"

    def run(self, scope: Scope) -> list[Finding]:
        row_rules = [r for r in focus_rules() if not r.per]
        spec = columns(CANONICAL_VERSION)
        tallies = _Tallies()
        for r in scope.fetch(rule_counts_sql(row_rules)):
            for rule in row_rules:
                # A conditional column an export never fills is absent from it, not broken.
                if not spec[rule.column].mandatory and not r[f"{rule.column}:present"]:
                    continue
                examples = [r.get(f"{rule.id}:min"), r.get(f"{rule.id}:max")]
                tallies.add(
                    (rule, r["provider"], r["currency"]),
                    r,
                    r[f"{rule.id}:rows"],
                    r[f"{rule.id}:cost"],
                    examples,
                )
        findings = [
            tally.finding(
                level=rule.level,
                message=_rule_message(rule, tally.examples, tally.cost, currency),
                provider=provider,
                column=rule.column,
                rule=rule.id,
                currency=currency,
            )
            for (rule, provider, currency), tally in tallies.items()
        ]
        by_id = {rule.id: rule for rule in focus_rules()}
        for r in scope.fetch(consistency_sql(list(by_id.values()))):
            rule = by_id[r["rule"]]
            account = _one({r["first_account"], r["last_account"]})
            periods = {r["first_period"], r["last_period"]}
            place = ", ".join(
                [
                    r["provider"],
                    f"billing account {account}" if account else "several billing accounts",
                    _one(periods) or f"periods {r['first_period']}..{r['last_period']}",
                ]
            )
            findings.append(
                Finding(
                    level=rule.level,
                    count=r["row_count"],
                    message=_rule_message(
                        rule,
                        [r["first_value"], r["last_value"]],
                        r["billed_cost"] if r["currency"] else None,
                        r["currency"],
                        subject=f"{rule.per} {r['key']!r}",
                    ),
                    provider=r["provider"],
                    billing_account=account,
                    billing_period=_one(periods),
                    column=rule.column,
                    rule=rule.id,
                    cost=r["billed_cost"] if r["currency"] else None,
                    currency=r["currency"],
                    place=place,
                )
            )
        return findings


def _rule_message(
    rule: FocusRule,
    examples: Iterable[str | None],
    cost: Decimal | None,
    currency: str | None,
    subject: str | None = None,
) -> str:
    """`<rule id>: <requirement> <what was found>; BilledCost <cost>`."""
    shown = " and ".join(repr(v) for v in sorted({e for e in examples if e is not None}))
    found = []
    if subject:
        found.append(f"{subject} has {rule.sql} {shown}")
    elif shown:
        found.append(f"Found {shown}")
    if cost is not None:
        found.append(f"BilledCost {money(cost, currency)}")
    return (
        f"{rule.id}: {rule.requirement} " + "; ".join(found)
        if found
        else f"{rule.id}: {rule.requirement}"
    )


# -- helpers ----------------------------------------------------------------------------------


@dataclass
class _Tally:
    """Counts of one problem summed over the partitions (account x period) it occurs in."""

    count: int = 0
    cost: Decimal | None = None
    accounts: set[str] = field(default_factory=set)
    periods: set[str] = field(default_factory=set)
    examples: set[str] = field(default_factory=set)

    def finding(
        self, *, level: Level, message: str, provider: str | None, **fields: Any
    ) -> Finding:
        return Finding(
            level=level,
            count=self.count,
            message=message,
            provider=provider,
            billing_account=_one(self.accounts),
            billing_period=_one(self.periods),
            cost=self.cost,
            place=describe_place(provider, self.accounts, self.periods),
            **fields,
        )


class _Tallies(dict[tuple[Any, ...], _Tally]):
    def add(
        self,
        key: tuple[Any, ...],
        row: dict[str, Any],
        count: int,
        cost: Decimal | None,
        examples: Iterable[str | None] = (),
    ) -> None:
        if not count:
            return
        tally = self.setdefault(key, _Tally())
        tally.count += count
        if cost is not None:
            tally.cost = (tally.cost or Decimal(0)) + cost
        tally.accounts.add(row["billing_account"])
        tally.periods.add(row["billing_period"])
        tally.examples.update(e for e in examples if e is not None)


def _one(values: str | set[str] | None) -> str | None:
    if isinstance(values, str) or values is None:
        return values
    return next(iter(values)) if len(values) == 1 else None
