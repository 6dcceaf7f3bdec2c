"""Grouped cost totals with each group's share of its currency's total."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cloudtally.errors import QueryError
from cloudtally.query.dimensions import Dimension, dimension, metric
from cloudtally.store import Store

_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass
class CostTable:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    metric: str
    total_by_currency: dict[str, Decimal]


def parse_periods(text: str | None) -> tuple[str, str] | None:
    """`2024-09` or `2024-07..2024-09` -> (first, last) billing periods.

    >>> parse_periods("2024-07..2024-09"), parse_periods("2024-09")
    (('2024-07', '2024-09'), ('2024-09', '2024-09'))
    """
    if not text:
        return None
    first, _, last = text.partition("..")
    last = last or first
    for value in (first, last):
        if not _PERIOD.match(value):
            raise QueryError(
                f"Period {value!r} is not a billing period: use YYYY-MM or YYYY-MM..YYYY-MM."
            )
    if first > last:
        raise QueryError(f"Period range {text!r} ends before it starts.")
    return first, last


def period_filter(periods: tuple[str, str] | None) -> str:
    if periods is None:
        return "true"
    return f"x_BillingPeriod BETWEEN '{periods[0]}' AND '{periods[1]}'"


def grouped_costs(
    store: Store,
    by: list[str],
    *,
    periods: tuple[str, str] | None = None,
    metric_name: str = "BilledCost",
    top: int | None = None,
) -> CostTable:
    """Totals of `metric_name` grouped by dimensions, largest first, with shares."""
    dims: list[Dimension] = [dimension(word) for word in by]
    value = metric(metric_name)
    keys = [f'{d.expr} AS "{d.word}"' for d in dims]
    labels = [f'any_value({d.label_expr}) AS "{d.word}_name"' for d in dims if d.label_expr]
    group = ", ".join(str(i + 1) for i in range(len(dims) + 1))
    sql = f"""
        WITH grouped AS (
            SELECT {", ".join(keys)}, BillingCurrency AS currency,
                   {"".join(label + ", " for label in labels)}
                   coalesce(sum({value}), 0) AS cost
            FROM costs
            WHERE {period_filter(periods)}
            GROUP BY {group}
        )
        SELECT *, CAST(cost AS DOUBLE) / nullif(CAST(sum(cost) OVER (PARTITION BY currency) AS DOUBLE), 0) AS share
        FROM grouped
        ORDER BY currency, cost DESC, {", ".join(f'"{d.word}"' for d in dims)} NULLS LAST
    """
    con = store.connect()
    cursor = con.execute(sql)
    columns = [d[0] for d in cursor.description or []]
    rows = cursor.fetchall()
    totals: dict[str, Decimal] = {}
    cost_at = columns.index("cost")
    currency_at = columns.index("currency")
    for row in rows:
        totals[row[currency_at]] = totals.get(row[currency_at], Decimal(0)) + row[cost_at]
    if top is not None:
        rows = _keep_top(rows, top, currency_at, cost_at, columns)
    # Reorder: dimensions (with names), then currency, cost, share.
    order = [c for c in columns if c not in ("currency", "cost", "share")] + [
        "currency",
        "cost",
        "share",
    ]
    index = [columns.index(c) for c in order]
    rows = [tuple(r[i] for i in index) for r in rows]
    order[order.index("cost")] = value
    return CostTable(columns=order, rows=rows, metric=value, total_by_currency=totals)


def _keep_top(
    rows: list[tuple[Any, ...]], top: int, currency_at: int, cost_at: int, columns: list[str]
) -> list[tuple[Any, ...]]:
    """The `top` largest groups per currency, the rest folded into one `(other)` row."""
    kept: list[tuple[Any, ...]] = []
    by_currency: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        by_currency.setdefault(row[currency_at], []).append(row)
    share_at = columns.index("share")
    for currency, group in by_currency.items():
        kept.extend(group[:top])
        rest = group[top:]
        if rest:
            other: list[Any] = [None] * len(columns)
            other[0] = f"(other {len(rest)})"
            other[currency_at] = currency
            other[cost_at] = sum((r[cost_at] for r in rest), Decimal(0))
            other[share_at] = sum((r[share_at] or 0.0) for r in rest)
            kept.append(tuple(other))
    return kept
