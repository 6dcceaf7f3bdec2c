"""Tag compliance over the lake: coverage by cost and the resources that break the policy.

Both read the same lines as allocation (`allocate.sql.Builder.lines_sql`), so a key counts as
present exactly when allocation would see it: keys folded and aliased, values normalised.
Coverage counts a key only when its value is also allowed. It is measured on usage lines
(ChargeCategory = 'Usage'): taxes, support fees and purchases carry no tags on any cloud and
would only lower every figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cloudtally.allocate.sql import Builder, tag_column
from cloudtally.errors import QueryError
from cloudtally.query.costs import period_filter
from cloudtally.query.dimensions import metric as metric_name
from cloudtally.query.ownership import ALLOCATED, EVERYTHING, Lens, Scope
from cloudtally.rules.allocation import RuleSet
from cloudtally.rules.tags import valid_sql
from cloudtally.sqltext import identifier, literal
from cloudtally.store import Store

GROUPS = {
    "team": "coalesce(team, '(unallocated)')",
    "account": "coalesce(SubAccountName, SubAccountId)",
    "service": "ServiceName",
    "month": "x_BillingPeriod",
    "provider": "x_Provider",
}


def share_columns(rules: RuleSet) -> list[str]:
    """Coverage columns: `tag:KEY` per required key (as `costs --by tag:KEY` names a tag)."""
    return [f"tag:{key}" for key in rules.tags.required]


@dataclass
class Table:
    columns: list[str]
    rows: list[tuple[Any, ...]]


def _lines(
    store: Store, rules: RuleSet, periods: tuple[str, str] | None, scope: Scope = EVERYTHING
) -> tuple[Any, str]:
    if not rules.tags.required:
        raise QueryError(
            f"{rules.folder / 'tags.yaml'} lists no required keys: add `required:` with the keys "
            "every resource must carry (see docs/rules.md)."
        )
    builder = Builder(rules, "_tags")
    con = store.connect()
    builder.discover_tag_keys(con)
    for statement in builder.helper_tables():
        con.execute(statement)
    lines = builder.lines_sql(f"{period_filter(periods)} AND ChargeCategory = 'Usage'")
    if not scope.unrestricted:
        # The lines carry allocation's owner columns, as allocated_costs does.
        lens = Lens(ALLOCATED, rules.tags, scope=scope)
        lines = f"SELECT * FROM ({lines}) WHERE {lens.filter_sql({})}"
    return con, lines


def coverage(
    store: Store,
    rules: RuleSet,
    by: str | None = None,
    periods: tuple[str, str] | None = None,
    metric: str = "EffectiveCost",
    scope: Scope = EVERYTHING,
) -> Table:
    """Share of cost carrying each required key (valid value), overall or per group (a scoped
    viewer: over their teams' and products' lines)."""
    if by is not None and by not in GROUPS:
        raise QueryError(f"--by {by!r}: use one of {', '.join(GROUPS)}.")
    value = metric_name(metric)
    con, lines = _lines(store, rules, periods, scope)
    required = rules.tags.required
    checks = {key: valid_sql(rules.tags, key, tag_column(key)) for key in required}
    every = " AND ".join(checks.values())
    shares = [
        f"CAST(coalesce(sum({value}) FILTER (WHERE {check}), 0) AS DOUBLE) "
        f"/ nullif(CAST(sum({value}) AS DOUBLE), 0) AS {identifier(key)}"
        for key, check in checks.items()
    ]
    group = f'{GROUPS[by]} AS "{by}", ' if by else ""
    rows = con.execute(
        f"""SELECT {group}BillingCurrency AS currency, sum({value}) AS cost, {", ".join(shares)},
                   CAST(coalesce(sum({value}) FILTER (WHERE {every}), 0) AS DOUBLE)
                       / nullif(CAST(sum({value}) AS DOUBLE), 0) AS all_keys
            FROM ({lines}) GROUP BY ALL
            ORDER BY currency, {f'"{by}" ASC' if by == "month" else "cost DESC"}{f', "{by}"' if by else ""}"""
    ).fetchall()
    columns = [*([by] if by else []), "currency", "cost", *share_columns(rules), "all_keys"]
    return Table(columns, rows)


def exceptions(
    store: Store,
    rules: RuleSet,
    periods: tuple[str, str] | None = None,
    top: int | None = 50,
    metric: str = "EffectiveCost",
    scope: Scope = EVERYTHING,
) -> Table:
    """Resources missing a required key or carrying a value not allowed, largest cost first,
    with the likely owner (the team the tag, rules or mapping tables give) and the rule broken."""
    value = metric_name(metric)
    con, lines = _lines(store, rules, periods, scope)
    problems = []
    for key in rules.tags.required:
        allowed = rules.tags.key(key).allowed
        column = tag_column(key)
        problem = f"WHEN {column} IS NULL THEN {literal(f'missing {key}')}"
        if allowed is not None:
            listed = ", ".join(allowed)
            problem += (
                f" WHEN NOT {valid_sql(rules.tags, key, column)} THEN "
                f"{literal(f'{key}=')} || {column} || {literal(f' not allowed (use {listed})')}"
            )
        problems.append(f"CASE {problem} END")
    broken = f"nullif(concat_ws('; ', {', '.join(problems)}), '')"
    limit = f"LIMIT {int(top)}" if top else ""
    rows = con.execute(
        f"""WITH checked AS (
                SELECT ResourceId, ResourceName, coalesce(SubAccountName, SubAccountId) AS account,
                       ServiceName, {value} AS cost, ChargePeriodStart, {broken} AS broken,
                       team AS owner, team_source
                FROM ({lines}) WHERE ResourceId IS NOT NULL
            )
            SELECT ResourceId, any_value(ResourceName), any_value(account), any_value(ServiceName),
                   sum(cost) AS cost, arg_max(owner, ChargePeriodStart),
                   arg_max(team_source, ChargePeriodStart), arg_max(broken, ChargePeriodStart)
            FROM checked WHERE broken IS NOT NULL
            GROUP BY ResourceId ORDER BY cost DESC, ResourceId {limit}"""
    ).fetchall()
    columns = [
        "resource_id",
        "resource_name",
        "account",
        "service",
        "cost",
        "likely_owner",
        "owner_from",
        "rule_broken",
    ]
    return Table(columns, rows)
