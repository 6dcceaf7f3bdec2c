"""Date ranges every command understands: billing periods, days and ISO weeks.

`--period` takes a billing period (`2024-10`), a range of them (`2024-07..2024-10`), a range of
days (`2024-10-05..2024-10-11`), an ISO week (`2024-W43`) or a range of weeks
(`2024-W40..2024-W43`); `--since/--until` take days. A range of billing periods selects lines by
their billing period (`x_BillingPeriod`, which skips whole folders of the lake); days and weeks
select lines by the day their charge starts (UTC).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import duckdb

from cloudtally.errors import QueryError
from cloudtally.sqltext import literal

Grain = Literal["month", "week", "day"]

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_WEEK = re.compile(r"^(\d{4})-W(0[1-9]|[1-4]\d|5[0-3])$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

FORMS = "YYYY-MM, YYYY-MM..YYYY-MM, YYYY-MM-DD..YYYY-MM-DD, YYYY-Www or YYYY-Www..YYYY-Www"


@dataclass(frozen=True)
class DateRange:
    """Days `first..last` (inclusive) at a grain: whole billing periods, weeks or days."""

    first: date
    last: date
    grain: Grain

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def periods(self) -> tuple[str, str]:
        """The billing periods the range starts and ends in."""
        return f"{self.first:%Y-%m}", f"{self.last:%Y-%m}"

    def label(self) -> str:
        """The range as the user would write it.

        >>> parse_range("2024-W43").label(), parse_range("2024-07..2024-09").label()
        ('2024-W43', '2024-07..2024-09')
        """
        if self.grain == "month":
            first, last = self.periods
        elif self.grain == "week":
            first, last = (_week_label(d) for d in (self.first, self.last))
        else:
            first, last = self.first.isoformat(), self.last.isoformat()
        return first if first == last else f"{first}..{last}"

    def where(self) -> str:
        """A SQL condition over `costs` or `allocated_costs` selecting the range's lines."""
        if self.grain == "month":
            first, last = self.periods
            return f"x_BillingPeriod BETWEEN {literal(first)} AND {literal(last)}"
        # Compare the timestamp itself so Parquet statistics prune row groups.
        return (
            f"ChargePeriodStart >= CAST(DATE {literal(self.first.isoformat())} AS TIMESTAMPTZ) "
            f"AND ChargePeriodStart < CAST(DATE {literal((self.last + timedelta(days=1)).isoformat())} "
            "AS TIMESTAMPTZ)"
        )

    def previous(self) -> DateRange:
        """The range of the same length just before this one (months: as many whole months).

        >>> parse_range("2024-01").previous().label(), parse_range("2024-W01").previous().label()
        ('2023-12', '2023-W52')
        """
        if self.grain == "month":
            months = _month_index(self.last) - _month_index(self.first) + 1
            first = _month_start(_month_index(self.first) - months)
            return DateRange(first, self.first - timedelta(days=1), "month")
        return DateRange(
            self.first - timedelta(days=self.days), self.first - timedelta(1), self.grain
        )


def parse_range(
    period: str | None = None, *, since: str | None = None, until: str | None = None
) -> DateRange | None:
    """The range `--period` or `--since/--until` give (None when neither is given).

    >>> parse_range("2024-10-05..2024-10-11")
    DateRange(first=datetime.date(2024, 10, 5), last=datetime.date(2024, 10, 11), grain='day')
    >>> parse_range(since="2024-10-01", until="2024-10-03").label()
    '2024-10-01..2024-10-03'
    """
    if period and (since or until):
        raise QueryError("Give --period or --since/--until, not both.")
    if since or until:
        if not (since and until):
            raise QueryError(
                "--since and --until go together: give both days (YYYY-MM-DD), or use --period."
            )
        first, last = _day(since, "--since"), _day(until, "--until")
        return _ordered(DateRange(first, last, "day"), f"--since {since} --until {until}")
    if not period:
        return None
    text = period.strip()
    start, sep, end = text.partition("..")
    end = end if sep else start
    kinds = {_kind(start), _kind(end)}
    if None in kinds or len(kinds) != 1:
        raise QueryError(f"--period {period!r} is not a date range: use {FORMS}.")
    kind: Grain = kinds.pop()  # type: ignore[assignment]
    if kind == "month":
        first, last = _month(start), _month_end(_month(end))
    elif kind == "week":
        first, last = _week(start), _week(end) + timedelta(days=6)
    else:
        if not sep:
            first = last = _day(start, "--period")
        else:
            first, last = _day(start, "--period"), _day(end, "--period")
    return _ordered(DateRange(first, last, kind), f"--period {period}")


