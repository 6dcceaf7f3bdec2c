"""The detector on constructed series: exact anomalies, and none on a flat series."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudtally.anomaly.detector import Thresholds, nanmedian, score_days

START = date(2024, 1, 1)  # a Monday
DAYS = 180
WEEKDAY = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.5, 0.4])


def company(level: float = 1000.0, days: int = DAYS, *, month_fee: float = 2500.0) -> np.ndarray:
    """A clean series: weekday pattern, a fee on day 1 of each month, a wobble that repeats."""
    out = np.empty(days)
    for k in range(days):
        day = START + timedelta(days=k)
        wobble = 1 + 0.04 * np.sin(k * 2.1)  # deterministic noise, never more than 4%
        out[k] = level * WEEKDAY[day.weekday()] * wobble + (month_fee if day.day == 1 else 0)
    return out


def detect(rows: list[np.ndarray], report_from: int = 100, **kw: float) -> list[tuple]:
    found = score_days(np.vstack(rows), START, report_from, thresholds=Thresholds(**kw))
    return [(d.series, d.onset, d.kind, d.days) for d in found.detections]


def test_clean_series_with_weekends_and_month_start_fees_raise_nothing() -> None:
    assert detect([company(), company(40.0, month_fee=0), company(level=0.0)], report_from=60) == []


def test_a_three_day_spike_is_one_anomaly_on_its_first_day() -> None:
    series = company()
    series[120:123] *= 3
    assert detect([company(), series]) == [(1, 120, "spike", 3)]
    found = score_days(np.vstack([series]), START, 100).detections[0]
    assert round(found.expected) == 1017  # 2024-04-30, a Tuesday: the weekday level
    assert round(found.actual) == 3075


def test_a_level_shift_alerts_once_and_later_days_use_the_new_level() -> None:
    series = company()
    series[130:] += company(month_fee=0)[130:]  # usage doubles; the monthly fee does not
    assert detect([series]) == [(0, 130, "level-shift", 4)]


def test_brand_new_spend_has_its_own_rule() -> None:
    series = np.full(DAYS, np.nan)
    series[140:] = company(100.0, month_fee=0)[140:]
    assert detect([company(), series]) == [(1, 140, "new-spend", 1)]
    # Before the lake's first day (or in a gap with no data at all) nothing is known: a
    # series appearing then is not "new".
    assert detect([series]) == []
    small = np.full(DAYS, np.nan)
    small[140:] = 5.0
    assert detect([company(), small]) == []  # below new_spend_min


def test_the_dollar_floors_hold_back_statistically_clear_but_small_changes() -> None:
    series = company(level=100.0, month_fee=0)
    series[120] += 40  # +40%, far beyond the noise, but under the $50 floor
    assert detect([series]) == []
    assert detect([series], min_impact=30) == [(0, 120, "spike", 1)]
    assert detect([series], min_impact=30, min_relative=0.5) == []


def test_scoring_is_causal_later_days_never_change_an_earlier_verdict() -> None:
    series = company()
    series[120:123] *= 3
    full = score_days(series[None, :], START, 110).detections
    cut = score_days(series[None, :121], START, 110).detections
    assert [(d.onset, d.actual, d.expected) for d in full] == [
        (d.onset, d.actual, d.expected) for d in cut
    ]


def test_an_intermittent_series_alerts_only_above_its_largest_day() -> None:
    job = np.zeros(DAYS)
    job[::9] = 400.0  # a job every nine days
    assert detect([job]) == []
    job[171] = 900.0  # a run far bigger than any before
    assert detect([job]) == [(0, 171, "spike", 1)]


def test_feedback_scale_raises_the_score_threshold_of_one_series() -> None:
    series = company()
    series[120] *= 1.6
    matrix = np.vstack([series, series])
    found = score_days(matrix, START, 100, z_scale=np.array([1.0, 100.0])).detections
    assert [(d.series, d.onset) for d in found] == [(0, 120)]


def test_nanmedian_matches_numpy() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(size=(50, 9))
    values[rng.random((50, 9)) < 0.3] = np.nan
    values[0] = np.nan
    expected = np.array([np.nan if np.isnan(r).all() else np.nanmedian(r) for r in values])
    np.testing.assert_allclose(nanmedian(values), expected)


@settings(max_examples=30, deadline=None)
@given(
    level=st.floats(min_value=0.0, max_value=1e7, allow_nan=False),
    days=st.integers(min_value=1, max_value=150),
    weekly=st.booleans(),
)
def test_a_flat_series_raises_no_anomaly(level: float, days: int, weekly: bool) -> None:
    pattern = [START + timedelta(days=k) for k in range(days)]
    series = np.array([level * (WEEKDAY[d.weekday()] if weekly else 1.0) for d in pattern])
    assert score_days(series[None, :], START, 0).detections == []


# -- recurring charges and other calendar patterns ------------------------------------------

BAND = [0.65, 1.35, 0.65, 0.65, 1.35, 1.0, 0.65, 1.35]  # month to month, at the +-35% edges


def with_charge(series: np.ndarray, on: list[int], amount: float) -> np.ndarray:
    """`series` plus a charge of `amount` x the month's band on the given columns."""
    out = series.copy()
    for k in on:
        day = START + timedelta(days=k)
        out[k] += amount * BAND[(day.month - 1) % len(BAND)]
    return out


