"""The daily cubes: per-day sums of every metric at the grain most questions ask about, so the
API and the pages answer from thousands of rows instead of the lake's millions.

Two cubes, each a derived dataset published in the same catalog swap as the data it sums:

- `costs_cube` sums `costs`; owners (team, product, cost_center, env) are the tags normalised
  by the tag policy in force when it was built. It is kept in parts, one file per lake
  partition (provider, billing account, billing period): an ingest writes the parts of the
  partitions it changed and keeps the others' files as they are; a tag policy other than the
  one it was built with (`allocate` with another tags.yaml), or a cube written whole by an
  older version, rebuilds every part.
- `allocated_cube` sums `allocated_costs` (owners as allocated, shared costs included);
  `allocate` writes it with the allocation.

Grain: day (`ChargePeriodStart` truncated to the day, UTC) x billing period x provider x
billing account x sub account x service (and category) x region x the four owner dimensions x
charge category x currency, with the exact DECIMAL sums of BilledCost, EffectiveCost, ListCost
and ContractedCost and the count of lines. The columns keep the lake's names, so the query
layer's SQL (dimensions, day and period ranges, filters, the viewer's scope) runs unchanged
over a cube: a sum of per-day sums is the sum of the lines, to the last digit.

A cube is used only when it is current: built from the lake files (and, for
`allocated_cube`, the allocation) live now and with the tag policy the question uses
(`parameters`), and only for questions whose dimensions, filters and metric are all in it.
Anything else reads the lake (`cube_lens` returns the lens unchanged).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from cloudtally.engine import DUCKDB
from cloudtally.query.dimensions import METRICS
from cloudtally.query.ownership import ALLOCATED, OWNERSHIP, Lens, Scope
from cloudtally.query.periods import DateRange, LakeSpan, lake_span
from cloudtally.rules.tags import TagPolicy, normalise_sql, raw_value_sql
from cloudtally.sqltext import identifier, literal
from cloudtally.store import Store
from cloudtally.store.catalog import REBUILDABLE, Catalog, DerivedDataset, DerivedPart
from cloudtally.store.parts import readable, with_parts

if TYPE_CHECKING:
    from cloudtally.rules.allocation import RuleSet

COSTS_CUBE = "costs_cube"
ALLOCATED_CUBE = "allocated_cube"
CUBES = {"costs": COSTS_CUBE, ALLOCATED: ALLOCATED_CUBE}

# The lake columns a cube keeps (its grain, besides the day and the owners).
KEY_COLUMNS = (
    "x_BillingPeriod",
    "x_Provider",
    "BillingAccountId",
    "BillingAccountName",
    "SubAccountId",
    "SubAccountName",
    "ServiceName",
    "ServiceCategory",
    "RegionId",
    "RegionName",
    "ChargeCategory",
    "BillingCurrency",
)
# CLI words a cube answers (their SQL in `dimensions.DIMENSIONS` reads only the columns above
# and ChargePeriodStart, which a cube holds truncated to the day).
WORDS = frozenset(
    {
        "provider",
        "billing-account",
        "account",
        "service",
        "service-category",
        "charge-category",
        "region",
        "period",
        "month",
        "week",
        "day",
        "currency",
        *OWNERSHIP,
        *KEY_COLUMNS,
    }
)


def policy_sha256(policy: TagPolicy) -> str:
    """A fingerprint of a tag policy (owners read from tags depend on it)."""
    return hashlib.sha256(policy.model_dump_json().encode()).hexdigest()[:16]


# What an allocated cube keeps besides (showback's direct and shared parts, the unallocated
# cost's causes).
ALLOCATION_COLUMNS = ("allocation_kind", "shared_pool", "missing_tags")


def cube_sql(
    relation: str,
    policy: TagPolicy | None,
    where: str = "true",
    present: Mapping[str, str] | None = None,
) -> str:
    """The SELECT that sums `relation` (its rows matching `where`) into a cube: owners are
    columns of `allocated_costs` (with ALLOCATION_COLUMNS), else read from the tags by
    `policy`; with `present` (the tag keys of those rows, `tag_keys`) by map lookups of the
    keys that name an owner (the same values, found faster)."""
    if policy is None:
        owners = [identifier(word) for word in (*OWNERSHIP, *ALLOCATION_COLUMNS)]
    else:
        owners = [
            f"{normalise_sql(policy, word, raw_value_sql(policy, word, present=present))} "
            f"AS {identifier(word)}"
            for word in OWNERSHIP
        ]
    keys = ", ".join(identifier(c) for c in KEY_COLUMNS)
    sums = ", ".join(f"sum({m}) AS {m}" for m in METRICS)
    return f"""
        SELECT date_trunc('day', ChargePeriodStart) AS ChargePeriodStart, {keys},
               {", ".join(owners)}, {sums}, count(*) AS lines
        FROM {relation}
        WHERE {where}
        GROUP BY ALL"""


def write_cube(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    policy: TagPolicy | None,
    target: Path,
    where: str = "true",
) -> int:
    """Write the cube of `relation` (its rows matching `where`) on `con` to `target`
    (Parquet); its row count."""
    con.execute("SET preserve_insertion_order = false")
    written = con.execute(
        f"COPY ({cube_sql(relation, policy, where)}) TO {literal(str(target))} "
        "(FORMAT parquet, COMPRESSION zstd)"
    ).fetchone()
    return int(written[0]) if written else 0


def span_of(con: duckdb.DuckDBPyConnection, target: Path) -> dict[str, str]:
    """The billing periods and charge days a written cube covers, as parameters to record (a
    cube's span is then known without a query: `known_span`)."""
    span = lake_span(con, f"read_parquet({literal(str(target))})")
    if span is None:
        return {}
    days = f"{span.first_day.isoformat()}..{span.last_day.isoformat()}"
    return {"periods": f"{span.first_period}..{span.last_period}", "days": days}


def known_span(store: Store, lens: Lens) -> LakeSpan | None:
    """The span of the cube `lens` reads, as recorded when it was written (None for a relation
    that is not a cube, or a cube written before spans were recorded)."""
    if lens.relation not in CUBES.values():
        return None
    cube = store.catalog().derived.get(lens.relation)
    if cube is None or "periods" not in cube.parameters or "days" not in cube.parameters:
        return None
    first_period, last_period = cube.parameters["periods"].split("..")
    first_day, last_day = cube.parameters["days"].split("..")
    return LakeSpan(
        first_period, last_period, date.fromisoformat(first_day), date.fromisoformat(last_day)
    )


def with_costs_cube(store: Store, catalog: Catalog, policy: TagPolicy) -> Catalog:
    """`catalog` with `costs_cube` summing its live files (not yet committed: the caller
    commits it with the files it sums, in one swap).

    One part per partition (`store.parts.with_parts`): the part of a partition whose files are
    those it was built from, and whose file is intact, is kept (its file referenced, not
    rewritten); the others are built from their partition's lines alone, and the parts of
    partitions no longer live are dropped. Built with another tag policy or cube SQL, or by a
    version that wrote the cube whole: every part is built. Published `rebuildable`: a damaged
    part leaves the view out (questions read the lake) until the next build replaces it."""
    return with_parts(
        store,
        catalog,
        COSTS_CUBE,
        {"policy": policy_sha256(policy), "sql": _sql_sha256(policy)},
        lambda con, _: cube_sql("costs", policy, present=tag_keys(con, "costs")),
        per_query=PARTS_PER_QUERY,
        extra=lambda new: _with_spans(store, new),
        parameters=lambda parts: _joined([p.parameters for p in parts]),
    )


def _sql_sha256(policy: TagPolicy) -> str:
    """A fingerprint of what a costs cube part holds (its columns, and owners by `policy`):
    parts built by other SQL are not mixed with the ones built now."""
    return hashlib.sha256(cube_sql("costs", policy).encode()).hexdigest()[:16]


# Partitions whose parts one query builds (a first ingest, or a changed tag policy, builds
# every part): one scan of their lines, their distinct tag keys first, then one GROUP BY of
# all of them whose rows are split into one file per partition. Owners are read with plain
# map lookups of the keys present, not by folding every tag of every line: the same values
# as `cube_sql` (`_sql_sha256` stamps that SQL), 3-4x faster.
PARTS_PER_QUERY = 16


def _with_spans(store: Store, new: list[tuple[DerivedPart, Path]]) -> list[DerivedPart]:
    """The new parts, each with the span of billing periods and days its file covers (read by
    DuckDB, which wrote them on this machine: `store.parts.write_parts`)."""
    con = DUCKDB.connection(store)
    try:
        spans = _spans(con, [target for part, target in new if part.rows])
    finally:
        con.close()
    return [
        part.model_copy(update={"parameters": spans.get(str(target), {})}) for part, target in new
    ]


def tag_keys(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    """The distinct tag keys of `relation`'s lines, each with its folded form as the engine
    folds it (`lower(trim(key))`): what `raw_value_sql(present=...)` needs to look owners up
    exactly as the fallback finds them."""
    rows = con.execute(
        f"SELECT k, lower(trim(k)) FROM (SELECT DISTINCT unnest(map_keys(Tags)) AS k "
        f"FROM {relation}) WHERE k IS NOT NULL"
    ).fetchall()
    return {str(key): str(folded) for key, folded in rows}


def _spans(con: duckdb.DuckDBPyConnection, targets: list[Path]) -> dict[str, dict[str, str]]:
    """The billing periods and charge days each written cube file covers, as `span_of` gives
    them (one query for all)."""
    if not targets:
        return {}
    listed = ", ".join(literal(str(t)) for t in targets)
    rows = con.execute(
        "SELECT filename, min(x_BillingPeriod), max(x_BillingPeriod), "
        "CAST(min(ChargePeriodStart) AS DATE), CAST(max(ChargePeriodStart) AS DATE) "
        f"FROM read_parquet([{listed}], filename = true, hive_partitioning = false) "
        "GROUP BY filename"
    ).fetchall()
    return {
        str(name): {
            "periods": f"{first_period}..{last_period}",
            "days": f"{first_day.isoformat()}..{last_day.isoformat()}",
        }
        for name, first_period, last_period, first_day, last_day in rows
    }


def _joined(spans: list[dict[str, str]]) -> dict[str, str]:
    """The span of several parts (each as `span_of` gives it; an empty part has none)."""
    ranges = [
        (s["periods"].split(".."), s["days"].split(".."))
        for s in spans
        if "periods" in s and "days" in s
    ]
    if not ranges:
        return {}
    first_period = min(periods[0] for periods, _ in ranges)
    last_period = max(periods[1] for periods, _ in ranges)
    first_day = min(date.fromisoformat(days[0]) for _, days in ranges)
    last_day = max(date.fromisoformat(days[1]) for _, days in ranges)
    return {
        "periods": f"{first_period}..{last_period}",
        "days": f"{first_day.isoformat()}..{last_day.isoformat()}",
    }


def with_allocated_cube(
    store: Store,
    catalog: Catalog,
    con: duckdb.DuckDBPyConnection,
    allocated: str,
    parameters: dict[str, str],
) -> Catalog:
    """`catalog` with `allocated_cube` summing `allocated` (the allocation's written rows, a
    relation on `con`), stamped with the allocation's `parameters` (not yet committed)."""
    target = store.staging_for(ALLOCATED_CUBE) / "cube.parquet"
    rows = write_cube(con, allocated, None, target)
    return _published(
        store,
        catalog,
        ALLOCATED_CUBE,
        target,
        rows,
        {
            "lake": parameters["lake"],
            "rules_sha256": parameters["rules_sha256"],
            **span_of(con, target),
            # a sum of allocated_costs: damaged, it is read around and `allocate` writes it again
            REBUILDABLE: "true",
        },
    )


def _published(
    store: Store,
    catalog: Catalog,
    name: str,
    target: Path,
    rows: int,
    parameters: dict[str, str],
) -> Catalog:
    """`catalog` with derived dataset `name` = the file `target` (moved into the lake; its
    staging folder removed), not yet committed."""
    found = store.with_derived(catalog, name, [target], rows=rows, parameters=parameters)
    store.remove_staged(target.parent)
    return found


def _damaged(store: Store, cube: DerivedDataset) -> bool:
    """A rebuildable cube with a file that cannot be read: it has no view (the store leaves it
    out), so its questions read the data it sums until it is written again."""
    return cube.parameters.get(REBUILDABLE) == "true" and not readable(store, cube)


def cube_is_current(
    store: Store, catalog: Catalog, lens: Lens, words: Iterable[str] = OWNERSHIP
) -> bool:
    """Whether the cube of `lens`'s relation sums exactly what the relation holds now (for a
    question about `words`: the tag policy matters only when owners are read from tags), and
    can be read: a rebuildable cube with a damaged file has no view (the lake answers)."""
    from cloudtally.allocate.engine import lake_fingerprint

    name = CUBES.get(lens.relation)
    cube = catalog.derived.get(name) if name else None
    if cube is None or cube.parameters.get("lake") != lake_fingerprint(catalog):
        return False
    if _damaged(store, cube):
        return False
    if lens.relation == ALLOCATED:
        source = catalog.derived.get(ALLOCATED)
        return source is not None and source.parameters.get("rules_sha256") == (
            cube.parameters.get("rules_sha256")
        )
    if lens.scope.unrestricted and not any(word in OWNERSHIP for word in words):
        return True
    return cube.parameters.get("policy") == policy_sha256(lens.policy)


def current_relation(store: Store, catalog: Catalog, relation: str) -> str:
    """`relation` (`costs` or `allocated_costs`), or its cube when the cube is current in
    `catalog`, for a question about the cube's columns only (no owners from tags)."""
    name = CUBES.get(relation)
    if name is None or not cube_is_current(store, catalog, Lens(relation), ()):
        return relation
    return name


def answerable(words: Iterable[str], metric_name: str | None = None) -> bool:
    """Whether dimensions and filters `words` (and the metric) are all in a cube."""
    if metric_name is not None and metric_name not in METRICS:
        return False
    return all(word in WORDS for word in words)


def cube_lens(
    store: Store, lens: Lens, words: Sequence[str], metric_name: str | None = None
) -> Lens:
    """The lens over the cube of `lens`'s relation when the cube is current and holds every
    word (dimensions and filters) and the metric; else `lens` itself (the lake answers).

    The scope, tag policy and note carry over: the viewer's scope is applied over the cube's
    owner columns by the same `Lens.filter_sql`.
    """
    if not answerable(words, metric_name) or not cube_is_current(
        store, store.catalog(), lens, words
    ):
        return lens
    return lens.over(CUBES[lens.relation])


# -- tag compliance ------------------------------------------------------------------------------

TAGS_CUBE = "tags_cube"
# What coverage, exceptions and a viewer's scope read of a usage line (tags.compliance).
TAG_LINE_COLUMNS = (
    "x_BillingPeriod",
    "x_Provider",
    "SubAccountId",
    "SubAccountName",
    "ServiceName",
    "BillingCurrency",
    "ResourceId",
    "ResourceName",
    "ChargeDescription",
    "team",
    "team_source",
    "product",
)


def with_tags_cube(
    store: Store, catalog: Catalog, con: duckdb.DuckDBPyConnection, rules: RuleSet
) -> Catalog:
    """`catalog` with `tags_cube`: the usage lines tag compliance reads (`usage_lines`), summed
    per billing period and resource (and, for lines without one, account, service and charge),
    keeping every column coverage and exceptions group or check by; the latest charge day of
    each row as its ChargePeriodStart. Rules without required keys: no cube."""
    from cloudtally.allocate.engine import lake_fingerprint
    from cloudtally.allocate.sql import tag_column
    from cloudtally.tags.compliance import usage_lines

    if not rules.tags.required:
        return catalog
    keys = [identifier(c) for c in TAG_LINE_COLUMNS]
    keys += [tag_column(key) for key in rules.tags.required]
    sums = ", ".join(f"sum({m}) AS {m}" for m in METRICS)
    target = store.staging_for(TAGS_CUBE) / "cube.parquet"
    con.execute(
        f"""COPY (SELECT {", ".join(keys)}, {sums},
                         max(ChargePeriodStart) AS ChargePeriodStart, count(*) AS lines
                  FROM ({usage_lines(con, rules)}) GROUP BY ALL)
            TO {literal(str(target))} (FORMAT parquet, COMPRESSION zstd)"""
    )
    found = con.execute(f"SELECT count(*) FROM read_parquet({literal(str(target))})").fetchone()
    return _published(
        store,
        catalog,
        TAGS_CUBE,
        target,
        int(found[0]) if found else 0,
        # a sum of the usage lines: damaged, it is read around and `allocate` writes it again
        {"lake": lake_fingerprint(catalog), "rules_sha256": rules.sha256, REBUILDABLE: "true"},
    )


def tags_cube_lines(
    store: Store, rules: RuleSet, periods: tuple[str, str] | DateRange | None, scope: Scope
) -> str | None:
    """The usage lines of `periods` (whole billing periods) as rows of `tags_cube`, for
    `coverage` and `exceptions`, when the cube is current (the lake and the rules it was built
    from are those of now); None otherwise (a range of days, or no current cube)."""
    from cloudtally.allocate.engine import lake_fingerprint

    if isinstance(periods, DateRange):
        if periods.grain != "month":
            return None
        periods = periods.periods
    catalog = store.catalog()
    cube = catalog.derived.get(TAGS_CUBE)
    if cube is None or cube.parameters.get("lake") != lake_fingerprint(catalog):
        return None
    if cube.parameters.get("rules_sha256") != rules.sha256:
        return None
    if _damaged(store, cube):
        return None
    where = "true"
    if periods is not None:
        where = f"x_BillingPeriod BETWEEN {literal(periods[0])} AND {literal(periods[1])}"
    lens = Lens(ALLOCATED, rules.tags, scope=scope)
    return f"SELECT * FROM {TAGS_CUBE} WHERE {where} AND {lens.filter_sql({})}"
