"""Showback, chargeback and the unallocated share, read from `allocated_costs`."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import duckdb

from cloudtally.allocate.engine import DATASET, lake_fingerprint
from cloudtally.allocate.sql import DIMENSIONS
from cloudtally.errors import QueryError
from cloudtally.query.costs import parse_periods
from cloudtally.query.cube import current_relation
from cloudtally.query.dimensions import latest
from cloudtally.query.dimensions import metric as metric_name
from cloudtally.query.ownership import EVERYTHING, Lens, Scope, ScopeError
from cloudtally.query.periods import DateRange, parse_range, require_data
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


def allocated(store: Store) -> tuple[duckdb.DuckDBPyConnection, str]:
    """A connection to the allocation, and the relation that answers: its daily cube when
    current (per-day sums of the same lines: the same totals), else `allocated_costs`."""
    catalog = store.catalog()
    if DATASET not in catalog.derived:
        raise QueryError(
            "No allocation yet: run `cloudtally allocate --rules RULES_DIR` first "
            "(see docs/rules.md)."
        )
    return store.connect(catalog), current_relation(store, catalog, DATASET)


def stale(store: Store) -> bool:
    """True when the lake changed (an ingest) since `allocated_costs` was computed."""
    catalog = store.catalog()
    dataset = catalog.derived.get(DATASET)
    return dataset is not None and dataset.parameters.get("lake") != lake_fingerprint(catalog)


def resolve_period(
    con: duckdb.DuckDBPyConnection, period: str | None, relation: str = DATASET
) -> str:
    parsed = parse_periods(period) if period else None
    if parsed is not None:
        if parsed[0] != parsed[1]:
            raise QueryError(f"--period {period}: give one billing period (YYYY-MM).")
        return parsed[0]
    latest = con.execute(f"SELECT max(x_BillingPeriod) FROM {relation}").fetchone()
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


@dataclass
class Unallocated:
    """The cost no value of a dimension owns, in one period and currency, and its causes."""

    period: str
    currency: str
    cost: Decimal
    share: float
    accounts: list[tuple[str, Decimal]]  # ("name (id)", cost), or (id, cost) without a name
    services: list[tuple[str, Decimal]]
    missing_keys: list[tuple[str, Decimal]]
    pools: list[tuple[str, Decimal]] = field(default_factory=list)  # shared pools without a value


@dataclass
class Showback(Table):
    """Showback rows plus what its footer prints: per currency the totals of the rows (direct,
    shared, total) and the cost with no value of `by`, with its causes."""

    by: str = "team"
    totals: dict[str, tuple[Decimal, Decimal, Decimal]] = field(default_factory=dict)
    unallocated: list[Unallocated] = field(default_factory=list)


def resolve_range(
    con: duckdb.DuckDBPyConnection,
    period: str | None,
    since: str | None = None,
    until: str | None = None,
    relation: str = DATASET,
) -> DateRange:
    """The range `--period` or `--since/--until` give (billing periods, ISO weeks or days;
    default: the newest billing period), refused when outside the allocation's data."""
    when = parse_range(period or None, since=since, until=until)
    if when is None:
        when = parse_range(resolve_period(con, None, relation))
        assert when is not None
    require_data(con, when, relation)
    return when


def showback(
    store: Store,
    by: str,
    period: str | None,
    metric: str = "EffectiveCost",
    scope: Scope = EVERYTHING,
    *,
    since: str | None = None,
    until: str | None = None,
) -> Showback:
    """Direct, shared and total cost per value of `by`, its share and change vs the range
    before (the previous billing period, week or days).

    A scoped viewer's table holds their teams' (or products') lines only, shared costs as
    allocated to them; unallocated cost belongs to no team and is not among them (nor are its
    causes)."""
    if by not in DIMENSIONS:
        raise QueryError(f"--by {by!r}: use one of {', '.join(DIMENSIONS)}.")
    con, relation = allocated(store)
    return showback_of(
        con,
        by,
        resolve_range(con, period, since, until, relation),
        metric,
        relation=relation,
        where=scope_sql(scope),
        causes=scope.unrestricted,
    )


