"""`forecast`: month-end totals of the as-of day's month and the next months, per group, with
80% and 95% prediction intervals. The one function the CLI, budgets, reports and pages call.

Forecasts are estimates computed in floating point and rounded to cents; `actual_to_date` is
the exact sum of the lake's DECIMAL costs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import numpy as np

from cloudtally.errors import QueryError
from cloudtally.forecast.history import (
    History,
    actual_to_date,
    add_months,
    data_range,
    load_history,
    period_of,
)
from cloudtally.forecast.intervals import Bands, Forecaster
from cloudtally.forecast.predict import Point
from cloudtally.query.ownership import EVERYTHING, Scope, lens_for
from cloudtally.store import Store

DEFAULT_HORIZON = 3
MAX_HORIZON = 12
METHOD = "daily-model"
CENT = Decimal("0.01")


class ForecastError(QueryError):
    """A forecast cannot be made as asked (no data before the as-of day, a bad date, ...)."""


@dataclass(frozen=True)
class ForecastRow:
    """The forecast of one group's total for one billing period."""

    period: str  # YYYY-MM
    group: dict[str, str] | None  # {dimension: value}; None for the whole scope
    currency: str
    forecast: Decimal  # estimate, rounded to cents
    lower_80: Decimal
    upper_80: Decimal
    lower_95: Decimal
    upper_95: Decimal
    actual_to_date: Decimal  # exact: the period's cost dated before the as-of day
    method: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "group": self.group,
            "currency": self.currency,
            "forecast": self.forecast,
            "lower_80": self.lower_80,
            "upper_80": self.upper_80,
            "lower_95": self.lower_95,
            "upper_95": self.upper_95,
            "actual_to_date": self.actual_to_date,
            "method": self.method,
        }


@dataclass
class ForecastResult:
    rows: list[ForecastRow]
    by: list[str]
    metric: str
    as_of: date  # the forecast uses charges dated before this day
    horizon: int
    data_from: date
    data_to: date  # the newest charge day before as_of
    source: str  # costs or allocated_costs
    notes: list[str] = field(default_factory=list)


def parse_day(text: str | None, option: str = "--as-of") -> date | None:
    """`2024-10-15` -> date; None stays None.

    >>> parse_day("2024-10-15")
    datetime.date(2024, 10, 15)
    """
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ForecastError(f"{option} {text!r} is not a date: use YYYY-MM-DD.") from None


def resolve_as_of(store: Store, source: str, as_of: date | None) -> tuple[date, date, date]:
    """(as_of, first data day, newest data day before as_of); refuses an as-of day outside
    the lake's data."""
    con = store.connect()
    span = data_range(con, source)
    if span is None:
        raise ForecastError(
            "The lake has no charges to forecast from: ingest data first with "
            "`cloudtally ingest PATH`."
        )
    first, last = span
    if as_of is None:
        as_of = last + timedelta(days=1)
    if as_of <= first:
        raise ForecastError(
            f"--as-of {as_of} has no charges before it: the lake's data runs from {first} to "
            f"{last}. Choose a day after {first}."
        )
    if as_of > last + timedelta(days=1):
        raise ForecastError(
            f"--as-of {as_of} is after the lake's data, which ends on {last}: the days between "
            f"would count as zero cost. Use --as-of {last + timedelta(days=1)} or earlier, or "
            "ingest the newer exports first."
        )
    seen = data_range(con, source, before=as_of)
    assert seen is not None
    return as_of, first, seen[1]


