"""The detector: causal, robust scoring of many daily cost series at once.

Input is a matrix of daily costs, one row per series and one column per day (NaN before a
series first appears, 0 on later days without spend). Each day `t` is scored only from the
columns before it, for every series at once (numpy over the series axis; the only Python loop
is over days, because whether a step up has become the new level depends on the days before).

For day `t` and one series the method is:

1. **Window**: the 56 days before `t` (8 whole weeks), from the series' current *regime* on (the
   day a confirmed level shift began) when that regime has at least 3 days.
2. **Weekday profile** `f[w]`: the median of each weekday over the window divided by the
   window's median (1 when there are fewer than two values for a weekday). Weekends that are
   quieter, or empty, are expected to be so.
3. **Level**: the median of the de-seasonalised values `x / f[w]`; **expected** `= level * f[w(t)]`.
4. **Recurring charges** (support plans, subscriptions, commitment fees, batch jobs: whatever
   their ChargeFrequency says): bills repeat on calendar days, so for each way `t` can recur
   (the same day of the month, clipped to shorter months; the same distance to the month's
   end; the first or second business day; the last business day; and, where no monthly charge
   is found, the same day a quarter and two quarters back: `recurring.py`) the excess of its
   two earlier occurrences over the level of the week before each is measured. When both are
   above `recurring_z` sigmas and within `recurring_ratio` of each other, the charge recurs:
   the larger is expected, and an alert needs the charge to exceed `recurring_ratio` times it
   (a fee moving +-35% a month stays quiet once two months show it; one that more than doubles
   alerts). Otherwise the smaller excess of the last two months on this day of the month
   (never below 0) is added, so a one-off on that day last month does not mask this month.
5. **Noise**: 1.4826 x the median absolute residual over the window (a robust sigma), floored at
   `noise_floor` x expected.
6. **Alert** when the score `(actual - expected - allowance) / sigma >= z` (or, for a rise
   spread over days such as a ramp, three days in a row each scoring at least `sustained_each`
   whose combined score `sum / sqrt(3)` reaches `z`) *and* that excess is at least
   `min_impact` (currency units) *and* at least `min_relative` x expected. The allowance is a
   recurring charge's band (step 4) plus spend that arrived late: when the days before fell
   short of expected by at least `late_z` sigmas (what the day before did not make up
   counts a quarter), today's excess up to that shortfall is the export booking part of them
   today, not a spike.
7. **New spend** (its own rule): a series whose first spend came after at least
   `new_spend_history` days of data alerts, once, on the first day within `new_spend_days` of
   that first spend when its daily spend reaches `new_spend_min` (a new service that ramps up
   alerts when it starts to matter, and says when it first appeared).
8. **Intermittent series** (spend on fewer than half of the window's days) expect at most their
   largest day of the window (recurring charges aside: a subscription series that spends only
   on the 1st expects nothing mid-month), so a job that runs now and then does not alert each
   time.
9. **Episodes**: consecutive anomalous days (allowing a gap of `gap_days`) are one anomaly, alerted
   on its first day. When an episode lasts `shift_days` days it is a level shift: the regime
   restarts at its first day, so later days are compared with the new level, and no new alert is
   raised while spend stays there (or keeps settling upwards within `settle_days`).

Only increases alert: a drop in spend is good news or a broken export, which `cloudtally check`
reports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from cloudtally.anomaly.recurring import occurrences

WINDOW = 56  # days of history scored against: 8 whole weeks
WARMUP = 63  # days replayed before the first day reported, so episodes and shifts are known
# Days of data a scoring needs before the first day reported: warm-up, and two quarters back
# with the week before (recurring charges, step 4).
HISTORY_DAYS = WARMUP + 184 + 7
MAD_TO_SIGMA = 1.4826  # the MAD of a normal distribution is 0.6745 sigma
IN_SAMPLE = 1.24  # in-sample residuals understate noise by this much (see the sigma step)
LATE_CARRY = 0.25  # share of a shortfall not made up the next day that is still owed after it


@dataclass(frozen=True)
class Thresholds:
    """When a day is an anomaly. Money is in the series' currency."""

    z: float = 6.5  # robust score (sigmas above expected)
    min_impact: float = 50.0  # excess over expected, absolute
    min_relative: float = 0.3  # excess over expected, as a share of expected
    new_spend_min: float = 50.0  # daily spend that makes brand-new spend an anomaly
    new_spend_history: int = 14  # days of data needed before a series' first day to call it new
    new_spend_days: int = 30  # a series is new this many days after its first spend
    noise_floor: float = 0.03  # sigma is at least this share of expected
    shift_days: int = 4  # an episode this long is a level shift: the level restarts
    gap_days: int = 1  # quiet days allowed inside one episode
    settle_days: int = 14  # after a step up, more rises within this many days are the same one
    sustained_each: float = 1.0  # the sustained rule: each of 3 days at least this score
    min_history: int = 7  # days a series needs before the statistical rule applies
    recurring_ratio: float = 2.2  # a recurring charge alerts above this x its last occurrence
    recurring_z: float = 3.0  # an earlier occurrence counts when this many sigmas above level
    late_z: float = 2.0  # a shortfall of this many sigmas the day before may arrive late


