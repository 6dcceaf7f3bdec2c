"""Coverage: how much of the usage commitments could cover they did cover.

Eligible usage (`rows.eligible_condition`): usage rows priced on demand or by a commitment (not
spot, not the Unused rows), of a service the provider's commitments apply to in an hourly unit,
or of a (provider, service, pricing unit) some commitment covered in the lake. Covered usage:
its rows with CommitmentDiscountStatus 'Used'.

    coverage (cost)  = ContractedCost of covered rows / ContractedCost of eligible rows
    coverage (hours) = ConsumedQuantity of covered rows / ConsumedQuantity of eligible rows,
                       over rows whose ConsumedUnit is hours

ContractedCost is the on-demand equivalent: the price without the commitment (with any
negotiated discount), so covered and uncovered usage are compared at one rate.
"""

from __future__ import annotations

from decimal import Decimal

import duckdb

from cloudtally.commitments.fractions import fraction, fraction_sql
from cloudtally.commitments.rows import (
    ELIGIBLE_ROW,
    LAKE,
    USED,
    Lines,
    Scope,
    eligible_keys,
    eligible_keys_sql,
    eligible_services,
    grouped_rows,
    scope_of,
)
from cloudtally.commitments.summary import commitment_answer
from cloudtally.results import Column, Result
from cloudtally.store import Store

VALUE_COLUMNS = [
    Column("currency", "text", "BillingCurrency", table=False),
    Column(
        "eligible_on_demand", "money", "ContractedCost of eligible usage (on-demand equivalent)"
    ),
    Column("covered_on_demand", "money", "ContractedCost of the usage commitments covered"),
    Column("coverage", "fraction", "covered_on_demand / eligible_on_demand"),
    Column("eligible_hours", "quantity", "ConsumedQuantity of eligible usage in hours"),
    Column("covered_hours", "quantity", "ConsumedQuantity of covered usage in hours"),
    Column("hours_coverage", "fraction", "covered_hours / eligible_hours"),
]

HOURS = "ConsumedUnit IN ('Hours', 'Hour', 'hours', 'Hrs')"


def coverage_sql(scope: Scope, eligible: list[str], lines: Lines = LAKE) -> str:
    # Two stages: the lake's rows summed once per group and (provider, service, pricing unit),
    # then eligibility decided on those few sums (summing DECIMAL(38,18) is what costs).
    stage_one = "".join(k + ", " for k in scope.key_columns(staged=True))
    stage_two = "".join(k + ", " for k in scope.regroup())
    group = "".join(g + ", " for g in scope.group_by())
    order = "".join(", " + g for g in scope.group_by())
    return f"""
        WITH parts AS MATERIALIZED (  -- the filter below must not be pushed into the scan
            SELECT {stage_one}BillingCurrency AS currency,
                   x_Provider AS provider, ServiceName AS service, PricingUnit AS unit,
                   coalesce({USED}, false) AS covered, coalesce({HOURS}, false) AS hourly,
                   sum(ContractedCost) AS contracted, sum(ConsumedQuantity) AS quantity
            FROM {lines.relation}
            WHERE {scope.where} AND list_contains([{eligible_services(eligible)}], ServiceName)
              AND {ELIGIBLE_ROW}
            GROUP BY {group}currency, provider, service, unit, covered, hourly
        ), grouped AS (
            SELECT {stage_two}currency,
                   coalesce(sum(contracted), 0) AS eligible_on_demand,
                   coalesce(sum(contracted) FILTER (WHERE covered), 0) AS covered_on_demand,
                   coalesce(sum(quantity) FILTER (WHERE hourly), 0) AS eligible_hours,
                   coalesce(sum(quantity) FILTER (WHERE hourly AND covered), 0) AS covered_hours
            FROM parts
            WHERE provider || chr(31) || service || chr(31) || coalesce(unit, '')
                  IN ({eligible_keys_sql(eligible)})
            GROUP BY {group}currency
        )
        SELECT *,
               {fraction_sql("covered_on_demand", "eligible_on_demand", "currency")}
                   AS coverage,
               {fraction_sql("covered_hours", "eligible_hours")} AS hours_coverage
        FROM grouped
        ORDER BY currency, eligible_on_demand DESC{order}"""


def coverage(
    store: Store, *, period: str | None = None, by: str | list[str] | None = None
) -> Result:
    """Eligible usage covered by commitments, by cost and by hours, per group (`by`, default
    service): service, region, account, instance-family, or any cost dimension."""
    scope = scope_of(store, period, by, default="service")

    def question(con: duckdb.DuckDBPyConnection, scope: Scope, lines: Lines) -> str:
        return coverage_sql(scope, eligible_keys(con, lines), lines)

    sql, names, found = commitment_answer(store, scope, question)
    columns, rows = grouped_rows(scope, names, found, VALUE_COLUMNS)
    result = Result(
        title="Commitment coverage" + (f", {period}" if period else ""),
        columns=columns,
        rows=rows,
        sql=sql,
    )
    sums: dict[str, list[Decimal]] = {}
    for r in result.records():
        slot = sums.setdefault(r["currency"], [Decimal(0)] * 4)
        for n, name in enumerate(
            ("eligible_on_demand", "covered_on_demand", "eligible_hours", "covered_hours")
        ):
            slot[n] += r[name]
    for currency, (eligible, covered, hours, covered_hours) in sorted(sums.items()):
        name = f"coverage by cost ({currency})"
        result.totals[name] = fraction(covered, eligible, currency)
        result.fraction_totals.add(name)
        result.totals[f"eligible on-demand cost ({currency})"] = eligible
        if hours:
            name = f"coverage by hours ({currency})"
            result.totals[name] = fraction(covered_hours, hours)
            result.fraction_totals.add(name)
    if not rows:
        result.notes.append("No usage in scope that a commitment could cover.")
    return result
