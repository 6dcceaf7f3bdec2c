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

The checks live beside this module: `store_checks.py` (each billing account's deliveries:
missing days, duplicates, freshness, currencies) and `focus_checks.py` (the rows' values
against FOCUS 1.2). Importing `cloudtally.quality` registers them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any, ClassVar

import duckdb

from cloudtally.errors import QueryError, StoreError, UnsupportedError
from cloudtally.sqltext import identifier, literal
from cloudtally.store import Store
from cloudtally.store.catalog import Catalog
from cloudtally.store.verify import FileProblem, damaged_error, damaged_files, verify_files

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
        where = self.place or describe_place(
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
    # Live files that are not what was ingested (found before the view was built; the other
    # checks run over the rest).
    file_problems: tuple[FileProblem, ...] = ()

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
    catalog = store.catalog()
    if "lake-files" in (cls.id for cls in selected):
        problems = verify_files(store, catalog, periods=[period] if period else None)
    else:
        problems = damaged_files(store, catalog)
        if problems:
            raise damaged_error(problems)
    con = store.connect(_without(catalog, {p.path for p in problems}))
    periods = dict(
        con.execute(
            "SELECT x_BillingPeriod, count(*) FROM costs "
            "WHERE x_BillingPeriod IS NOT NULL GROUP BY ALL"
        ).fetchall()
    )
    if not periods and not problems:
        raise StoreError(EMPTY_LAKE)
    if period is not None and period not in periods and not problems:
        raise StoreError(
            f"The lake has no rows for billing period {period}; it holds "
            f"{', '.join(sorted(periods))}. Ingest that period or choose another."
        )
    where = f"x_BillingPeriod = {literal(period)}" if period else "true"
    con.execute(f"CREATE TEMP VIEW checked_costs AS SELECT * FROM costs WHERE {where}")
    con.execute(load_sql("focus_values.sql"))
    scope = Scope(con, today, period, tuple(problems))
    results = tuple(
        CheckResult(cls.id, cls.level, cls.title, tuple(_ordered(cls().run(scope))))
        for cls in selected
    )
    rows = periods.get(period, 0) if period else sum(periods.values())
    return QualityReport(results=results, rows=rows, period=period, today=today)


def _without(catalog: Catalog, paths: set[str]) -> Catalog:
    """The catalog without the files in `paths` (damaged files the view cannot read)."""
    if not paths:
        return catalog
    partitions = [
        p.model_copy(update={"files": [f for f in p.files if f.path not in paths]})
        for p in catalog.partitions
    ]
    return catalog.model_copy(update={"partitions": [p for p in partitions if p.files]})


# -- helpers ----------------------------------------------------------------------------------


def _ordered(findings: list[Finding]) -> list[Finding]:
    """Worst first; then by rule, largest count, and place."""
    return sorted(findings, key=lambda f: (-f.level.severity, f.rule or "", -f.count, f.detail))


def describe_place(
    provider: str | None,
    accounts: str | set[str] | None,
    periods: str | set[str] | None,
    sub_account: str | None = None,
) -> str:
    """Where a finding is, in words: `aws, billing account 1234, 2026-05`.

    >>> describe_place("aws", {"1", "2"}, {"2026-04", "2026-05", "2026-06"})
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


def plural(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n:,} {singular if n == 1 else plural or singular + 's'}"


def money(value: Decimal | None, currency: str | None) -> str:
    amount = f"{value or 0:,.2f}"
    return f"{amount} {currency}" if currency else amount


# Identifiers in check SQL go through the one quoting function.
quote = identifier


@cache
def _sql_file(name: str) -> str:
    return resources.files("cloudtally.quality").joinpath(name).read_text("utf-8")


def load_sql(name: str, **fragments: str) -> str:
    """A SQL file of this package, with `{name}` fragments filled in."""
    text = _sql_file(name)
    for key, value in fragments.items():
        text = text.replace("{" + key + "}", value)
    return text