@dataclass
class Detection:
    """One anomaly: an episode of a series, alerted on its first day."""

    series: int  # row of the input matrix
    onset: int  # column of its first day
    kind: str  # spike | level-shift | new-spend
    actual: float  # on the first day
    expected: float
    score: float
    days: int = 1  # anomalous days in the episode so far
    last: int = 0  # column of its latest anomalous day
    total_excess: float = 0.0  # sum of excess over the episode's days
    first_seen: int = 0  # column of the series' first spend (new spend: before the onset)

    @property
    def impact(self) -> float:
        return self.actual - self.expected


@dataclass
class ScoreResult:
    detections: list[Detection] = field(default_factory=list)
    # The last day scored, per series: expected and score (for `--explain` style output).
    expected: np.ndarray | None = None
    score: np.ndarray | None = None


def nanmedian(values: np.ndarray) -> np.ndarray:
    """Median along the last axis ignoring NaN (NaN where a row has none); sort-based and fast.

    >>> nanmedian(np.array([[1.0, np.nan, 3.0, 2.0], [np.nan, np.nan, np.nan, np.nan]]))
    array([ 2., nan])
    """
    ordered = np.sort(values, axis=-1)  # NaN sorts last
    count = np.sum(~np.isnan(values), axis=-1)
    lo = np.maximum((count - 1) // 2, 0)[..., None]
    hi = np.maximum(count // 2, 0)[..., None]
    low = np.take_along_axis(ordered, np.minimum(lo, values.shape[-1] - 1), axis=-1)[..., 0]
    high = np.take_along_axis(ordered, np.minimum(hi, values.shape[-1] - 1), axis=-1)[..., 0]
    result = (low + high) / 2
    return np.where(count > 0, result, np.nan)


def dense(values: np.ndarray) -> np.ndarray:
    """NaN before each series' first value, 0 on its later days without a value."""
    present = ~np.isnan(values)
    seen = np.maximum.accumulate(present, axis=1)
    return np.where(seen & ~present, 0.0, values)


def _recurring(
    matrix: np.ndarray,
    padded: np.ndarray,
    days: list[date],
    t: int,
    level: np.ndarray,
    profile: np.ndarray,
    sigma_level: np.ndarray,
    th: Thresholds,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step 4 for day `t`: (recurring charge expected, its allowance, whether it is one).

    For each way `t` can recur (recurring.py), the excess of each earlier occurrence over the
    level of the week before it (not today's level: a step up since then must not eat into
    the charge). When both are clearly above the noise and within `recurring_ratio` of each
    other, the charge recurs: the larger is expected, and an alert needs the charge to exceed
    `recurring_ratio` times it (a fee that moves +-35% a month stays quiet; a doubled one
    does not). Otherwise the smaller excess of the last two months on this day of the month
    (never below 0) is expected, so a one-off last month does not mask this month.
    """
    n = matrix.shape[0]
    measured: dict[int, np.ndarray] = {}

    def excess(column: int) -> np.ndarray:
        if column not in measured:
            week = padded[:, column + WINDOW - 7 : column + WINDOW]
            week_profile = profile[:, (np.arange(column - 7, column) - t) % 7]
            with np.errstate(invalid="ignore", divide="ignore"):
                then = nanmedian(np.where(week_profile > 0, week / week_profile, np.nan))
            then = np.where(np.isnan(then), level, then)
            measured[column] = matrix[:, column] - then * profile[:, (column - t) % 7]
        return measured[column]

    charge = np.zeros(n)
    consistent = np.zeros(n, dtype=bool)
    fallback = np.zeros(n)
    for kind, earlier in occurrences(days[t]):
        columns = [t - (days[t] - d).days for d in earlier if (days[t] - d).days <= t]
        found = [excess(c) for c in columns]
        if kind == "day of month" and found:
            smaller = found[0] if len(found) == 1 else np.fmin(found[0], found[1])
            fallback = np.maximum(np.nan_to_num(smaller), 0.0)
        if len(found) < len(earlier):
            continue
        clear = [
            e > th.recurring_z * sigma_level * profile[:, (c - t) % 7]
            for e, c in zip(found, columns, strict=True)
        ]
        low, high = np.fmin(*found), np.fmax(*found)
        with np.errstate(invalid="ignore"):
            recurs = clear[0] & clear[1] & (high <= th.recurring_ratio * low)
        if kind == "day of quarter":
            # A monthly charge also shows 3 and 6 months back, maybe larger than lately: the
            # last two months decide for it.
            recurs &= ~consistent
        charge = np.where(recurs & (high > charge), high, charge)
        consistent |= recurs
    recurring = np.where(consistent, charge, fallback)
    allowance = np.where(consistent, (th.recurring_ratio - 1) * charge, 0.0)
    return recurring, allowance, consistent


def score_days(
    values: np.ndarray,
    first_day: date,
    report_from: int,
    report_to: int | None = None,
    thresholds: Thresholds | None = None,
    *,
    z_scale: np.ndarray | None = None,
    on_step: Callable[[int, int], None] | None = None,
) -> ScoreResult:
    """Score days `report_from..report_to` (columns, inclusive) of every series; causal.

    Args:
        values: daily cost, shape (series, days); NaN before a series exists.
        first_day: the date of column 0.
        report_from: the first column whose anomalies are reported. Earlier columns (up to
            `WARMUP` of them) are replayed silently so episodes and level shifts are known.
        report_to: the last column scored (default: the last column).
        thresholds: when a day is an anomaly.
        z_scale: per-series multiplier of the score threshold (feedback raises it).
        on_step: called with (steps done, steps total) for a progress bar.
    """
    th = thresholds or Thresholds()
    raw = np.asarray(values, dtype=np.float64)
    # Days on which the lake has no data at all are missing, not zero spend (a gap between
    # exports, or the time before the first one).
    covered = ~np.all(np.isnan(raw), axis=0) if raw.size else np.zeros(raw.shape[1], dtype=bool)
    matrix = dense(raw)
    matrix[:, ~covered] = np.nan
    covered_before = np.concatenate([[0], np.cumsum(covered)])  # covered days before column k
    n, total_days = matrix.shape
    report_to = total_days - 1 if report_to is None else report_to
    result = ScoreResult()
    if n == 0 or total_days == 0 or report_to < report_from:
        return result
    days = [first_day + timedelta(days=k) for k in range(total_days)]
    # Pad with NaN on the left so every window has WINDOW columns.
    # float32 for the window arithmetic: half the memory traffic, and 7 digits are plenty for
    # a baseline (reported actual costs come from the float64 matrix).
    padded = np.concatenate([np.full((n, WINDOW), np.nan), matrix], axis=1).astype(np.float32)
    spent = np.nan_to_num(np.abs(matrix)) > 0
    first_seen = np.where(spent.any(axis=1), np.argmax(spent, axis=1), 10**9)
    new_alerted = np.zeros(n, dtype=bool)
    z_limit = th.z * (z_scale if z_scale is not None else np.ones(n))

    regime = np.full(n, -(10**9))  # first column of the current level
    last_anomalous = np.full(n, -(10**9))
    open_episode: dict[int, Detection] = {}
    reported: set[int] = set()
    positions = np.arange(WINDOW) % 7  # weekday slot of each window column (t's slot is 0)
    recent = (np.zeros(n), np.zeros(n))  # the clipped scores of the two days before
    owed = np.zeros(n)  # how far below expected the days before were, not yet made up
    # Days scored as a recurring charge (consistent with its earlier occurrences), per series.
    recurring_day = np.zeros((n, WINDOW + total_days), dtype=bool)
    start = max(0, report_from - WARMUP)
    steps = report_to - start + 1
    for step, t in enumerate(range(start, report_to + 1)):
        actual = matrix[:, t]
        window = padded[:, t : t + WINDOW]  # columns t-56 .. t-1
        column_day = np.arange(t - WINDOW, t)
        in_regime = column_day[None, :] >= regime[:, None]
        regime_days = np.sum(in_regime & ~np.isnan(window), axis=1)
        # A level shift scales spend, not its weekly shape: once the new level has a week of
        # data, the days before it are rescaled to it and the whole window is used again.
        rescale = (regime_days >= 7) & np.any(~in_regime & ~np.isnan(window), axis=1)
        if rescale.any():
            before = nanmedian(np.where(in_regime, np.nan, window))
            after = nanmedian(np.where(in_regime, window, np.nan))
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = np.where(rescale & (before > 0) & (after > 0), after / before, 1.0)
            window = np.where(in_regime, window, window * ratio[:, None])
            in_regime = in_regime | rescale[:, None]
            regime_days = np.sum(in_regime & ~np.isnan(window), axis=1)
        # Weekday profile from the whole window.
        weekly = window.reshape(n, WINDOW // 7, 7)
        per_weekday = nanmedian(np.swapaxes(weekly, 1, 2))  # (n, 7)
        weekday_count = np.sum(~np.isnan(weekly), axis=1)
        # The median of the weekday medians (one small sort, not another over the window).
        overall = nanmedian(np.where(weekday_count >= 2, per_weekday, np.nan))
        overall = np.where(np.isnan(overall), nanmedian(per_weekday), overall)
        with np.errstate(invalid="ignore", divide="ignore"):
            # Only a full profile (every weekday seen twice) is used: a young series with some
            # weekdays known and others not would get a lopsided one.
            full = np.all(weekday_count >= 2, axis=1, keepdims=True)
            profile = np.where(
                full & (overall[:, None] > 0),
                per_weekday / overall[:, None],
                1.0,
            )
        profile = np.clip(np.nan_to_num(profile, nan=1.0), 0.0, 7.0)
        # The current regime, once it has three days; before that, the whole window.
        use = np.where((regime_days >= 3)[:, None], in_regime, True) & ~np.isnan(window)
        column_profile = profile[:, positions]
        with np.errstate(invalid="ignore", divide="ignore"):
            deseasoned = np.where(use & (column_profile > 0), window / column_profile, np.nan)
        level = nanmedian(deseasoned)
        level = np.where(np.isnan(level), nanmedian(np.where(use, window, np.nan)), level)
        # Noise is proportional to the level (a quiet weekend is quieter), so it is measured on
        # the de-seasonalised values and scaled back by today's weekday profile.
        spread = nanmedian(np.abs(deseasoned - level[:, None]))
        # The profile and level are medians of the same few values the residuals come from,
        # which makes in-sample residuals smaller than tomorrow's: widen by the median's own
        # error (pi/2 sigma^2 / k for k values a weekday) and an in-sample factor measured on
        # simulated Gaussian series (benchmarks/bench_anomaly_eval.py).
        per_slot = np.maximum(weekday_count[:, 0], 1)
        widen = IN_SAMPLE * np.sqrt(1 + (np.pi / 2) / per_slot)
        sigma = MAD_TO_SIGMA * np.where(np.isnan(spread), 0.0, spread) * profile[:, 0] * widen
        expected = level * profile[:, 0]
        # Recurring charges (step 4): what landed on the earlier occurrences of this day.
        recurring, allowance, consistent = _recurring(
            matrix, padded, days, t, level, profile, sigma / np.maximum(profile[:, 0], 1e-12), th
        )
        expected = np.nan_to_num(expected + recurring)
        recurring_day[:, t + WINDOW] = consistent
        history = np.sum(use, axis=1)
        # Intermittent series (spend on under half the days: a weekly job, an occasional
        # purchase) have a median of 0; for them, "unusual" means above the largest day of the
        # window, recurring charges aside (they are expected on their own days only).
        active = np.sum(use & (np.nan_to_num(window) != 0), axis=1)
        sparse = (history > 0) & (active < history / 2)
        if sparse.any():
            plain_day = use & ~recurring_day[:, t : t + WINDOW]
            largest = np.nanmax(np.where(plain_day, window, -np.inf), axis=1)
            expected = np.where(sparse, np.maximum(expected, largest), expected)
        noise = np.maximum(np.nan_to_num(sigma), th.noise_floor * np.abs(expected))
        excess = actual - expected
        # What an alert must clear beyond expected: the band of a recurring charge, and spend
        # that arrived late (the last days short of expected by as much as today is over it:
        # the export booked part of them today).
        late = np.where(owed >= th.late_z * noise, np.clip(np.nan_to_num(excess), 0.0, owed), 0.0)
        unusual = excess - allowance - late
        # What is still owed: a quarter of what the days before did not get back, and today's own
        # shortfall. (An intermittent series' expected is an upper bound: a quiet day is not a
        # late one.)
        repaid = np.clip(np.nan_to_num(excess), 0.0, None)
        shortfall = np.where(sparse, 0.0, np.nan_to_num(np.maximum(expected - actual, 0.0)))
        owed = LATE_CARRY * np.maximum(owed - repaid, 0.0) + shortfall
        with np.errstate(invalid="ignore", divide="ignore"):
            score = np.where(noise > 0, unusual / noise, np.where(unusual > 0, np.inf, 0.0))
        # Sustained: three days in a row above expected whose combined score passes (a ramp,
        # or a step too small for one day's score); each day was scored from its own past.
        clipped = np.clip(np.nan_to_num(score, posinf=z_limit.max()), -10, 10)
        combined = (clipped + recent[0] + recent[1]) / np.sqrt(3)
        sustained = (np.minimum(clipped, np.minimum(recent[0], recent[1])) >= th.sustained_each) & (
            combined >= z_limit
        )
        recent = (clipped, recent[0])
        statistical = (
            (history >= th.min_history)
            & ((score >= z_limit) | sustained)
            & (unusual >= th.min_impact)
            & (unusual >= th.min_relative * np.abs(expected))
        )
        new_spend = (
            ~new_alerted
            & (covered_before[np.minimum(first_seen, total_days)] >= th.new_spend_history)
            & (t - first_seen < th.new_spend_days)
            & (np.nan_to_num(actual) >= th.new_spend_min)
        )
        anomalous = np.nan_to_num(statistical | new_spend).astype(bool)

        # Episodes: continue, or start (alert), per anomalous series.
        for index in np.flatnonzero(anomalous):
            s = int(index)
            episode = open_episode.get(s)
            settling = episode is not None and episode.kind in ("level-shift", "new-spend")
            if episode is not None and (
                t - last_anomalous[s] <= th.gap_days + 1
                or (settling and t - last_anomalous[s] <= th.settle_days)
            ):
                if t >= report_from and id(episode) not in reported:
                    # An episode that began before the reported days and goes on in them:
                    # reported again (the same anomaly, updated), never as a new one.
                    reported.add(id(episode))
                    result.detections.append(episode)
                episode.days += 1
                episode.last = t
                if new_spend[s]:
                    episode.kind = "new-spend"
                    new_alerted[s] = True
                episode.total_excess += float(excess[s])
                if episode.days >= th.shift_days and regime[s] < episode.onset:
                    regime[s] = episode.onset
                    if episode.kind == "spike":
                        episode.kind = "level-shift"
            else:
                episode = Detection(
                    series=s,
                    onset=t,
                    kind="new-spend" if new_spend[s] else "spike",
                    actual=float(actual[s]),
                    expected=float(expected[s]),
                    score=float(min(score[s], 999.0)) if not new_spend[s] else 999.0,
                    last=t,
                    total_excess=float(excess[s]),
                    first_seen=int(first_seen[s]),
                )
                open_episode[s] = episode
                if new_spend[s]:
                    new_alerted[s] = True
                    regime[s] = max(regime[s], first_seen[s])
                if t >= report_from:
                    reported.add(id(episode))
                    result.detections.append(episode)
            last_anomalous[s] = t
        if t == report_to:
            result.expected, result.score = expected, score
        if on_step is not None:
            on_step(step + 1, steps)
    result.detections.sort(key=lambda d: (d.onset, d.series))
    return result
