"""Daily cost series with the patterns real bills have, and anomalies injected into them.

Each series is one *pattern* (below) on top of a base of daily usage (a level spread over
orders of magnitude, a weekday profile, a slow trend, noise, a few benign one-off days).
Half the series of every pattern carry one injected *event*. Two families of worlds share the
pattern list but draw their shapes differently, so the detector is judged on data it was not
tuned on:

- `TUNING`: the worlds the thresholds were chosen on (seeds 0.., start 2023-09-04).
- `HELD_OUT`: other seeds (1000..), another calendar (the scored days span Thanksgiving,
  the year end, a quarter start and a leap-year February), another noise family
  (autocorrelated Laplace instead of Student-t), other level and weekday distributions,
  recurring charges that sit near the edges of their +-35% band, month-end batches over two
  days, a weekday profile that changes at a migration, and bigger or smaller events.

Patterns (`PATTERNS`):

    plain               the base alone
    month-start fee     + a charge on the 1st (support, subscription, commitment fee), +-35%
    fee only            a series that is only that charge (zero on other days)
    quarter start       + a charge on the 1st of Jan, Apr, Jul, Oct, +-35%
    anniversary fee     + a monthly charge on the day the contract began (2nd..31st; the
                        last day of shorter months), +-35%
    first business day  + a monthly charge on the first Monday-Friday of the month, +-35%
    billing cycle       usage priced in monthly volume tiers (the first days of a month cost
                        more), plus a monthly fee amortized per day (a February day costs more)
    month-end batch     + a batch job on the last day(s) of the month, +-35%
    weekday cycle       a strong weekly shape (idle weekends, or a Monday peak)
    migration           the level drops 30-70% on one day and stays there
    holidays            public holidays and the year-end week are quieter
    late data           some days arrive partly on the next day
    intermittent        a job on some days, nothing on the others

Events (`EVENTS`): spike (1-3 days), level shift, ramp (full size after a week), new spend
(the series did not exist before), and on series with a recurring charge, a jump of that
charge (x2.5-5 from one occurrence on: a support plan upgrade, a bigger commitment).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

PATTERNS = (
    "plain",
    "month-start fee",
    "fee only",
    "quarter start",
    "anniversary fee",
    "first business day",
    "billing cycle",
    "month-end batch",
    "weekday cycle",
    "migration",
    "holidays",
    "late data",
    "intermittent",
)
RECURRING = {
    "month-start fee",
    "fee only",
    "quarter start",
    "anniversary fee",
    "first business day",
    "month-end batch",
}
EVENTS = ("spike", "level-shift", "ramp", "new-spend", "charge-jump")
# US public holidays of the years the worlds span (observed dates).
HOLIDAYS = {
    date(2022, 5, 30), date(2022, 6, 20), date(2022, 7, 4), date(2022, 9, 5),
    date(2022, 10, 10), date(2022, 11, 11), date(2022, 11, 24), date(2022, 11, 25),
    date(2022, 12, 26),
    date(2023, 1, 2), date(2023, 1, 16), date(2023, 2, 20), date(2023, 5, 29),
    date(2023, 6, 19), date(2023, 7, 4), date(2023, 9, 4), date(2023, 10, 9),
    date(2023, 11, 10), date(2023, 11, 23), date(2023, 11, 24), date(2023, 12, 25),
    date(2024, 1, 1), date(2024, 1, 15), date(2024, 2, 19), date(2024, 5, 27),
    date(2024, 6, 19), date(2024, 7, 4), date(2024, 9, 2), date(2024, 10, 14),
    date(2024, 11, 11), date(2024, 11, 28), date(2024, 11, 29), date(2024, 12, 25),
}  # fmt: skip


@dataclass(frozen=True)
class Shape:
    """How one family of worlds is drawn."""

    name: str
    start: date
    days: int
    scored: int  # the last days, scored
    first_seed: int
    level_median: float
    level_sigma: float
    noise: str  # "student-t" | "ar-laplace" | "ar-gauss"
    noise_scale: tuple[float, float]
    weekends: tuple[float, ...]
    weekend_p: tuple[float, ...]
    charge_band: str  # "uniform" (+-35%) | "edges" (mostly near +-35%) | "triangular"
    fee_size: tuple[float, float]  # recurring charge, as days of the base level
    batch_days: int  # month-end batch: over the last N days (0: on the last business day)
    factor: tuple[float, float]  # event size: x the base (uniform, or lognormal's 5%..95%)
    factor_dist: str  # "uniform" | "lognormal"
    benign_rate: float
    benign_size: tuple[float, float]
    late_rate: float
    migration_reshapes: bool  # the weekday profile changes at a migration
    trend_sd: float
    tiers: tuple[float, float, float]  # price in the 1st, 2nd and 3rd volume tier of a month


TUNING = Shape(
    name="tuning",
    start=date(2023, 9, 4),
    days=330,
    scored=120,
    first_seed=0,
    level_median=400.0,
    level_sigma=1.0,
    noise="student-t",
    noise_scale=(0.03, 0.12),
    weekends=(1.0, 0.8, 0.5, 0.2),
    weekend_p=(0.35, 0.3, 0.25, 0.1),
    charge_band="uniform",
    fee_size=(0.5, 5.0),
    batch_days=1,
    factor=(1.6, 4.0),
    factor_dist="uniform",
    benign_rate=0.01,
    benign_size=(1.1, 1.25),
    late_rate=0.04,
    migration_reshapes=False,
    trend_sd=0.02,
    tiers=(1.0, 0.9, 0.8),
)

HELD_OUT = Shape(
    name="held-out",
    start=date(2023, 3, 13),
    days=360,
    scored=120,
    first_seed=1000,
    level_median=250.0,
    level_sigma=1.3,
    noise="ar-laplace",
    noise_scale=(0.02, 0.15),
    weekends=(1.0, 0.9, 0.6, 0.3, 0.05),
    weekend_p=(0.3, 0.2, 0.2, 0.2, 0.1),
    charge_band="edges",
    fee_size=(0.3, 8.0),
    batch_days=2,
    factor=(1.5, 5.0),
    factor_dist="lognormal",
    benign_rate=0.015,
    benign_size=(1.05, 1.3),
    late_rate=0.06,
    migration_reshapes=True,
    trend_sd=0.03,
    tiers=(1.0, 0.85, 0.7),
)

# A second held-out family, drawn after the harness's event definitions were last changed and
# run once, for the figures: nothing was tuned after it was first run.
FRESH = Shape(
    name="fresh held-out",
    start=date(2022, 5, 2),
    days=400,
    scored=120,
    first_seed=5000,
    level_median=600.0,
    level_sigma=1.1,
    noise="ar-gauss",
    noise_scale=(0.02, 0.10),
    weekends=(1.0, 0.7, 0.4, 0.1),
    weekend_p=(0.3, 0.3, 0.25, 0.15),
    charge_band="triangular",
    fee_size=(0.2, 6.0),
    batch_days=0,
    factor=(1.6, 3.5),
    factor_dist="uniform",
    benign_rate=0.02,
    benign_size=(1.05, 1.2),
    late_rate=0.05,
    migration_reshapes=False,
    trend_sd=0.025,
    tiers=(1.0, 0.92, 0.85),
)


@dataclass
class World:
    shape: Shape
    seed: int
    values: np.ndarray  # (series, days); NaN before a series exists
    pattern: list[str]
    kind: list[str]  # the event, or "clean"
    onset: np.ndarray  # column of the event, -1 for clean series
    begins: np.ndarray  # column its spend begins (a ramp's, before it is big enough)
    charge_on: np.ndarray  # (series, days): where a recurring charge lands
    days: list[date] = field(default_factory=list)

    @property
    def report_from(self) -> int:
        return self.shape.days - self.shape.scored


def _band(rng: np.random.Generator, shape: Shape, size: int | tuple[int, ...]) -> np.ndarray:
    """Month-to-month variation of a recurring charge: x0.65..x1.35."""
    if shape.charge_band == "uniform":
        return rng.uniform(0.65, 1.35, size)
    if shape.charge_band == "triangular":
        return rng.triangular(0.65, 1.0, 1.35, size)
    # Mostly near the edges: the hardest case for "seen twice before".
    edge = rng.uniform(0.65, 0.8, size)
    return np.where(rng.random(size) < 0.5, edge, 2.0 - edge)


def _noise(rng: np.random.Generator, shape: Shape, n: int) -> np.ndarray:
    scale = rng.uniform(*shape.noise_scale, n)[:, None]
    if shape.noise == "student-t":
        return np.exp(scale * rng.standard_t(5, (n, shape.days)) * 0.8)
    # Autocorrelated log-noise: busy days come in runs.
    if shape.noise == "ar-laplace":
        phi, innovations = 0.5, rng.laplace(0, 1 / np.sqrt(2), (n, shape.days))
    else:
        phi, innovations = 0.3, rng.standard_normal((n, shape.days))
    log = np.zeros((n, shape.days))
    for t in range(shape.days):
        log[:, t] = (phi * log[:, t - 1] if t else 0) + np.sqrt(1 - phi**2) * innovations[:, t]
    return np.exp(scale * log)


def _month_last_days(days: list[date], count: int) -> np.ndarray:
    """True on the last `count` days of each month."""
    return np.array([(d + timedelta(days=count)).month != d.month for d in days])


def _first_business_day(days: list[date]) -> np.ndarray:
    out = np.zeros(len(days), dtype=bool)
    for k, d in enumerate(days):
        if d.weekday() < 5 and all((d - timedelta(days=j)).weekday() >= 5 for j in range(1, d.day)):
            out[k] = True
    return out


def _last_business_day(days: list[date]) -> np.ndarray:
    out = np.zeros(len(days), dtype=bool)
    for k, d in enumerate(days):
        last = date(d.year, d.month, calendar.monthrange(d.year, d.month)[1])
        while last.weekday() >= 5:
            last -= timedelta(days=1)
        out[k] = d == last
    return out


def charge_days(pattern: str, days: list[date], anniversary: int, shape: Shape) -> np.ndarray:
    """The days a recurring pattern's charge lands on."""
    if pattern in ("month-start fee", "fee only"):
        return np.array([d.day == 1 for d in days])
    if pattern == "quarter start":
        return np.array([d.day == 1 and d.month in (1, 4, 7, 10) for d in days])
    if pattern == "anniversary fee":
        return np.array(
            [d.day == anniversary or (d.day < anniversary and _month_last_days([d], 1)[0])
             for d in days]
        )  # fmt: skip
    if pattern == "first business day":
        return _first_business_day(days)
    if pattern == "month-end batch" and shape.batch_days == 0:
        return _last_business_day(days)
    if pattern == "month-end batch":
        return _month_last_days(days, shape.batch_days)
    raise ValueError(pattern)


