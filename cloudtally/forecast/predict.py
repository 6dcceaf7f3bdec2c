"""Month totals from the model's daily expectations: the point forecast of each target month
as of one day, and its scale (the spread the conformal intervals are measured in)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cloudtally.forecast.model import TAIL_DAYS, Calendar, expect

# A newest day taken as incomplete (late data) is completed with the model's expectation; what
# it will really come to may differ by about this share of the amount added. The past forecasts
# the intervals are calibrated on were replayed on complete data, so this spread is added to
# the calibrated interval, not calibrated with it.
REPAIR_UNCERTAINTY = 0.5
RELATIVE_FLOOR = 0.01


@dataclass
class Point:
    """Forecasts of target months made as of one column, for every series."""

    as_of: int  # the first column not observed
    targets: np.ndarray  # (H + 1,) period index of each target month
    known: np.ndarray  # (n, H + 1) cost of each target month dated before as_of
    rest: np.ndarray  # (n, H + 1) expected cost still to come (incomplete days included)
    scale: np.ndarray  # (n, H + 1) standard deviation of `rest` up to a factor
    tail_sd: np.ndarray  # (n, H + 1) standard deviation of what the newest days may still add
    alive: np.ndarray  # (n,) the series had cost in the 28 days before as_of

    @property
    def forecast(self) -> np.ndarray:
        return self.known + self.rest


def point_forecast(
    usage: np.ndarray,
    recurring: np.ndarray,
    total: np.ndarray,
    cal: Calendar,
    as_of: int,
    horizon: int,
) -> Point:
    """Forecast the month of column `as_of` and the `horizon` months after it, from the
    columns before `as_of` only."""
    current = int(cal.period[as_of])
    targets = np.arange(current, current + horizon + 1)
    stop = int(cal.starts[targets[-1] + 1])
    expected = expect(usage, recurring, cal, as_of, stop)
    n = usage.shape[0]
    known = np.zeros((n, len(targets)))
    rest = np.zeros((n, len(targets)))
    scale = np.zeros((n, len(targets)))
    tail_sd = np.zeros((n, len(targets)))
    for h, period in enumerate(targets):
        first, end = int(cal.starts[period]), int(cal.starts[period + 1])
        if first < as_of:
            known[:, h] = total[:, first:as_of].sum(axis=1)
        lo, hi = max(first, as_of) - as_of, end - as_of
        daily = expected.daily[:, lo:hi]
        factors = expected.weekday[:, lo:hi]
        steps = expected.trend_steps[lo:hi]
        rest[:, h] = daily.sum(axis=1)
        variance = (
            (expected.noise[:, lo:hi] ** 2).sum(axis=1)
            + (factors.sum(axis=1) * expected.level_se) ** 2
            + ((factors * steps[None, :]).sum(axis=1) * expected.slope_se) ** 2
        )
        # The newest days taken as incomplete count in the month they belong to.
        for k in range(TAIL_DAYS):
            column = as_of - TAIL_DAYS + k
            if first <= column < end:
                rest[:, h] += expected.repaired[:, k]
                tail_sd[:, h] += (REPAIR_UNCERTAINTY * expected.repaired[:, k]) ** 2
        scale[:, h] = np.sqrt(variance)
    # A floor relative to what is still to come: a series with no noise at all (a flat fee)
    # would otherwise score its first change as a wild error and widen everyone's intervals.
    scale = np.sqrt(scale**2 + (RELATIVE_FLOOR * rest) ** 2) + 1e-9
    alive = np.abs(total[:, max(0, as_of - 28) : as_of]).sum(axis=1) > 0
    return Point(as_of, targets, known, rest, scale, np.sqrt(tail_sd), alive)
