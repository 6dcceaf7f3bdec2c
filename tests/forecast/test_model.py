"""The model on hand-made daily series: each shape that makes cost series hard, with the month
total it must come to."""

from __future__ import annotations

import numpy as np
import pytest

from cloudtally.forecast.history import axis
from cloudtally.forecast.intervals import Forecaster
from cloudtally.forecast.model import Calendar
from cloudtally.forecast.predict import point_forecast

# 2024-01 .. 2024-12: 2024-01-01 is a Monday.
FIRST_DAY, PERIODS, CAL = axis("2024-01", "2024-12")
SEPTEMBER = PERIODS.index("2024-09")


def columns_of(period: str) -> slice:
    index = PERIODS.index(period)
    return slice(int(CAL.starts[index]), int(CAL.starts[index + 1]))


def weekday_series(weekday: float = 100.0, weekend: float = 40.0) -> np.ndarray:
    return np.where(CAL.weekday >= 5, weekend, weekday).astype(float)


def forecast_month(
    usage: np.ndarray, as_of: int, recurring: np.ndarray | None = None, horizon: int = 0
) -> np.ndarray:
    usage = np.atleast_2d(usage)
    recurring = np.zeros_like(usage) if recurring is None else np.atleast_2d(recurring)
    point = point_forecast(usage, recurring, usage + recurring, CAL, as_of, horizon)
    return point.forecast[0]


def test_calendar_slots_put_the_last_day_of_every_month_together() -> None:
    cal = Calendar.of(0, [31, 29, 31])
    assert cal.slot[0] == 0 and cal.slot[27] == 27
    assert list(cal.slot[28:31]) == [-1, -1, 28]  # 29th, 30th: no slot; the 31st: last day
    assert cal.slot[31 + 28] == 28  # 29 February
    assert list(cal.period[[0, 30, 31, 59, 60]]) == [0, 0, 1, 1, 2]


def test_weekday_pattern_gives_the_exact_month() -> None:
    series = weekday_series()
    as_of = CAL.starts[SEPTEMBER] + 10
    truth = series[columns_of("2024-09")].sum()
    assert forecast_month(series, as_of)[0] == pytest.approx(truth, rel=1e-6)


def test_month_start_fee_in_usage_recurs_once_two_months_show_it() -> None:
    """A fee on the 1st that ChargeFrequency does not mark, varying month to month."""
    series = weekday_series()
    # Fees on the 1st of February to July (month indexes 1-6), none in August yet.
    fees = {1: 2000.0, 2: 2600.0, 3: 1500.0, 4: 2400.0, 5: 2100.0, 6: 1800.0}
    for month, fee in fees.items():
        series[CAL.starts[month]] += fee
    august = columns_of("2024-08")
    usage_only = weekday_series()[august].sum()
    # As of 1 August (the fee not charged yet): the mean of the last three fees is expected.
    as_of = int(CAL.starts[7])
    expected_fee = np.mean([fees[4], fees[5], fees[6]])
    assert forecast_month(series, as_of)[0] == pytest.approx(usage_only + expected_fee, rel=1e-6)
    # Charged on 1 August: known from then on, and never spread over the month's other days.
    series[as_of] += 2300.0
    for day in (1, 5, 20):
        forecast = forecast_month(series, as_of + day)[0]
        assert forecast == pytest.approx(usage_only + 2300.0, rel=1e-6)


def test_recurring_fee_is_repeated_from_its_last_month() -> None:
    usage = weekday_series()
    recurring = np.zeros(CAL.days)
    recurring[CAL.starts[8]] = 700.0  # marked Recurring: one month is enough
    recurring[CAL.starts[7] : CAL.starts[9]] += 5.0  # and a daily commitment fee
    as_of = int(CAL.starts[8]) + 3
    forecast = forecast_month(usage, as_of, recurring, horizon=1)
    october = usage[columns_of("2024-10")].sum() + 700 + 31 * 5
    assert forecast[1] == pytest.approx(october, rel=1e-6)


def test_a_level_shift_is_followed_once_it_has_lasted_ten_days() -> None:
    series = weekday_series()
    shift = int(CAL.starts[8]) + 3  # from 4 September, double
    series[shift:] *= 2
    as_of = shift + 12
    truth = series[columns_of("2024-09")].sum()
    assert forecast_month(series, as_of)[0] == pytest.approx(truth, rel=1e-2)


def test_a_spike_that_ended_is_not_extrapolated() -> None:
    series = weekday_series()
    start = int(CAL.starts[8]) + 5
    series[start : start + 3] *= 5
    as_of = start + 5  # two normal days since
    truth = series[columns_of("2024-09")].sum()
    # Taken as a new level it would add (5 - 1) x the rest of the month: +50%.
    assert forecast_month(series, as_of)[0] == pytest.approx(truth, rel=1e-2)


def test_late_newest_day_is_completed() -> None:
    """The newest day arrived at 30%: the model takes it as incomplete and adds the rest."""
    series = weekday_series()
    as_of = int(CAL.starts[8]) + 14
    seen = series.copy()
    seen[as_of - 1] *= 0.3
    truth = series[columns_of("2024-09")].sum()
    point = point_forecast(seen[None], np.zeros((1, CAL.days)), seen[None], CAL, as_of, 0)
    assert point.known[0, 0] == pytest.approx(truth - series[as_of:columns_of("2024-09").stop].sum() - 0.7 * series[as_of - 1])  # fmt: skip
    assert point.forecast[0, 0] == pytest.approx(truth, rel=1e-6)


def test_a_new_service_is_forecast_at_its_newest_level() -> None:
    series = np.zeros(CAL.days)
    start = int(CAL.starts[8]) + 5
    series[start:] = 80.0
    as_of = start + 6
    assert forecast_month(series, as_of)[0] == pytest.approx(80.0 * 25, rel=1e-6)


def test_a_trend_continues_to_the_month_end() -> None:
    days = np.arange(CAL.days, dtype=float)
    series = 100 + 0.5 * days
    as_of = int(CAL.starts[8]) + 10
    truth = series[columns_of("2024-09")].sum()
    assert forecast_month(series, as_of)[0] == pytest.approx(truth, rel=2e-3)


def test_negative_series_keep_their_sign() -> None:
    credits = -weekday_series(20, 20)
    as_of = int(CAL.starts[8]) + 10
    assert forecast_month(credits, as_of)[0] == pytest.approx(-20 * 30, rel=1e-6)


def test_intervals_cover_noisy_series_about_as_promised() -> None:
    """Lognormal noise around a weekday pattern: the 80% intervals of 200 series, calibrated on
    their own past, hold the actual 70-90% of the time."""
    rng = np.random.default_rng(3)
    n = 200
    base = weekday_series()[None, :] * rng.lognormal(3, 1, (n, 1))
    usage = base * rng.lognormal(0, 0.15, (n, CAL.days))
    forecaster = Forecaster(usage, np.zeros_like(usage), usage, CAL, 0)
    hits = []
    for month in (9, 10):
        as_of = int(CAL.starts[month]) + 9
        point = forecaster.point(as_of)
        bands = forecaster.bands(point, forecaster.quantiles(as_of))
        actual = usage[:, CAL.starts[month] : CAL.starts[month + 1]].sum(axis=1)
        hits.append((actual >= bands.lower_80[:, 0]) & (actual <= bands.upper_80[:, 0]))
        assert bands.calibrated[0]
    assert 0.7 <= np.concatenate(hits).mean() <= 0.9
