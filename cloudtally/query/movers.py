"""Top movers: which groups' cost changed most between a range and the one before it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudtally.errors import QueryError
from cloudtally.query.cube import cube_lens, known_span
from cloudtally.query.dimensions import latest, metric
from cloudtally.query.ownership import EVERYTHING, Scope, lens_for
from cloudtally.query.periods import DateRange, parse_range, require_data
from cloudtally.sqltext import identifier
from cloudtally.store import Store


@dataclass
class MoversTable:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    period: str
    previous: str
    metric: str
    notes: list[str] = field(default_factory=list)


def previous_period(period: str) -> str:
    """>>> previous_period("2024-01")
    '2023-12'
    """
    year, month = (int(p) for p in period.split("-"))
    return f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"


def top_movers(
    store: Store,
    by: Sequence[str],
    *,
    when: DateRange | None = None,
    period: str | None = None,
    metric_name: str = "BilledCost",
    top: int = 10,
    filters: Mapping[str, str | Sequence[str]] | None = None,
    rules_dir: Path | None = None,
    scope: Scope = EVERYTHING,
) -> MoversTable:
    """Groups ranked by the absolute change of cost from the range before (same length).

    Without a range, the newest billing period against the one before it.
    """
    filters = filters or {}
    value = metric(metric_name)
    lens = lens_for(store, [*by, *filters], rules_dir=rules_dir, scope=scope)
    lens = cube_lens(store, lens, [*by, *filters], value)
    dims = [lens.dimension(word) for word in by]
    con = store.connect()
    if when is None and period is not None:
        when = parse_range(period)
    span = require_data(con, when, str(lens), known_span(store, lens))
    if when is None:
        when = parse_range(span.last_period)
        assert when is not None
    before = when.previous()
    if not by:
        raise QueryError("--by needs at least one dimension.")
    keys = ", ".join(f"{d.expr} AS {identifier(d.word)}" for d in dims)
    labels = "".join(
        f"{latest(d.label_expr)} AS {identifier(d.word + '_name')}, " for d in dims if d.label_expr
    )
    names = ", ".join(identifier(d.word) for d in dims)
    label_names = "".join(f"{identifier(d.word + '_name')}, " for d in dims if d.label_expr)
    sql = f"""
        WITH grouped AS (
            SELECT {keys}, BillingCurrency AS currency, {labels}
                   coalesce(sum({value}) FILTER (WHERE {before.where()}), 0) AS previous,
                   coalesce(sum({value}) FILTER (WHERE {when.where()}), 0) AS current
            FROM {lens}
            WHERE (({before.where()}) OR ({when.where()})) AND {lens.filter_sql(filters)}
            GROUP BY {", ".join(str(i + 1) for i in range(len(dims) + 1))}
        )
        SELECT {names}, {label_names}currency, previous, current, current - previous AS change,
               CASE WHEN previous = 0 THEN NULL
                    ELSE CAST(current - previous AS DOUBLE) / abs(CAST(previous AS DOUBLE)) END
                 AS change_pct
        FROM grouped
        WHERE current <> previous
        ORDER BY abs(current - previous) DESC, {names}
        LIMIT {int(top)}
    """
    cursor = con.execute(sql)
    columns = [d[0] for d in cursor.description or []]
    rows = cursor.fetchall()
    columns[columns.index("previous")] = before.label()
    columns[columns.index("current")] = when.label()
    notes = [lens.note] if lens.note else []
    return MoversTable(columns, rows, when.label(), before.label(), value, notes)