def parse_periods(text: str | None) -> tuple[str, str] | None:
    """Billing periods only (`2024-09` or `2024-07..2024-09`), for commands that work on whole
    billing periods (allocation, export).

    >>> parse_periods("2024-07..2024-09"), parse_periods("2024-09")
    (('2024-07', '2024-09'), ('2024-09', '2024-09'))
    """
    found = parse_range(text)
    if found is None:
        return None
    if found.grain != "month":
        raise QueryError(
            f"--period {text!r}: this command works on whole billing periods; "
            "use YYYY-MM or YYYY-MM..YYYY-MM."
        )
    return found.periods


@dataclass(frozen=True)
class LakeSpan:
    """The billing periods and charge days the data covers."""

    first_period: str
    last_period: str
    first_day: date
    last_day: date

    def describe(self) -> str:
        return (
            f"{self.first_period}..{self.last_period} "
            f"(charges from {self.first_day} to {self.last_day})"
        )


def lake_span(con: duckdb.DuckDBPyConnection, relation: str = "costs") -> LakeSpan | None:
    row = con.execute(
        f"SELECT min(x_BillingPeriod), max(x_BillingPeriod), "
        f"CAST(min(ChargePeriodStart) AS DATE), CAST(max(ChargePeriodStart) AS DATE) "
        f"FROM {relation}"
    ).fetchone()
    if row is None or row[0] is None:
        return None
    return LakeSpan(str(row[0]), str(row[1]), row[2], row[3])


def require_data(
    con: duckdb.DuckDBPyConnection,
    wanted: DateRange | None,
    relation: str = "costs",
    known: LakeSpan | None = None,
) -> LakeSpan:
    """The lake's span (`known`, when the caller has it: a cube records its own); an error
    naming it when the lake is empty or `wanted` lies outside it."""
    span = known or lake_span(con, relation)
    if span is None:
        raise QueryError("The lake is empty: ingest data first with `cloudtally ingest PATH`.")
    if wanted is None:
        return span
    if wanted.grain == "month":
        first, last = wanted.periods
        outside = last < span.first_period or first > span.last_period
    else:
        outside = wanted.last < span.first_day or wanted.first > span.last_day
    if outside:
        raise QueryError(
            f"No data in {wanted.label()}: the lake holds {span.describe()}. "
            "Choose a range inside it."
        )
    return span


# -- helpers -------------------------------------------------------------------------------


def _kind(text: str) -> Grain | None:
    if _MONTH.match(text):
        return "month"
    if _WEEK.match(text):
        return "week"
    if _DAY.match(text):
        return "day"
    return None


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise QueryError(f"{option} {text!r} is not a day: use YYYY-MM-DD.") from None


def _month(text: str) -> date:
    return date(int(text[:4]), int(text[5:7]), 1)


def _month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def _month_start(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def _month_end(first: date) -> date:
    return _month_start(_month_index(first) + 1) - timedelta(days=1)


def _week(text: str) -> date:
    year, week = int(text[:4]), int(text[6:])
    try:
        return date.fromisocalendar(year, week, 1)
    except ValueError:
        raise QueryError(f"{text!r} is not an ISO week: {year} has no week {week}.") from None


def _week_label(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _ordered(found: DateRange, said: str) -> DateRange:
    if found.first > found.last:
        raise QueryError(f"{said}: the range ends before it starts.")
    return found