def columns(test: object) -> list[int]:
    return [k for k in range(DAYS) if test(START + timedelta(days=k))]  # type: ignore[operator]


def test_recurring_charges_moving_35_percent_a_month_raise_nothing_once_seen_twice() -> None:
    plain = company(month_fee=0)
    first = columns(lambda d: d.day == 1)
    quarter = columns(lambda d: d.day == 1 and d.month in (1, 4, 7, 10))
    month_end = columns(lambda d: (d + timedelta(days=1)).day == 1)
    business = columns(lambda d: d.weekday() < 5 and all(
        (d - timedelta(days=j)).weekday() >= 5 for j in range(1, d.day)))  # fmt: skip
    rows = [
        with_charge(plain, first, 2500.0),  # a support plan on the 1st
        with_charge(np.zeros(DAYS), first, 900.0),  # a subscription: nothing else
        with_charge(plain, quarter, 6000.0),  # quarterly (Jan 1, Apr 1: seen twice by Jul 1)
        with_charge(plain, month_end, 1800.0),  # a batch on the last day (31st, 30th, 29th)
        with_charge(plain, business, 1500.0),  # the first business day (Mon 2024-04-01, ...)
    ]
    # Quarter starts need two earlier quarters: score from Jul 1 on.
    assert detect(rows, report_from=60) == [(2, 91, "spike", 1)]  # Apr 1: seen once before
    assert detect(rows, report_from=92) == []


def test_a_recurring_charge_that_more_than_doubles_alerts() -> None:
    series = with_charge(company(month_fee=0), columns(lambda d: d.day == 1), 2500.0)
    series[152] += 2500 * 3  # 2024-06-01: the support plan jumps (x4 this month)
    found = score_days(series[None, :], START, 100).detections
    assert [(d.onset, d.kind, round(d.actual), round(d.expected)) for d in found] == [
        (152, "spike", 10481, 3881)
    ]


def test_spend_booked_a_day_late_is_not_a_spike() -> None:
    series = company(month_fee=0)
    for k in (121, 135, 150):  # 60% of the day arrives with the next day
        series[k + 1] += 0.6 * series[k]
        series[k] *= 0.4
    assert detect([series]) == []
    series[160] *= 2.5  # a real spike still alerts
    assert detect([series]) == [(0, 160, "spike", 1)]


def test_an_unexpected_charge_on_a_subscription_series_alerts() -> None:
    series = with_charge(np.zeros(DAYS), columns(lambda d: d.day == 1), 900.0)
    series[140] = 400.0  # mid-month: the series never spends then
    assert detect([series]) == [(0, 140, "spike", 1)]
