"""`allocate`: apply a rules folder to the lake and publish `allocated_costs` atomically.

The work is two statements over the lake (see `sql.py`): one scan summarises what the shared
pools and their weights need, one streams every line with its dimensions into Parquet beside
the shared rows. Before the swap the written file is checked against the lake: for every
billing period and currency, BilledCost and EffectiveCost after allocation equal the totals
before, to the last digit, or nothing is published.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb

from cloudtally.allocate.sql import DIMENSIONS, K8S_DATASET, MONEY, Builder
from cloudtally.errors import QueryError, StoreError
from cloudtally.query.costs import period_filter
from cloudtally.query.cube import with_allocated_cube, with_costs_cube, with_tags_cube
from cloudtally.query.ownership import tag_policy
from cloudtally.rules.allocation import RuleSet
from cloudtally.sqltext import identifier, literal
from cloudtally.store import Store
from cloudtally.store.catalog import Catalog

DATASET = "allocated_costs"

Totals = dict[tuple[str, str], tuple[Decimal, Decimal]]  # (period, currency) -> billed, effective


@dataclass
class AllocationReport:
    rows: int
    periods: list[str]
    totals: Totals = field(default_factory=dict)
    unallocated: dict[tuple[str, str], Decimal] = field(default_factory=dict)


def prepare(
    con: duckdb.DuckDBPyConnection,
    rules: RuleSet,
    periods: tuple[str, str] | None,
    prefix: str = "_alloc",
) -> str:
    """Build the helper tables and the shares on `con`; the SELECT of the allocated rows."""
    builder = Builder(rules, prefix)
    builder.discover_tag_keys(con)
    lines = builder.lines_sql(period_filter(periods))
    for statement in builder.statements(lines):
        con.execute(statement)
    return builder.output_sql(lines)


def rules_sha256(store: Store) -> str | None:
    """The content hash of the rules folder the published `allocated_costs` was computed with
    (`RuleSet.sha256`), or None before the first `allocate` (or for one published before it
    was recorded)."""
    dataset = store.catalog().derived.get(DATASET)
    return None if dataset is None else dataset.parameters.get("rules_sha256")


def lake_fingerprint(catalog: Catalog) -> str:
    """Which lake files an allocation was computed from (to tell when it is out of date)."""
    return hashlib.sha256("\n".join(sorted(catalog.live_files())).encode()).hexdigest()[:16]


def totals_of(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    where: str = "true",
    columns: tuple[str, ...] = ("BilledCost", "EffectiveCost"),
) -> dict[tuple[str, str], tuple[Decimal, ...]]:
    """Exact totals of money `columns` per billing period and currency."""
    sums = ", ".join(f"coalesce(sum({c}), 0)" for c in columns)
    rows = con.execute(
        f"SELECT x_BillingPeriod, BillingCurrency, {sums} FROM {relation} WHERE {where} "
        "GROUP BY 1, 2"
    ).fetchall()
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def allocate(
    store: Store, rules: RuleSet, periods: tuple[str, str] | None = None
) -> AllocationReport:
    """Allocate the lake (or the given periods, keeping the others) and publish the result."""
    with store.writing() as catalog:
        con = store.connect(catalog)
        if not store.catalog().live_files():
            raise StoreError(f"The lake in {store.where} is empty: run `cloudtally ingest` first.")
        kubernetes = [p.id for p in rules.allocation.shared_pools if p.split == "kubernetes"]
        if kubernetes and K8S_DATASET not in catalog.derived:
            raise QueryError(
                f"Shared pool {kubernetes[0]!r} splits by OpenCost's allocations, but the lake "
                "holds none: ingest OpenCost's allocation data (`cloudtally ingest "
                "allocation.json`, docs/kubernetes.md) first."
            )
        output = prepare(con, rules, periods)
        folder = store.staging_for(DATASET)
        target = folder / "allocated.parquet"
        keep = ""
        if periods is not None and DATASET in catalog.derived:
            # Recomputing some periods: the others stay as they were allocated.
            keep = (
                f"\nUNION ALL BY NAME SELECT * FROM {DATASET} WHERE NOT ({period_filter(periods)})"
            )
        con.execute("SET preserve_insertion_order = false")
        con.execute(f"COPY ({output}{keep}) TO {literal(str(target))} (FORMAT parquet)")
        written = f"read_parquet({literal(str(target))})"
        # Every money column of the billing currency, not only the two the report shows.
        before = totals_of(con, "costs", columns=MONEY)
        after = totals_of(con, written, columns=MONEY)
        if before != after:
            broken = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
            raise StoreError(
                f"Allocation did not conserve cost for {broken[0][0]} {broken[0][1]} "
                f"(before {before.get(broken[0])}, after {after.get(broken[0])}); nothing was "
                "published. Please report this with your rules folder."
            )
        rows = con.execute(f"SELECT count(*) FROM {written}").fetchone()[0]  # type: ignore[index]
        unallocated = {
            (r[0], r[1]): r[2]
            for r in con.execute(
                f"SELECT x_BillingPeriod, BillingCurrency, sum(EffectiveCost) FROM {written} "
                "WHERE team IS NULL GROUP BY 1, 2"
            ).fetchall()
        }
        parameters = {
            "lake": lake_fingerprint(catalog),
            "rules": str(Path(rules.folder).resolve()),
            "rules_sha256": rules.sha256,
            "periods": "all" if periods is None else f"{periods[0]}..{periods[1]}",
        }
        # The daily cubes swap with the allocation they sum, in the same commit.
        published = with_allocated_cube(store, catalog, con, written, parameters)
        published = with_tags_cube(store, published, con, rules)
        con.close()
        published = store.with_derived(
            published, DATASET, [target], rows=rows, parameters=parameters
        )
        # The costs cube follows the allocation's tag policy (rebuilt only if it changed).
        published = with_costs_cube(store, published, tag_policy(store, Path(rules.folder)))
        store.commit(published)
    totals: Totals = {k: (v[0], v[1]) for k, v in after.items()}
    return AllocationReport(rows, sorted({k[0] for k in totals}), totals, unallocated)


# -- explain ------------------------------------------------------------------------------------


@dataclass
class Explanation:
    period: str
    line: dict[str, object]
    values: list[tuple[str, str | None, str | None]]  # dimension, value, source
    shared_pool: str | None
    missing_tags: str | None
    cost: Decimal
    lines: int
    billed: Decimal
    split: str | None
    # For a pooled line: how its pool's sum (same period, service and charge category) was
    # split in the published allocated_costs, as (recipient, BilledCost, EffectiveCost).
    shares: list[tuple[str | None, Decimal, Decimal]] = field(default_factory=list)


def explain(
    store: Store, rules: RuleSet, selector: str, periods: tuple[str, str] | None
) -> list[Explanation]:
    """Which rule gave each dimension of the lines a resource (or `col=value,...`) names."""
    builder = Builder(rules, "_explain")
    con = store.connect()
    builder.discover_tag_keys(con)
    for statement in builder.helper_tables():
        con.execute(statement)
    where = f"{period_filter(periods)} AND {_selector_sql(selector)}"
    sources = ", ".join(f"{d}, {d}_source" for d in DIMENSIONS)
    shown = "x_BillingPeriod, SubAccountId, SubAccountName, ServiceName, ChargeCategory, ResourceId"
    rows = con.execute(
        f"""SELECT {shown}, {sources}, shared_pool, missing_tags,
                   sum(EffectiveCost) AS cost, count(*) AS lines, sum(BilledCost) AS billed
            FROM ({builder.lines_sql(where)})
            GROUP BY ALL ORDER BY x_BillingPeriod DESC, cost DESC LIMIT 20"""
    ).fetchall()
    if not rows:
        raise QueryError(
            f"No cost line matches {selector!r}: give a ResourceId, a ResourceName or "
            "COLUMN=VALUE[,COLUMN=VALUE] (e.g. SubAccountId=123456789012,ServiceName=Tax)."
        )
    result = []
    splits = {p.id: p.split for p in rules.allocation.shared_pools}
    width = len(shown.split(", "))
    for row in rows:
        line = dict(zip(shown.split(", "), row[:width], strict=True))
        values = [
            (dim, row[width + 2 * n], row[width + 2 * n + 1]) for n, dim in enumerate(DIMENSIONS)
        ]
        rest = row[width + 2 * len(DIMENSIONS) :]
        split = splits.get(rest[0]) if rest[0] else None
        result.append(
            Explanation(
                str(row[0]), line, values, rest[0], rest[1], rest[2], rest[3], rest[4], split
            )
        )
    if DATASET in store.catalog().derived:
        by = {p.id: p.by for p in rules.allocation.shared_pools}
        for e in result:
            if e.shared_pool in by:
                e.shares = _published_shares(con, e, by[e.shared_pool])
    return result


def _published_shares(
    con: duckdb.DuckDBPyConnection, e: Explanation, by: str
) -> list[tuple[str | None, Decimal, Decimal]]:
    # Shared rows name an account only when all the lines they sum come from one (see
    # docs/rules.md), so the split shown is that of the pool's service and charge category.
    rows = con.execute(
        f"""SELECT {by}, sum(BilledCost), sum(EffectiveCost) FROM {DATASET}
            WHERE shared_pool = ? AND x_BillingPeriod = ?
              AND ServiceName IS NOT DISTINCT FROM ? AND ChargeCategory IS NOT DISTINCT FROM ?
            GROUP BY 1 ORDER BY 2 DESC, 1""",
        [e.shared_pool, e.period, e.line["ServiceName"], e.line["ChargeCategory"]],
    ).fetchall()
    return [(r[0], r[1], r[2]) for r in rows]


def _selector_sql(selector: str) -> str:
    from cloudtally.focus.canonical import CANONICAL_BY_NAME

    if "=" not in selector:
        text = literal(selector)
        return f"(c.ResourceId = {text} OR c.ResourceName = {text})"
    terms = []
    for part in selector.split(","):
        column, _, value = part.partition("=")
        column = column.strip()
        if column not in CANONICAL_BY_NAME:
            raise QueryError(
                f"--explain: {column!r} is not a FOCUS column; use e.g. SubAccountId=..., "
                "ServiceName=... or a ResourceId."
            )
        terms.append(f"CAST(c.{identifier(column)} AS VARCHAR) = {literal(value.strip())}")
    return "(" + " AND ".join(terms) + ")"


# -- what-if ------------------------------------------------------------------------------------


@dataclass
class Comparison:
    by: str
    period: str
    rows: list[
        tuple[str | None, str, Decimal, Decimal, Decimal]
    ]  # value, currency, now, then, change


def compare(
    store: Store, current: RuleSet, proposed: RuleSet, period: str, by: str = "team"
) -> Comparison:
    """Each team's (or `by`'s) total for `period` under two rule sets, without publishing."""
    if by not in DIMENSIONS:
        raise QueryError(f"--by {by!r}: use one of {', '.join(DIMENSIONS)}.")
    con = store.connect()
    periods = (period, period)
    a = prepare(con, current, periods, "_current")
    b = prepare(con, proposed, periods, "_proposed")
    rows = con.execute(
        f"""WITH a AS (SELECT {by} AS v, BillingCurrency AS c, sum(EffectiveCost) AS cost
                       FROM ({a}) GROUP BY ALL),
                 b AS (SELECT {by} AS v, BillingCurrency AS c, sum(EffectiveCost) AS cost
                       FROM ({b}) GROUP BY ALL)
            SELECT coalesce(a.v, b.v), coalesce(a.c, b.c), coalesce(a.cost, 0), coalesce(b.cost, 0),
                   coalesce(b.cost, 0) - coalesce(a.cost, 0) AS change
            FROM a FULL JOIN b ON a.v IS NOT DISTINCT FROM b.v AND a.c = b.c
            ORDER BY 2, abs(change) DESC, 1 NULLS LAST"""
    ).fetchall()
    return Comparison(by, period, [tuple(r) for r in rows])