def showback_of(
    con: duckdb.DuckDBPyConnection,
    by: str,
    when: DateRange | str,
    metric: str = "EffectiveCost",
    *,
    relation: str = DATASET,
    where: str = "true",
    causes: bool = True,
    top: int = 5,
) -> Showback:
    """`showback` over `relation` (an allocated_costs) on an open connection, for its lines
    that `where` selects; `causes`: also the unallocated cost's `top` causes."""
    value = metric_name(metric)
    if isinstance(when, str):
        found = parse_range(when)
        assert found is not None
        when = found
    before = when.previous()
    current, previous = when.label(), before.label()
    rows = con.execute(
        f"""
        WITH now AS (
            SELECT coalesce({by}, '{UNALLOCATED}') AS k, BillingCurrency AS currency,
                   coalesce(sum({value}) FILTER (WHERE allocation_kind = 'direct'), 0) AS direct,
                   coalesce(sum({value}) FILTER (WHERE allocation_kind = 'shared'), 0) AS shared,
                   coalesce(sum({value}), 0) AS total
            FROM {relation} WHERE {when.where()} AND {where} GROUP BY 1, 2
        ), before AS (
            SELECT coalesce({by}, '{UNALLOCATED}') AS k, BillingCurrency AS currency,
                   coalesce(sum({value}), 0) AS total
            FROM {relation} WHERE {before.where()} AND {where} GROUP BY 1, 2
        )
        SELECT now.k, now.currency, direct, shared, now.total,
               CAST(now.total AS DOUBLE) / nullif(CAST(sum(now.total) OVER (PARTITION BY now.currency) AS DOUBLE), 0),
               before.total, now.total - before.total,
               CAST(now.total - before.total AS DOUBLE) / nullif(abs(CAST(before.total AS DOUBLE)), 0)
        FROM now LEFT JOIN before USING (k, currency)
        ORDER BY now.currency, now.k = '{UNALLOCATED}', now.total DESC, now.k"""
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
    # The footer is worked out from the rows it sits under, so it cannot disagree with them.
    totals: dict[str, tuple[Decimal, Decimal, Decimal]] = {}
    for row in rows:
        direct, shared, total = totals.get(row[1], (Decimal(0), Decimal(0), Decimal(0)))
        totals[row[1]] = (direct + row[2], shared + row[3], total + row[4])
    return Showback(
        columns,
        rows,
        current,
        previous,
        by=by,
        totals=totals,
        unallocated=_unallocated(con, relation, by, when, value, totals, top) if causes else [],
    )


def chargeback(
    store: Store, period: str | None, metric: str = "EffectiveCost", scope: Scope = EVERYTHING
) -> Table:
    """What each cost centre is charged for a period, with the teams behind it (a scoped
    viewer: for their teams' lines only)."""
    value = metric_name(metric)
    con, relation = allocated(store)
    current = resolve_period(con, period, relation)
    rows = con.execute(
        f"""
        SELECT coalesce(cost_center, '{UNALLOCATED}') AS cc, BillingCurrency AS currency,
               coalesce(sum({value}) FILTER (WHERE allocation_kind = 'direct'), 0),
               coalesce(sum({value}) FILTER (WHERE allocation_kind = 'shared'), 0),
               sum({value}),
               string_agg(DISTINCT team, ' ' ORDER BY team)
        FROM {relation} WHERE x_BillingPeriod = ? AND {scope_sql(scope)}
        GROUP BY 1, 2 ORDER BY currency, cc = '{UNALLOCATED}', cc""",
        [current],
    ).fetchall()
    columns = ["cost_center", "currency", "direct", "shared", "total", "teams"]
    return Table(columns, rows, current, previous_period(current))


def unallocated(
    store: Store,
    period: str | None,
    top: int = 5,
    scope: Scope = EVERYTHING,
    by: str = "team",
    metric: str = "EffectiveCost",
) -> list[Unallocated]:
    """The cost no team (or value of `by`) owns in a period, per currency that has some, and
    its largest causes: the footer of `showback`.

    It belongs to no team, so a viewer scoped to teams or products may not see it."""
    if not scope.unrestricted:
        raise ScopeError("Unallocated spend is shown to the admin and finops roles only.")
    if by not in DIMENSIONS:
        raise QueryError(f"--by {by!r}: use one of {', '.join(DIMENSIONS)}.")
    con, relation = allocated(store)
    when = resolve_range(con, period, relation=relation)
    return showback_of(con, by, when, metric, relation=relation, top=top).unallocated


def _unallocated(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    by: str,
    when: DateRange,
    value: str,
    totals: dict[str, tuple[Decimal, Decimal, Decimal]],
    top: int = 5,
) -> list[Unallocated]:
    """Per currency with cost no value of `by` owns: that cost and its largest causes."""
    result = []
    for currency, (_, _, total) in sorted(totals.items()):
        rows = f"""(SELECT * FROM {relation}
                    WHERE {when.where()} AND BillingCurrency = ? AND {by} IS NULL)"""
        params = [currency]
        found = con.execute(f"SELECT coalesce(sum({value}), 0) FROM {rows}", params).fetchone()
        cost = found[0] if found else Decimal(0)
        if cost == 0:
            continue

        def top_of(key: str, rows: str = rows, params: list[str] = params) -> list[Any]:
            return con.execute(
                f"""SELECT k, sum(c) AS c FROM (SELECT {key} AS k, {value} AS c FROM {rows})
                    WHERE k IS NOT NULL GROUP BY k ORDER BY c DESC, k LIMIT {top}""",
                params,
            ).fetchall()

        accounts = con.execute(
            f"""SELECT SubAccountId, {latest("SubAccountName")}, sum({value}) AS c FROM {rows}
                WHERE SubAccountId IS NOT NULL GROUP BY 1 ORDER BY c DESC, 1 LIMIT {top}""",
            params,
        ).fetchall()
        result.append(
            Unallocated(
                when.label(),
                currency,
                cost,
                float(cost) / float(total) if total else 0.0,
                [(f"{r[1]} ({r[0]})" if r[1] else r[0], r[2]) for r in accounts],
                [(r[0], r[1]) for r in top_of("ServiceName")],
                [(r[0], r[1]) for r in top_of("unnest(string_split(missing_tags, ','))")],
                [(r[0], r[1]) for r in top_of("shared_pool")],
            )
        )
    return result
