"""Tag compliance over the lake: coverage by cost and the lines that break the policy.

Both read the same lines as allocation (`allocate.sql.Builder.lines_sql`), so a key counts as
present exactly when allocation would see it: keys folded and aliased, values normalised.
Coverage counts a key only when its value is also allowed. It is measured on usage lines
(ChargeCategory = 'Usage'): taxes and purchases carry no tags on any cloud and would only lower
every figure.

Both read the per-period sums of those lines (`query.cube`'s `tags_cube`, written by `allocate`)
when they are current and the question is about whole billing periods: the same rows summed
once, so a page asks thousands of rows instead of the lake's millions.

Coverage and exceptions agree to the last digit: every usage line without a valid value of a
required key is in exactly one exception row, either its resource's (kind `resource`) or, for a
charge without a resource (a support fee, a correction), the row of its account, service and
charge description (kind `no-resource`). So the exceptions whose `keys` name a key add up to
that key's `uncovered:KEY` in `tags coverage`, and all of them to `uncovered`, per period and
currency.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import duckdb

from cloudtally.allocate.sql import Builder, tag_column
from cloudtally.errors import QueryError
from cloudtally.query.costs import period_filter
from cloudtally.query.cube import tags_cube_lines
from cloudtally.query.dimensions import NAME_SEEN, latest
from cloudtally.query.dimensions import metric as metric_name
from cloudtally.query.ownership import ALLOCATED, EVERYTHING, Lens, Scope
from cloudtally.query.periods import DateRange
from cloudtally.rules.allocation import RuleSet
from cloudtally.rules.tags import valid_sql
from cloudtally.sqltext import identifier, literal
from cloudtally.store import Store

# `--by` words: the columns they add to coverage (name, SQL over the lines).
GROUPS: dict[str, list[tuple[str, str]]] = {
    "team": [("team", "coalesce(team, '(unallocated)')")],
    "account": [("account_id", "SubAccountId"), ("account_name", latest("SubAccountName"))],
    "service": [("service", "ServiceName")],
    "month": [("month", "x_BillingPeriod")],
    "provider": [("provider", "x_Provider")],
}
EXCEPTION_COLUMNS = [
    "kind",
    "resource_id",
    "name",
    "account_id",
    "account_name",
    "service",
    "currency",
    "cost",
    "keys",
    "likely_owner",
    "owner_from",
    "rule_broken",
]


def share_columns(rules: RuleSet) -> list[str]:
    """Coverage columns: `tag:KEY` per required key (as `costs --by tag:KEY` names a tag)."""
    return [f"tag:{key}" for key in rules.tags.required]


def uncovered_columns(rules: RuleSet) -> list[str]:
    """Coverage's money columns: the cost without a valid value of each key, and of any."""
    return [*(f"uncovered:{key}" for key in rules.tags.required), "uncovered"]


@dataclass
class Table:
    columns: list[str]
    rows: list[tuple[Any, ...]]


@dataclass
class ExceptionTotal:
    """All exceptions of one currency (not only the rows shown): how many, their cost, and
    the cost of those breaking each key (a row breaking two keys counts for both)."""

    rows: int
    cost: Decimal
    by_key: dict[str, Decimal]


@dataclass
class Exceptions(Table):
    totals: dict[str, ExceptionTotal] = field(default_factory=dict)


def usage_lines(
    con: duckdb.DuckDBPyConnection,
    rules: RuleSet,
    where: str = "true",
    scope: Scope = EVERYTHING,
) -> str:
    """The usage lines (with dimensions and normalised tags) of `costs` on `con`, as SQL (a
    scoped viewer: their teams' and products' lines)."""
    if not rules.tags.required:
        raise QueryError(
            f"{rules.folder / 'tags.yaml'} lists no required keys: add `required:` with the keys "
            "every resource must carry (see docs/rules.md)."
        )
    builder = Builder(rules, "_tags")
    builder.discover_tag_keys(con)
    for statement in builder.helper_tables():
        con.execute(statement)
    lines = builder.lines_sql(f"({where}) AND ChargeCategory = 'Usage'")
    if not scope.unrestricted:
        # The lines carry allocation's owner columns, as allocated_costs does.
        lens = Lens(ALLOCATED, rules.tags, scope=scope)
        lines = f"SELECT * FROM ({lines}) WHERE {lens.filter_sql({})}"
    return lines


