"""Grouped cost totals with each group's share of its currency's total."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from cloudtally.query.cube import cube_lens, known_span
from cloudtally.query.dimensions import latest, metric
from cloudtally.query.ownership import EVERYTHING, Lens, Scope, lens_for
from cloudtally.query.periods import DateRange, parse_periods, require_data
from cloudtally.sqltext import identifier, literal
from cloudtally.store import Store

__all__ = ["CostTable", "grouped_costs", "parse_periods", "period_filter"]


@dataclass
class CostTable:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    metric: str
    total_by_currency: dict[str, Decimal]
    notes: list[str] = field(default_factory=list)


def period_filter(periods: tuple[str, str] | None) -> str:
    """A condition selecting whole billing periods `first..last` (or everything)."""
    if periods is None:
        return "true"
    return f"x_BillingPeriod BETWEEN {literal(periods[0])} AND {literal(periods[1])}"


def grouped_costs(
    store: Store,
    by: Sequence[str],
    *,
    when: DateRange | None = None,
    periods: tuple[str, str] | None = None,
    metric_name: str = "BilledCost",
    top: int | None = None,
    filters: Mapping[str, str | Sequence[str]] | None = None,
    rules_dir: Path | None = None,
    scope: Scope = EVERYTHING,
    lens: Lens | None = None,
) -> CostTable:
    """Totals of `metric_name` grouped by dimensions, largest first, with shares.

    Shares are each group's cost over its currency's total in the selection, computed from the
    exact totals.
    """
    filters = filters or {}
    value = metric(metric_name)
    lens = lens or lens_for(store, [*by, *filters], rules_dir=rules_dir, scope=scope)
    # The daily cube answers when it holds every word of the question (same numbers, exactly).
    lens = cube_lens(store, lens, [*by, *filters], value)
    dims = [lens.dimension(word) for word in by]
    con = store.connect()
    require_data(con, when, str(lens), known_span(store, lens))
    where = [when.where() if when else period_filter(periods), lens.filter_sql(filters)]
    keys = [f"{d.expr} AS {identifier(d.word)}" for d in dims]
    labels = [
        f"{latest(d.label_expr)} AS {identifier(d.word + '_name')}" for d in dims if d.label_expr
    ]
    group = ", ".join(str(i + 1) for i in range(len(dims) + 1))
    order = ", ".join(f"{identifier(d.word)} NULLS LAST" for d in dims)
    sql = f"""
        SELECT {"".join(k + ", " for k in keys)}BillingCurrency AS currency,
               {"".join(label + ", " for label in labels)}
               coalesce(sum({value}), 0) AS cost
        FROM {lens}
        WHERE {" AND ".join(where)}
        GROUP BY {group}
        ORDER BY currency, cost DESC{", " + order if order else ""}
    """
    cursor = con.execute(sql)
    columns = [d[0] for d in cursor.description or []]
    rows = cursor.fetchall()
    cost_at, currency_at = columns.index("cost"), columns.index("currency")
    totals: dict[str, Decimal] = {}
    for row in rows:
        totals[row[currency_at]] = totals.get(row[currency_at], Decimal(0)) + row[cost_at]
    columns.append("share")
    rows = [(*r, _share(r[cost_at], totals[r[currency_at]])) for r in rows]
    if top is not None:
        rows = _keep_top(rows, top, currency_at, cost_at, columns)
    # Dimensions (with names), then currency, cost, share.
    order_names = [c for c in columns if c not in ("currency", "cost", "share")]
    order_names += ["currency", "cost", "share"]
    index = [columns.index(c) for c in order_names]
    rows = [tuple(r[i] for i in index) for r in rows]
    order_names[order_names.index("cost")] = value
    notes = [lens.note] if lens.note else []
    return CostTable(order_names, rows, value, totals, notes)


def _share(cost: Decimal, total: Decimal) -> float | None:
    return float(cost / total) if total else None


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
            total = sum((r[cost_at] for r in group), Decimal(0))
            other[share_at] = _share(other[cost_at], total)
            kept.append(tuple(other))
    return kept
