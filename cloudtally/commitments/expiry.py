"""The expiry ladder: which commitments end in the next 30, 90 and 180 days, how well each is
used now, and what the usage it covers would cost on demand once it ends.

Days are counted from `as_of`: by default the end of the lake's data (the last usage charge
period's end), so a lake of past months reads as it did then. For each commitment, "now" is the latest
billing period in which it has usage rows:

    utilization           = used / (used + unused) in that period (cost; see `utilization`)
    amortized_cost        = its EffectiveCost (Used + Unused rows) in that period
    on_demand_replacement = ContractedCost of its Used rows in that period: the same usage at
                            the rate without the commitment
    increase              = on_demand_replacement - amortized_cost (negative: it costs more
                            than it saves, and letting it end saves money)
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from cloudtally.commitments.fractions import fraction_sql
from cloudtally.commitments.rows import (
    COMMITMENT_COST,
    USED,
    has_contracts,
    scope_of,
    terms_sql,
)
from cloudtally.errors import QueryError
from cloudtally.results import Column, Result
from cloudtally.sqltext import literal
from cloudtally.store import Store

BUCKETS = ((30, "within 30 days"), (90, "31-90 days"), (180, "91-180 days"))

COLUMNS = [
    Column("ends_in", "text", "expired, within 30 days, 31-90 days, 91-180 days, later, unknown"),
    Column("commitment_id", "text", "CommitmentDiscountId"),
    Column("commitment_name", "text", "CommitmentDiscountName", table=False),
    Column("provider", "text", "x_Provider"),
    Column("type", "text", "CommitmentDiscountType", table=False),
    Column("term_end", "date", "end of the term"),
    Column("days_left", "count", "days from as_of to term_end"),
    Column("period", "text", "the latest billing period with its usage rows", table=False),
    Column("currency", "text", "BillingCurrency", table=False),
    Column("utilization", "fraction", "used / committed cost in that period"),
    Column("amortized_cost", "money", "its EffectiveCost in that period"),
    Column("on_demand_replacement", "money", "ContractedCost of its covered usage then"),
    Column("increase", "money", "on_demand_replacement - amortized_cost"),
]


def expiry_sql(as_of: str, with_contracts: bool) -> str:
    buckets = " ".join(
        f"WHEN t.term_end < {as_of} + INTERVAL {days} DAY THEN '{name}'" for days, name in BUCKETS
    )
    return f"""
        WITH latest AS (
            SELECT CommitmentDiscountId AS commitment_id, max(x_BillingPeriod) AS period
            FROM costs WHERE {COMMITMENT_COST} GROUP BY 1
        ), now AS (
            SELECT CommitmentDiscountId AS commitment_id, period,
                   max(CommitmentDiscountName) AS commitment_name,
                   max(x_Provider) AS provider, max(CommitmentDiscountType) AS type,
                   BillingCurrency AS currency,
                   coalesce(sum(EffectiveCost) FILTER (WHERE {USED}), 0) AS used,
                   coalesce(sum(EffectiveCost) FILTER (WHERE NOT coalesce({USED}, false)), 0)
                       AS unused,
                   coalesce(sum(ContractedCost) FILTER (WHERE {USED}), 0) AS on_demand_replacement
            FROM costs
            JOIN latest ON latest.commitment_id = CommitmentDiscountId
                       AND latest.period = x_BillingPeriod
            WHERE {COMMITMENT_COST}
            GROUP BY CommitmentDiscountId, period, BillingCurrency
        ), terms AS (
            {terms_sql(with_contracts)}
        )
        SELECT CASE WHEN t.term_end IS NULL THEN 'unknown'
                    WHEN t.term_end <= {as_of} THEN 'expired'
                    {buckets} ELSE 'later' END AS ends_in,
               n.commitment_id, n.commitment_name, n.provider, n.type, t.term_end,
               CAST(date_diff('day', {as_of}, t.term_end) AS BIGINT) AS days_left,
               n.period, n.currency,
               {fraction_sql("n.used", "n.used + n.unused", "n.currency")} AS utilization,
               n.used + n.unused AS amortized_cost, n.on_demand_replacement,
               n.on_demand_replacement - (n.used + n.unused) AS increase
        FROM now AS n LEFT JOIN terms AS t USING (commitment_id)
        ORDER BY t.term_end NULLS LAST, n.provider, n.commitment_id"""


def data_end(store: Store) -> datetime:
    """The end of the lake's data: the latest ChargePeriodEnd of its usage (a one-time
    purchase's charge period is its whole term)."""
    (end,) = store.connect().execute(
        "SELECT max(ChargePeriodEnd) FROM costs WHERE ChargeCategory = 'Usage'"
    ).fetchone() or (None,)
    if end is None:
        return datetime.now(UTC)
    return end if isinstance(end, datetime) else datetime.combine(end, datetime.min.time(), UTC)


def expiry(store: Store, *, as_of: date | None = None) -> Result:
    """The commitments by when they end, with their utilization and on-demand replacement."""
    scope_of(store, None, None)  # refuses an empty lake
    when = (
        datetime.combine(as_of, datetime.min.time(), UTC) if as_of is not None else data_end(store)
    )
    if when.year < 2000 or when.year > 2200:
        raise QueryError(f"--as-of {as_of} is out of range: use a date from 2000 to 2200.")
    stamp = f"CAST({literal(when.isoformat())} AS TIMESTAMPTZ)"
    sql = expiry_sql(stamp, has_contracts(store))
    cursor = store.connect().execute(sql)
    names = [d[0] for d in cursor.description or []]
    at = [names.index(c.name) for c in COLUMNS]
    rows = [tuple(r[i] for i in at) for r in cursor.fetchall()]
    result = Result(
        title=f"Commitment expiry ladder as of {when.date()}",
        columns=COLUMNS,
        rows=rows,
        sql=sql,
    )
    for _, name in BUCKETS:
        within = [r for r in result.records() if r["ends_in"] == name]
        result.totals[f"ending {name}"] = len(within)
    horizon = when + timedelta(days=BUCKETS[-1][0])
    ending = [
        r for r in result.records() if r["term_end"] is not None and when < r["term_end"] <= horizon
    ]
    by_currency: dict[str, Decimal] = {}
    for r in ending:
        by_currency[r["currency"]] = by_currency.get(r["currency"], Decimal(0)) + r["increase"]
    for currency, increase in sorted(by_currency.items()):
        name = f"increase per billing period if those ending within 180 days lapse ({currency})"
        result.totals[name] = increase
    unknown = sum(1 for r in result.records() if r["ends_in"] == "unknown")
    if unknown:
        result.notes.append(
            f"{unknown} commitment(s) without a known end: ingest the FOCUS 1.3 Contract "
            "Commitment dataset to place them on the ladder."
        )
    return result
