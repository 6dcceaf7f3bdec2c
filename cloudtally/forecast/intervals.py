"""Prediction intervals from the model's own past errors (split conformal, scaled).

To forecast as of day D, the model is re-run as of the same day of the month (and 3 days
either side; 1 with 100 series or more) in each of the 6 months before (9 for 3 months ahead),
on the history before each of those days, for every series (or a sample of 500). Each run whose target month ended
before D gives a score: (actual - forecast) / scale, where scale is the model's own spread for
that series and month (daily noise, level and trend uncertainty). The 2.5%, 10%, 90% and 97.5%
quantiles of the scores of each horizon (this month, next month, ...) times a series' scale,
added to its forecast, give its 80% and 95% intervals.

A horizon with fewer than 30 scores (months far ahead in a short history) takes the next
shorter horizon's quantiles widened by sqrt((h+1)/h); with fewer than 30 scores for this month
(a lake with little history), the intervals are the model's normal ones doubled and the method
says `uncalibrated`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cloudtally.forecast.model import Calendar
from cloudtally.forecast.predict import Point, point_forecast

CALIBRATION_MONTHS = 6
# Runs on the same day of the month and days either side: more of them when there are few
# series (each run gives one score per series and month).
CALIBRATION_OFFSETS = (-3, -2, -1, 0, 1, 2, 3)
CALIBRATION_OFFSETS_MANY = (-1, 0, 1)
MANY_SERIES = 100
CALIBRATION_SERIES = 500
MIN_HISTORY = 28  # days of the axis before a calibration run
MIN_SCORES = 30
# Quantile levels of the scores: 95% lower, 80% lower, 80% upper, 95% upper.
LEVELS = (0.025, 0.10, 0.90, 0.975)
TAIL_Z = (-1.96, -1.2816, 1.2816, 1.96)  # normal quantiles of LEVELS
FALLBACK = np.array(TAIL_Z) * 2


@dataclass
class Quantiles:
    """Score quantiles per horizon: table[h] = (lower 95, lower 80, upper 80, upper 95)."""

    table: np.ndarray  # (H + 1, 4)
    counts: np.ndarray  # (H + 1,) scores behind each row
    calibrated: np.ndarray  # (H + 1,) bool: from scores (else the model's normal intervals)


@dataclass
class Bands:
    """Intervals of a point forecast: (n, H + 1) each."""

    lower_95: np.ndarray
    lower_80: np.ndarray
    upper_80: np.ndarray
    upper_95: np.ndarray
    calibrated: np.ndarray  # (H + 1,)


class Forecaster:
    """Point forecasts and calibrated intervals over one history, with the runs cached by
    as-of column (a backtest re-uses the same calibration runs for many as-of days)."""

    def __init__(
        self,
        usage: np.ndarray,
        recurring: np.ndarray,
        total: np.ndarray,
        cal: Calendar,
        horizon: int,
        *,
        calibration_series: int = CALIBRATION_SERIES,
    ) -> None:
        self.usage, self.recurring, self.total = usage, recurring, total
        self.cal = cal
        self.horizon = horizon
        n = usage.shape[0]
        if n > calibration_series:
            self.sample = np.unique(np.linspace(0, n - 1, calibration_series).astype(np.int64))
        else:
            self.sample = np.arange(n)
        self._points: dict[int, Point] = {}
        self._samples: dict[int, Point] = {}

    def point(self, as_of: int) -> Point:
        if as_of not in self._points:
            self._points[as_of] = point_forecast(
                self.usage, self.recurring, self.total, self.cal, as_of, self.horizon
            )
        return self._points[as_of]

    def _sample_point(self, as_of: int) -> Point:
        if len(self.sample) == self.usage.shape[0]:
            return self.point(as_of)
        if as_of not in self._samples:
            rows = self.sample
            self._samples[as_of] = point_forecast(
                self.usage[rows], self.recurring[rows], self.total[rows], self.cal, as_of,
                self.horizon,
            )  # fmt: skip
        return self._samples[as_of]

    def calibration_days(self, as_of: int) -> list[int]:
        """The as-of columns of the calibration runs for a forecast as of `as_of`."""
        cal = self.cal
        current = int(cal.period[as_of])
        elapsed = as_of - int(cal.starts[current])
        days = set()
        for back in range(1, CALIBRATION_MONTHS + self.horizon + 1):
            month = current - back
            if month < 0:
                break
            first, end = int(cal.starts[month]), int(cal.starts[month + 1])
            offsets = (
                CALIBRATION_OFFSETS_MANY if len(self.sample) >= MANY_SERIES else CALIBRATION_OFFSETS
            )
            for offset in offsets:
                day = first + min(max(elapsed + offset, 0), end - first - 1)
                if day >= MIN_HISTORY:
                    days.add(day)
        return sorted(days)

    def scores(self, as_of: int) -> list[np.ndarray]:
        """Scores of the calibration runs per horizon, from months that ended before as_of."""
        cal = self.cal
        rows = self.sample
        found: list[list[np.ndarray]] = [[] for _ in range(self.horizon + 1)]
        for day in self.calibration_days(as_of):
            point = self._sample_point(day)
            for h, period in enumerate(point.targets):
                first, end = int(cal.starts[period]), int(cal.starts[period + 1])
                if end > as_of:
                    continue
                actual = self.total[rows, first:end].sum(axis=1)
                forecast = point.forecast[:, h]
                use = point.alive & ((actual != 0) | (forecast != 0))
                found[h].append(((actual - forecast) / point.scale[:, h])[use])
        return [np.concatenate(s) if s else np.zeros(0) for s in found]

    def quantiles(self, as_of: int) -> Quantiles:
        scores = self.scores(as_of)
        table = np.zeros((self.horizon + 1, 4))
        counts = np.zeros(self.horizon + 1, dtype=np.int64)
        calibrated = np.zeros(self.horizon + 1, dtype=bool)
        for h, own in enumerate(scores):
            counts[h] = len(own)
            if len(own) >= MIN_SCORES:
                table[h] = _conformal(own)
                calibrated[h] = True
            elif h > 0 and calibrated[h - 1]:
                # Too few months of history this far ahead: the next shorter horizon's
                # quantiles, widened as errors that add up month after month would be.
                table[h] = table[h - 1] * np.sqrt((h + 1) / h)
                calibrated[h] = True
            else:
                table[h] = FALLBACK
        return Quantiles(table, counts, calibrated)

    def bands(self, point: Point, quantiles: Quantiles) -> Bands:
        f = point.forecast
        q = quantiles.table
        offsets = [q[None, :, k] * point.scale for k in range(4)]
        # What the newest days may still add (late data) is independent of the calibrated
        # error: the two spreads add in quadrature, at the normal quantile of each level.
        for k, z in enumerate(TAIL_Z):
            widened = np.sqrt(offsets[k] ** 2 + (z * point.tail_sd) ** 2)
            offsets[k] = np.where(offsets[k] * z > 0, np.copysign(widened, z), offsets[k])
        lower_95, lower_80, upper_80, upper_95 = (f + o for o in offsets)
        # The point forecast always lies inside its own intervals.
        lower_80 = np.minimum(lower_80, f)
        upper_80 = np.maximum(upper_80, f)
        lower_95 = np.minimum(lower_95, lower_80)
        upper_95 = np.maximum(upper_95, upper_80)
        return Bands(lower_95, lower_80, upper_80, upper_95, quantiles.calibrated)


def _conformal(scores: np.ndarray) -> np.ndarray:
    """The LEVELS quantiles with the split-conformal finite-sample correction (the upper
    tail's level times (N+1)/N, the lower tail's likewise)."""
    n = len(scores)
    levels = []
    for level in LEVELS:
        if level < 0.5:
            levels.append(max(0.0, 1 - (1 - level) * (n + 1) / n))
        else:
            levels.append(min(1.0, level * (n + 1) / n))
    return np.quantile(scores, levels)
