"""Generated cost histories for measuring forecasts beyond the sample company.

Each world is a set of daily cost series over 13 months, in the three streams the model reads
(usage, provider-marked recurring, one-time/corrections), with what makes real bills hard:
levels over four orders of magnitude, weekday patterns, growth and decline, heavy-tailed noise,
level shifts, spikes, services that start (with a ramp) or stop, month-start fees (marked
recurring or not) that vary month to month, daily commitment fees that change, one-time
purchases, corrections of the previous month, and late data in the newest days.

Two families:

- `tuning`: the shapes above. The model's constants were chosen looking at seeds 1-3 only.
- `held-out`: the same shapes drawn with other proportions, plus shapes the tuning family never
  has: quarterly fees, fees on a fixed day of the billing cycle (2nd-28th) and on the month's
  last day, weekly batch days, migrations (a series fading out over 1-4 weeks while another
  ramps up), strong growth and decline (+-8% a month), noisier series, and heavier late data.
  Only measured, never tuned on: seeds 1001 and up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

from cloudtally.forecast.history import History, axis, period_of
from cloudtally.forecast.model import TAIL_DAYS
from cloudtally.query.ownership import Lens

FIRST_PERIOD = "2023-10"
LAST_PERIOD = "2024-10"
AXIS_END = "2025-01"  # three months past the data, for forecasts of later months


@dataclass
class World:
    history: History
    late_share: float  # share of series whose newest days arrive late, at each as-of day
    late_depth: tuple[float, float]  # completeness of the newest day: uniform in this range
    seed: int

    def tail(self, as_of: int) -> np.ndarray:
        """Completeness of the newest TAIL_DAYS days (n, TAIL_DAYS), as seen at `as_of`."""
        rng = np.random.default_rng([self.seed, as_of])
        n = len(self.history.keys)
        factors = np.ones((n, TAIL_DAYS))
        late = rng.random(n) < self.late_share
        lo, hi = self.late_depth
        factors[late, -1] = rng.uniform(lo, hi, late.sum())
        factors[late, -2] = rng.uniform((1 + lo) / 2, 1.0, late.sum())
        factors[late, -3] = rng.uniform((3 + lo) / 4, 1.0, late.sum())
        return factors


def make_world(seed: int, family: str = "tuning", series: int = 300) -> World:
    if family not in ("tuning", "held-out"):
        raise ValueError(f"unknown family {family!r}")
    held_out = family == "held-out"
    rng = np.random.default_rng(seed)
    first_day, periods, cal = axis(FIRST_PERIOD, AXIS_END)
    days = int(cal.starts[periods.index(LAST_PERIOD) + 1])
    n = series
    t = np.arange(days)
    weekday = cal.weekday[:days]
    is_first = np.zeros(days, dtype=bool)
    month_starts = cal.starts[: periods.index(LAST_PERIOD) + 1]
    is_first[month_starts] = True

    level = np.exp(rng.normal(np.log(300), 1.3, n))
    usage = np.empty((n, days))
    recurring = np.zeros((n, days))
    fixed = np.zeros((n, days))
    for i in range(n):
        # Weekday pattern.
        kind = rng.choice(
            ["flat", "business", "mild", "batch"],
            p=_p(held_out, [0.3, 0.35, 0.35, 0], [0.25, 0.3, 0.25, 0.2]),
        )
        profile = np.ones(7)
        if kind == "business":
            profile[5:] = rng.uniform(0.15, 0.7)
        elif kind == "mild":
            profile[5:] = rng.uniform(0.8, 0.95)
        elif kind == "batch":
            profile[rng.integers(7)] = rng.uniform(1.8, 3.5)
        shape = profile[weekday]
        # Trend (per month) and noise.
        growth = rng.normal(0.02, 0.08 if held_out and rng.random() < 0.3 else 0.03)
        trend = np.exp(growth * t / 30.4)
        sigma = rng.uniform(0.02, 0.45 if held_out else 0.25)
        noise = np.exp(sigma * rng.standard_t(5, days) * 0.8)
        path = np.ones(days)
        # Level shifts and spikes.
        for _ in range(rng.poisson(0.35)):
            day = rng.integers(30, days)
            path[day:] *= np.exp(rng.normal(0, 0.6))
        for _ in range(rng.poisson(0.25)):
            day = rng.integers(0, days - 4)
            path[day : day + rng.integers(1, 5)] *= rng.uniform(2, 6)
        # Services that start (with a ramp) or stop.
        u = rng.random()
        if u < 0.12:
            start = rng.integers(60, days - 20)
            ramp = max(1, rng.integers(0, 22))
            path *= np.clip((t - start + 1) / ramp, 0, 1)
        elif u < 0.2:
            stop = rng.integers(200, days)
            if held_out and rng.random() < 0.5:  # a migration: fades out over 1-4 weeks
                fade = rng.integers(7, 29)
                path *= np.clip(1 - (t - stop) / fade, 0, 1)
            else:
                path[stop:] = 0
        elif held_out and u < 0.3:  # the other side of a migration
            start = rng.integers(150, days - 20)
            path *= np.clip((t - start + 1) / rng.integers(7, 29), 0, 1)
        usage[i] = level[i] * shape * trend * noise * path
        alive = path > 0

        # Month-start fees, varying +-35% month to month; marked Recurring or not.
        if rng.random() < 0.35:
            fee = level[i] * rng.uniform(0.5, 8) * rng.uniform(0.65, 1.35, days)
            target = recurring if rng.random() < 0.5 else usage
            target[i] += np.where(is_first & alive, fee, 0.0)
        # Daily commitment fee (Recurring), changing once in a while.
        if rng.random() < 0.15:
            fee_path = np.full(days, level[i] * rng.uniform(0.1, 0.5))
            if rng.random() < 0.3:
                fee_path[rng.integers(30, days) :] *= rng.uniform(0.5, 2)
            recurring[i] += fee_path
        # Corrections of the previous month, billed (and known) on the 1st.
        if rng.random() < 0.1:
            monthly = level[i] * 30
            fixed[i] += np.where(is_first, rng.normal(0, 0.01, days) * monthly, 0.0)
        # One-time purchases.
        if rng.random() < 0.03:
            fixed[i, rng.integers(0, days)] += level[i] * rng.uniform(5, 30)
        if held_out:
            u = rng.random()
            if u < 0.08:  # quarterly fee
                quarter = np.zeros(days, dtype=bool)
                quarter[month_starts[rng.integers(3) :: 3]] = True
                recurring[i] += np.where(quarter & alive, level[i] * rng.uniform(3, 20), 0.0)
            elif u < 0.16:  # a fee on a fixed day of the billing cycle
                dom = rng.integers(2, 29)
                on = np.zeros(days, dtype=bool)
                on[month_starts + dom - 1] = True
                target = recurring if rng.random() < 0.5 else usage
                target[i] += np.where(on & alive, level[i] * rng.uniform(1, 6), 0.0)
            elif u < 0.22:  # a charge on the month's last day
                on = np.zeros(days, dtype=bool)
                on[month_starts[1:] - 1] = True
                on[days - 1] = True
                usage[i] += np.where(on & alive, level[i] * rng.uniform(1, 6), 0.0)
    keys = [(f"s{i:04d}",) for i in range(n)]
    pad = np.zeros((n, cal.days - days))
    usage, recurring, fixed = (np.concatenate([m, pad], axis=1) for m in (usage, recurring, fixed))
    history = History(
        words=["series"],
        keys=keys,
        currencies=["USD"] * n,
        usage=usage,
        recurring=recurring,
        fixed=fixed,
        first_day=first_day,
        periods=periods,
        calendar=cal,
        lens=Lens(),  # not read: the worlds are matrices, not a lake
        metric="BilledCost",
        first_data_day=first_day,
        last_data_day=date.fromordinal(first_day.toordinal() + days - 1),
    )
    late_share, depth = (0.5, (0.05, 0.8)) if held_out else (0.4, (0.2, 0.9))
    return World(history, late_share, depth, seed)


def _p(held_out: bool, tuning: list[float], other: list[float]) -> list[float]:
    return other if held_out else tuning


__all__ = ["World", "make_world", "period_of"]
