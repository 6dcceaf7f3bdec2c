"""The commitments summary: per-day sums of the columns the commitment questions read, so
utilization, coverage and savings add up thousands of rows instead of decoding the lake's
DECIMAL(38,18) columns line by line.

`commitments_cube` is a derived dataset published in the same catalog swap as the lake files it
sums, one part per lake partition like `costs_cube` (`query.cube`): an ingest writes the parts
of the partitions it changed, keeps the others' files, and builds the parts a lake ingested
before the summary existed lacks. It holds the usage and commitment lines (`SUMMED_LINES`)
grouped by

- the day (ChargePeriodStart truncated to the day, UTC; `day`, `week`, `month` and the latest
  name of an account or region read the same from it),
- every column the three questions group, filter or decide eligibility by (`GRAIN`), and the
  instance family of the line (`rows.INSTANCE_FAMILY`, read once per distinct SkuPriceDetails),
- whether the line is a fee row carrying the unused commitment (`unused_on_purchase`: the value
  of `rows.UNUSED_ON_PURCHASE` on the line, NULL included),

with the exact DECIMAL sums of `SUMS`, the count of lines and of lines without a
CommitmentDiscountQuantity. A sum of per-day sums is the sum of the lines to the last digit,
so a question over the summary gives the lake's answer exactly: `SUMMARY_SQL` reproduces it
over `costs`, and tests/commitments/test_summary.py compares every question both ways.

The summary is read only when it is current (built from the live files, by this SQL) and every
`--by` word is in it (`WORDS`); anything else reads the lake. It is `rebuildable`: a damaged
file leaves its view out (the questions read the lake) and the next ingest builds that part
again, so it never stands in the way of an ingest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import duckdb

from cloudtally.commitments.rows import (
    INSTANCE_FAMILY,
    LAKE,
    UNUSED_ON_PURCHASE,
    Lines,
    Scope,
)
from cloudtally.query.cube import KEY_COLUMNS
from cloudtally.sqltext import identifier, literal
from cloudtally.store import Store
from cloudtally.store.catalog import Catalog, PartitionKey
from cloudtally.store.parts import readable, with_parts

COMMITMENTS_CUBE = "commitments_cube"

# The lake columns the summary keeps as they are (its grain, besides the day, the instance
# family and `unused_on_purchase`): the costs cube's, and what commitment questions group,
# filter or decide eligibility by.
GRAIN = (
    *KEY_COLUMNS,
    "ServiceSubcategory",
    "ResourceType",
    "SkuId",
    "ChargeClass",
    "PricingCategory",
    "PricingUnit",
    "ConsumedUnit",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountCategory",
    "CommitmentDiscountType",
    "CommitmentDiscountStatus",
    "CommitmentDiscountUnit",
)
SUMS = (
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "ConsumedQuantity",
    "CommitmentDiscountQuantity",
)
# The lines every commitment question reads: usage (utilization's Used and Unused rows,
# coverage's eligible usage, savings) and every commitment row (fee rows carrying the unused
# part; `rows.USAGE_KINDS_SQL` reads both).
SUMMED_LINES = "ChargeCategory = 'Usage' OR CommitmentDiscountId IS NOT NULL"

# How the questions read the summary (`rows.Lines`): its flag column stands for the row test,
# its line counts for count(*), its instance family column for the SkuPriceDetails expression.
SUMMARY = Lines(
    relation=COMMITMENTS_CUBE,
    unused_on_purchase="unused_on_purchase",
    count_without_quantity="coalesce(sum(lines_without_quantity) FILTER (WHERE {}), 0)",
    instance_family="instance_family",
)

# `--by` words the summary answers: the dimensions whose SQL reads only its grain columns.
WORDS = frozenset(
    {
        "provider",
        "billing-account",
        "account",
        "service",
        "service-category",
        "service-subcategory",
        "charge-category",
        "pricing-category",
        "region",
        "resource-type",
        "sku",
        "commitment",
        "period",
        "month",
        "week",
        "day",
        "currency",
        "instance-family",
        *GRAIN,
    }
)


# A line's day as microseconds since 1970 (UTC; floored, so days before 1970 too): integer
# arithmetic on the timestamp, where `date_trunc('day', ...)` on every line would go through
# the time zone library. `make_timestamptz` of it is `date_trunc('day', ChargePeriodStart)`.
_DAY = 86_400_000_000
_DAY_US = (
    f"epoch_us(ChargePeriodStart) - ((epoch_us(ChargePeriodStart) % {_DAY}) + {_DAY}) % {_DAY}"
)


def summary_sql(relation: str = "costs", partition: PartitionKey | None = None) -> str:
    """The SELECT that sums `relation`'s lines (those of `partition` only, when given) into the
    summary.

    Two stages: the lines grouped by their day and SkuPriceDetails, then the day made a
    timestamp again and the instance family read from each group's SkuPriceDetails (JSON and
    regular expressions on a few thousand groups, not on every line), and the groups summed
    again. Within one partition its key columns are constants, not grouped by."""
    constants: dict[str, str] = {}
    where = "true"
    if partition is not None:
        constants = {
            "x_Provider": literal(partition.provider),
            "BillingAccountId": literal(partition.billing_account_id),
            "x_BillingPeriod": literal(partition.billing_period),
        }
        where = " AND ".join(f"{identifier(c)} = {v}" for c, v in constants.items())
    grouped = ", ".join(identifier(c) for c in GRAIN if c not in constants)
    keys = ", ".join(
        f"{constants[c]} AS {identifier(c)}" if c in constants else identifier(c) for c in GRAIN
    )
    sums = ", ".join(f"sum({identifier(c)}) AS {identifier(c)}" for c in SUMS)
    return f"""
        SELECT make_timestamptz(day_us) AS ChargePeriodStart, {keys},
               {INSTANCE_FAMILY} AS instance_family, unused_on_purchase,
               {sums},
               CAST(sum(lines) AS BIGINT) AS lines,
               CAST(sum(lines_without_quantity) AS BIGINT) AS lines_without_quantity
        FROM (
            SELECT {_DAY_US} AS day_us, {grouped}, SkuPriceDetails,
                   {UNUSED_ON_PURCHASE} AS unused_on_purchase,
                   {sums},
                   count(*) AS lines,
                   count(*) FILTER (WHERE CommitmentDiscountQuantity IS NULL)
                       AS lines_without_quantity
            FROM {relation}
            WHERE ({SUMMED_LINES}) AND {where}
            GROUP BY ALL
        )
        GROUP BY ALL"""


SUMMARY_SQL = summary_sql()
# Partitions whose parts one query builds (`store.parts.write_parts`).
PARTS_PER_QUERY = 16
_SQL_SHA256 = hashlib.sha256(SUMMARY_SQL.encode()).hexdigest()[:16]


def with_commitments_cube(store: Store, catalog: Catalog) -> Catalog:
    """`catalog` with `commitments_cube` summing its live files (not yet committed: the caller
    commits it with the files it sums, in one swap).

    One part per partition (`store.parts.with_parts`): the part of a partition whose files are
    those it was built from (and whose file is intact) is kept by reference; the others are
    built from their partition's lines alone; the parts of partitions no longer live are
    dropped. If the summary cannot be built, the catalog goes without it (the questions read
    the lake)."""
    try:
        return with_parts(
            store,
            catalog,
            COMMITMENTS_CUBE,
            {"sql": _SQL_SHA256},
            lambda _, batch: [summary_sql("costs", partition.key) for partition in batch],
            per_query=PARTS_PER_QUERY,
        )
    except (duckdb.OutOfRangeException, duckdb.ConversionException):
        # A day's sum beyond DECIMAL(38,18) where the lake's own sums are not: no summary.
        others = {k: v for k, v in catalog.derived.items() if k != COMMITMENTS_CUBE}
        return catalog.model_copy(update={"derived": others})


def summary_is_current(store: Store, catalog: Catalog) -> bool:
    """Whether the summary sums exactly the lake's live files, by this version's SQL, and
    every file of it is intact (a damaged one has no view: the lake answers)."""
    from cloudtally.allocate.engine import lake_fingerprint

    summary = catalog.derived.get(COMMITMENTS_CUBE)
    if summary is None or summary.parameters.get("sql") != _SQL_SHA256:
        return False
    if summary.parameters.get("lake") != lake_fingerprint(catalog):
        return False
    return readable(store, summary)


def answers(scope: Scope) -> bool:
    """Whether the summary holds every dimension the question groups by."""
    return all(d.word in WORDS for d in scope.dimensions)


def commitment_answer(
    store: Store,
    scope: Scope,
    question: Callable[[duckdb.DuckDBPyConnection, Scope, Lines], str],
    *,
    lake_only: bool = False,
) -> tuple[str, list[str], list[tuple[Any, ...]]]:
    """Run a commitment question (`question` gives its SQL over `Lines`) over the summary when
    it is current and answers the scope, else over the lake: the SQL run, its column names
    and its rows. One catalog for the whole question, so an ingest finishing meanwhile
    cannot mix two states of the lake. `lake_only` reads the lake whatever the summary."""
    catalog = store.catalog()
    con = store.connect(catalog)
    try:
        if not lake_only and answers(scope) and summary_is_current(store, catalog):
            try:
                return _run(con, question(con, scope.over(SUMMARY), SUMMARY))
            except duckdb.InterruptException:
                raise
            except duckdb.Error:
                pass  # a part that cannot be read after all (no view): the lake answers
        return _run(con, question(con, scope, LAKE))
    finally:
        con.close()


def _run(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[str, list[str], list[tuple[Any, ...]]]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description or []]
    return sql, names, cursor.fetchall()
