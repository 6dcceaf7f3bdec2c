"""The month-end forecast model: numpy over (series x days) matrices, every series at once.

A series' daily cost comes in three streams (`history.History`):

- `usage`: usage-based charges. A level and a trend, times a weekday pattern, plus recurring
  day-of-month charges (a fee on the 1st that two of its last three occurrences show, whatever
  its ChargeFrequency says), with level shifts, services that start or stop, and late data in
  the newest days handled as described below;
- `recurring`: charges the provider marks `Recurring` (support plans, commitment fees,
  subscriptions): a daily rate (the median of the last 3 days) plus the day-of-month lumps of
  their last occurrence. A fee charged on the 1st is known from day 1 and never extrapolated;
- `fixed`: one-time charges and corrections of earlier periods: known when they land, never
  extrapolated (their future is forecast as zero). The model does not read them.

The usage stream, per series:

1. recurring lumps: the excess of each day over the median of the same weekday one and two
   weeks either side. A day of the month (1 to 28, or the last day) whose excess is large
   (5 robust sigmas and 5% of the level) with one sign in two of its last three occurrences
   is a recurring charge: forecast as the mean of those occurrences, and replaced by the
   baseline before the rest is fitted;
2. weekday factors: the median ratio of each weekday to its centred 7-day mean over the last
   8 weeks, shrunk towards 1 when fewer than 4 weeks show it;
3. level and trend: a level shift is the split of the last 6 weeks whose before and after
   means differ by 5 standard errors and 10%. The level and trend are a robust (Huber)
   least-squares line over the last 8 weeks, or since the shift or the series' first day. The
   trend is shrunk by its t-statistic and damped beyond the current month;
4. late data: each of the newest 3 days whose cost is well below the model's expectation
   (fitted without those days) is taken as incomplete: it is forecast as the expectation (the
   difference is added to the month) and the model is refitted with it.

`run` gives, for one as-of day, the expected cost still to come in each target month and a
scale (a standard deviation up to a factor) that `intervals.py` calibrates into intervals.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

WINDOW = 56  # days the weekday pattern, the noise and the trend are read from
LOOKBACK = 130  # days of history a fit reads (three occurrences of each day of month + 2 weeks)
SHIFT_SEARCH = 42  # a level shift is looked for in this many newest days
SHIFT_MIN_AFTER = 4  # ... with at least this many days after it
SHIFT_FULL_DAYS = 10  # a shift seen for fewer days is taken in part
MIN_TREND_DAYS = 14  # a trend needs this many days
SHIFT_BEFORE = 28  # ... compared with at most this many days before it
SHIFT_T = 5.0
SHIFT_RELATIVE = 0.1
LUMP_SIGMAS = 5.0
LUMP_RELATIVE = 0.05
LUMP_OCCURRENCES = 3
LUMP_NEEDED = 2
TAIL_DAYS = 3  # the newest days that may be incomplete (late or restated data)
# A newest day is taken as incomplete when it is below its expectation by this many sigmas and
# below this share of it (oldest of the three first: the newest day is the most often late).
TAIL_SIGMAS = (1.5, 1.0, 0.0)
TAIL_RELATIVE = (0.9, 0.95, 1.0)
TREND_SHRINK = 4.0  # slope * t^2 / (t^2 + TREND_SHRINK)
TREND_DAMPING = 0.99  # per day, beyond the current month
HUBER = 2.5
WEEKS_FOR_PATTERN = 4  # a weekday pattern seen fewer weeks is shrunk towards flat
SLOTS = 29  # days of month 1..28 are slots 0..27; the last day of a month is slot 28
NO_SLOT = -1  # days 29 and 30 of longer months


@dataclass(frozen=True)
class Calendar:
    """What each column of the day axis is: weekday, day-of-month slot, billing period."""

    weekday: np.ndarray  # (days,) 0 = Monday
    slot: np.ndarray  # (days,) 0..SLOTS-1, or NO_SLOT
    period: np.ndarray  # (days,) index of the billing period
    starts: np.ndarray  # (periods + 1,) first column of each period, then the axis' end

    @classmethod
    def of(cls, first_weekday: int, month_lengths: list[int]) -> Calendar:
        """The calendar of consecutive months, the first one starting on `first_weekday`."""
        starts = np.concatenate([[0], np.cumsum(month_lengths)]).astype(np.int64)
        days = int(starts[-1])
        weekday = (first_weekday + np.arange(days)) % 7
        slot = np.full(days, NO_SLOT, dtype=np.int64)
        period = np.zeros(days, dtype=np.int64)
        for index, length in enumerate(month_lengths):
            first = int(starts[index])
            slot[first : first + 28] = np.arange(28)
            slot[first + length - 1] = SLOTS - 1
            period[first : first + length] = index
        return cls(weekday, slot, period, starts)

    @property
    def days(self) -> int:
        return len(self.weekday)


@dataclass
class Expected:
    """The expected cost of each series on each day of a span of future columns."""

    daily: np.ndarray  # (n, days) expectation of the usage and recurring streams
    noise: np.ndarray  # (n, days) per-day standard deviation (usage noise only)
    level_se: np.ndarray  # (n,) standard error of the deseasonalised level
    slope_se: np.ndarray  # (n,) standard error of the slope
    weekday: np.ndarray  # (n, days) the weekday factor of each day (for the level's share)
    trend_steps: np.ndarray  # (days,) the (damped) trend's multiplier of the slope per day
    repaired: np.ndarray  # (n, TAIL_DAYS) cost added to the newest days taken as incomplete


# ------------------------------------------------------------------------------------------
# Helpers over NaN-padded matrices


def _shifted(x: np.ndarray, by: int) -> np.ndarray:
    """x moved right by `by` columns (left if negative), NaN where nothing moved in."""
    out = np.full_like(x, np.nan)
    if by > 0:
        out[:, by:] = x[:, :-by]
    elif by < 0:
        out[:, :by] = x[:, -by:]
    else:
        out[:] = x
    return out


def _nanmedian(x: np.ndarray, axis: int) -> np.ndarray:
    """The median along `axis` ignoring NaN (NaN where all are NaN). A sort and two picks:
    numpy's own nanmedian goes through masked arrays and is ~50x slower on small rows."""
    values = np.sort(np.moveaxis(x, axis, -1), axis=-1)  # NaN sorts last
    count = (~np.isnan(values)).sum(axis=-1)
    lo = np.maximum(count - 1, 0) // 2
    hi = np.maximum(count, 1) // 2 - (count == 0)
    a = np.take_along_axis(values, lo[..., None], axis=-1)[..., 0]
    b = np.take_along_axis(values, np.maximum(hi, 0)[..., None], axis=-1)[..., 0]
    return np.where(count > 0, (a + b) / 2, np.nan)


