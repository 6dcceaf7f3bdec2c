"""The fractions commitment questions give (utilization, coverage, the Effective Savings
Rates), to six places.

A fraction whose denominator is smaller than the least amount it is counted in is not given
(NULL: empty in tables and CSV, null in JSON): for money the currency's minor unit (0.01 USD,
1 JPY: `focus.currency`), for quantities a millionth (the places shown). A savings rate over
3e-18 USD of list cost means nothing, and would not fit any fraction type (1 / 3e-18 is about
3.3e17). Above that floor every fraction of two DECIMAL(38,18) sums (less than 1e20 each) is
less than 1e26 and fits DECIMAL(38, 6).
"""

from __future__ import annotations

import decimal
from decimal import Decimal

from cloudtally.focus.currency import minor_unit, minor_unit_sql

# The least quantity (hours, ...) a fraction is taken over: the places it is shown to.
QUANTITY_FLOOR = Decimal("0.000001")
NOT_GIVEN = (
    "A fraction whose denominator is under one minor unit of its currency (0.01 USD), or under "
    "0.000001 of a quantity, is not given."
)
_PLACES = Decimal("0.000001")
_WIDE = decimal.Context(prec=80)


def fraction_sql(numerator: str, denominator: str, currency: str | None = None) -> str:
    """SQL for `numerator / denominator` to six places: NULL when the denominator is under the
    minor unit of `currency` (an SQL expression), or under QUANTITY_FLOOR without one."""
    floor = f"({minor_unit_sql(currency)})" if currency is not None else str(QUANTITY_FLOOR)
    return (
        f"CASE WHEN abs({denominator}) >= {floor} "
        f"THEN CAST(round(({numerator}) / ({denominator}), 6) AS DECIMAL(38, 6)) END"
    )


def fraction(
    numerator: Decimal, denominator: Decimal, currency: str | None = None
) -> Decimal | None:
    """`fraction_sql` in Python, for totals over the rows (exact, then to six places).

    >>> fraction(Decimal(1), Decimal(3), "USD"), fraction(Decimal(1), Decimal("0.009"), "USD")
    (Decimal('0.333333'), None)
    """
    floor = minor_unit(currency) if currency is not None else QUANTITY_FLOOR
    if abs(denominator) < floor:
        return None
    return _WIDE.divide(numerator, denominator).quantize(_PLACES, context=_WIDE)