def make_world(shape: Shape, seed: int, per_pattern: int) -> World:
    """`per_pattern` series of each pattern, half of them with one event."""
    rng = np.random.default_rng(seed)
    days = [shape.start + timedelta(days=k) for k in range(shape.days)]
    weekday = np.array([d.weekday() for d in days])
    n = per_pattern * len(PATTERNS)
    patterns = [p for p in PATTERNS for _ in range(per_pattern)]
    level = np.exp(rng.normal(np.log(shape.level_median), shape.level_sigma, n))
    weekend = rng.choice(shape.weekends, n, p=shape.weekend_p)
    profile = np.where(weekday[None, :] >= 5, weekend[:, None], 1.0)
    trend = 1 + rng.normal(0, shape.trend_sd, n)[:, None] * np.arange(shape.days)[None, :] / 30
    noise = _noise(rng, shape, n)
    base = level[:, None] * profile * trend
    values = base * noise
    benign = rng.random((n, shape.days)) < shape.benign_rate
    values *= np.where(benign, rng.uniform(*shape.benign_size, (n, shape.days)), 1.0)
    charge_on = np.zeros((n, shape.days), dtype=bool)
    charge = np.zeros((n, shape.days))
    month_index = np.array([(d.year - 2020) * 12 + d.month for d in days])

    for s, pattern in enumerate(patterns):
        if pattern in RECURRING:
            on = charge_days(pattern, days, int(rng.integers(2, 32)), shape)
            size = rng.uniform(*shape.fee_size) * level[s]
            if pattern == "quarter start":
                size *= 3
            if pattern == "fee only":
                values[s] = 0.0
                size = max(size, 60.0)
            # One draw per month (a batch over two days is one charge split between them).
            per_month = _band(rng, shape, month_index.max() + 1)
            split = max(shape.batch_days, 1) if pattern == "month-end batch" else 1
            amount = size * per_month[month_index] / split
            charge_on[s], charge[s] = on, np.where(on, amount, 0.0)
            values[s] += charge[s]
        elif pattern == "billing cycle":
            usage = base[s] * noise[s]
            month_start = np.array([d.day == 1 for d in days])
            spent = np.zeros(shape.days)
            running = 0.0
            for t in range(shape.days):
                running = usage[t] if month_start[t] else running + usage[t]
                spent[t] = running
            monthly = level[s] * 30
            first, second, third = shape.tiers
            price = np.where(
                spent < 0.25 * monthly, first, np.where(spent < 0.6 * monthly, second, third)
            )
            month_days = np.array([calendar.monthrange(d.year, d.month)[1] for d in days])
            amortized = rng.uniform(5, 20) * level[s] / month_days
            values[s] = usage * price + amortized
        elif pattern == "weekday cycle":
            if rng.random() < 0.5:
                shape_week = np.array(
                    [1.0, 1.0, 1.0, 1.0, 1.0, rng.uniform(0, 0.1), rng.uniform(0, 0.1)]
                )
            else:
                shape_week = np.array([rng.uniform(1.8, 2.5), 1.0, 1.0, 1.0, 0.9, 0.4, 0.4])
            values[s] = level[s] * shape_week[weekday] * trend[s] * noise[s]
        elif pattern == "migration":
            t = int(rng.integers(shape.days - shape.scored - 40, shape.days - 10))
            values[s, t:] *= 1 - rng.uniform(0.3, 0.7)
            if shape.migration_reshapes:  # the new platform idles at weekends
                values[s, t:] *= np.where(weekday[t:] >= 5, rng.uniform(0.2, 0.6), 1.0)
        elif pattern == "holidays":
            quiet = np.array(
                [d in HOLIDAYS or (d.month == 12 and d.day >= 24) or (d.month == 1 and d.day == 1)
                 for d in days]
            )  # fmt: skip
            values[s] *= np.where(quiet, rng.uniform(0.3, 0.7), 1.0)
        elif pattern == "late data":
            late = rng.random(shape.days - 1) < shape.late_rate
            for t in np.flatnonzero(late):
                moved = values[s, t] * rng.uniform(0.3, 0.8)
                values[s, t] -= moved
                values[s, t + 1] += moved
        elif pattern == "intermittent":
            runs = rng.random(shape.days) < rng.uniform(0.15, 0.4)
            values[s] = np.where(runs, level[s] * rng.uniform(0.5, 1.5, shape.days), 0.0)

    onset = np.full(n, -1)
    begins = np.full(n, -1)  # the first day of spend added by the event (before a ramp matters)
    kinds = ["clean"] * n
    low, high = shape.days - shape.scored + 3, shape.days - 3
    for s in range(n):
        if s % per_pattern < per_pattern // 2:
            continue  # the first half of each pattern's series stay clean
        pattern = patterns[s]
        options = [k for k in EVENTS if k != "charge-jump" or pattern in RECURRING]
        kind = options[(s % per_pattern) % len(options)]
        if shape.factor_dist == "uniform":
            factor = rng.uniform(*shape.factor)
        else:
            lo, hi = np.log(shape.factor)
            factor = float(
                np.clip(np.exp(rng.normal((lo + hi) / 2, (hi - lo) / 3.3)), *shape.factor)
            )
        t0 = int(rng.integers(low, high))
        typical = (
            base[s]
            if pattern not in ("fee only", "intermittent")
            else np.full(shape.days, level[s])
        )
        # Events big enough to matter: `factor` over normal, and at least $100, every day.
        bump = np.maximum((factor - 1) * typical, 100.0)
        if kind == "charge-jump":
            later = np.flatnonzero(charge_on[s, t0:high])
            if not len(later):
                kind = "spike"
            else:
                t0 += int(later[0])
                jump = charge[s, t0:] * (rng.uniform(2.5, 5.0) - 1)
                values[s, t0:] += np.where(charge_on[s, t0:], np.maximum(jump, 100.0), 0.0)
        if kind == "spike" and pattern == "intermittent":
            # A job's normal runs cost up to 1.5x its level on any day: a spike is a run
            # costing `factor` times that.
            span = int(rng.integers(1, 4))
            values[s, t0 : t0 + span] = max(factor * 1.5 * level[s], 1.5 * level[s] + 100)
        elif kind == "spike":
            span = int(rng.integers(1, 4))
            values[s, t0 : t0 + span] += bump[t0 : t0 + span]
        elif kind == "level-shift":
            values[s, t0:] += bump[t0:]
        elif kind == "ramp":
            added = bump * np.clip((np.arange(shape.days) - t0 + 1) / 7, 0, 1)
            values[s] += added
            # A ramp is an event from the day it reaches the size of the smallest one (the
            # family's smallest factor, and $100 a day over normal), not from its first cent.
            material = np.maximum((shape.factor[0] - 1) * typical, 100.0)
            begins[s] = t0
            t0 += int(np.argmax(added[t0:] >= material[t0:] * (1 - 1e-9)))
        elif kind == "new-spend":
            if pattern == "fee only":  # a new subscription: its first charge is the onset
                later = np.flatnonzero(charge_on[s, t0:high])
                if not len(later):
                    continue
                t0 += int(later[0])
            else:  # a new service of at least $100 a day, with the pattern's charges
                usage = max(level[s], 100.0) * profile[s, t0:] * noise[s, t0:]
                values[s, t0:] = usage + charge[s, t0:]
            values[s, :t0] = np.nan
        onset[s], kinds[s] = t0, kind
        begins[s] = t0 if begins[s] < 0 else begins[s]
    return World(shape, seed, values, patterns, kinds, onset, begins, charge_on, days)
