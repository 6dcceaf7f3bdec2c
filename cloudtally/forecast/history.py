"""Daily cost history for forecasts: one DuckDB aggregate into (series x days) matrices.

Series are the groups of `--by` (and the billing currency: amounts in two currencies are never
added). The day axis starts on the first day of a billing period and covers whole periods, so
every column belongs to the billing period (`x_BillingPeriod`) whose month it falls in. A
charge counts in its billing period: one dated outside it (a correction of an earlier period
billed in this one) sits on the period's first or last day and is a known, non-recurring
charge. Lines without a charge day (shared-pool rows of `allocated_costs`) sit on their
period's last day: the allocation of a period is known once the period is over.

`--as-of DATE` keeps charges dated before DATE only, so a forecast made "as of" a past day
sees what was known then (up to restatements the lake has since replaced).
"""

from __future__ import annotations

import calendar as _calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import duckdb
import numpy as np

from cloudtally.errors import QueryError
from cloudtally.forecast.model import Calendar
from cloudtally.query.dimensions import metric as metric_column
from cloudtally.query.ownership import NONE_LABEL, Lens
from cloudtally.sqltext import literal

USAGE, RECURRING, FIXED = 0, 1, 2
HISTORY_MONTHS = 16  # billing periods of history read before the as-of day's period


def period_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def month_start(period: str) -> date:
    return date(int(period[:4]), int(period[5:7]), 1)


def add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_length(first: date) -> int:
    return _calendar.monthrange(first.year, first.month)[1]


@dataclass
class History:
    """Daily costs of every series, split into the model's streams, on a shared day axis."""

    words: list[str]  # the --by dimensions
    keys: list[tuple[str, ...]]  # per series: one value per word
    currencies: list[str]  # per series
    usage: np.ndarray  # (n, days)
    recurring: np.ndarray  # (n, days)
    fixed: np.ndarray  # (n, days)
    first_day: date  # column 0: the first day of the first period
    periods: list[str]  # YYYY-MM of each period on the axis (the last ones are in the future)
    calendar: Calendar
    lens: Lens  # what was read: costs or allocated_costs, owners, the viewer's scope
    metric: str
    first_data_day: date | None  # the oldest and newest charge day seen (None: no data)
    last_data_day: date | None

    @property
    def total(self) -> np.ndarray:
        return self.usage + self.recurring + self.fixed

    def column(self, day: date) -> int:
        return (day - self.first_day).days

    def day(self, column: int) -> date:
        return self.first_day + timedelta(days=column)

    def period_index(self, period: str) -> int:
        return self.periods.index(period)

    def subset(self, rows: np.ndarray) -> History:
        """The same history for some series only."""
        return History(
            self.words,
            [self.keys[i] for i in rows],
            [self.currencies[i] for i in rows],
            self.usage[rows],
            self.recurring[rows],
            self.fixed[rows],
            self.first_day,
            self.periods,
            self.calendar,
            self.lens,
            self.metric,
            self.first_data_day,
            self.last_data_day,
        )


def axis(first_period: str, last_period: str) -> tuple[date, list[str], Calendar]:
    """The day axis from the first day of `first_period` to the last of `last_period`."""
    first = month_start(first_period)
    periods, lengths = [], []
    current = first
    while period_of(current) <= last_period:
        periods.append(period_of(current))
        lengths.append(month_length(current))
        current = add_months(current, 1)
    return first, periods, Calendar.of(first.weekday(), lengths)


def _columns_of(con: duckdb.DuckDBPyConnection, source: str) -> set[str]:
    return {row[0] for row in con.execute(f"DESCRIBE {source}").fetchall()}


