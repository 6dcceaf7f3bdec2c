"""Where a recurring charge of day `t` would have landed before: the calendar side of the
recurring-charge step of the detector.

Bills repeat on calendar days, not every N days: support plans, subscriptions and commitment
fees land on the 1st; a contract's monthly fee on its anniversary day (the last day of shorter
months, so the last day of February also looks at the 29th, 30th and 31st before); batch jobs on the last day of the month or its last business day; payroll-like jobs
on the first business day; some fees once a quarter. For a day `t`, `occurrences` lists, for
each way `t` could be such a day, the columns of its two previous occurrences (newest first).
The detector then asks whether both showed a similar excess (see detector.py, step 4).
"""

from __future__ import annotations

import calendar
from datetime import date

MONTHS_BACK = 2  # occurrences looked at, for monthly charges
QUARTERS_BACK = 2  # and for quarterly ones
MONTH_END_DAYS = 3  # the last days of a month are also matched by their distance to its end
BUSINESS_ORDINALS = 2  # the first and second business days of a month are matched as such


def _month(year: int, month: int, back: int) -> tuple[int, int]:
    index = year * 12 + month - 1 - back
    return index // 12, index % 12 + 1


def _last_day(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _business_days(year: int, month: int) -> list[int]:
    return [d for d in range(1, _last_day(year, month) + 1) if date(year, month, d).weekday() < 5]


def occurrences(day: date) -> list[tuple[str, list[date]]]:
    """(kind, earlier days newest first) for each recurrence `day` could belong to.

    >>> occurrences(date(2024, 4, 1))
    [('day of month', [datetime.date(2024, 3, 1), datetime.date(2024, 2, 1)]), ('day of quarter', [datetime.date(2024, 1, 1), datetime.date(2023, 10, 1)])]
    >>> occurrences(date(2024, 4, 30))[:2]  # the 30th, and a charge due on the 31st
    [('day of month', [datetime.date(2024, 3, 30), datetime.date(2024, 2, 29)]), ('day of month, clipped', [datetime.date(2024, 3, 31), datetime.date(2024, 2, 29)])]
    >>> [k for k, _ in occurrences(date(2024, 7, 1))]  # a Monday, the first business day
    ['day of month', 'business day of month', 'day of quarter']
    """
    found: list[tuple[str, list[date]]] = []

    def clipped(back: int) -> date:
        year, month = _month(day.year, day.month, back)
        return date(year, month, min(day.day, _last_day(year, month)))

    found.append(("day of month", [clipped(k) for k in range(1, MONTHS_BACK + 1)]))
    last = _last_day(day.year, day.month)
    for later in range(day.day + 1, 32) if day.day == last else ():
        # The last day of a short month is also where a charge due on a later day lands.
        earlier = []
        for back in range(1, MONTHS_BACK + 1):
            year, month = _month(day.year, day.month, back)
            earlier.append(date(year, month, min(later, _last_day(year, month))))
        if all(earlier != other for _, other in found):
            found.append(("day of month, clipped", earlier))
    to_end = last - day.day
    if to_end < MONTH_END_DAYS:
        earlier = []
        for back in range(1, MONTHS_BACK + 1):
            year, month = _month(day.year, day.month, back)
            earlier.append(date(year, month, _last_day(year, month) - to_end))
        if all(earlier != other for _, other in found):
            found.append(("days before month end", earlier))
    if day.weekday() < 5:
        business = _business_days(day.year, day.month)
        ordinal = business.index(day.day)
        from_end = len(business) - 1 - ordinal
        for kind, position in (
            ("business day of month", ordinal if ordinal < BUSINESS_ORDINALS else None),
            ("business days before month end", -1 - from_end if from_end < 1 else None),
        ):
            if position is None:
                continue
            earlier = []
            for back in range(1, MONTHS_BACK + 1):
                year, month = _month(day.year, day.month, back)
                earlier.append(date(year, month, _business_days(year, month)[position]))
            if all(earlier != other for _, other in found):
                found.append((kind, earlier))
    # Last: a quarterly charge is looked for only where no monthly one is found (detector.py).
    found.append(("day of quarter", [clipped(3 * k) for k in range(1, QUARTERS_BACK + 1)]))
    return found
