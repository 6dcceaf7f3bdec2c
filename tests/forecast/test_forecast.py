"""`cloudtally forecast`: exact known parts, month-start fees known on day 1, `--as-of` that
sees only what was known then, and bad input refused with one clear message."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from cloudtally.forecast.query import ForecastError, forecast
from cloudtally.store import Store
from tests.conftest import Run
from tests.forecast.lake import Charge, build_lake, daily, days

FIRST, LAST = date(2024, 5, 1), date(2024, 9, 30)
FEE = Decimal("900")


def compute(day: date) -> Decimal:
    """Business-hours compute: 100 on weekdays, 40 at weekends."""
    return Decimal(100) if day.weekday() < 5 else Decimal(40)


def company(first: date = FIRST, last: date = LAST) -> list[Charge]:
    """Compute every day, and a support fee on the 1st marked Recurring."""
    charges = daily(first, last, compute, service="Compute", tags={"team": "web"})
    charges += [
        Charge(d, FEE, service="Support", frequency="Recurring")
        for d in days(first, last)
        if d.day == 1
    ]
    return charges


def month_total(period: str) -> Decimal:
    return FEE + sum(
        (compute(d) for d in days(FIRST, LAST) if d.strftime("%Y-%m") == period), Decimal(0)
    )


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("forecast")
    build_lake(root / "lake", company())
    return root / "lake"


def test_month_start_fee_is_known_from_day_one_and_never_extrapolated(lake: Path) -> None:
    result = forecast(Store(lake), horizon=0, as_of=date(2024, 9, 2))
    [row] = result.rows
    # Known: the fee and one Sunday of compute, exactly.
    assert row.actual_to_date == FEE + Decimal(40)
    truth = month_total("2024-09")
    assert truth == Decimal("3360")  # 21 weekdays, 9 weekend days and the fee
    assert abs(row.forecast - truth) <= Decimal("0.05"), row
    # The run-rate (spend to date / days elapsed x days) would say 940 x 30 = 28,200.
    assert row.lower_95 <= row.lower_80 <= row.forecast <= row.upper_80 <= row.upper_95
    assert row.lower_80 <= truth <= row.upper_80


def test_weekday_pattern_and_next_months(lake: Path) -> None:
    result = forecast(Store(lake), horizon=2, as_of=date(2024, 9, 11))
    assert [r.period for r in result.rows] == ["2024-09", "2024-10", "2024-11"]
    september, october, november = result.rows
    assert september.actual_to_date == FEE + sum(
        (compute(d) for d in days(date(2024, 9, 1), date(2024, 9, 10))), Decimal(0)
    )
    assert abs(september.forecast - month_total("2024-09")) <= Decimal("0.05")
    # The same pattern continues: October 2024 has 23 weekdays and 8 weekend days.
    assert abs(october.forecast - (FEE + 23 * 100 + 8 * 40)) <= Decimal("0.05")
    assert abs(november.forecast - (FEE + 21 * 100 + 9 * 40)) <= Decimal("0.05")
    assert october.actual_to_date == november.actual_to_date == Decimal(0)


def test_as_of_sees_only_charges_before_the_day(lake: Path, tmp_path: Path) -> None:
    """A forecast as of a past day equals the forecast of a lake that only ever had the
    charges before that day."""
    as_of = date(2024, 8, 20)
    early = build_lake(tmp_path / "early", company(last=date(2024, 8, 19)))
    full = forecast(Store(lake), by=["service"], horizon=1, as_of=as_of)
    then = forecast(early, by=["service"], horizon=1)
    assert then.as_of == as_of
    assert full.rows == then.rows
    assert full.rows  # not vacuous


def test_json_rows_carry_the_documented_keys(cli: Callable[..., Run], lake: Path) -> None:
    run = cli("forecast", "--by", "team", "--horizon", "1", "--as-of", "2024-09-11",
              "--format", "json", data=lake)  # fmt: skip
    assert run.exit_code == 0, run.output
    rows = json.loads(run.stdout)
    assert [(r["period"], r["group"]) for r in rows] == [
        ("2024-09", {"team": "web"}),
        ("2024-09", {"team": "(none)"}),
        ("2024-10", {"team": "web"}),
        ("2024-10", {"team": "(none)"}),
    ]
    assert list(rows[0]) == [
        "period", "group", "currency", "forecast", "lower_80", "upper_80", "lower_95",
        "upper_95", "actual_to_date", "method",
    ]  # fmt: skip
    web = rows[0]
    assert web["actual_to_date"] == "820"  # 7 weekdays and 3 weekend days before the 11th
    assert web["method"] == "daily-model"
    whole = json.loads(cli("forecast", "--horizon", "0", "--as-of", "2024-09-11", "--format",
                           "json", data=lake).stdout)  # fmt: skip
    assert [r["group"] for r in whole] == [None]
    assert whole[0]["actual_to_date"] == "1720"
    # One series and four months of history: too few past errors to calibrate on.
    assert whole[0]["method"] == "daily-model (uncalibrated)"


def test_csv_has_a_column_per_dimension(cli: Callable[..., Run], lake: Path) -> None:
    run = cli("forecast", "--by", "service", "--horizon", "0", "--as-of", "2024-09-02",
              "--format", "csv", data=lake)  # fmt: skip
    assert run.exit_code == 0, run.output
    lines = run.stdout.splitlines()
    assert lines[0] == (
        "period,service,currency,actual_to_date,forecast,lower_80,upper_80,lower_95,upper_95,method"
    )
    assert lines[1].startswith("2024-09,Compute,USD,40,")
    assert lines[2] == "2024-09,Support,USD,900,900,900,900,900,900,daily-model"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--as-of", "2024-12-01"],
            "--as-of 2024-12-01 is after the lake's data, which ends on 2024-09-30: the days "
            "between would count as zero cost. Use --as-of 2024-10-01 or earlier, or ingest "
            "the newer exports first.",
        ),
        (
            ["--as-of", "2024-05-01"],
            "--as-of 2024-05-01 has no charges before it: the lake's data runs from 2024-05-01 "
            "to 2024-09-30. Choose a day after 2024-05-01.",
        ),
        (["--as-of", "2024-13-01"], "--as-of '2024-13-01' is not a date: use YYYY-MM-DD."),
        (["--metric", "Cost"], "Unknown metric 'Cost'."),
        (["--by", "servce"], "Unknown dimension 'servce'. Did you mean 'service'?"),
        (["--horizon", "13"], "--horizon must be from 0 to 12 months, not 13."),
    ],
)
def test_bad_input_is_one_message_and_exit_1(
    cli: Callable[..., Run], lake: Path, args: list[str], message: str
) -> None:
    run = cli("forecast", *args, data=lake)
    assert run.exit_code == 1
    assert message in " ".join(run.stderr.split()), run.stderr
    assert "Traceback" not in run.output


def test_an_empty_lake_says_to_ingest(cli: Callable[..., Run], tmp_path: Path) -> None:
    (tmp_path / "nothing").mkdir()  # a data dir with no lake yet
    run = cli("forecast", data=tmp_path / "nothing")
    assert run.exit_code == 1
    assert "The lake has no charges to forecast from: ingest data first" in run.stderr


def test_currencies_are_never_added(tmp_path: Path) -> None:
    charges = daily(date(2024, 8, 1), date(2024, 8, 31), lambda d: 10, currency="USD")
    charges += daily(date(2024, 8, 1), date(2024, 8, 31), lambda d: 20, currency="EUR")
    store = build_lake(tmp_path / "lake", charges)
    result = forecast(store, horizon=0, as_of=date(2024, 8, 16))
    assert [(r.currency, r.actual_to_date) for r in result.rows] == [
        ("EUR", Decimal(300)),
        ("USD", Decimal(150)),
    ]
    assert [round(r.forecast) for r in result.rows] == [620, 310]


def test_a_stopped_service_is_forecast_at_zero_and_a_new_one_at_its_level(tmp_path: Path) -> None:
    charges = daily(date(2024, 6, 1), date(2024, 8, 20), lambda d: 50, service="Old")
    charges += daily(date(2024, 5, 1), date(2024, 7, 31), lambda d: 30, service="Gone")
    charges += daily(date(2024, 8, 5), date(2024, 8, 31), lambda d: 80, service="New")
    store = build_lake(tmp_path / "lake", charges)
    result = forecast(store, by=["service"], horizon=1, as_of=date(2024, 9, 1))
    by_key = {(r.period, r.group["service"]): r for r in result.rows if r.group}
    assert by_key[("2024-09", "Old")].forecast == 0
    assert by_key[("2024-10", "Old")].forecast == 0
    assert ("2024-09", "Gone") not in by_key  # no cost in the last 28 days: left out
    assert abs(by_key[("2024-09", "New")].forecast - 30 * 80) <= Decimal("0.05")
    assert abs(by_key[("2024-10", "New")].forecast - 31 * 80) <= Decimal("0.05")


def test_unknown_as_of_text_is_a_forecast_error(lake: Path) -> None:
    from cloudtally.forecast.query import parse_day

    with pytest.raises(ForecastError, match="--as-of 'yesterday' is not a date"):
        parse_day("yesterday")
