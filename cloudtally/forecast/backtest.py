"""`forecast backtest`: replay the lake's own history and measure the forecasts.

For each complete past month, month-end forecasts are made as of several days of that month
(by default the 2nd, 8th, 15th, 22nd and 28th: after 1, 7, 14, 21 and 27 days of data), each
from the charges dated before that day only, and compared with what the month came to. Two
baselines are measured on the same points:

- run-rate: spend to date / days elapsed x days in the month (for later months: the same daily
  rate x their days);
- seasonal naive: spend to date plus, for each day still to come, the cost of the same weekday
  in the last 7 days seen.

MAPE is the mean of |forecast - actual| / |actual| over every (as-of day, group) whose month
came to at least `min_actual` in absolute value (percentage errors of near-zero months say
nothing); coverage is the share of those points whose actual lies inside the interval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import numpy as np

from cloudtally.forecast.history import History
from cloudtally.forecast.intervals import Forecaster
from cloudtally.forecast.model import TAIL_DAYS
from cloudtally.forecast.predict import point_forecast
from cloudtally.query.ownership import EVERYTHING, Scope, lens_for
from cloudtally.store import Store

BACKTEST_DAYS = (2, 8, 15, 22, 28)
MIN_ACTUAL = 100.0
MIN_HISTORY_DAYS = 56  # a month is replayed when this many days of data come before it
METHODS = ("model", "run-rate", "seasonal-naive")

# For held-out generators: completeness factors (n, TAIL_DAYS) of the newest days as seen at
# an as-of column (late data); None: the lake as stored.
Tail = Callable[[int], np.ndarray]


@dataclass
class Score:
    """One method's accuracy at one horizon."""

    method: str
    horizon: int  # 0: the as-of day's month, 1: the next, ...
    points: int
    mape: float  # percent
    median_ape: float  # percent
    wape: float  # percent: sum |error| / sum |actual|
    coverage_80: float | None  # share of actuals inside the 80% interval (model only)
    coverage_95: float | None
    width_80: float | None  # mean width of the 80% interval, percent of the actual


@dataclass
class Backtest:
    months: list[str]
    days: tuple[int, ...]
    horizon: int
    min_actual: float
    groups: int
    scores: list[Score] = field(default_factory=list)
    # Per as-of day of month, model and run-rate MAPE at horizon 0 (for the docs' table).
    by_day: dict[int, dict[str, float]] = field(default_factory=dict)

    def score(self, method: str, horizon: int = 0) -> Score:
        return next(s for s in self.scores if s.method == method and s.horizon == horizon)


def replay_months(history: History) -> list[str]:
    """Complete months of the history with MIN_HISTORY_DAYS of data before them."""
    if history.first_data_day is None or history.last_data_day is None:
        return []
    first_ok = history.column(history.first_data_day) + MIN_HISTORY_DAYS
    last_column = history.column(history.last_data_day)
    cal = history.calendar
    months = []
    for index, period in enumerate(history.periods):
        start, end = int(cal.starts[index]), int(cal.starts[index + 1])
        if start >= first_ok and end - 1 <= last_column:
            months.append(period)
    return months