def range_filter(periods: tuple[str, str] | DateRange | None) -> str:
    """Billing periods `(first, last)`, or any range (days, weeks) as a condition."""
    return periods.where() if isinstance(periods, DateRange) else period_filter(periods)


def coverage(
    store: Store,
    rules: RuleSet,
    by: str | None = None,
    periods: tuple[str, str] | DateRange | None = None,
    metric: str = "EffectiveCost",
    scope: Scope = EVERYTHING,
) -> Table:
    """Share of cost carrying each required key (valid value), overall or per group, and the
    cost that does not (a scoped viewer: over their teams' and products' lines)."""
    if by is not None and by not in GROUPS:
        raise QueryError(f"--by {by!r}: use one of {', '.join(GROUPS)}.")
    con = store.connect()
    lines = tags_cube_lines(store, rules, periods, scope) or usage_lines(
        con, rules, range_filter(periods), scope
    )
    return coverage_of(con, rules, lines, by, metric)


def coverage_of(
    con: duckdb.DuckDBPyConnection,
    rules: RuleSet,
    lines: str,
    by: str | None = None,
    metric: str = "EffectiveCost",
) -> Table:
    """`coverage` over `lines` (from `usage_lines`) on an open connection."""
    value = metric_name(metric)
    checks = {key: valid_sql(rules.tags, key, tag_column(key)) for key in rules.tags.required}
    every = " AND ".join(checks.values())

    def share(check: str) -> str:
        return (
            f"CAST(coalesce(sum({value}) FILTER (WHERE {check}), 0) AS DOUBLE) "
            f"/ nullif(CAST(sum({value}) AS DOUBLE), 0)"
        )

    def missing(check: str) -> str:
        return f"coalesce(sum({value}) FILTER (WHERE NOT ({check})), 0)"

    groups = GROUPS[by] if by else []
    keys = "".join(f"{sql} AS {identifier(name)}, " for name, sql in groups)
    order = ", ".join(identifier(name) for name, _ in groups[:1])
    rows = con.execute(
        f"""SELECT {keys}BillingCurrency AS currency, coalesce(sum({value}), 0) AS cost,
                   {", ".join(share(check) for check in checks.values())}, {share(every)},
                   {", ".join(missing(check) for check in checks.values())}, {missing(every)}
            FROM ({lines}) GROUP BY ALL
            ORDER BY currency, {f"{order} ASC" if by == "month" else "cost DESC"}
                     {f", {order}" if order else ""}"""
    ).fetchall()
    columns = [
        *(name for name, _ in groups),
        "currency",
        "cost",
        *share_columns(rules),
        "all_keys",
        *uncovered_columns(rules),
    ]
    return Table(columns, rows)


def exceptions(
    store: Store,
    rules: RuleSet,
    periods: tuple[str, str] | DateRange | None = None,
    top: int | None = 50,
    metric: str = "EffectiveCost",
    scope: Scope = EVERYTHING,
) -> Exceptions:
    """Resources (and charges without a resource) missing a required key or carrying a value
    not allowed, largest cost first, with the likely owner (the team the tag, rules or mapping
    tables give) and the rule broken; with the totals of all of them per currency (a scoped
    viewer: of their teams' and products' lines)."""
    con = store.connect()
    lines = tags_cube_lines(store, rules, periods, scope) or usage_lines(
        con, rules, range_filter(periods), scope
    )
    return exceptions_of(con, rules, lines, top, metric)


