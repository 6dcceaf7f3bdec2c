"""Day and week ranges on every reporting command, and ranges outside the data."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from cloudtally.errors import QueryError
from cloudtally.query.periods import DateRange, parse_range
from tests.query.lake import Day, day_store

# Two weeks of one resource: 10 a day in ISO week 2024-W40 (Sep 30..Oct 6), 20 a day in W41.
WEEKS = [
    *(Day(f"2024-{d}", "10") for d in ["09-30", *(f"10-0{n}" for n in range(1, 7))]),
    *(Day(f"2024-10-{n:02d}", "20") for n in range(7, 14)),
]


@pytest.fixture
def weeks(store, tmp_path: Path, cli):  # type: ignore[no-untyped-def]
    day_store(store, tmp_path, WEEKS)
    return cli


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-10", DateRange(date(2024, 10, 1), date(2024, 10, 31), "month")),
        ("2024-09..2024-10", DateRange(date(2024, 9, 1), date(2024, 10, 31), "month")),
        ("2024-W43", DateRange(date(2024, 10, 21), date(2024, 10, 27), "week")),
        ("2024-W52..2025-W01", DateRange(date(2024, 12, 23), date(2025, 1, 5), "week")),
        ("2024-10-05..2024-10-11", DateRange(date(2024, 10, 5), date(2024, 10, 11), "day")),
        ("2024-02-29", DateRange(date(2024, 2, 29), date(2024, 2, 29), "day")),
    ],
)
def test_range_forms(text: str, expected: DateRange) -> None:
    assert parse_range(text) == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("2024-13",), "--period '2024-13' is not a date range: use YYYY-MM, YYYY-MM..YYYY-MM, YYYY-MM-DD..YYYY-MM-DD, YYYY-Www or YYYY-Www..YYYY-Www."),
        (("2024-10..2024-10-05",), "--period '2024-10..2024-10-05' is not a date range: use YYYY-MM, YYYY-MM..YYYY-MM, YYYY-MM-DD..YYYY-MM-DD, YYYY-Www or YYYY-Www..YYYY-Www."),
        (("2024-10-09..2024-10-01",), "--period 2024-10-09..2024-10-01: the range ends before it starts."),
        (("2021-W53",), "'2021-W53' is not an ISO week: 2021 has no week 53."),
        (("2024-02-30",), "--period '2024-02-30' is not a day: use YYYY-MM-DD."),
    ],
)  # fmt: skip
def test_bad_ranges(args: tuple[str], message: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_range(*args)
    assert str(caught.value) == message


def test_since_needs_until() -> None:
    with pytest.raises(QueryError, match=r"^--since and --until go together"):
        parse_range(since="2024-10-01")
    with pytest.raises(QueryError, match=r"^Give --period or --since/--until, not both\."):
        parse_range("2024-10", since="2024-10-01", until="2024-10-02")


def test_costs_for_a_week_a_day_range_and_since_until(weeks) -> None:  # type: ignore[no-untyped-def]
    def total(*args: str) -> str:
        result = weeks("costs", "--by", "provider", *args, "-f", "json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)[0]["BilledCost"]

    assert total("--period", "2024-W40") == "70"
    assert total("--period", "2024-W41") == "140"
    assert total("--period", "2024-W40..2024-W41") == "210"
    assert total("--period", "2024-10-05..2024-10-08") == "60"  # 10 + 10 + 20 + 20
    assert total("--since", "2024-10-06", "--until", "2024-10-07") == "30"
    assert total("--period", "2024-09") == "10"  # billing period September: one day
    assert total("--period", "2024-10-13") == "20"


def test_movers_compare_a_week_with_the_week_before(weeks) -> None:  # type: ignore[no-untyped-def]
    result = weeks("movers", "--by", "service", "--period", "2024-W41", "-f", "json")
    assert json.loads(result.stdout) == [
        {
            "service": "Compute",
            "currency": "USD",
            "2024-W40": "70",
            "2024-W41": "140",
            "change": "70",
            "change_pct": 1.0,
        }
    ]


@pytest.mark.parametrize(
    "command", [["costs"], ["movers"], ["costs", "--by", "team"], ["movers", "--by", "team"]]
)
def test_a_range_outside_the_data_names_the_lakes_range(weeks, command: list[str]) -> None:  # type: ignore[no-untyped-def]
    result = weeks(*command, "--period", "2023-W10")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: No data in 2023-W10: the lake holds 2024-09..2024-10 "
        "(charges from 2024-09-30 to 2024-10-13). Choose a range inside it."
    )
    result = weeks(*command, "--period", "2025-01")
    assert "Error: No data in 2025-01: the lake holds 2024-09..2024-10" in result.stderr
