"""Utilization: how much of each commitment was used, per commitment and period.

Following FOCUS 1.2 (CommitmentDiscountStatus, CommitmentDiscountQuantity): in each charge
period a commitment's amortized cost shows on 'Used' rows (what covered usage consumed) and on
'Unused' rows (what nothing consumed). So, per commitment and group:

    used      = sum(EffectiveCost) of its Used rows
    unused    = sum(EffectiveCost) of its Unused rows (and of a fee row carrying the unused
                part, in sources of that shape: see `rows.UNUSED_ON_PURCHASE`)
    committed = used + unused               (= the purchases' amortized cost: see `check`)

and for usage-based commitments the same in CommitmentDiscountQuantity. Utilization is
used / committed, measured in CommitmentDiscountQuantity for usage-based commitments whose
rows all carry it, in cost otherwise; the `basis` column says which. Unused quantity is read
from the Unused rows' CommitmentDiscountQuantity, never derived from ConsumedQuantity (which
FOCUS leaves null on unused rows: dividing by it would read 100%).
"""

from __future__ import annotations

from decimal import Decimal

import duckdb

from cloudtally.commitments.fractions import fraction, fraction_sql
from cloudtally.commitments.rows import UNUSED, USED, Lines, Scope, scope_of
from cloudtally.commitments.summary import commitment_answer
from cloudtally.results import Column, Result
from cloudtally.store import Store

COLUMNS = [
    Column("commitment_id", "text", "CommitmentDiscountId"),
    Column("commitment_name", "text", "CommitmentDiscountName", table=False),
    Column("provider", "text", "x_Provider", table=False),
    Column("category", "text", "CommitmentDiscountCategory: Spend or Usage"),
    Column("unit", "text", "CommitmentDiscountUnit of the quantities", table=False),
    Column("currency", "text", "BillingCurrency of the costs", table=False),
    Column("committed", "money", "amortized commitment cost: used + unused"),
    Column("used", "money", "EffectiveCost of the Used rows"),
    Column("unused", "money", "EffectiveCost of the Unused rows (waste)"),
    Column(
        "committed_quantity", "quantity", "used + unused quantity (usage commitments)", table=False
    ),
    Column("used_quantity", "quantity", "CommitmentDiscountQuantity of the Used rows", table=False),
    Column(
        "unused_quantity", "quantity", "CommitmentDiscountQuantity of the Unused rows", table=False
    ),
    Column("utilization", "fraction", "used / committed, 0-1, on the basis named"),
    Column("basis", "text", "quantity (usage commitments with quantities) or cost"),
]


def utilization_sql(scope: Scope, lines: Lines) -> str:
    key_sql = "".join(k + ",\n               " for k in scope.key_columns())
    group_sql = "".join(", " + g for g in scope.group_by())
    order = "".join(", " + g for g in scope.group_by())
    # Grouped by provider, the group's key is the provider column (a second column of that
    # name would be taken for the key).
    provider = (
        "" if "provider" in scope.key_names() else "\n               max(x_Provider) AS provider,"
    )
    return f"""
        WITH grouped AS (
            SELECT CommitmentDiscountId AS commitment_id,
               {key_sql}max(CommitmentDiscountName) AS commitment_name,{provider}
               max(CommitmentDiscountCategory) AS category,
               max(CommitmentDiscountUnit) AS unit,
               BillingCurrency AS currency,
               coalesce(sum(EffectiveCost) FILTER (WHERE {USED}), 0) AS used,
               coalesce(sum(EffectiveCost) FILTER (WHERE NOT coalesce({USED}, false)), 0) AS unused,
               coalesce(sum(CommitmentDiscountQuantity) FILTER (WHERE {USED}), 0) AS used_quantity,
               coalesce(sum(CommitmentDiscountQuantity) FILTER (WHERE {UNUSED}), 0)
                   AS unused_row_quantity,
               coalesce(sum(CommitmentDiscountQuantity) FILTER (
                   WHERE {lines.unused_on_purchase}), 0) AS fee_quantity,
               {lines.count_without_quantity.format("ChargeClass IS NULL")}
                   AS rows_without_quantity
            FROM {lines.relation}
            WHERE {lines.commitment_cost} AND {scope.where}
            GROUP BY commitment_id, currency{group_sql}
        ), quantified AS (
            -- A fee row carrying the unused part states the whole commitment's quantity.
            SELECT * EXCLUDE (unused_row_quantity, fee_quantity),
                   unused_row_quantity + CASE WHEN fee_quantity > 0
                       THEN greatest(fee_quantity - used_quantity, 0) ELSE 0 END
                       AS unused_quantity
            FROM grouped
        ), measured AS (
            SELECT *, used + unused AS committed,
                   category = 'Usage' AND rows_without_quantity = 0
                       AND used_quantity + unused_quantity > 0 AS by_quantity
            FROM quantified
        )
        SELECT * EXCLUDE (rows_without_quantity, by_quantity, used_quantity, unused_quantity),
               CASE WHEN category = 'Usage' THEN used_quantity + unused_quantity END
                   AS committed_quantity,
               CASE WHEN category = 'Usage' THEN used_quantity END AS used_quantity,
               CASE WHEN category = 'Usage' THEN unused_quantity END AS unused_quantity,
               CASE WHEN by_quantity
                    THEN {fraction_sql("used_quantity", "used_quantity + unused_quantity")}
                    ELSE {fraction_sql("used", "committed", "currency")} END AS utilization,
               CASE WHEN by_quantity THEN 'quantity' ELSE 'cost' END AS basis
        FROM measured
        ORDER BY provider, commitment_id{order}, currency"""


def utilization(
    store: Store, *, period: str | None = None, by: str | list[str] | None = None
) -> Result:
    """Per commitment and group (`by`, default the billing period): committed, used, unused
    (cost, and quantity for usage commitments) and utilization as a fraction."""
    scope = scope_of(store, period, by, default="period")

    def question(con: duckdb.DuckDBPyConnection, scope: Scope, lines: Lines) -> str:
        return utilization_sql(scope, lines)

    sql, names, found = commitment_answer(store, scope, question)
    keys = scope.key_names()
    order = ["commitment_id", *keys, *[c.name for c in COLUMNS if c.name != "commitment_id"]]
    at = [names.index(n) for n in order]
    rows = [tuple(r[i] for i in at) for r in found]
    key_columns = [Column(k, "text", f"group: {k}") for k in keys]
    columns = [COLUMNS[0], *key_columns, *COLUMNS[1:]]
    result = Result(
        title="Commitment utilization" + (f", {period}" if period else ""),
        columns=columns,
        rows=rows,
        sql=sql,
    )
    totals: dict[str, dict[str, Decimal]] = {}
    for r in result.records():
        slot = totals.setdefault(r["currency"], {"committed": Decimal(0), "used": Decimal(0)})
        slot["committed"] += r["committed"]
        slot["used"] += r["used"]
    for currency, slot in sorted(totals.items()):
        result.fraction_totals.add(f"utilization by cost ({currency})")
        result.totals[f"utilization by cost ({currency})"] = fraction(
            slot["used"], slot["committed"], currency
        )
        result.totals[f"committed ({currency})"] = slot["committed"]
        result.totals[f"unused ({currency})"] = slot["committed"] - slot["used"]
    if not rows:
        result.notes.append(
            "No commitment usage rows (CommitmentDiscountStatus Used or Unused) in scope."
        )
    return result