def exceptions_of(
    con: duckdb.DuckDBPyConnection,
    rules: RuleSet,
    lines: str,
    top: int | None = 50,
    metric: str = "EffectiveCost",
) -> Exceptions:
    """`exceptions` over `lines` (from `usage_lines`) on an open connection."""
    value = metric_name(metric)
    required = rules.tags.required
    problems, broken_keys = [], []
    for key in required:
        allowed = rules.tags.key(key).allowed
        column = tag_column(key)
        valid = valid_sql(rules.tags, key, column)
        problem = f"WHEN {column} IS NULL THEN {literal(f'missing {key}')}"
        if allowed is not None:
            listed = ", ".join(allowed)
            problem += (
                f" WHEN NOT {valid} THEN "
                f"{literal(f'{key}=')} || {column} || {literal(f' not allowed (use {listed})')}"
            )
        problems.append(f"CASE {problem} END")
        broken_keys.append(f"CASE WHEN NOT {valid} THEN {literal(key)} END")
    broken = f"nullif(concat_ws('; ', {', '.join(problems)}), '')"
    keys = f"nullif(concat_ws(',', {', '.join(broken_keys)}), '')"
    # A resource's names are its latest (`latest`); its likely owner and where that came from
    # are read from one line, the latest (on a tie, the greatest owner).
    newest = f"({NAME_SEEN}, owner, team_source)"
    table = "_tags_exceptions"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {table} AS
            WITH checked AS (
                SELECT ResourceId, ResourceName, ChargeDescription, SubAccountId, SubAccountName,
                       ServiceName, BillingCurrency, {value} AS cost, ChargePeriodStart,
                       {broken} AS broken, {keys} AS keys, team AS owner, team_source
                FROM ({lines})
            ),
            bad AS (SELECT * FROM checked WHERE keys IS NOT NULL)
            SELECT 'resource' AS kind, ResourceId AS resource_id,
                   {latest("ResourceName")} AS name,
                   {latest("SubAccountId")} AS account_id,
                   {latest("SubAccountName")} AS account_name,
                   {latest("ServiceName")} AS service, BillingCurrency AS currency,
                   sum(cost) AS cost, keys, arg_max(owner, {newest}) AS likely_owner,
                   arg_max(team_source, {newest}) AS owner_from, broken AS rule_broken
            FROM bad WHERE ResourceId IS NOT NULL
            GROUP BY ResourceId, BillingCurrency, keys, broken
            UNION ALL
            -- A charge without a resource (a support fee, a correction): one row per account,
            -- service and charge, so the exceptions add up to the uncovered cost.
            SELECT 'no-resource', NULL, ChargeDescription, SubAccountId,
                   {latest("SubAccountName")}, ServiceName, BillingCurrency, sum(cost), keys,
                   arg_max(owner, {newest}), arg_max(team_source, {newest}), broken
            FROM bad WHERE ResourceId IS NULL
            GROUP BY ChargeDescription, SubAccountId, ServiceName, BillingCurrency, keys, broken"""
    )
    limit = f"LIMIT {int(top)}" if top else ""
    rows = con.execute(
        f"""SELECT {", ".join(EXCEPTION_COLUMNS)} FROM {table}
            ORDER BY cost DESC, kind, resource_id NULLS LAST, account_id NULLS LAST,
                     service NULLS LAST, name NULLS LAST, rule_broken {limit}"""
    ).fetchall()
    per_key = ", ".join(
        f"coalesce(sum(cost) FILTER (WHERE list_contains(string_split(keys, ','), {literal(k)})), 0)"
        for k in required
    )
    totals = {
        r[0]: ExceptionTotal(r[1], r[2], dict(zip(required, r[3:], strict=True)))
        for r in con.execute(
            f"SELECT currency, count(*), sum(cost), {per_key} FROM {table} GROUP BY 1 ORDER BY 1"
        ).fetchall()
    }
    return Exceptions(list(EXCEPTION_COLUMNS), rows, totals)
