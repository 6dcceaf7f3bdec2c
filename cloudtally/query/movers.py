"""Top movers: which groups' cost changed most between a billing period and the one before."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cloudtally.errors import QueryError
from cloudtally.query.dimensions import dimension, metric
from cloudtally.store import Store


@dataclass
class MoversTable:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    period: str
    previous: str
    metric: str


def previous_period(period: str) -> str:
    """>>> previous_period("2024-01")
    '2023-12'
    """
    year, month = (int(p) for p in period.split("-"))
    return f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"


def top_movers(
    store: Store,
    by: list[str],
    *,
    period: str | None = None,
    metric_name: str = "BilledCost",
    top: int = 10,
) -> MoversTable:
    """Groups ranked by the absolute change of cost from the previous billing period."""
    dims = [dimension(word) for word in by]
    value = metric(metric_name)
    con = store.connect()
    if period is None:
        latest = con.execute("SELECT max(x_BillingPeriod) FROM costs").fetchone()
        if latest is None or latest[0] is None:
            raise QueryError("The lake is empty: ingest data first with `cloudtally ingest PATH`.")
        period = str(latest[0])
    before = previous_period(period)
    keys = ", ".join(f'{d.expr} AS "{d.word}"' for d in dims)
    names = ", ".join(f'"{d.word}"' for d in dims)
    sql = f"""
        WITH grouped AS (
            SELECT {keys}, BillingCurrency AS currency,
                   coalesce(sum({value}) FILTER (WHERE x_BillingPeriod = $before), 0) AS previous,
                   coalesce(sum({value}) FILTER (WHERE x_BillingPeriod = $period), 0) AS current
            FROM costs
            WHERE x_BillingPeriod IN ($before, $period)
            GROUP BY ALL
        )
        SELECT {names}, currency, previous, current, current - previous AS change,
               CASE WHEN previous = 0 THEN NULL
                    ELSE CAST(current - previous AS DOUBLE) / abs(CAST(previous AS DOUBLE)) END
                 AS change_pct
        FROM grouped
        WHERE current <> previous
        ORDER BY abs(current - previous) DESC, {names}
        LIMIT {int(top)}
    """
    cursor = con.execute(sql, {"before": before, "period": period})
    columns = [d[0] for d in cursor.description or []]
    rows = cursor.fetchall()
    columns[columns.index("previous")] = before
    columns[columns.index("current")] = period
    return MoversTable(columns, rows, period, before, value)
