"""Showback, chargeback and the unallocated share, read from `allocated_costs`."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb

from cloudtally.allocate.engine import DATASET, lake_fingerprint
from cloudtally.allocate.sql import DIMENSIONS
from cloudtally.errors import QueryError
from cloudtally.query.costs import parse_periods
from cloudtally.query.dimensions import metric as metric_name
from cloudtally.query.ownership import EVERYTHING, Lens, Scope, ScopeError
from cloudtally.store import Store

UNALLOCATED = "(unallocated)"


@dataclass
class Table:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    period: str
    previous: str


def previous_period(period: str) -> str:
    """The billing period before `period`.

    >>> previous_period("2024-01"), previous_period("2024-10")
    ('2023-12', '2024-09')
    """
    year, month = int(period[:4]), int(period[5:])
    return f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"


def allocated(store: Store) -> duckdb.DuckDBPyConnection:
    catalog = store.catalog()
    if DATASET not in catalog.derived:
        raise QueryError(
            "No allocation yet: run `cloudtally allocate --rules RULES_DIR` first "
            "(see docs/rules.md)."
        )
    return store.connect(catalog)


def stale(store: Store) -> bool:
    """True when the lake changed (an ingest) since `allocated_costs` was computed."""
    catalog = store.catalog()
    dataset = catalog.derived.get(DATASET)
    return dataset is not None and dataset.parameters.get("lake") != lake_fingerprint(catalog)


def resolve_period(con: duckdb.DuckDBPyConnection, period: str | None) -> str:
    parsed = parse_periods(period) if period else None
    if parsed is not None:
        if parsed[0] != parsed[1]:
            raise QueryError(f"--period {period}: give one billing period (YYYY-MM).")
        return parsed[0]
    latest = con.execute(f"SELECT max(x_BillingPeriod) FROM {DATASET}").fetchone()
    if latest is None or latest[0] is None:
        raise QueryError("allocated_costs is empty: ingest data and run `cloudtally allocate`.")
    return str(latest[0])


def scope_sql(scope: Scope) -> str:
    """The viewer's lines of `allocated_costs` (through the lens, as every query)."""
    return Lens(DATASET, scope=scope).filter_sql({})


def showback_select(
    by: str, value: str, *, where: str = "true", dimension_column: bool = False
) -> str:
    """Direct, shared and total `value` per billing period, value of `by` and currency, over the
    lines `where` keeps (the showback the CLI prints and the warehouse models' `showback`)."""
    dimension = f"'{by}' AS dimension, " if dimension_column else ""
    return f"""
            SELECT x_BillingPeriod AS period, {dimension}coalesce({by}, '{UNALLOCATED}') AS k,
                   BillingCurrency AS currency,
                   coalesce(sum({value}) FILTER (WHERE allocation_kind = 'direct'), 0) AS direct,
                   coalesce(sum({value}) FILTER (WHERE allocation_kind = 'shared'), 0) AS shared,
                   sum({value}) AS total
            FROM {DATASET} WHERE {where}
            GROUP BY 1, {"2, 3, 4" if dimension_column else "2, 3"}"""


def showback(
    store: Store,
    by: str,
    period: str | None,
    metric: str = "EffectiveCost",
    scope: Scope = EVERYTHING,
) -> Table:
    """Direct, shared and total cost per value of `by`, its share and change vs last period.

    A scoped viewer's table holds their teams' (or products') lines only, shared costs as
    allocated to them; unallocated cost belongs to no team and is not among them."""
    if by not in DIMENSIONS:
        raise QueryError(f"--by {by!r}: use one of {', '.join(DIMENSIONS)}.")
    value = metric_name(metric)
    con = allocated(store)
    current = resolve_period(con, period)
    previous = previous_period(current)
    rows = con.execute(
        f"""
        WITH now AS (
            SELECT * EXCLUDE (period)
            FROM ({showback_select(by, value, where=scope_sql(scope))}) WHERE period = ?
        ), before AS (
            SELECT coalesce({by}, '{UNALLOCATED}') AS k, BillingCurrency AS currency,
                   sum({value}) AS total
            FROM {DATASET} WHERE x_BillingPeriod = ? AND {scope_sql(scope)} GROUP BY 1, 2
        )
        SELECT now.k, now.currency, direct, shared, now.total,
               CAST(now.total AS DOUBLE) / nullif(CAST(sum(now.total) OVER (PARTITION BY now.currency) AS DOUBLE), 0),
               before.total, now.total - before.total,
               CAST(now.total - before.total AS DOUBLE) / nullif(abs(CAST(before.total AS DOUBLE)), 0)
        FROM now LEFT JOIN before USING (k, currency)
        ORDER BY now.currency, now.k = '{UNALLOCATED}', now.total DESC, now.k""",
        [current, previous],
    ).fetchall()
    columns = [
        by,
        "currency",
        "direct",
        "shared",
        "total",
        "share",
        previous,
        "change",
        "change_pct",
    ]
    return Table(columns, rows, current, previous)