def forecast(
    store: Store,
    by: list[str] | None = None,
    *,
    metric: str = "BilledCost",
    horizon: int = DEFAULT_HORIZON,
    as_of: date | None = None,
    rules_dir: Path | None = None,
    scope: Scope = EVERYTHING,
) -> ForecastResult:
    """Forecast the month-end total of `as_of`'s month and the `horizon` months after it.

    Args:
        store: the lake.
        by: dimensions to group by (`team`, `service`, `account`, `tag:KEY`, ...); none for
            the whole lake.
        metric: BilledCost, EffectiveCost, ListCost or ContractedCost.
        horizon: months after the current one (0 to 12).
        as_of: forecast as at the start of this day, from charges dated before it only
            (default: the day after the newest charge in the lake).
        rules_dir: the rules folder whose tags.yaml normalises owners read from tags.
        scope: what the viewer may see (teams, products).

    Returns:
        One row per group, currency and period; groups with no cost in the last 28 days and
        none this month are left out.
    """
    by = list(by or [])
    if not 0 <= horizon <= MAX_HORIZON:
        raise ForecastError(f"--horizon must be from 0 to {MAX_HORIZON} months, not {horizon}.")
    con = store.connect()
    lens = lens_for(store, by, rules_dir=rules_dir, scope=scope)
    as_of, first, last = resolve_as_of(store, str(lens), as_of)
    current = period_of(as_of)
    last_period = period_of(add_months(as_of.replace(day=1), horizon))
    history = load_history(con, lens, by, metric=metric, as_of=as_of, last_period=last_period)
    exact = actual_to_date(con, history, current, as_of)
    result = ForecastResult(
        rows=[],
        by=by,
        metric=history.metric,
        as_of=as_of,
        horizon=horizon,
        data_from=first,
        data_to=last,
        source=str(lens),
        notes=[lens.note] if lens.note else [],
    )
    if not history.keys:
        return result
    point, bands = run_forecast(history, as_of, horizon)
    if not bands.calibrated[0]:
        result.notes.append(
            "Less than about two months of history: the intervals are the model's own, "
            "not calibrated on past errors (method says `uncalibrated`)."
        )
    keep = point.alive | np.array(
        [
            exact.get((k, c), Decimal(0)) != 0
            for k, c in zip(history.keys, history.currencies, strict=True)
        ]
    )
    result.rows = rows_of(history, point, bands, exact, keep)
    return result


def run_forecast(history: History, as_of: date, horizon: int) -> tuple[Point, Bands]:
    """The point forecasts and intervals of every series of `history` as of `as_of`."""
    forecaster = Forecaster(
        history.usage, history.recurring, history.total, history.calendar, horizon
    )
    column = history.column(as_of)
    point = forecaster.point(column)
    return point, forecaster.bands(point, forecaster.quantiles(column))


def money(known: Decimal, value: float, known_float: float) -> Decimal:
    """A forecast in cents: the exact known part plus the model's estimate of the rest
    (`value - known_float`, where `known_float` is the known part as the model summed it).

    >>> money(Decimal("100.005"), 250.0, 100.0)
    Decimal('250.01')
    """
    if not np.isfinite(value):
        raise ForecastError("The forecast model produced no number; please report this.")
    # (+ 0 turns a rounded -0.00 into 0.00)
    return (known + Decimal(repr(value - known_float))).quantize(CENT, ROUND_HALF_UP) + 0


def rows_of(
    history: History,
    point: Point,
    bands: Bands,
    exact: dict[tuple[tuple[str, ...], str], Decimal],
    keep: np.ndarray,
) -> list[ForecastRow]:
    """Typed rows: the current period's known part exact, the rest rounded to cents."""
    rows = []
    for h, target in enumerate(point.targets):
        period = history.periods[int(target)]
        method = METHOD if bands.calibrated[h] else f"{METHOD} (uncalibrated)"
        for i in np.flatnonzero(keep):
            key, currency = history.keys[i], history.currencies[i]
            known = exact.get((key, currency), Decimal(0)) if h == 0 else Decimal(0)
            base = float(point.known[i, h])
            group = dict(zip(history.words, key, strict=True)) if history.words else None
            rows.append(
                ForecastRow(
                    period=period,
                    group=group,
                    currency=currency,
                    forecast=money(known, float(point.forecast[i, h]), base),
                    lower_80=money(known, float(bands.lower_80[i, h]), base),
                    upper_80=money(known, float(bands.upper_80[i, h]), base),
                    lower_95=money(known, float(bands.lower_95[i, h]), base),
                    upper_95=money(known, float(bands.upper_95[i, h]), base),
                    actual_to_date=known,
                    method=method,
                )
            )
    rows.sort(key=lambda r: (r.period, r.currency, -r.forecast, tuple((r.group or {}).values())))
    return rows
