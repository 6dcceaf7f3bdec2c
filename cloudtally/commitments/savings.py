"""Savings from rates: list, contracted and effective cost of the usage, what negotiated
discounts and commitments saved, the waste, and the Effective Savings Rate under each of its
published definitions.

Over usage rows (ChargeCategory 'Usage'; purchases are left out because their cost reaches the
usage as EffectiveCost, and counting both would count it twice):

    list_cost        = ListCost of the usage (not of Unused rows: no usage stands behind them)
    contracted_cost  = ContractedCost of the same rows
    effective_cost   = EffectiveCost of the usage, Unused rows included (they are paid for)
    waste            = EffectiveCost of the Unused rows (and of fee rows carrying the unused
                       part, in sources of that shape)
    negotiated_savings = list_cost - contracted_cost
    commitment_savings = ContractedCost - EffectiveCost of the Used rows - waste
    other_savings      = the rest of contracted_cost - effective_cost (spot, credits in price)
    total_savings      = list_cost - effective_cost
                       = negotiated_savings + commitment_savings + other_savings

Effective Savings Rate, each named after who publishes it:

    esr_finops_toolkit    = total_savings / list_cost
        (FinOps toolkit savings summary: (ListCost - EffectiveCost) / ListCost)
    esr_finops_foundation = (contracted_cost - effective_cost) / contracted_cost
        (FinOps Foundation use case "Determine Effective Savings Rate")
    esr_google_cloud      = commitment_savings / eligible_on_demand
        (Google Cloud CUD KPIs: commitment savings / on-demand equivalent spend, where the
        on-demand equivalent is the ContractedCost of commitment-eligible usage)
"""

from __future__ import annotations

from decimal import Decimal

import duckdb

from cloudtally.commitments.fractions import NOT_GIVEN, fraction_sql
from cloudtally.commitments.rows import (
    ELIGIBLE_ROW,
    LAKE,
    UNUSED,
    USED,
    Lines,
    Scope,
    eligible_keys,
    eligible_keys_sql,
    grouped_rows,
    scope_of,
)
from cloudtally.commitments.summary import commitment_answer
from cloudtally.results import Column, Result
from cloudtally.store import Store

ESR_DEFINITIONS = {
    "esr_finops_toolkit": "FinOps toolkit: (ListCost - EffectiveCost) / ListCost",
    "esr_finops_foundation": "FinOps Foundation: (ContractedCost - EffectiveCost) / ContractedCost",
    "esr_google_cloud": "Google Cloud: commitment savings / on-demand equivalent of eligible usage",
}

VALUE_COLUMNS = [
    Column("currency", "text", "BillingCurrency", table=False),
    Column("list_cost", "money", "ListCost of the usage (Unused rows left out)"),
    Column("contracted_cost", "money", "ContractedCost of the same rows", table=False),
    Column("effective_cost", "money", "EffectiveCost of the usage, Unused rows included"),
    Column("negotiated_savings", "money", "list_cost - contracted_cost"),
    Column("commitment_savings", "money", "ContractedCost - EffectiveCost of Used rows - waste"),
    Column("other_savings", "money", "the rest of contracted - effective (spot, ...)", table=False),
    Column("total_savings", "money", "list_cost - effective_cost"),
    Column("waste", "money", "EffectiveCost of Unused commitment rows"),
    Column(
        "eligible_on_demand", "money", "ContractedCost of commitment-eligible usage", table=False
    ),
    *(Column(name, "fraction", meaning) for name, meaning in ESR_DEFINITIONS.items()),
]

_SUMS = (
    "list_cost",
    "contracted_cost",
    "effective_cost",
    "negotiated_savings",
    "commitment_savings",
    "other_savings",
    "total_savings",
    "waste",
    "eligible_on_demand",
)