def chargeback(
    store: Store, period: str | None, metric: str = "EffectiveCost", scope: Scope = EVERYTHING
) -> Table:
    """What each cost centre is charged for a period, with the teams behind it (a scoped
    viewer: for their teams' lines only)."""
    value = metric_name(metric)
    con = allocated(store)
    current = resolve_period(con, period)
    rows = con.execute(
        f"""
        SELECT coalesce(cost_center, '{UNALLOCATED}') AS cc, BillingCurrency AS currency,
               coalesce(sum({value}) FILTER (WHERE allocation_kind = 'direct'), 0),
               coalesce(sum({value}) FILTER (WHERE allocation_kind = 'shared'), 0),
               sum({value}),
               string_agg(DISTINCT team, ' ' ORDER BY team)
        FROM {DATASET} WHERE x_BillingPeriod = ? AND {scope_sql(scope)}
        GROUP BY 1, 2 ORDER BY currency, cc = '{UNALLOCATED}', cc""",
        [current],
    ).fetchall()
    columns = ["cost_center", "currency", "direct", "shared", "total", "teams"]
    return Table(columns, rows, current, previous_period(current))


@dataclass
class Unallocated:
    period: str
    currency: str
    cost: Decimal
    share: float
    accounts: list[tuple[str, Decimal]]
    services: list[tuple[str, Decimal]]
    missing_keys: list[tuple[str, Decimal]]


def unallocated(
    store: Store, period: str | None, top: int = 5, scope: Scope = EVERYTHING
) -> list[Unallocated]:
    """The cost no team owns in a period (per currency) and its largest causes.

    It belongs to no team, so a viewer scoped to teams or products may not see it."""
    if not scope.unrestricted:
        raise ScopeError("Unallocated spend is shown to the admin and finops roles only.")
    con = allocated(store)
    current = resolve_period(con, period)
    result = []
    totals = con.execute(
        f"""SELECT BillingCurrency, coalesce(sum(EffectiveCost) FILTER (WHERE team IS NULL), 0),
                   sum(EffectiveCost)
            FROM {DATASET} WHERE x_BillingPeriod = ? GROUP BY 1 ORDER BY 1""",
        [current],
    ).fetchall()
    for currency, cost, total in totals:
        where = "x_BillingPeriod = ? AND BillingCurrency = ? AND team IS NULL"

        def top_of(
            expr: str, where: str = where, currency: str = currency
        ) -> list[tuple[str, Decimal]]:
            return [
                (str(r[0]), r[1])
                for r in con.execute(
                    f"SELECT k, sum(c) AS c FROM (SELECT {expr} AS k, EffectiveCost AS c "
                    f"FROM {DATASET} WHERE {where}) WHERE k IS NOT NULL "
                    f"GROUP BY 1 ORDER BY c DESC, k LIMIT {top}",
                    [current, currency],
                ).fetchall()
            ]

        result.append(
            Unallocated(
                current,
                currency,
                cost,
                float(cost) / float(total) if total else 0.0,
                top_of("coalesce(SubAccountName, SubAccountId)"),
                top_of("ServiceName"),
                top_of("unnest(string_split(missing_tags, ','))"),
            )
        )
    return result
