"""The newest complete day detection trusts, and what it says it skipped."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pytest

from cloudtally.anomaly.days import complete_day


def lake(*rows: tuple[str, str, str, int]) -> duckdb.DuckDBPyConnection:
    """A `costs` view with `count` rows per (provider, day, billing period)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "CREATE TABLE raw (x_Provider VARCHAR, ChargePeriodStart TIMESTAMPTZ, "
        "BillingPeriodEnd TIMESTAMPTZ)"
    )
    for provider, day, period, count in rows:
        year, month = map(int, period.split("-"))
        end = date(year + month // 12, month % 12 + 1, 1)
        con.executemany(
            "INSERT INTO raw VALUES (?, CAST(? AS TIMESTAMPTZ), CAST(? AS TIMESTAMPTZ))",
            [[provider, f"{day} 00:00:00+00", f"{end} 00:00:00+00"]] * count,
        )
    con.execute("CREATE VIEW costs AS SELECT * FROM raw")
    return con


def days(provider: str, first: str, last: str, count: int = 100) -> list[tuple[str, str, str, int]]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [
        (provider, str(start + timedelta(days=k)), str(start + timedelta(days=k))[:7], count)
        for k in range((end - start).days + 1)
    ]


def test_the_newest_day_counts_once_every_delivering_provider_has_a_later_one() -> None:
    con = lake(*days("aws", "2024-10-01", "2024-10-31"), *days("azure", "2024-10-01", "2024-10-30"))
    found = complete_day(con, complete_lag=None, today=date(2024, 11, 5))
    assert (found.last, found.note()) == (date(2024, 10, 29), None)


def test_rows_after_their_billing_period_in_the_future_or_stray_are_skipped_and_said() -> None:
    con = lake(
        *days("aws", "2024-09-01", "2024-10-31"),
        ("aws", "2034-02-28", "2024-10", 1),  # after its billing period
        ("aws", "2024-12-25", "2024-12", 2),  # a stray: 2 rows, 8 weeks after the rest
        ("gcp", "2025-03-01", "2025-03", 40),  # in the future on 2025-01-10
        *days("gcp", "2024-09-01", "2024-10-31"),
    )
    found = complete_day(con, complete_lag=None, today=date(2025, 1, 10))
    assert found.last == date(2024, 10, 30)
    assert [s.describe() for s in found.skipped] == [
        "1 aws row dated 2034-02-28 (after its billing period)",
        "40 gcp rows dated 2025-03-01 (in the future)",
        "2 aws rows dated 2024-12-25 (far from other data)",
    ]
    # A delivery that resumes after a gap is not a stray: it has the rows of a usual day.
    resumed = lake(
        *days("aws", "2024-09-01", "2024-09-30"), *days("aws", "2024-10-15", "2024-10-20")
    )
    assert complete_day(resumed, complete_lag=None, today=date(2024, 11, 2)).last == date(
        2024, 10, 19
    )


@pytest.mark.parametrize(("lag", "expected"), [(0, date(2024, 10, 31)), (5, date(2024, 10, 28))])
def test_a_fixed_lag_counts_from_today(lag: int, expected: date) -> None:
    con = lake(*days("aws", "2024-10-01", "2024-10-31"))
    assert complete_day(con, complete_lag=lag, today=date(2024, 11, 2)).last == expected


def test_a_lake_whose_only_rows_are_untrusted_has_no_complete_day() -> None:
    con = lake(("aws", "2034-02-28", "2024-10", 1))
    found = complete_day(con, complete_lag=None, today=date(2024, 11, 2))
    assert found.last is None
    assert found.note() == (
        "Skipped 1 aws row dated 2034-02-28 (after its billing period): not scored and not "
        "used to find the newest complete day (`cloudtally check` lists such rows)."
    )
