"""Unit economics: cost per unit of a business metric, per group and period.

Costs come through the query layer's lens, so owners (team, product, ...) include shared
costs as allocated when the allocation is current. Units are the metric's values summed per
group and period. A group-by word the metric has but the costs do not (a `tenant`) splits the
cost of the rest of the group by each value's share of the units: the allocation's metric
split, exact to the last digit. Missing metric data is `no data` (None), never zero or
infinity.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from cloudtally.errors import QueryError
from cloudtally.query.dimensions import metric as cost_metric
from cloudtally.query.ownership import EVERYTHING, OWNERSHIP, Scope, lens_for
from cloudtally.query.periods import DateRange, require_data
from cloudtally.sqltext import identifier
from cloudtally.store import Store
from cloudtally.unit.metrics import Metrics

GRAINS = ("month", "week", "day")


@dataclass
class UnitCostTable:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    metric: str
    cost_metric: str
    elasticity: dict[tuple[Any, ...], float | None]
    notes: list[str] = field(default_factory=list)


def _period_sql(grain: str) -> str:
    if grain == "month":
        return "x_BillingPeriod"
    if grain == "week":
        return "strftime(ChargePeriodStart, '%G-W%V')"
    return "strftime(ChargePeriodStart, '%Y-%m-%d')"


def _metric_period_sql(grain: str) -> str:
    if grain == "month":
        return "period"
    if grain == "week":
        return "strftime(day, '%G-W%V')"
    return "strftime(day, '%Y-%m-%d')"


def unit_costs(
    store: Store,
    metrics: Metrics,
    metric_name: str,
    by: Sequence[str],
    *,
    when: DateRange | None = None,
    grain: str = "month",
    cost: str = "EffectiveCost",
    filters: Mapping[str, str | Sequence[str]] | None = None,
    rules_dir: Path | None = None,
    scope: Scope = EVERYTHING,
) -> UnitCostTable:
    """Cost per unit of `metric_name` per group of `by` and period of `grain`."""
    filters = filters or {}
    value = cost_metric(cost)
    if metric_name not in metrics.names():
        known = ", ".join(metrics.names()) or "none"
        raise QueryError(
            f"No metric {metric_name!r} in the rules folder's metrics (known: {known}). "
            "Add metrics/*.csv or metrics.yaml (see docs/unit-economics.md)."
        )
    if grain not in GRAINS:
        raise QueryError(f"--grain {grain!r}: use one of {', '.join(GRAINS)}.")
    if grain != "month" and not metrics.has_days(metric_name):
        raise QueryError(
            f"Metric {metric_name!r} is given per billing period (YYYY-MM): use --grain month."
        )
    metric_dims = metrics.dimensions(metric_name)
    split_words = [w for w in by if w in metric_dims and not _is_cost_dimension(w)]
    cost_words = [w for w in by if w not in split_words]
    lens = lens_for(store, [*cost_words, *filters], rules_dir=rules_dir, scope=scope)
    con = store.connect()
    require_data(con, when, str(lens))
    dims = [lens.dimension(w) for w in cost_words]
    where = [when.where() if when else "true", lens.filter_sql(filters)]
    keys = "".join(f"CAST({d.expr} AS VARCHAR) AS {identifier(d.word)}, " for d in dims)
    group = ", ".join(str(i + 1) for i in range(len(dims) + 2))
    cost_rows = con.execute(
        f"""SELECT {keys}{_period_sql(grain)} AS period, BillingCurrency AS currency,
                   coalesce(sum({value}), 0) AS cost
            FROM {lens} WHERE {" AND ".join(where)}
            GROUP BY {group}, currency"""
    ).fetchall()
    metrics.table(con)
    unit_words = [w for w in by if w in metric_dims]
    unit_keys = "".join(f"{identifier(w)}, " for w in unit_words)
    unit_filter = [
        f"CAST({identifier(w)} AS VARCHAR) IN ({', '.join('?' for _ in _values(v))})"
        for w, v in filters.items()
        if w in metric_dims
    ]
    params: list[Any] = [metric_name]
    for w, v in filters.items():
        if w in metric_dims:
            params += [lens.normalise(w, x) for x in _values(v)]
    unit_rows = con.execute(
        f"""SELECT {unit_keys}{_metric_period_sql(grain)} AS period, sum(value)
            FROM unit_metrics WHERE metric = ? {"".join(" AND " + c for c in unit_filter)}
            GROUP BY ALL""",
        params,
    ).fetchall()
    units: dict[tuple[Any, ...], Decimal] = {tuple(r[:-1]): r[-1] for r in unit_rows}
    rows = _join(cost_rows, units, cost_words, unit_words, split_words, by, when)
    elasticity = _elasticity(rows, len(by))
    columns = [
        *by,
        "period",
        "currency",
        value,
        metric_name,
        "cost_per_unit",
        "change_pct",
        "elasticity",
    ]
    table_rows = [(*r, elasticity.get(tuple(r[: len(by)]))) for r in rows]
    notes = [lens.note] if lens.note else []
    return UnitCostTable(columns, table_rows, metric_name, value, elasticity, notes)


def _values(wanted: str | Sequence[str]) -> list[str]:
    return [wanted] if isinstance(wanted, str) else list(wanted)


def _is_cost_dimension(word: str) -> bool:
    from cloudtally.focus.canonical import CANONICAL_BY_NAME
    from cloudtally.query.dimensions import DIMENSIONS

    return (
        word in OWNERSHIP
        or word in DIMENSIONS
        or word in CANONICAL_BY_NAME
        or word.startswith("tag:")
    )


def _join(
    cost_rows: list[tuple[Any, ...]],
    units: dict[tuple[Any, ...], Decimal],
    cost_words: list[str],
    unit_words: list[str],
    split_words: list[str],
    by: Sequence[str],
    when: DateRange | None,
) -> list[tuple[Any, ...]]:
    """Rows (by..., period, currency, cost, units, cost_per_unit, change_pct)."""
    n = len(cost_words)
    found: list[list[Any]] = []
    for row in cost_rows:
        key = dict(zip(cost_words, row[:n], strict=True))
        period, currency, cost = row[n], row[n + 1], row[n + 2]
        shared = [w for w in unit_words if w in cost_words]
        if not split_words:
            count = units.get((*(key[w] for w in unit_words), period))
            found.append([*(key[w] for w in by), period, currency, cost, count])
            continue
        # Split the cost over the values of the metric-only words by their share of units.
        matching = {
            k: v
            for k, v in units.items()
            if k[-1] == period and all(k[unit_words.index(w)] == key[w] for w in shared)
        }
        total = sum(matching.values(), Decimal(0))
        if not matching or total == 0:
            found.append([*(key.get(w) for w in by), period, currency, cost, None])
            continue
        ordered = sorted(matching.items(), key=lambda kv: (-kv[1], [str(x) for x in kv[0]]))
        pieces = [cost * v / total for _, v in ordered]
        pieces = [p.quantize(Decimal("1e-18")) for p in pieces]
        pieces[0] += cost - sum(pieces, Decimal(0))  # the rounding on the largest share
        for (k, v), piece in zip(ordered, pieces, strict=True):
            values = {**key, **{w: k[unit_words.index(w)] for w in unit_words}}
            found.append([*(values.get(w) for w in by), period, currency, piece, v])
    found.sort(key=lambda r: ([str(x) for x in r[: len(by)]], r[len(by)], r[len(by) + 1]))
    result = []
    previous: dict[tuple[Any, ...], Decimal | None] = {}
    for r in found:
        cost, count = r[-2], r[-1]
        per_unit = (cost / count) if count else None
        group = (*r[: len(by)], r[len(by) + 1])
        before = previous.get(group)
        change = float(per_unit / before - 1) if per_unit is not None and before else None
        previous[group] = per_unit
        result.append((*r, per_unit, change))
    return result


def _elasticity(rows: list[tuple[Any, ...]], n: int) -> dict[tuple[Any, ...], float | None]:
    """Per group, the slope of log(cost) on log(units) over its periods (needs three)."""
    points: dict[tuple[Any, ...], list[tuple[float, float]]] = {}
    for r in rows:
        cost, count = r[n + 2], r[n + 3]
        if cost and count and cost > 0 and count > 0:
            points.setdefault(tuple(r[:n]), []).append((math.log(count), math.log(cost)))
        else:
            points.setdefault(tuple(r[:n]), [])
    result: dict[tuple[Any, ...], float | None] = {}
    for group, xy in points.items():
        if len(xy) < 3:
            result[group] = None
            continue
        mx = sum(x for x, _ in xy) / len(xy)
        my = sum(y for _, y in xy) / len(xy)
        sxx = sum((x - mx) ** 2 for x, _ in xy)
        result[group] = round(sum((x - mx) * (y - my) for x, y in xy) / sxx, 3) if sxx > 0 else None
    return result