def savings_sql(scope: Scope, eligible: list[str], lines: Lines = LAKE) -> str:
    # Two stages: the rows summed once per group, flags and (provider, service, pricing unit);
    # then every figure from those few sums.
    stage_one = "".join(k + ", " for k in scope.key_columns(staged=True))
    stage_two = "".join(k + ", " for k in scope.regroup())
    group = "".join(g + ", " for g in scope.group_by())
    order = "".join(", " + g for g in scope.group_by())
    return f"""
        WITH parts AS MATERIALIZED (  -- the filter below must not be pushed into the scan
            SELECT {stage_one}BillingCurrency AS currency,
                   x_Provider AS provider, ServiceName AS service, PricingUnit AS unit,
                   coalesce({UNUSED}, false) OR {lines.unused_on_purchase} AS unused,
                   coalesce({USED}, false) AS covered,
                   coalesce({ELIGIBLE_ROW}, false) AS eligible_row,
                   sum(ListCost) AS listed, sum(ContractedCost) AS contracted,
                   sum(EffectiveCost) AS effective
            FROM {lines.relation}
            WHERE (ChargeCategory = 'Usage' OR {lines.unused_on_purchase}) AND {scope.where}
            GROUP BY {group}currency, provider, service, unit, unused, covered, eligible_row
        ), grouped AS (
            SELECT {stage_two}currency,
                   coalesce(sum(listed) FILTER (WHERE NOT unused), 0) AS list_cost,
                   coalesce(sum(contracted) FILTER (WHERE NOT unused), 0) AS contracted_cost,
                   coalesce(sum(effective), 0) AS effective_cost,
                   coalesce(sum(effective) FILTER (WHERE unused), 0) AS waste,
                   coalesce(sum(contracted - effective) FILTER (WHERE covered), 0)
                       AS covered_savings,
                   coalesce(sum(contracted) FILTER (
                       WHERE eligible_row AND provider || chr(31) || service || chr(31)
                             || coalesce(unit, '') IN ({eligible_keys_sql(eligible)})), 0)
                       AS eligible_on_demand
            FROM parts
            GROUP BY {group}currency
        ), measured AS (
            SELECT * EXCLUDE (covered_savings),
                   list_cost - contracted_cost AS negotiated_savings,
                   covered_savings - waste AS commitment_savings,
                   contracted_cost - effective_cost - (covered_savings - waste) AS other_savings,
                   list_cost - effective_cost AS total_savings
            FROM grouped
        )
        SELECT *,
               {fraction_sql("total_savings", "list_cost", "currency")} AS esr_finops_toolkit,
               {fraction_sql("contracted_cost - effective_cost", "contracted_cost", "currency")}
                   AS esr_finops_foundation,
               {fraction_sql("commitment_savings", "eligible_on_demand", "currency")}
                   AS esr_google_cloud
        FROM measured
        ORDER BY currency, effective_cost DESC{order}"""


def savings(
    store: Store, *, period: str | None = None, by: str | list[str] | None = None
) -> Result:
    """List, contracted and effective cost with the savings, waste and the Effective Savings
    Rate under each published definition, per group (`by`, default none: per currency)."""
    scope = scope_of(store, period, by)

    def question(con: duckdb.DuckDBPyConnection, scope: Scope, lines: Lines) -> str:
        return savings_sql(scope, eligible_keys(con, lines), lines)

    sql, names, found = commitment_answer(store, scope, question)
    columns, rows = grouped_rows(scope, names, found, VALUE_COLUMNS)
    keys = scope.key_names()
    result = Result(
        title="Savings from rates" + (f", {period}" if period else ""),
        columns=columns,
        rows=rows,
        sql=sql,
        notes=[f"{name}: {meaning}." for name, meaning in ESR_DEFINITIONS.items()],
    )
    if any(r[name] is None for r in result.records() for name in ESR_DEFINITIONS):
        result.notes.append(NOT_GIVEN)
    if keys:
        totals: dict[str, dict[str, Decimal]] = {}
        for r in result.records():
            slot = totals.setdefault(r["currency"], {n: Decimal(0) for n in _SUMS})
            for n in _SUMS:
                slot[n] += r[n]
        for currency, slot in sorted(totals.items()):
            for n in ("effective_cost", "total_savings", "waste"):
                result.totals[f"{n} ({currency})"] = slot[n]
    return result
