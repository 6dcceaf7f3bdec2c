"""Data-quality checks over the cost lake: the registry of checks and the runner behind
`cloudtally check`.

A check declares its id (the CLI word), level and title, and runs one query over the view
`checked_costs` (the lake's rows in scope), a single pass of aggregates wherever it can. Its
SQL lives next to this module in `<id>.sql`, or, for the checks generated from the FOCUS
column list and from the rules in focus_rules.sql, in a named query builder. Every problem is
a `Finding` with a count, the cost involved and where it is (provider, account, billing
period, column, rule). A run fails when a finding is at error level.

On ten million rows (two cores, the store's 1.2 GB memory limit) all seven checks take about
half a minute, most of it in the two scans the duplicate check needs.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any, ClassVar

import duckdb

from cloudtally.errors import QueryError, StoreError, UnsupportedError
from cloudtally.focus.canonical import CANONICAL_BY_NAME, CANONICAL_VERSION, FOCUS_COLUMNS
from cloudtally.focus.spec import columns
from cloudtally.store import Store

EMPTY_LAKE = "The lake is empty: ingest data first with `cloudtally ingest PATH`."

_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class Level(StrEnum):
    error = "error"
    warning = "warning"
    info = "info"

    @property
    def severity(self) -> int:
        return {"info": 0, "warning": 1, "error": 2}[self.value]

    @property
    def status(self) -> str:
        """How a finding at this level shows: an info finding is no failure."""
        return {"info": "PASS", "warning": "WARN", "error": "FAIL"}[self.value]


@dataclass(frozen=True)
class Finding:
    """One problem: how many rows (days, currencies) it covers, its cost and where it is."""

    level: Level
    count: int
    message: str
    provider: str | None = None
    billing_account: str | None = None
    sub_account: str | None = None
    billing_period: str | None = None
    column: str | None = None
    rule: str | None = None
    cost: Decimal | None = None
    currency: str | None = None
    place: str = ""  # where, in words, when the fields above cannot say it alone

    @property
    def detail(self) -> str:
        where = self.place or _place(
            self.provider, self.billing_account, self.billing_period, self.sub_account
        )
        return f"{self.message} ({where})" if where else self.message


@dataclass(frozen=True)
class CheckResult:
    id: str
    level: Level
    title: str
    findings: tuple[Finding, ...]

    @property
    def status(self) -> str:
        worst = max((f.level.severity for f in self.findings), default=0)
        return {0: "PASS", 1: "WARN", 2: "FAIL"}[worst]


@dataclass(frozen=True)
class QualityReport:
    results: tuple[CheckResult, ...]
    rows: int
    period: str | None
    today: date

    @property
    def failed(self) -> bool:
        """Whether an error-level check failed: the exit status of a pipeline gate."""
        return any(r.status == "FAIL" for r in self.results)

    def summary(self) -> str:
        """One line, e.g. `7 checks over 1,000 rows of 2026-05: 5 passed, 1 warned, 1 failed.`"""
        statuses = [r.status for r in self.results]
        scope = f"of {self.period}" if self.period else "in the lake"
        return (
            f"{len(statuses)} checks over {self.rows:,} rows {scope} (today {self.today}): "
            f"{statuses.count('PASS')} passed, {statuses.count('WARN')} warned, "
            f"{statuses.count('FAIL')} failed."
        )


@dataclass(frozen=True)
class Scope:
    """What a check runs against: a connection with `checked_costs` and the macros, the day
    the run is judged on, and the billing period when one was chosen."""

    con: duckdb.DuckDBPyConnection
    today: date
    period: str | None

    def fetch(self, script: str, **params: Any) -> list[dict[str, Any]]:
        """Run a SQL script and return its SELECT's rows as dicts.

        Parameters (`$today`) go to the statements that use them.
        """
        rows: list[dict[str, Any]] = []
        for statement in duckdb.extract_statements(script):
            used = {k: v for k, v in params.items() if f"${k}" in statement.query}
            cursor = self.con.execute(statement.query, used or None)
            if statement.type == duckdb.StatementType.SELECT:
                names = [d[0] for d in cursor.description or []]
                rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        return rows


class Check:
    """A data-quality check. Subclasses set `id`, `level` and `title`, and register
    themselves; `run` returns the findings (none when the check passes)."""

    id: ClassVar[str] = ""
    level: ClassVar[Level] = Level.error
    title: ClassVar[str] = ""
    registry: ClassVar[dict[str, type[Check]]] = {}

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.id:
            Check.registry[cls.id] = cls

    def run(self, scope: Scope) -> list[Finding]:
        raise NotImplementedError


def get_check(name: str) -> type[Check]:
    """The check registered under `name`, or an error suggesting the closest id."""
    try:
        return Check.registry[name]
    except KeyError:
        close = difflib.get_close_matches(name, Check.registry, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        known = ", ".join(Check.registry)
        raise UnsupportedError(f"Unknown check {name!r}.{hint} Checks: {known}.") from None


def run_checks(
    store: Store,
    *,
    today: date | None = None,
    period: str | None = None,
    only: Sequence[str] = (),
) -> QualityReport:
    """Run the checks (all, or those named in `only`) over the lake or one billing period."""
    selected = [get_check(name) for name in only] if only else list(Check.registry.values())
    if period is not None and not _PERIOD.match(period):
        raise QueryError(f"Period {period!r} is not a billing period: use YYYY-MM.")
    today = today or datetime.now(UTC).date()
    con = store.connect()
    periods = dict(
        con.execute(
            "SELECT x_BillingPeriod, count(*) FROM costs "
            "WHERE x_BillingPeriod IS NOT NULL GROUP BY ALL"
        ).fetchall()
    )
    if not periods:
        raise StoreError(EMPTY_LAKE)
    if period is not None and period not in periods:
        raise StoreError(
            f"The lake has no rows for billing period {period}; it holds "
            f"{', '.join(sorted(periods))}. Ingest that period or choose another."
        )
    # `period` matched _PERIOD above, so it is safe inside the SQL text.
    where = f"x_BillingPeriod = '{period}'" if period else "true"
    con.execute(f"CREATE TEMP VIEW checked_costs AS SELECT * FROM costs WHERE {where}")
    con.execute(_sql("focus_values.sql"))
    scope = Scope(con, today, period)
    results = tuple(
        CheckResult(cls.id, cls.level, cls.title, tuple(_ordered(cls().run(scope))))
        for cls in selected
    )
    rows = periods[period] if period else sum(periods.values())
    return QualityReport(results=results, rows=rows, period=period, today=today)


# -- the checks -------------------------------------------------------------------------------


class MissingDays(Check):
    id = "missing-days"
    level = Level.warning
    title = "Days with no charges in an account's billing period"

    def run(self, scope: Scope) -> list[Finding]:
        return [
            Finding(
                level=self.level,
                count=len(r["missing_days"]),
                message=(
                    f"{_plural(len(r['missing_days']), 'day')} without charges: "
                    f"{_day_ranges(r['missing_days'])}"
                    + (" (period closed)" if r["closed"] else "")
                ),
                provider=r["provider"],
                billing_account=r["billing_account"],
                sub_account=r["sub_account"],
                billing_period=r["billing_period"],
            )
            for r in scope.fetch(_sql("missing_days.sql"), today=scope.today)
        ]


class DuplicateLineItems(Check):
    id = "duplicate-line-items"
    level = Level.error
    title = "Rows repeated on every FOCUS column"

    def run(self, scope: Scope) -> list[Finding]:
        focus_columns = ", ".join(_quote(c) for c in FOCUS_COLUMNS)
        return [
            Finding(
                level=self.level,
                count=r["extra_rows"],
                message=(
                    f"{_plural(r['extra_rows'], 'extra copy', 'extra copies')} of "
                    f"{_plural(r['repeated_rows'], 'row')} double-count "
                    f"BilledCost {_money(r['billed_cost'], r['currency'])}, "
                    f"EffectiveCost {_money(r['effective_cost'], r['currency'])}"
                ),
                provider=r["provider"],
                billing_account=r["billing_account"],
                billing_period=r["billing_period"],
                cost=r["billed_cost"],
                currency=r["currency"],
            )
            for r in scope.fetch(_sql("duplicate_line_items.sql", focus_columns=focus_columns))
        ]


class Freshness(Check):
    id = "freshness"
    level = Level.error
    title = "Latest charge of each billing account against today"

    WARN_AFTER_DAYS: ClassVar[int] = 3
    FAIL_AFTER_DAYS: ClassVar[int] = 35

    def run(self, scope: Scope) -> list[Finding]:
        findings = []
        rows = scope.fetch(
            _sql("freshness.sql"), today=scope.today, scoped=scope.period is not None
        )
        for r in rows:
            behind = r["days_behind"]
            if behind <= self.WARN_AFTER_DAYS:
                continue
            findings.append(
                Finding(
                    level=Level.error if behind > self.FAIL_AFTER_DAYS else Level.warning,
                    count=behind,
                    message=(
                        f"latest charge ends {r['latest_end']:%Y-%m-%d}, "
                        f"{_plural(behind, 'day')} before {r['reference_day']}"
                    ),
                    provider=r["provider"],
                    billing_account=r["billing_account"],
                    billing_period=scope.period,
                )
            )
        return findings


class MixedCurrencies(Check):
    id = "mixed-currencies"
    level = Level.warning
    title = "More than one BillingCurrency in a billing account's period"

    def run(self, scope: Scope) -> list[Finding]:
        return [
            Finding(
                level=self.level,
                count=r["currencies"],
                message=f"billed in {r['currencies']} currencies: "
                + ", ".join(
                    f"{c['currency']} ({_plural(c['row_count'], 'row')}, "
                    f"BilledCost {_money(c['billed_cost'], None)})"
                    for c in r["breakdown"]
                ),
                provider=r["provider"],
                billing_account=r["billing_account"],
                billing_period=r["billing_period"],
                column="BillingCurrency",
            )
            for r in scope.fetch(_sql("mixed_currencies.sql"))
        ]


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
        f"sum(CAST({_quote(c)} IS NULL AS INTEGER)) AS {_quote(c + ':rows')},\n    "
        f"sum(if({_quote(c)} IS NULL, BilledCost, NULL)) AS {_quote(c + ':cost')}"
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
                f"BilledCost {_money(tally.cost, currency)}",
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
        for r in scope.fetch(_sql("negative_costs.sql")):
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
                    message=f"{_plural(tally.count, f'{category} row')} with a negative cost"
                    + (" (expected)" if expected else "")
                    + f": BilledCost {_money(tally.cost, currency)}, "
                    f"EffectiveCost {_money(effective[key], currency)}",
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
    for line in _sql("focus_rules.sql").splitlines():
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
    flags = ",\n        ".join(f"({r.sql}) AS {_quote(r.id)}" for r in rules)
    subjects = sorted({r.column for r in rules})
    aggregates = []
    for r in rules:
        flag = _quote(r.id)
        aggregates.append(f"sum(CAST({flag} AS INTEGER)) AS {_quote(r.id + ':rows')}")
        aggregates.append(f"sum(if({flag}, BilledCost, NULL)) AS {_quote(r.id + ':cost')}")
        if CANONICAL_BY_NAME[r.column].sql_type == "VARCHAR":
            value = _quote("v:" + r.column)
            aggregates.append(f"min(if({flag}, {value}, NULL)) AS {_quote(r.id + ':min')}")
            aggregates.append(f"max(if({flag}, {value}, NULL)) AS {_quote(r.id + ':max')}")
    presence = [f"count({_quote('v:' + c)}) AS {_quote(c + ':present')}" for c in subjects]
    outer = ",\n    ".join(presence + aggregates)
    values = ", ".join(f"{_quote(c)} AS {_quote('v:' + c)}" for c in subjects)
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
    '{r.id}' AS rule, x_Provider AS provider, CAST({_quote(r.per)} AS VARCHAR) AS key,
    CAST(min({r.sql}) AS VARCHAR) AS first_value, CAST(max({r.sql}) AS VARCHAR) AS last_value,
    count(*) AS row_count, sum(BilledCost) AS billed_cost,
    CASE WHEN min(BillingCurrency) = max(BillingCurrency) THEN min(BillingCurrency) END AS currency,
    min(BillingAccountId) AS first_account, max(BillingAccountId) AS last_account,
    min(x_BillingPeriod) AS first_period, max(x_BillingPeriod) AS last_period
FROM checked_costs
WHERE {_quote(r.per)} IS NOT NULL
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
        found.append(f"BilledCost {_money(cost, currency)}")
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
            place=_place(provider, self.accounts, self.periods),
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


def _ordered(findings: list[Finding]) -> list[Finding]:
    """Worst first; then by rule, largest count, and place."""
    return sorted(findings, key=lambda f: (-f.level.severity, f.rule or "", -f.count, f.detail))


def _place(
    provider: str | None,
    accounts: str | set[str] | None,
    periods: str | set[str] | None,
    sub_account: str | None = None,
) -> str:
    """Where a finding is, in words: `aws, billing account 1234, 2026-05`.

    >>> _place("aws", {"1", "2"}, {"2026-04", "2026-05", "2026-06"})
    'aws, 2 billing accounts, 3 periods 2026-04..2026-06'
    """
    accounts = {a for a in ([accounts] if isinstance(accounts, str) else accounts or ()) if a}
    periods = {p for p in ([periods] if isinstance(periods, str) else periods or ()) if p}
    parts = [provider] if provider else []
    if len(accounts) == 1:
        parts.append(f"billing account {next(iter(accounts))}")
    elif accounts:
        parts.append(f"{len(accounts)} billing accounts")
    if sub_account:
        parts.append(f"sub account {sub_account}")
    if len(periods) == 1:
        parts.append(next(iter(periods)))
    elif periods:
        parts.append(f"{len(periods)} periods {min(periods)}..{max(periods)}")
    return ", ".join(parts)


def _one(values: str | set[str] | None) -> str | None:
    if isinstance(values, str) or values is None:
        return values
    return next(iter(values)) if len(values) == 1 else None


def _day_ranges(days: Sequence[date]) -> str:
    """Dates with consecutive runs folded.

    >>> _day_ranges([date(2026, 5, 3), date(2026, 5, 10), date(2026, 5, 11), date(2026, 5, 12)])
    '2026-05-03, 2026-05-10..2026-05-12'
    """
    runs: list[list[date]] = []
    for day in sorted(days):
        if runs and (day - runs[-1][-1]).days == 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ", ".join(str(run[0]) if len(run) == 1 else f"{run[0]}..{run[-1]}" for run in runs)


def _plural(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n:,} {singular if n == 1 else plural or singular + 's'}"


def _money(value: Decimal | None, currency: str | None) -> str:
    amount = f"{value or 0:,.2f}"
    return f"{amount} {currency}" if currency else amount


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@cache
def _sql_file(name: str) -> str:
    return resources.files("cloudtally.quality").joinpath(name).read_text("utf-8")


def _sql(name: str, **fragments: str) -> str:
    """A SQL file of this package, with `{name}` fragments filled in."""
    text = _sql_file(name)
    for key, value in fragments.items():
        text = text.replace("{" + key + "}", value)
    return text
