"""The canonical cost dataset: FOCUS 1.2 Cost and Usage columns with real types, plus `x_`
extension columns. Every converter produces exactly this; every query reads it."""

from __future__ import annotations

import decimal
from dataclasses import dataclass

from cloudtally.focus.spec import columns

CANONICAL_VERSION = "1.2"

# Exact decimals wide enough for what providers emit (CUR and Azure carry 10-15 places).
DECIMAL = "DECIMAL(38,18)"
# The largest magnitude DECIMAL holds: 20 integer digits.
DECIMAL_LIMIT = decimal.Decimal(10) ** 20

# Python-side arithmetic on canonical money (reconciliation totals, catalog totals). A
# DECIMAL(38,18) value has up to 38 significant digits, more than the default context's 28: a
# total of 1e10 or more with 18 decimals, usual in VND or IDR, would come out rounded. 76 digits
# hold any sum of them, and every trap is set, so a result is exact or an error, never rounded.
MONEY_CONTEXT = decimal.Context(
    prec=76,
    rounding=decimal.ROUND_HALF_EVEN,
    traps=[
        decimal.InvalidOperation,
        decimal.DivisionByZero,
        decimal.Overflow,
        decimal.Underflow,
        decimal.Inexact,
        decimal.Rounded,
    ],
)
TIMESTAMP = "TIMESTAMPTZ"
STRING = "VARCHAR"
TAGS = "MAP(VARCHAR, VARCHAR)"
LINE_NUMBER = "BIGINT"
JSON = "JSON"

# FOCUS data type -> storage type. Tags is the one JSON column stored as a map.
_TYPE_OF = {"Decimal": DECIMAL, "Date/Time": TIMESTAMP, "String": STRING, "JSON": JSON}

# Column order of the canonical files: who, when, what it cost, what it was, where.
_ORDER = [
    "ProviderName",
    "PublisherName",
    "InvoiceIssuerName",
    "InvoiceId",
    "BillingAccountId",
    "BillingAccountName",
    "BillingAccountType",
    "SubAccountId",
    "SubAccountName",
    "SubAccountType",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "BilledCost",
    "EffectiveCost",
    "ListCost",
    "ContractedCost",
    "ListUnitPrice",
    "ContractedUnitPrice",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "PricingCurrency",
    "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice",
    "BillingCurrency",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ServiceName",
    "ServiceCategory",
    "ServiceSubcategory",
    "SkuId",
    "SkuMeter",
    "SkuPriceId",
    "SkuPriceDetails",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "RegionId",
    "RegionName",
    "AvailabilityZone",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountCategory",
    "CommitmentDiscountType",
    "CommitmentDiscountStatus",
    "CommitmentDiscountQuantity",
    "CommitmentDiscountUnit",
    "CapacityReservationId",
    "CapacityReservationStatus",
    "Tags",
]

COST_COLUMNS = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost")
RECONCILED_COSTS = ("BilledCost", "EffectiveCost")

# Extension columns every row carries (FOCUS reserves the x_ prefix for them).
EXTENSIONS: dict[str, str] = {
    "x_Provider": STRING,  # short provider key: aws, azure, gcp, oci, ...
    "x_BillingPeriod": STRING,  # YYYY-MM of BillingPeriodStart: the partition key
    "x_SourceFormat": STRING,  # e.g. focus-1.0, aws-cur
    "x_SourceFile": STRING,  # path of the file the row came from
    "x_IngestId": STRING,  # the ingest run that stored it
    "x_LineNo": LINE_NUMBER,  # with x_IngestId, the key of a line (see LINES_PER_FILE)
}

# x_LineNo numbers the lines of one ingest run: the file's ordinal among the files the run
# was given (from 0, in the order they were found) times LINES_PER_FILE, plus the row's
# position in its file (from 1: the first data row of a CSV, the first row of a Parquet
# file). So (x_IngestId, x_LineNo) is unique in the lake, the same files ingested in the same
# order get the same numbers, and `x_LineNo % LINES_PER_FILE` finds the row in x_SourceFile.
LINES_PER_FILE = 10**12


@dataclass(frozen=True)
class CanonicalColumn:
    name: str
    sql_type: str
    mandatory: bool
    allows_nulls: bool
    focus_type: str


def _build() -> tuple[CanonicalColumn, ...]:
    spec = columns(CANONICAL_VERSION)
    assert set(spec) == set(_ORDER), set(spec) ^ set(_ORDER)
    focus = tuple(
        CanonicalColumn(
            name=name,
            sql_type=TAGS if name == "Tags" else _TYPE_OF[spec[name].data_type],
            mandatory=spec[name].mandatory,
            allows_nulls=spec[name].allows_nulls,
            focus_type=spec[name].data_type,
        )
        for name in _ORDER
    )
    extensions = tuple(
        CanonicalColumn(
            name,
            sql_type,
            True,
            name == "x_LineNo",
            "Integer" if sql_type == LINE_NUMBER else "String",
        )
        for name, sql_type in EXTENSIONS.items()
    )
    return focus + extensions


CANONICAL: tuple[CanonicalColumn, ...] = _build()
CANONICAL_BY_NAME = {c.name: c for c in CANONICAL}
FOCUS_COLUMNS = tuple(c.name for c in CANONICAL if not c.name.startswith("x_"))


def empty_select() -> str:
    """A SELECT with the canonical columns and no rows (the `costs` view of an empty lake)."""
    cols = ", ".join(f"CAST(NULL AS {c.sql_type}) AS {c.name}" for c in CANONICAL)
    return f"SELECT {cols} WHERE false"
