"""Inventory: every commitment discount in the lake, what it is and what it costs.

One row per CommitmentDiscountId: provider, type, category (Spend or Usage), unit, its
purchase rows (one-time and recurring, with their BilledCost), its term where known (from the
FOCUS 1.3 Contract Commitment dataset, else from a one-time purchase's charge period), and its
amortized cost (the EffectiveCost of its Used and Unused rows) per billing period.
"""

from __future__ import annotations

from datetime import datetime

from cloudtally.commitments.rows import (
    COMMITMENT_COST,
    PURCHASE,
    has_contracts,
    scope_of,
    terms_sql,
)
from cloudtally.results import Column, Result
from cloudtally.store import Store

COLUMNS = [
    Column("commitment_id", "text", "CommitmentDiscountId"),
    Column("commitment_name", "text", "CommitmentDiscountName", table=False),
    Column("provider", "text", "x_Provider"),
    Column("type", "text", "CommitmentDiscountType (provider's name for the kind)"),
    Column("category", "text", "CommitmentDiscountCategory: Spend or Usage"),
    Column("unit", "text", "CommitmentDiscountUnit", table=False),
    Column("currency", "text", "BillingCurrency", table=False),
    Column(
        "one_time_purchases", "count", "purchase rows with ChargeFrequency One-Time", table=False
    ),
    Column("one_time_cost", "money", "their BilledCost"),
    Column(
        "recurring_purchases", "count", "purchase rows with ChargeFrequency Recurring", table=False
    ),
    Column("recurring_cost", "money", "their BilledCost"),
    Column("term_start", "date", "start of the term, where known", table=False),
    Column("term_end", "date", "end of the term, where known"),
    Column("term", "text", "length of the term (1y, 3y, or days)"),
    Column("term_source", "text", "where the term comes from", table=False),
    Column("amortized_cost", "money", "EffectiveCost of its Used and Unused rows in scope"),
    Column("amortized_by_period", "json", "amortized cost per billing period", table=False),
]


def inventory_sql(where: str, with_contracts: bool) -> str:
    return f"""
        WITH rows AS (
            SELECT * FROM costs WHERE CommitmentDiscountId IS NOT NULL AND {where}
        ), summary AS (
            SELECT CommitmentDiscountId AS commitment_id,
                   max(CommitmentDiscountName) AS commitment_name,
                   max(x_Provider) AS provider,
                   max(CommitmentDiscountType) AS type,
                   max(CommitmentDiscountCategory) AS category,
                   max(CommitmentDiscountUnit) AS unit,
                   min(BillingCurrency) AS currency,
                   count(*) FILTER (WHERE {PURCHASE} AND ChargeFrequency = 'One-Time')
                       AS one_time_purchases,
                   coalesce(sum(BilledCost) FILTER (
                       WHERE {PURCHASE} AND ChargeFrequency = 'One-Time'), 0) AS one_time_cost,
                   count(*) FILTER (WHERE {PURCHASE} AND ChargeFrequency = 'Recurring')
                       AS recurring_purchases,
                   coalesce(sum(BilledCost) FILTER (
                       WHERE {PURCHASE} AND ChargeFrequency = 'Recurring'), 0) AS recurring_cost,
                   coalesce(sum(EffectiveCost) FILTER (WHERE {COMMITMENT_COST}), 0)
                       AS amortized_cost
            FROM rows GROUP BY 1
        ), by_period AS (
            SELECT commitment_id, map(list(x_BillingPeriod ORDER BY x_BillingPeriod),
                                      list(cost ORDER BY x_BillingPeriod)) AS amortized_by_period
            FROM (SELECT CommitmentDiscountId AS commitment_id, x_BillingPeriod,
                         sum(EffectiveCost) AS cost
                  FROM rows WHERE {COMMITMENT_COST} GROUP BY ALL)
            GROUP BY 1
        ), terms AS (
            {terms_sql(with_contracts)}
        )
        SELECT s.*, t.term_start, t.term_end, t.term_source, p.amortized_by_period
        FROM summary AS s
        LEFT JOIN terms AS t USING (commitment_id)
        LEFT JOIN by_period AS p USING (commitment_id)
        ORDER BY s.provider, t.term_end NULLS LAST, s.commitment_id"""


def term_text(start: datetime | None, end: datetime | None) -> str | None:
    """A term's length as people say it: `1y`, `3y`, else in days.

    >>> from datetime import datetime as d
    >>> term_text(d(2023, 1, 1), d(2024, 1, 1)), term_text(d(2024, 1, 1), d(2027, 1, 1))
    ('1y', '3y')
    >>> term_text(d(2024, 1, 1), d(2024, 4, 10)), term_text(None, None)
    ('100 days', None)
    """
    if start is None or end is None:
        return None
    days = (end - start).days
    years = round(days / 365.25)
    if years >= 1 and abs(days - years * 365.25) <= 2:
        return f"{years}y"
    return f"{days} days"


def inventory(store: Store, *, period: str | None = None) -> Result:
    """Every commitment discount with its purchases, term and amortized cost."""
    scope = scope_of(store, period, None)
    sql = inventory_sql(scope.where, has_contracts(store))
    cursor = store.connect().execute(sql)
    names = [d[0] for d in cursor.description or []]
    rows = []
    for raw in cursor.fetchall():
        record = dict(zip(names, raw, strict=True))
        record["term"] = term_text(record["term_start"], record["term_end"])
        record["amortized_by_period"] = dict(record["amortized_by_period"] or {})
        rows.append(tuple(record[c.name] for c in COLUMNS))
    result = Result(
        title="Commitment inventory" + (f", {period}" if period else ""),
        columns=COLUMNS,
        rows=rows,
        sql=sql,
    )
    unknown = sum(1 for r in result.records() if r["term_end"] is None)
    if unknown:
        result.notes.append(
            f"{unknown} commitment(s) without a known term: ingest the provider's FOCUS 1.3 "
            "Contract Commitment dataset to see their terms and end dates."
        )
    return result
