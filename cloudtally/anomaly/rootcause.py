"""Root cause: which child values carry an anomaly's excess, with the line items as evidence.

For an anomaly on day `d`, each child dimension (service, account, region, resource, SKU, usage
type, team) is grouped on `d` and on the same weekday of the four weeks before. A child's
expected cost is its baseline scaled so the children add up to the series' expected cost; its
share is its excess over that, divided by the series' excess. Children are ranked by share.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import duckdb

from cloudtally.query.ownership import NONE_LABEL, Lens

# Child dimensions, in the order a person reads them; a monitor's own dimensions are skipped.
CHILDREN = {
    "service": "ServiceName",
    "account": "account",
    "region": "region",
    "resource": "ResourceId",
    "sku": "SkuId",
    "usage type": "SkuMeter",
    "team": "team",
}
# Words that name the same thing as a child: a monitor by one of them has nothing to break down.
SAME_AS = {
    "service": {"service", "ServiceName"},
    "account": {"account", "SubAccountId", "billing-account", "BillingAccountId"},
    "region": {"region", "RegionId"},
    "resource": {"resource", "ResourceId"},
    "sku": {"sku", "SkuId"},
    "usage type": {"SkuMeter"},
    "team": {"team", "tag:team"},
}
BASELINE_WEEKS = 4
TOP_PER_DIMENSION = 3
TOP_LINE_ITEMS = 5


def series_condition(words: list[str], values: tuple[str, ...], source: Lens) -> str:
    clauses = [source.equals_sql(w, v) for w, v in zip(words, values, strict=True)]
    return " AND ".join(clauses) or "true"


def root_causes(
    con: duckdb.DuckDBPyConnection,
    *,
    source: Lens,
    metric: str,
    words: list[str],
    values: tuple[str, ...],
    filters: dict[str, str | list[str]],
    day: date,
    expected: float,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(root causes ranked by share of the excess, top line items on `day`)."""
    baseline_days = [day - timedelta(days=7 * k) for k in range(1, BASELINE_WEEKS + 1)]
    where = (
        f"{series_condition(words, values, source)} AND {source.filter_sql(filters)} "
        f"AND CAST(ChargePeriodStart AS DATE) IN ({', '.join(repr(str(d)) for d in [day, *baseline_days])})"
    )
    own = {source.dimension(w).expr for w in words}
    # `allocated_costs` carries fewer line-level columns than `costs` (no SKU, for one).
    available = {
        r[0] for r in con.execute(f"SELECT column_name FROM (DESCRIBE {source})").fetchall()
    }
    selects = []
    for label, word in CHILDREN.items():
        expr = source.dimension(word).expr
        if expr in own or SAME_AS[label] & set(words):
            continue
        if word[0].isupper() and word not in available:
            continue
        selects.append(
            f"""SELECT '{label}' AS dimension, CAST({expr} AS VARCHAR) AS value,
                   coalesce(sum(CAST({metric} AS DOUBLE)) FILTER (WHERE d = DATE '{day}'), 0) AS actual,
                   coalesce(sum(CAST({metric} AS DOUBLE)) FILTER (WHERE d <> DATE '{day}'), 0)
                       / {BASELINE_WEEKS} AS baseline
                FROM rows GROUP BY 2"""
        )
    if not selects:
        return [], []
    rows = con.execute(
        f"""
        WITH rows AS (SELECT *, CAST(ChargePeriodStart AS DATE) AS d FROM {source} WHERE {where})
        {" UNION ALL ".join(selects)}
        """
    ).fetchall()
    by_dimension: dict[str, list[tuple[str, float, float]]] = {}
    for dimension, value, actual, baseline in rows:
        by_dimension.setdefault(dimension, []).append(
            (value if value is not None else NONE_LABEL, actual, baseline)
        )
    causes: list[dict[str, Any]] = []
    for dimension, children in by_dimension.items():
        base_total = sum(b for _, _, b in children)
        scale = expected / base_total if base_total > 0 else 0.0
        excess_total = sum(a for _, a, _ in children) - expected
        if excess_total <= 0:
            continue
        ranked = sorted(
            ((v, a, b * scale, a - b * scale) for v, a, b in children),
            key=lambda c: (-c[3], c[0]),
        )
        for value, actual, child_expected, excess in ranked[:TOP_PER_DIMENSION]:
            if excess <= 0:
                break
            causes.append(
                {
                    "dimension": dimension,
                    "value": value,
                    "actual": round(actual, 2),
                    "expected": round(child_expected, 2),
                    "excess": round(excess, 2),
                    "share": round(excess / excess_total, 3),
                    "new": child_expected == 0,
                }
            )
    causes.sort(key=lambda c: (list(CHILDREN).index(c["dimension"]), -c["share"]))
    evidence = [
        {
            "resource": r[0],
            "service": r[1],
            "sku": r[2],
            "description": r[3],
            "quantity": None if r[4] is None else round(r[4], 4),
            "unit": r[5],
            "cost": round(r[6], 2),
        }
        for r in con.execute(
            f"""
            WITH rows AS (SELECT *, CAST(ChargePeriodStart AS DATE) AS d FROM {source} WHERE {where})
            SELECT ResourceId, ServiceName, SkuId, ChargeDescription,
                   CAST(sum(ConsumedQuantity) AS DOUBLE), min(ConsumedUnit),
                   sum(CAST({metric} AS DOUBLE)) AS cost
            FROM rows WHERE d = DATE '{day}'
            GROUP BY 1, 2, 3, 4 ORDER BY cost DESC, 1 NULLS LAST LIMIT {TOP_LINE_ITEMS}
            """
        ).fetchall()
    ]
    return causes, evidence


def owner_from(causes: list[dict[str, Any]]) -> str | None:
    """The team carrying the largest share of the excess, if the data names one."""
    teams = [c for c in causes if c["dimension"] == "team" and c["value"] != NONE_LABEL]
    return max(teams, key=lambda c: c["share"])["value"] if teams else None