def data_range(
    con: duckdb.DuckDBPyConnection, source: str, before: date | None = None
) -> tuple[date, date] | None:
    """The first and last charge day (UTC) in `source`, before `before` if given."""
    where = f"ChargePeriodStart < CAST(DATE '{before}' AS TIMESTAMPTZ)" if before else "true"
    row = con.execute(
        f"""SELECT CAST(min(ChargePeriodStart) AS DATE), CAST(max(ChargePeriodStart) AS DATE)
            FROM {source} WHERE {where}"""
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return row[0], row[1]


def load_history(
    con: duckdb.DuckDBPyConnection,
    lens: Lens,
    words: list[str],
    *,
    metric: str,
    as_of: date,
    last_period: str,
    months: int = HISTORY_MONTHS,
    scopes: dict[str, str] | None = None,
) -> History:
    """Aggregate the daily history of each group of `words` before `as_of`.

    Args:
        con: a connection with the lake's views (`Store.connect()`).
        lens: the relation and ownership model to read through (`lens_for`); its viewer
            scope is applied.
        words: the dimensions (`team`, `service`, `account`, `tag:KEY`, FOCUS columns); with
            `scopes`, the one name their labels go under.
        metric: BilledCost, EffectiveCost, ListCost or ContractedCost.
        as_of: charges dated before this day are read; the day axis ends at `last_period`.
        last_period: the last target period (YYYY-MM).
        months: billing periods of history before `as_of`'s period.
        scopes: instead of grouping by `words`, one series per label: the lines matching its
            SQL condition (a line may belong to several, as budgets' scopes overlap).
    """
    source = str(lens)
    value = metric_column(metric)
    available = _columns_of(con, source)
    if value not in available:
        raise QueryError(
            f"{value} is not in {source}: forecast {source} with "
            f"{' or '.join(m for m in ('BilledCost', 'EffectiveCost') if m in available)}."
        )
    first_period = period_of(add_months(as_of.replace(day=1), -months))
    first_day, periods, cal = axis(first_period, last_period)
    if scopes is not None:
        lines = " UNION ALL ".join(
            f"SELECT {literal(label)} AS k0, * FROM {source} WHERE ({condition})"
            for label, condition in scopes.items()
        )
        table, keys, key_names = f"({lines}) AS scoped", ["k0"], ["k0"]
    else:
        dims = [lens.dimension(word) for word in words]
        keys = [
            f"coalesce(CAST({d.expr} AS VARCHAR), {literal(NONE_LABEL)}) AS k{i}"
            for i, d in enumerate(dims)
        ]
        table, key_names = source, [f"k{i}" for i in range(len(dims))]
    frequency = "ChargeFrequency" if "ChargeFrequency" in available else "NULL"
    klass = "ChargeClass" if "ChargeClass" in available else "NULL"
    epoch_first = (first_day - date(1970, 1, 1)).days
    # Lines without a charge day (shared rows of allocated_costs) count once their billing
    # period is over, on its last day.
    known = (
        f"(ChargePeriodStart < CAST(DATE '{as_of}' AS TIMESTAMPTZ) "
        f"OR (ChargePeriodStart IS NULL AND x_BillingPeriod < {literal(period_of(as_of))}))"
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE forecast_daily AS
        SELECT {"".join(k + ", " for k in keys)}BillingCurrency AS currency,
               x_BillingPeriod AS period,
               CAST(floor(epoch(ChargePeriodStart) / 86400) AS INTEGER) AS day_number,
               CASE WHEN {frequency} = 'One-Time' OR {klass} = 'Correction' THEN {FIXED}
                    WHEN {frequency} = 'Recurring' THEN {RECURRING}
                    ELSE {USAGE} END AS stream,
               CAST(sum({value}) AS DOUBLE) AS cost
        FROM {table}
        WHERE x_BillingPeriod >= {literal(first_period)}
          AND x_BillingPeriod <= {literal(period_of(as_of))}
          AND {known} AND {lens.scope_sql()}
        GROUP BY ALL
        """
    )
    # Number the series (a small table), then fetch integer keys only.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE forecast_series AS
        SELECT *, row_number() OVER (ORDER BY {", ".join([*key_names, "currency"])}) - 1 AS sid
        FROM (SELECT DISTINCT {"".join(k + ", " for k in key_names)}currency
              FROM forecast_daily WHERE cost <> 0)
        """
    )
    names = con.execute(
        f"SELECT {''.join(k + ', ' for k in key_names)}currency FROM forecast_series ORDER BY sid"
    ).fetchall()
    join = " AND ".join(f"d.{k} = s.{k}" for k in [*key_names, "currency"])
    first_index = int(first_period[:4]) * 12 + int(first_period[5:7]) - 1
    arrays = con.execute(
        f"""
        SELECT s.sid,
               CAST(substr(d.period, 1, 4) AS INTEGER) * 12
                   + CAST(substr(d.period, 6, 2) AS INTEGER) - 1 - {first_index} AS period,
               coalesce(d.day_number,
                   CAST(floor(epoch(CAST(strptime(d.period, '%Y-%m') + INTERVAL 1 MONTH
                   AS TIMESTAMPTZ)) / 86400) AS INTEGER) - 1) - {epoch_first} AS col,
               d.stream, d.cost
        FROM forecast_daily AS d JOIN forecast_series AS s ON {join}
        WHERE d.cost <> 0
        """
    ).fetchnumpy()
    con.execute("DROP TABLE forecast_daily")
    con.execute("DROP TABLE forecast_series")
    sid = np.asarray(arrays["sid"], dtype=np.int64)
    period_idx = np.asarray(arrays["period"], dtype=np.int64)
    col = np.asarray(arrays["col"], dtype=np.int64)
    stream = np.asarray(arrays["stream"], dtype=np.int64)
    lo = cal.starts[period_idx]
    hi = cal.starts[period_idx + 1] - 1
    outside = (col < lo) | (col > hi)
    first_data = last_data = None
    if len(col):
        inside = col[~outside] if (~outside).any() else col
        first_data = first_day + timedelta(days=int(inside.min()))
        last_data = first_day + timedelta(days=int(inside.max()))
    stream = np.where(outside, FIXED, stream)
    col = np.clip(col, lo, hi)
    size = len(names) * cal.days
    flat = (sid * cal.days + col) * 3 + stream
    cost = np.asarray(arrays["cost"], dtype=np.float64)
    summed = np.bincount(flat, weights=cost, minlength=size * 3).reshape(len(names), cal.days, 3)
    matrices = [np.ascontiguousarray(summed[:, :, k]) for k in range(3)]
    ordered = [tuple(str(v) for v in row) for row in names]
    return History(
        words=list(words),
        keys=[k[:-1] for k in ordered],
        currencies=[k[-1] for k in ordered],
        usage=matrices[USAGE],
        recurring=matrices[RECURRING],
        fixed=matrices[FIXED],
        first_day=first_day,
        periods=periods,
        calendar=cal,
        lens=lens,
        metric=value,
        first_data_day=first_data,
        last_data_day=last_data,
    )


def actual_to_date(
    con: duckdb.DuckDBPyConnection,
    history: History,
    period: str,
    as_of: date,
) -> dict[tuple[tuple[str, ...], str], Decimal]:
    """The exact cost of `period` dated before `as_of`, per (group, currency)."""
    lens = history.lens
    dims = [lens.dimension(word) for word in history.words]
    keys = [f"coalesce(CAST({d.expr} AS VARCHAR), {literal(NONE_LABEL)})" for d in dims]
    group = ", ".join([*keys, "BillingCurrency"])
    charged = (
        "coalesce(ChargePeriodStart, CAST(strptime(x_BillingPeriod, '%Y-%m') + INTERVAL 1 MONTH "
        "AS TIMESTAMPTZ) - INTERVAL 1 SECOND)"
    )
    rows = con.execute(
        f"""
        SELECT {group}, sum({history.metric})
        FROM {lens}
        WHERE x_BillingPeriod = {literal(period)}
          AND {charged} < CAST(DATE '{as_of}' AS TIMESTAMPTZ)
          AND {lens.scope_sql()}
        GROUP BY ALL
        """
    ).fetchall()
    return {(tuple(str(v) for v in row[:-2]), str(row[-2])): row[-1] for row in rows}
