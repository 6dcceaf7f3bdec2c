"""Currencies: the smallest amount each is counted in (its ISO 4217 minor unit)."""

from __future__ import annotations

from decimal import Decimal

from cloudtally.sqltext import literal

# ISO 4217 minor units where they are not 2.
MINOR_UNITS = {
    "BHD": 3, "CLP": 0, "ISK": 0, "JOD": 3, "JPY": 0, "KRW": 0, "KWD": 3, "OMR": 3,
    "PYG": 0, "TND": 3, "UGX": 0, "VND": 0, "XAF": 0, "XOF": 0,
}  # fmt: skip


def minor_unit(currency: str) -> Decimal:
    """>>> minor_unit("USD"), minor_unit("JPY"), minor_unit("KWD")
    (Decimal('0.01'), Decimal('1'), Decimal('0.001'))
    """
    return Decimal(1).scaleb(-MINOR_UNITS.get(currency, 2))


def minor_unit_sql(currency: str) -> str:
    """`minor_unit` of the currency code in SQL expression `currency`.

    >>> minor_unit_sql("c")[:40]
    "CASE c WHEN 'BHD' THEN 0.001 WHEN 'CLP' "
    """
    cases = " ".join(f"WHEN {literal(code)} THEN {minor_unit(code)}" for code in MINOR_UNITS)
    return f"CASE {currency} {cases} ELSE 0.01 END"