def _nanmean(x: np.ndarray, axis: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(x, axis=axis)


def _robust_sigma(x: np.ndarray) -> np.ndarray:
    """1.4826 x the median absolute deviation of each row (NaN ignored)."""
    centre = _nanmedian(x, axis=1)
    return 1.4826 * _nanmedian(np.abs(x - centre[:, None]), axis=1)


# ------------------------------------------------------------------------------------------
# The usage stream


@dataclass
class _Fit:
    level: np.ndarray
    slope: np.ndarray
    level_se: np.ndarray
    slope_se: np.ndarray
    sigma: np.ndarray
    weekday: np.ndarray  # (n, 7)


def _lumps(
    x: np.ndarray, slot: np.ndarray, level: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Recurring day-of-month charges of a window `x` (n, days) whose columns have `slot`.

    Returns (amount per slot (n, SLOTS), baseline (n, days), recurring (n, SLOTS) bool).
    """
    baseline = _nanmedian(np.stack([_shifted(x, k) for k in (14, 7, -7, -14)]), axis=0)
    excess = x - baseline
    sigma = _robust_sigma(excess[:, -WINDOW:])
    floor = np.maximum(LUMP_SIGMAS * sigma, LUMP_RELATIVE * np.abs(level))
    # The last LUMP_OCCURRENCES columns of each slot (the calendar is shared by all series).
    columns = np.full((SLOTS, LUMP_OCCURRENCES), -1, dtype=np.int64)
    for s in range(SLOTS):
        found = np.flatnonzero(slot == s)[-LUMP_OCCURRENCES:]
        columns[s, LUMP_OCCURRENCES - len(found) :] = found
    seen = np.where(columns[None, :, :] >= 0, excess[:, np.maximum(columns, 0)], np.nan)
    valid = ~np.isnan(seen)
    big = valid & (np.abs(np.nan_to_num(seen)) > floor[:, None, None])
    up = (big & (seen > 0)).sum(axis=2)
    down = (big & (seen < 0)).sum(axis=2)
    recurring = (up >= LUMP_NEEDED) | (down >= LUMP_NEEDED)
    amount = np.where(recurring, np.nan_to_num(_nanmean(seen, axis=2)), 0.0)
    return amount, baseline, recurring


def _weekday_factors(z: np.ndarray, weekday: np.ndarray) -> np.ndarray:
    """Multiplicative weekday factors (n, 7) from a window `z` (n, days), mean 1."""
    n, days = z.shape
    padded = np.concatenate([np.full((n, 3), np.nan), z, np.full((n, 3), np.nan)], axis=1)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 7, axis=1)
    full = ~np.isnan(windows).any(axis=2)
    centred = np.where(full, np.nan_to_num(windows).mean(axis=2), np.nan)
    values = np.nan_to_num(z)
    same_sign = ~((values < 0).any(axis=1) & (values > 0).any(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(np.abs(centred) > 0, z / centred, np.nan)
    # Whole weeks, newest last: column j of a week is weekday weekday[-7 + j].
    weeks = days // 7
    by_week = ratio[:, days - 7 * weeks :].reshape(n, weeks, 7)
    seen = (~np.isnan(by_week)).sum(axis=1)
    median = _nanmedian(by_week, axis=1)
    median = np.where(np.isnan(median), 1.0, median)
    shrunk = 1 + (median - 1) * np.minimum(1.0, seen / WEEKS_FOR_PATTERN)
    factors = np.ones((n, 7))
    factors[:, weekday[days - 7 :]] = shrunk
    factors = np.clip(factors, 0.05, 5.0)
    factors /= factors.mean(axis=1, keepdims=True)
    ok = same_sign & np.isfinite(factors).all(axis=1)
    factors[~ok] = 1.0
    return factors


def _fit_line(z: np.ndarray, start: np.ndarray, sigma: np.ndarray) -> _Fit:
    """A Huber line through each row of `z` from column `start` on (NaN skipped), started from
    the median so that a few wild days cannot lead it; the level is the line's value at the
    last column. Lines over fewer than MIN_TREND_DAYS days are flat."""
    n, days = z.shape
    x = np.arange(days, dtype=np.float64) - (days - 1)
    use = (~np.isnan(z)) & (np.arange(days)[None, :] >= start[:, None])
    y = np.where(use, z, 0.0)
    median = np.nan_to_num(_nanmedian(np.where(use, z, np.nan), axis=1))
    level, slope = median, np.zeros(n)
    limit = HUBER * np.maximum(sigma, 1e-12)[:, None]
    w = use.astype(np.float64)
    sxx = safe = xm = np.zeros(n)
    for _ in range(3):
        residual = y - (level[:, None] + slope[:, None] * x)
        w = np.where(use, np.minimum(1.0, limit / np.maximum(np.abs(residual), 1e-12)), 0.0)
        safe = np.maximum(w.sum(axis=1), 1e-12)
        xm, ym = (w * x).sum(axis=1) / safe, (w * y).sum(axis=1) / safe
        sxx = (w * (x - xm[:, None]) ** 2).sum(axis=1)
        sxy = (w * (x - xm[:, None]) * (y - ym[:, None])).sum(axis=1)
        slope = np.where(sxx > 0, sxy / np.maximum(sxx, 1e-12), 0.0)
        level = ym - slope * xm
    slope_se = np.where(sxx > 0, sigma / np.sqrt(np.maximum(sxx, 1e-12)), np.inf)
    level_se = sigma * np.sqrt(1 / safe + np.where(sxx > 0, xm**2 / np.maximum(sxx, 1e-12), 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(np.isfinite(slope_se) & (slope_se > 0), slope / slope_se, 0.0)
    shrunk = slope * t**2 / (t**2 + TREND_SHRINK)
    # Too few days for a trend: a flat level, the robust mean of the newest week.
    short = use.sum(axis=1) < MIN_TREND_DAYS
    recent = use & (np.arange(days)[None, :] >= days - 7)
    w_recent = np.where(recent, w, 0.0)
    flat = (w_recent * y).sum(axis=1) / np.maximum(w_recent.sum(axis=1), 1e-12)
    flat_se = sigma / np.sqrt(np.maximum(recent.sum(axis=1), 1))
    return _Fit(
        level=np.where(short, flat, level),
        slope=np.where(short, 0.0, shrunk),
        level_se=np.where(short, flat_se, level_se),
        slope_se=np.where(short, 0.0, slope_se),
        sigma=sigma,
        weekday=np.ones((n, 7)),
    )


def _shift(z: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The most significant level shift of each row's newest days: (column where it starts,
    or 0 when there is none; level before it; level after it).

    Means of the days clipped to 3 sigmas around their centred 7-day median, so that a spike
    on either side neither makes nor hides a shift; and the newest two days must sit on the
    new level, so that a spike that has ended is not taken for one."""
    n, days = z.shape
    lo = max(0, days - SHIFT_SEARCH - SHIFT_BEFORE)
    part = z[:, lo:]
    width = part.shape[1]
    padded = np.concatenate([np.full((n, 3), np.nan), part, np.full((n, 3), np.nan)], axis=1)
    local = _nanmedian(np.lib.stride_tricks.sliding_window_view(padded, 7, axis=1), axis=2)
    band = 3 * sigma[:, None]
    clipped = np.clip(part, local - band, local + band)
    have = ~np.isnan(clipped)
    total = np.concatenate([np.zeros((n, 1)), np.cumsum(np.where(have, clipped, 0), axis=1)], 1)
    count = np.concatenate([np.zeros((n, 1)), np.cumsum(have, axis=1)], axis=1)
    cuts = np.arange(max(1, width - SHIFT_SEARCH), width - SHIFT_MIN_AFTER + 1)
    if len(cuts) == 0:
        zeros = np.zeros(n)
        return np.zeros(n, dtype=np.int64), zeros, zeros
    starts = np.maximum(0, cuts - SHIFT_BEFORE)
    na = count[:, [width]] - count[:, cuts]
    nb = count[:, cuts] - count[:, starts]
    newest = _nanmedian(part[:, -2:], axis=1)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        after = (total[:, [width]] - total[:, cuts]) / na
        before = (total[:, cuts] - total[:, starts]) / nb
        t = np.abs(after - before) / (sigma[:, None] * np.sqrt(1 / na + 1 / nb))
        relative = np.abs(after - before) / np.maximum(np.abs(before), np.abs(after))
        holds = (newest - before) / (after - before) > 0.5
    ok = (na >= SHIFT_MIN_AFTER) & (nb >= 7) & (relative > SHIFT_RELATIVE) & holds
    t = np.where(ok & np.isfinite(t), t, 0.0)
    best = t.argmax(axis=1)
    rows = np.arange(n)
    found = t[rows, best] > SHIFT_T
    column = np.where(found, cuts[best] + lo, 0)
    return column, before[rows, best], after[rows, best]


def _fit_usage(
    x: np.ndarray, weekday: np.ndarray, start: np.ndarray, factors: np.ndarray | None = None
) -> _Fit:
    """Weekday factors, level shift, level and trend of a de-lumped window `x` (n, days)."""
    n, days = x.shape
    if factors is None:
        factors = _weekday_factors(x[:, -WINDOW:], weekday[-WINDOW:])
    part = max(0, days - SHIFT_SEARCH - SHIFT_BEFORE, days - WINDOW)
    z = x[:, part:] / factors[np.arange(n)[:, None], weekday[None, part:]]
    width = z.shape[1]
    diffs = np.diff(z[:, -WINDOW:], axis=1)
    sigma = 1.4826 * _nanmedian(np.abs(diffs), axis=1) / np.sqrt(2)
    level_guess = np.abs(_nanmedian(z[:, -14:], axis=1))
    sigma = np.where(np.isnan(sigma), 0.0, sigma)
    sigma = np.maximum(sigma, 1e-3 * np.nan_to_num(level_guess) + 1e-9)
    shift, before, after = _shift(z, sigma)
    first = np.maximum(np.maximum(start - part, shift), width - WINDOW)
    fit = _fit_line(z[:, -WINDOW:], first - max(0, width - WINDOW), sigma)
    # A shift seen for fewer than SHIFT_FULL_DAYS days is taken in part: as many short
    # excursions end (a spike) as last (a new level).
    seen = width - shift
    fresh = (shift > 0) & (seen < SHIFT_FULL_DAYS)
    weight = np.clip((seen - SHIFT_MIN_AFTER + 1) / (SHIFT_FULL_DAYS - SHIFT_MIN_AFTER + 1), 0, 1)
    fit.level = np.where(fresh, before + weight * (after - before), fit.level)
    fit.weekday = factors
    return fit


def _trend_steps(cal: Calendar, first: int, stop: int, current_end: int) -> np.ndarray:
    """The slope's multiplier for columns first..stop-1, 1-based days after the last observed
    one; undamped to the end of the current month, damped beyond it."""
    ahead = np.arange(first, stop) - (first - 1)
    inside = np.minimum(ahead, current_end - (first - 1))
    beyond = np.maximum(0, ahead - inside)
    damped = TREND_DAMPING * (1 - TREND_DAMPING**beyond) / (1 - TREND_DAMPING)
    return inside + damped


def _expect_usage(
    fit: _Fit,
    amount: np.ndarray,
    cal: Calendar,
    first: int,
    stop: int,
    current_end: int,
    positive: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Usage expectation (n, days) for columns first..stop-1, its weekday factors and trend
    multipliers."""
    n = len(fit.level)
    steps = _trend_steps(cal, first, stop, current_end)
    factors = fit.weekday[:, cal.weekday[first:stop]]
    base = (fit.level[:, None] + fit.slope[:, None] * steps[None, :]) * factors
    slots = cal.slot[first:stop]
    lumps = np.where(slots[None, :] >= 0, amount[:, np.maximum(slots, 0)], 0.0)
    daily = base + lumps
    daily = np.where(positive[:, None], np.maximum(daily, 0.0), daily)
    return daily, factors, np.broadcast_to(steps, (n, len(steps)))


# ------------------------------------------------------------------------------------------
# The recurring stream


def _expect_recurring(r: np.ndarray, slot: np.ndarray, future_slots: np.ndarray) -> np.ndarray:
    """Recurring charges: the median of the last 3 days, plus the lumps of each day of the
    month's last occurrence (measured against the median of the week around it)."""
    n, days = r.shape
    out = np.zeros((n, len(future_slots)))
    rows = np.flatnonzero((r != 0).any(axis=1))
    if days == 0 or len(rows) == 0:
        return out
    r = r[rows]
    rate = np.median(r[:, -7:], axis=1)
    last = np.full(SLOTS, -1, dtype=np.int64)
    for s in range(SLOTS):
        found = np.flatnonzero(slot == s)
        if len(found):
            last[s] = found[-1]
    have = last >= 0
    cols = last[have]
    around = np.stack([_shifted(r, k)[:, cols] for k in range(-3, 4) if k])
    middle = _nanmedian(around, axis=0)
    jump = r[:, cols] - np.where(np.isnan(middle), r[:, cols], middle)
    lumps = np.zeros((len(rows), SLOTS))
    lumps[:, have] = jump
    big = np.abs(lumps) > np.maximum(0.05 * np.abs(rate), 1e-9)[:, None]
    lumps = np.where(big, lumps, 0.0)
    extra = np.where(future_slots[None, :] >= 0, lumps[:, np.maximum(future_slots, 0)], 0.0)
    out[rows] = rate[:, None] + extra
    return out


# ------------------------------------------------------------------------------------------
# One run


def expect(
    usage: np.ndarray,
    recurring: np.ndarray,
    cal: Calendar,
    as_of: int,
    stop: int,
) -> Expected:
    """The expected cost of columns as_of..stop-1 from the columns before `as_of`.

    Args:
        usage, recurring: (n, >= as_of) daily costs; only columns < as_of are read.
        cal: the calendar of the day axis (at least `stop` columns).
        as_of: the first column not observed.
        stop: the end of the span to forecast (the end of the last target month).
    """
    n = usage.shape[0]
    lo = max(0, as_of - LOOKBACK)
    x = usage[:, lo:as_of].astype(np.float64, copy=True)
    days = x.shape[1]
    current_end = int(cal.starts[cal.period[min(as_of, cal.days - 1)] + 1])
    future = stop - as_of
    rec = _expect_recurring(recurring[:, lo:as_of], cal.slot[lo:as_of], cal.slot[as_of:stop])
    if days == 0:
        zeros = np.zeros((n, future))
        return Expected(
            rec + zeros, zeros, np.zeros(n), np.zeros(n), zeros + 1, np.zeros(future),
            np.zeros((n, TAIL_DAYS)),
        )  # fmt: skip
    nonzero = x != 0
    started = np.where(nonzero.any(axis=1), nonzero.argmax(axis=1), days)
    before = np.arange(days)[None, :] < started[:, None]
    x[before] = np.nan
    positive = np.asarray(~(np.nan_to_num(x) < 0).any(axis=1))
    weekday, slot = cal.weekday[lo:as_of], cal.slot[lo:as_of]
    level_guess = np.nan_to_num(_nanmedian(x[:, -28:], axis=1))
    amount, baseline, recurring_slot = _lumps(x, slot, level_guess)
    is_lump = (slot[None, :] >= 0) & recurring_slot[:, np.maximum(slot, 0)]
    clean = np.where(is_lump & ~np.isnan(baseline), baseline, x)

    # Late data: fit without the newest days, and take the ones far below expectation as
    # incomplete.
    repaired = np.zeros((n, TAIL_DAYS))
    tail = min(TAIL_DAYS, days - 1)
    factors = _weekday_factors(
        clean[:, -WINDOW - tail : days - tail], weekday[-WINDOW - tail : days - tail]
    )
    if tail > 0 and days > 14:
        head = clean[:, :-tail]
        fit = _fit_usage(head, weekday[:-tail], started, factors)
        expected, factors_tail, _ = _expect_usage(
            fit, np.zeros((n, SLOTS)), cal, as_of - tail, as_of, as_of, positive
        )
        observed = clean[:, -tail:].copy()
        noise = fit.sigma[:, None] * factors_tail
        sigmas = np.asarray(TAIL_SIGMAS[TAIL_DAYS - tail :])
        relative = np.asarray(TAIL_RELATIVE[TAIL_DAYS - tail :])
        low = (observed < expected - sigmas * noise) & (observed < relative * expected)
        low &= positive[:, None] & ~np.isnan(observed)
        clean[:, -tail:] = np.where(low, expected, observed)
        repaired[:, TAIL_DAYS - tail :] = np.where(low, expected - observed, 0.0)
    fit = _fit_usage(clean, weekday, started, factors)
    daily, factors, steps = _expect_usage(fit, amount, cal, as_of, stop, current_end, positive)
    noise = fit.sigma[:, None] * np.abs(factors)
    dead = started >= days  # no usage at all in the lookback
    daily = np.where(dead[:, None], 0.0, daily)
    noise = np.where(dead[:, None], 0.0, noise)
    return Expected(
        daily=daily + rec,
        noise=noise,
        level_se=np.where(dead, 0.0, fit.level_se),
        slope_se=np.where(dead | ~np.isfinite(fit.slope_se), 0.0, fit.slope_se),
        weekday=factors,
        trend_steps=steps[0] if len(steps) else np.zeros(0),
        repaired=repaired,
    )
