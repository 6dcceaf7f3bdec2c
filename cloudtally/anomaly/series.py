"""Daily cost series for a monitor: SQL over the lake into a (series x days) matrix.

The heavy work (filtering, grouping by the monitor's dimensions and the day) is one DuckDB
aggregate; numpy only receives one row per series and day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import numpy as np

from cloudtally.anomaly.config import AnomalyError, MonitorModel
from cloudtally.anomaly.detector import HISTORY_DAYS
from cloudtally.query.dimensions import metric
from cloudtally.query.ownership import NONE_LABEL, Lens
from cloudtally.sqltext import literal


@dataclass
class SeriesSet:
    """Daily costs of every series of a monitor, one matrix row per series."""

    words: list[str]
    keys: list[tuple[str, ...]]
    values: np.ndarray  # (series, days), NaN before a series appears
    first_day: date
    last_complete: date
    source: Lens

    def column(self, day: date) -> int:
        return (day - self.first_day).days

    def day(self, column: int) -> date:
        return self.first_day + timedelta(days=column)


def load_series(
    con: duckdb.DuckDBPyConnection,
    monitor: MonitorModel,
    *,
    lens: Lens,
    report_from: date,
    last_complete: date,
) -> SeriesSet:
    """Aggregate the monitor's daily series over the days scoring `report_from..` needs."""
    source = lens
    dims = [lens.dimension(word) for word in monitor.dimensions]
    value = metric(monitor.metric)
    first_day = report_from - timedelta(days=HISTORY_DAYS)
    keys = [
        f"coalesce(CAST({d.expr} AS VARCHAR), {literal(NONE_LABEL)}) AS k{i}"
        for i, d in enumerate(dims)
    ]
    key_names = [f"k{i}" for i in range(len(dims))]
    # Compare the timestamp itself (Parquet statistics prune row groups) and take the UTC day
    # from the epoch: a time-zone cast per row costs more than the whole aggregate.
    where = (
        f"ChargePeriodStart >= CAST(DATE '{first_day}' AS TIMESTAMPTZ) "
        f"AND ChargePeriodStart < CAST(DATE '{last_complete + timedelta(days=1)}' AS TIMESTAMPTZ) "
        f"AND {lens.filter_sql(monitor.filters)}"
    )
    column = (
        f"CAST(floor(epoch(ChargePeriodStart) / 86400) AS INTEGER) - "
        f"{(first_day - date(1970, 1, 1)).days}"
    )
    try:
        if dims:
            # Number the series first (a small DISTINCT), then aggregate on integer keys.
            con.execute(
                f"""
                CREATE OR REPLACE TEMP TABLE anomaly_keys AS
                SELECT *, row_number() OVER (ORDER BY {", ".join(key_names)}) - 1 AS sid
                FROM (SELECT DISTINCT {", ".join(keys)} FROM {source} WHERE {where})
                """
            )
            key_rows = con.execute(
                f"SELECT {', '.join(key_names)} FROM anomaly_keys ORDER BY sid"
            ).fetchall()
            join = " AND ".join(f"r.{k} = s.{k}" for k in key_names)
            arrays = con.execute(
                f"""
                SELECT s.sid, r.col, CAST(sum(r.v) AS DOUBLE) AS cost
                FROM (SELECT {", ".join(keys)}, {column} AS col, {value} AS v
                      FROM {source} WHERE {where}) AS r
                JOIN anomaly_keys AS s ON {join}
                GROUP BY s.sid, r.col
                """
            ).fetchnumpy()
        else:
            arrays = con.execute(
                f"""
                SELECT 0 AS sid, {column} AS col, CAST(sum({value}) AS DOUBLE) AS cost
                FROM {source} WHERE {where} GROUP BY col
                """
            ).fetchnumpy()
            key_rows = [()] if len(arrays["col"]) else []
    except duckdb.Error as exc:
        raise AnomalyError(
            f"Monitor {monitor.name!r} cannot be computed: {str(exc).splitlines()[0]}"
        ) from None
    days = (last_complete - first_day).days + 1
    values = np.full((len(key_rows), days), np.nan)
    if len(key_rows):
        values[np.asarray(arrays["sid"]), np.asarray(arrays["col"])] = np.asarray(
            arrays["cost"], dtype=np.float64
        )
    series_keys: list[tuple[str, ...]] = [tuple(row) for row in key_rows]
    return SeriesSet(monitor.dimensions, series_keys, values, first_day, last_complete, source)