def run_backtest(
    history: History,
    *,
    months: list[str] | None = None,
    days: tuple[int, ...] = BACKTEST_DAYS,
    horizon: int = 0,
    min_actual: float = MIN_ACTUAL,
    tail: Tail | None = None,
) -> Backtest:
    """Replay month-end forecasts over `history` (see the module docstring)."""
    months = replay_months(history) if months is None else months
    cal = history.calendar
    total = history.total
    last_column = history.column(history.last_data_day) if history.last_data_day else -1
    forecaster = Forecaster(history.usage, history.recurring, total, cal, horizon)
    errors: dict[tuple[str, int], list[np.ndarray]] = {}
    actuals: dict[tuple[str, int], list[np.ndarray]] = {}
    inside: dict[tuple[int, int], list[np.ndarray]] = {}
    widths: dict[int, list[np.ndarray]] = {}
    day_errors: dict[tuple[int, str], list[np.ndarray]] = {}
    for period in months:
        index = history.period_index(period)
        first, end = int(cal.starts[index]), int(cal.starts[index + 1])
        for day in days:
            as_of = first + day - 1
            if as_of >= end:
                continue
            if tail is None:
                point = forecaster.point(as_of)
                seen = total
            else:
                factors = tail(as_of)
                usage, recurring, seen = (
                    _degrade(m, as_of, factors) for m in (history.usage, history.recurring, total)
                )
                point = point_forecast(usage, recurring, seen, cal, as_of, horizon)
            bands = forecaster.bands(point, forecaster.quantiles(as_of))
            elapsed = as_of - first
            to_date = seen[:, first:as_of].sum(axis=1)
            rate = to_date / max(elapsed, 1)
            recent = seen[:, as_of - 7 : as_of]
            for h, target in enumerate(point.targets):
                t_first, t_end = int(cal.starts[target]), int(cal.starts[target + 1])
                if t_end - 1 > last_column:
                    continue
                actual = total[:, t_first:t_end].sum(axis=1)
                keep = np.abs(actual) >= min_actual
                if not keep.any():
                    continue
                future = np.arange(max(t_first, as_of), t_end)
                naive = recent[:, (future - as_of) % 7].sum(axis=1)
                if h == 0:
                    naive = naive + to_date
                candidates = {
                    "model": point.forecast[:, h],
                    "run-rate": rate * (t_end - t_first),
                    "seasonal-naive": naive,
                }
                for method, forecast in candidates.items():
                    if method == "run-rate" and elapsed == 0:
                        continue
                    error = np.abs(forecast - actual)[keep]
                    errors.setdefault((method, h), []).append(error)
                    actuals.setdefault((method, h), []).append(np.abs(actual[keep]))
                    if h == 0:
                        day_errors.setdefault((day, method), []).append(
                            error / np.abs(actual[keep])
                        )
                for level, (lo, hi) in (
                    (80, (bands.lower_80, bands.upper_80)),
                    (95, (bands.lower_95, bands.upper_95)),
                ):
                    hit = (actual >= lo[:, h]) & (actual <= hi[:, h])
                    inside.setdefault((level, h), []).append(hit[keep])
                width = (bands.upper_80[keep, h] - bands.lower_80[keep, h]) / np.abs(actual[keep])
                widths.setdefault(h, []).append(width)
    result = Backtest(months, days, horizon, min_actual, len(history.keys))
    for h in range(horizon + 1):
        for method in METHODS:
            if (method, h) not in errors:
                continue
            e = np.concatenate(errors[(method, h)])
            a = np.concatenate(actuals[(method, h)])
            ape = e / a
            coverage = {}
            if method == "model":
                for level in (80, 95):
                    coverage[level] = float(np.concatenate(inside[(level, h)]).mean())
            result.scores.append(
                Score(
                    method,
                    h,
                    len(e),
                    float(100 * ape.mean()),
                    float(100 * np.median(ape)),
                    float(100 * e.sum() / a.sum()),
                    coverage.get(80),
                    coverage.get(95),
                    float(100 * np.concatenate(widths[h]).mean()) if method == "model" else None,
                )
            )
    for (day, method), parts in sorted(day_errors.items()):
        result.by_day.setdefault(day, {})[method] = float(100 * np.concatenate(parts).mean())
    return result


def _degrade(matrix: np.ndarray, as_of: int, factors: np.ndarray) -> np.ndarray:
    """`matrix` as seen at `as_of` when its newest days are only partly delivered."""
    seen = matrix.copy()
    width = min(TAIL_DAYS, as_of)
    seen[:, as_of - width : as_of] *= factors[:, TAIL_DAYS - width :]
    return seen


def backtest_lake(
    store: Store,
    by: list[str] | None = None,
    *,
    metric: str = "BilledCost",
    horizon: int = 0,
    days: tuple[int, ...] = BACKTEST_DAYS,
    months: int | None = None,
    min_actual: float = MIN_ACTUAL,
    rules_dir: Path | None = None,
    scope: Scope = EVERYTHING,
) -> Backtest:
    """Replay the lake's history (the last `months` complete months, default all with enough
    history before them) and measure the forecasts against the baselines."""
    from cloudtally.forecast.history import add_months, load_history, period_of
    from cloudtally.forecast.query import ForecastError, resolve_as_of

    by = list(by or [])
    lens = lens_for(store, by, rules_dir=rules_dir, scope=scope)
    for day in days:
        if not 1 <= day <= 31:
            raise ForecastError(f"--days {day} is not a day of the month (1-31).")
    con = store.connect()
    as_of, first, _ = resolve_as_of(store, str(lens), None)
    last_period = period_of(add_months(as_of.replace(day=1), horizon))
    history_months = (as_of.year - first.year) * 12 + as_of.month - first.month + 1
    history = load_history(
        con, lens, by, metric=metric, as_of=as_of, last_period=last_period, months=history_months
    )
    replay = replay_months(history)
    if months is not None:
        replay = replay[-months:]
    if not replay:
        raise ForecastError(
            f"Nothing to replay: a backtest needs a complete month with {MIN_HISTORY_DAYS} days "
            f"of data before it, and the lake's data runs from {first} to "
            f"{as_of - timedelta(days=1)}."
        )
    return run_backtest(history, months=replay, days=days, horizon=horizon, min_actual=min_actual)
