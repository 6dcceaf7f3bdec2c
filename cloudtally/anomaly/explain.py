"""`cloudtally explain`: what drove a change in spend between two spans of days.

Each group (by the chosen dimensions) is compared at its daily average, so spans of different
lengths compare fairly. A group is `new` (no baseline spend), `removed` (no spend now), `grown`
or `shrunk`. Where usage quantities exist, the change splits into a volume effect (quantity
change at the baseline unit price, per SKU) and a price effect (unit price change on today's
quantity); the rest (charges without quantities) is shown as `other`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from cloudtally.anomaly.config import AnomalyError
from cloudtally.anomaly.series import TEAM_TAG, filter_sql, resolve, source_of
from cloudtally.query.dimensions import metric
from cloudtally.store import Store

Span = tuple[date, date]


def parse_span(text: str, option: str) -> Span:
    """`2024-09-01..2024-09-07` -> (first, last), both inclusive."""
    first, sep, last = text.partition("..")
    try:
        span = (date.fromisoformat(first), date.fromisoformat(last if sep else first))
    except ValueError:
        raise AnomalyError(
            f"{option} {text!r} is not a span of days: use YYYY-MM-DD..YYYY-MM-DD."
        ) from None
    if span[0] > span[1]:
        raise AnomalyError(f"{option} {text!r} ends before it starts.")
    return span


@dataclass
class Explanation:
    title: str
    columns: list[str]
    rows: list[tuple[Any, ...]]
    baseline_total: float
    compare_total: float
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "baseline_per_day": round(self.baseline_total, 2),
            "compare_per_day": round(self.compare_total, 2),
            "drivers": [dict(zip(self.columns, r, strict=True)) for r in self.rows],
            "message": self.message,
        }


def explain_change(
    store: Store,
    baseline: Span,
    compare: Span,
    *,
    words: list[str],
    filters: dict[str, str | list[str]] | None = None,
    metric_name: str = "BilledCost",
    top: int = 10,
) -> Explanation:
    filters = filters or {}
    con = store.connect()
    source = source_of(con, [*words, *filters])
    dims = [resolve(w, source) for w in words]
    value = metric(metric_name)
    team = "team" if source == "allocated_costs" else TEAM_TAG
    keys = ", ".join(f"CAST({d.expr} AS VARCHAR) AS k{i}" for i, d in enumerate(dims))
    key_names = ", ".join(f"k{i}" for i in range(len(dims)))
    days_a = (baseline[1] - baseline[0]).days + 1
    days_b = (compare[1] - compare[0]).days + 1
    rows = con.execute(
        f"""
        WITH rows AS (
            SELECT {keys}, SkuId, {team} AS owner_team,
                   CAST(ChargePeriodStart AS DATE) BETWEEN ? AND ? AS is_base,
                   CAST({value} AS DOUBLE) AS cost, CAST(PricingQuantity AS DOUBLE) AS qty
            FROM {source}
            WHERE (CAST(ChargePeriodStart AS DATE) BETWEEN ? AND ?
                   OR CAST(ChargePeriodStart AS DATE) BETWEEN ? AND ?)
              AND {filter_sql(filters, source)}
        ),
        per_sku AS (
            SELECT {key_names}, SkuId,
                   coalesce(sum(cost) FILTER (WHERE is_base), 0) / {days_a} AS c0,
                   coalesce(sum(cost) FILTER (WHERE NOT is_base), 0) / {days_b} AS c1,
                   coalesce(sum(qty) FILTER (WHERE is_base), 0) / {days_a} AS q0,
                   coalesce(sum(qty) FILTER (WHERE NOT is_base), 0) / {days_b} AS q1,
                   mode(owner_team) AS team
            FROM rows GROUP BY ALL
        )
        SELECT {key_names}, sum(c0), sum(c1),
               sum(CASE WHEN q0 > 0 AND q1 > 0 THEN (q1 - q0) * c0 / q0 END) AS volume,
               sum(CASE WHEN q0 > 0 AND q1 > 0 THEN (c1 / q1 - c0 / q0) * q1 END) AS price,
               mode(team)
        FROM per_sku GROUP BY ALL
        """,
        [*baseline, *baseline, *compare],
    ).fetchall()
    if not rows:
        raise AnomalyError(
            f"No cost data in {baseline[0]}..{baseline[1]} or {compare[0]}..{compare[1]}."
        )
    n = len(dims)
    drivers = []
    for row in rows:
        c0, c1, volume, price, owner = row[n], row[n + 1], row[n + 2], row[n + 3], row[n + 4]
        change = c1 - c0
        if abs(change) < 0.005:
            continue
        kind = "new" if c0 == 0 else "removed" if c1 == 0 else "grown" if change > 0 else "shrunk"
        drivers.append(
            (" / ".join(str(v) for v in row[:n]), kind, c0, c1, change, price, volume, owner)
        )
    total_change = sum(d[4] for d in drivers)
    drivers.sort(key=lambda d: (-abs(d[4]), d[0]))
    shown = []
    for label, kind, c0, c1, change, price, volume, _owner in drivers[:top]:
        share = change / total_change if total_change else 0.0
        shown.append(
            (label, kind, _r(c0), _r(c1), _r(change), round(share, 3), _r(price), _r(volume))
        )
    base_total = sum(r[n] for r in rows)
    compare_total = sum(r[n + 1] for r in rows)
    title = (
        f"{metric_name} per day by {', '.join(words)}: {baseline[0]}..{baseline[1]} "
        f"({base_total:,.2f}/day) -> {compare[0]}..{compare[1]} ({compare_total:,.2f}/day)"
    )
    return Explanation(
        title,
        [
            "driver",
            "kind",
            "baseline",
            "compare",
            "change",
            "share",
            "price_effect",
            "volume_effect",
        ],
        shown,
        base_total,
        compare_total,
        draft_message(drivers, baseline, compare, base_total, compare_total, words),
    )


def _r(value: float | None) -> Decimal | None:
    if value is None:
        return None
    return Decimal(repr(float(value))).quantize(Decimal("0.01")) + 0  # + 0 drops -0.00


def draft_message(
    drivers: list[tuple[Any, ...]],
    baseline: Span,
    compare: Span,
    base_total: float,
    compare_total: float,
    words: list[str],
) -> str:
    """A short, blame-free note to the team that owns the largest driver."""
    grown = [d for d in drivers if d[4] > 0]
    if not grown:
        return (
            f"Spend went from {base_total:,.2f}/day to {compare_total:,.2f}/day between "
            f"{baseline[0]}..{baseline[1]} and {compare[0]}..{compare[1]}: no group grew."
        )
    top = grown[0]
    owner = top[7] or "team"
    lines = [
        f"Hi {owner}," if top[7] else "Hi,",
        "",
        f"cloudtally noticed that daily spend went from {base_total:,.2f} to "
        f"{compare_total:,.2f} between {baseline[0]}..{baseline[1]} and "
        f"{compare[0]}..{compare[1]}. The largest drivers by {', '.join(words)}:",
    ]
    for d in grown[:3]:
        split = ""
        if d[5] is not None and d[6] is not None:
            split = f"; usage {d[6]:+,.2f}/day, price {d[5]:+,.2f}/day"
        lines.append(f"  - {d[0]} ({d[1]}): {d[2]:,.2f} -> {d[3]:,.2f} per day{split}")
    lines += [
        "",
        "This may well be expected (a launch, a migration, a load test). If it is, a quick "
        "reply with how long it will last lets us mark it as planned; if not, the resources "
        "above are a good place to start. Thanks!",
    ]
    return "\n".join(lines)
