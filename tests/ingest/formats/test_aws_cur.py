"""AWS Cost and Usage Reports (legacy `aws-cur`, CUR 2.0 `aws-cur2`) into canonical FOCUS 1.2.

Fixtures (tests/fixtures/native/aws, see its README): the FinOps Foundation's anonymized legacy
CUR sample (Usage and Tax lines only), and one synthetic billing period with every kind of line,
written both as a legacy CUR CSV and as CUR 2.0 Parquet by make_cur2_fixture.py. Expected values
are literals, or computed here in Python from the fixture's text with `Decimal`.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from cloudtally.errors import IngestError
from cloudtally.focus.canonical import CANONICAL_BY_NAME, DECIMAL
from cloudtally.focus.validator import VALIDATOR_QUIRKS, default_validator, run_validator
from cloudtally.ingest.formats import Converter, detect_converter
from cloudtally.ingest.formats.aws_cur import AwsCurConverter, focus_unit, snake_case, unit_sql
from cloudtally.ingest.formats.aws_cur2 import AwsCur2Converter
from cloudtally.ingest.formats.aws_manifest import expand_manifest, read_manifest
from cloudtally.ingest.pipeline import ingest
from cloudtally.ingest.source import inspect
from cloudtally.store import Store
from tests.conftest import FOCUS_10, ROOT
from tests.ingest.formats import AWS_WIRED

FIXTURES = ROOT / "tests" / "fixtures" / "native" / "aws"
SAMPLE = FIXTURES / "legacy" / "sample.csv"
LEGACY = FIXTURES / "legacy" / "synthetic-2024-03.csv"
CUR2 = FIXTURES / "cur2" / "cur2-2024-03.parquet"
SYNTHETIC = {"aws-cur": LEGACY, "aws-cur2": CUR2}

AWS = {"aws-cur": AwsCurConverter, "aws-cur2": AwsCur2Converter}
# Importing the modules registered the converters. Until cloudtally.ingest.formats imports them
# itself, they stay registered only while these tests run (other tests list the known formats).
if not AWS_WIRED:
    for _name in AWS:
        Converter.registry.pop(_name)


@pytest.fixture(autouse=True)
def aws_registered() -> Iterator[None]:
    """The AWS converters registered for the test, and the registry as it was afterwards."""
    saved = dict(Converter.registry)
    Converter.registry.update(AWS)
    yield
    Converter.registry.clear()
    Converter.registry.update(saved)


# -- reading the fixtures independently of the converter -------------------------------------------


def native_rows(path: Path) -> list[dict[str, str]]:
    """A fixture's lines as text, keyed by CUR 2.0 column names (numbers as their shortest text)."""
    if path.suffix == ".parquet":
        rows = pq.read_table(path).to_pylist()
        return [
            {k: (repr(v) if isinstance(v, float) else v) for k, v in row.items() if v is not None}
            for row in rows
        ]
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", newline="") as fh:  # type: ignore[operator]
        return [{snake_case(k): v for k, v in row.items() if v} for row in csv.DictReader(fh)]


def amortized(row: dict[str, str]) -> Decimal:
    """EffectiveCost of one CUR line, by AWS's amortization rules (CUR user guide)."""

    def d(column: str) -> Decimal:
        return Decimal(row.get(column, "0"))

    kind = row["line_item_line_item_type"]
    if kind == "SavingsPlanCoveredUsage":
        return d("savings_plan_savings_plan_effective_cost")
    if kind == "SavingsPlanRecurringFee":
        return d("savings_plan_total_commitment_to_date") - d("savings_plan_used_commitment")
    if kind in ("SavingsPlanNegation", "SavingsPlanUpfrontFee"):
        return Decimal(0)
    if kind == "DiscountedUsage":
        return d("reservation_effective_cost")
    if kind == "RIFee":
        return d("reservation_unused_amortized_upfront_fee_for_billing_period") + d(
            "reservation_unused_recurring_fee"
        )
    if kind == "Fee" and row.get("reservation_reservation_a_r_n"):
        return Decimal(0)
    return d("line_item_unblended_cost")


Key = tuple[str, str, str, str]


def native_totals(path: Path) -> dict[Key, tuple[Decimal, Decimal, int]]:
    """(provider, payer, period, currency) -> (unblended, amortized, lines), from the text."""
    totals: dict[Key, tuple[Decimal, Decimal, int]] = {}
    for row in native_rows(path):
        period = str(row["bill_billing_period_start_date"])[:7]
        key = ("aws", row["bill_payer_account_id"], period, row["line_item_currency_code"])
        billed, effective, n = totals.get(key, (Decimal(0), Decimal(0), 0))
        totals[key] = (
            billed + Decimal(row["line_item_unblended_cost"]),
            effective + amortized(row),
            n + 1,
        )
    return {k: (b.normalize(), e.normalize(), n) for k, (b, e, n) in totals.items()}


def lake_totals(store: Store) -> dict[Key, tuple[Decimal, Decimal, int]]:
    rows = store.sql(
        "SELECT x_Provider, BillingAccountId, x_BillingPeriod, BillingCurrency, "
        "sum(BilledCost), sum(EffectiveCost), count(*) FROM costs GROUP BY ALL"
    ).fetchall()
    return {tuple(r[:4]): (r[4].normalize(), r[5].normalize(), r[6]) for r in rows}  # type: ignore[misc]


# -- golden totals -----------------------------------------------------------------------------------

GOLDEN_TOTALS = {
    SAMPLE: {("aws", "123412340534", "2023-11", "USD"): ("1.68230869740", "1.68230869740", 1281)},
    LEGACY: {("aws", "012345678901", "2024-03", "USD"): ("868.27028", "299.71028", 21)},
    CUR2: {("aws", "012345678901", "2024-03", "USD"): ("868.27028", "299.71028", 21)},
}


@pytest.mark.parametrize("path", sorted(GOLDEN_TOTALS), ids=lambda p: p.name)
def test_totals_reconcile_to_the_last_digit(store: Store, path: Path) -> None:
    report = ingest(store, [path])
    expected = {
        k: (Decimal(b).normalize(), Decimal(e).normalize(), n)
        for k, (b, e, n) in GOLDEN_TOTALS[path].items()
    }
    # BilledCost is lineItem/UnblendedCost summed from the file's text; EffectiveCost is the
    # amortized cost computed in Python from the same text.
    assert native_totals(path) == expected
    assert lake_totals(store) == expected
    assert report.formats == {"aws-cur2" if path == CUR2 else "aws-cur": 1}


def test_mixed_currencies_reconcile_per_currency(store: Store, tmp_path: Path) -> None:
    text = LEGACY.read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    account, currency = (
        header.index("lineItem/UsageAccountId"),
        header.index("lineItem/CurrencyCode"),
    )
    for row in rows[1:]:
        if row[account] == "210987654321":
            row[currency] = "EUR"
    mixed = tmp_path / "mixed-currencies.csv"
    with open(mixed, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)

    report = ingest(store, [mixed])
    totals = native_totals(mixed)
    assert {k[3] for k in totals} == {"USD", "EUR"}
    assert lake_totals(store) == totals
    assert set(report.totals) == {"USD", "EUR"}


# -- golden rows -------------------------------------------------------------------------------------

COMPARED = (
    "ChargeCategory", "ChargeClass", "ChargeFrequency", "BilledCost", "EffectiveCost", "ListCost",
    "ContractedCost", "ListUnitPrice", "ContractedUnitPrice", "PricingQuantity", "PricingUnit",
    "PricingCategory", "ConsumedQuantity", "ConsumedUnit", "CommitmentDiscountId",
    "CommitmentDiscountCategory", "CommitmentDiscountType", "CommitmentDiscountStatus",
    "CommitmentDiscountQuantity", "CommitmentDiscountUnit", "ServiceName", "ServiceCategory",
    "ServiceSubcategory", "RegionId", "PublisherName", "SubAccountId", "SkuPriceId",
)  # fmt: skip

RI = "arn:aws:ec2:us-east-1:012345678901:reserved-instances/6f1e2d3c-aaaa-bbbb-cccc-000000000001"
SP = "arn:aws:savingsplans::012345678901:savingsplan/2c8e5a1f-0000-4000-8000-000000000001"
EC2 = {"ServiceName": "Amazon Elastic Compute Cloud", "ServiceCategory": "Compute",
       "ServiceSubcategory": "Virtual Machines"}  # fmt: skip
AWS_INC = {"PublisherName": "Amazon Web Services, Inc."}
NO_COMMITMENT = dict.fromkeys(
    ("CommitmentDiscountId", "CommitmentDiscountCategory", "CommitmentDiscountType",
     "CommitmentDiscountStatus", "CommitmentDiscountQuantity", "CommitmentDiscountUnit"),
)  # fmt: skip
NOT_PRICED = dict.fromkeys(
    ("ListUnitPrice", "ContractedUnitPrice", "PricingQuantity", "PricingUnit", "PricingCategory",
     "ConsumedQuantity", "ConsumedUnit"),
)  # fmt: skip

# (lineItem/LineItemType, start of lineItem/LineItemDescription) -> the FOCUS row.
SYNTHETIC_ROWS: dict[tuple[str, str], dict[str, object]] = {
    ("Usage", "$0.096 per On Demand"): {
        **EC2, **AWS_INC, **NO_COMMITMENT, "ChargeCategory": "Usage", "ChargeClass": None,
        "ChargeFrequency": "Usage-Based", "BilledCost": "0.96", "EffectiveCost": "0.96",
        "ListCost": "0.96", "ContractedCost": "0.96", "ListUnitPrice": "0.096",
        "ContractedUnitPrice": "0.096", "PricingQuantity": "10", "PricingUnit": "Hours",
        "PricingCategory": "Standard", "ConsumedQuantity": "10", "ConsumedUnit": "Hours",
        "RegionId": "us-east-1", "SubAccountId": "012345678901",
        "SkuPriceId": "6QMUX4G6HRMHBZKB.JRTCKXETXF.6YS6EN2CT7",
    },
    ("Usage", "$0.090 per GB"): {  # data transfer: the region is where it comes from
        **EC2, **AWS_INC, **NO_COMMITMENT, "ChargeCategory": "Usage", "ChargeClass": None,
        "ChargeFrequency": "Usage-Based", "BilledCost": "4.5", "EffectiveCost": "4.5",
        "ListCost": "4.5", "ContractedCost": "4.5", "ListUnitPrice": "0.09",
        "ContractedUnitPrice": "0.09", "PricingQuantity": "50", "PricingUnit": "GB",
        "PricingCategory": "Standard", "ConsumedQuantity": "50", "ConsumedUnit": "GB",
        "RegionId": "us-east-1", "SubAccountId": "012345678901",
        "SkuPriceId": "N3ZMNP3QWT6RDGVQ.JRTCKXETXF.8EEUB22XNJ",
    },
    ("Usage", "$0.0684 per Unused Reservation"): {
        **EC2, **AWS_INC, **NO_COMMITMENT, "ChargeCategory": "Usage", "ChargeClass": None,
        "ChargeFrequency": "Usage-Based", "BilledCost": "1.6416", "EffectiveCost": "1.6416",
        "ListCost": "4.08", "ContractedCost": "1.6416", "ListUnitPrice": "0.17",
        "ContractedUnitPrice": "0.0684", "PricingQuantity": "24", "PricingUnit": "Hours",
        "PricingCategory": "Dynamic", "ConsumedQuantity": "24", "ConsumedUnit": "Hours",
        "RegionId": "us-east-1", "SubAccountId": "210987654321",
        "SkuPriceId": "B3KXRRWH7SRNMNZ3.JRTCKXETXF.6YS6EN2CT7",
    },
    ("Usage", "AWS Lambda - Total Compute"): {
        **AWS_INC, **NO_COMMITMENT, "ServiceName": "AWS Lambda", "ServiceCategory": "Compute",
        "ServiceSubcategory": "Serverless Compute", "ChargeCategory": "Usage",
        "ChargeClass": None, "ChargeFrequency": "Usage-Based", "BilledCost": "6.66668",
        "EffectiveCost": "6.66668", "ListCost": "6.66668", "ContractedCost": "6.66668",
        "ListUnitPrice": "0.0000166667", "ContractedUnitPrice": "0.0000166667",
        "PricingQuantity": "400000", "PricingUnit": "GB-Seconds", "PricingCategory": "Standard",
        "ConsumedQuantity": "400000", "ConsumedUnit": "GB-Seconds", "RegionId": "us-east-1",
        "SubAccountId": "210987654321", "SkuPriceId": "TG3M4CAGBA3NYQBH.JRTCKXETXF.6YS6EN2CT7",
    },
    ("DiscountedUsage", "USD 0.06 hourly fee"): {
        **EC2, **AWS_INC, "ChargeCategory": "Usage", "ChargeClass": None,
        "ChargeFrequency": "Usage-Based", "BilledCost": "0", "EffectiveCost": "86.4",
        "ListCost": "138.24", "ContractedCost": "138.24", "ListUnitPrice": "0.192",
        "ContractedUnitPrice": "0.192", "PricingQuantity": "720", "PricingUnit": "Hours",
        "PricingCategory": "Committed", "ConsumedQuantity": "720", "ConsumedUnit": "Hours",
        "CommitmentDiscountId": RI, "CommitmentDiscountCategory": "Usage",
        "CommitmentDiscountType": "Reserved Instance", "CommitmentDiscountStatus": "Used",
        "CommitmentDiscountQuantity": "720", "CommitmentDiscountUnit": "Hours",
        "RegionId": "us-east-1", "SubAccountId": "210987654321",
        "SkuPriceId": "ZAC36C8YVRGRU6R5.38NPMPTW36.6YS6EN2CT7",
    },
    ("RIFee", "USD 0.06 hourly fee"): {  # billed: the month's fee; effective: the unused hours
        **EC2, **AWS_INC, "ChargeCategory": "Purchase", "ChargeClass": None,
        "ChargeFrequency": "Recurring", "BilledCost": "44.64", "EffectiveCost": "2.88",
        "ListCost": "44.64", "ContractedCost": "44.64", "ListUnitPrice": "0.06",
        "ContractedUnitPrice": "0.06", "PricingQuantity": "744", "PricingUnit": "Hours",
        "PricingCategory": "Standard", "ConsumedQuantity": None, "ConsumedUnit": None,
        "CommitmentDiscountId": RI, "CommitmentDiscountCategory": "Usage",
        "CommitmentDiscountType": "Reserved Instance", "CommitmentDiscountStatus": None,
        "CommitmentDiscountQuantity": "744", "CommitmentDiscountUnit": "Hours",
        "RegionId": "us-east-1", "SubAccountId": "012345678901",
        "SkuPriceId": "ZAC36C8YVRGRU6R5.38NPMPTW36.2TG2D8R56U",
    },
    ("Fee", "Sign up charge"): {  # the RI's upfront fee, amortized into its usage
        **EC2, **AWS_INC, "ChargeCategory": "Purchase", "ChargeClass": None,
        "ChargeFrequency": "One-Time", "BilledCost": "525.6", "EffectiveCost": "0",
        "ListCost": "525.6", "ContractedCost": "525.6", "ListUnitPrice": "525.6",
        "ContractedUnitPrice": "525.6", "PricingQuantity": "1", "PricingUnit": "Quantity",
        "PricingCategory": "Standard", "ConsumedQuantity": None, "ConsumedUnit": None,
        "CommitmentDiscountId": RI, "CommitmentDiscountCategory": "Usage",
        "CommitmentDiscountType": "Reserved Instance", "CommitmentDiscountStatus": None,
        "CommitmentDiscountQuantity": "1", "CommitmentDiscountUnit": "Quantity",
        "RegionId": "us-east-1", "SubAccountId": "012345678901",
        "SkuPriceId": "ZAC36C8YVRGRU6R5.38NPMPTW36.2TG2D8R56U",
    },
    ("SavingsPlanCoveredUsage", "$0.0476 per hour"): {
        **EC2, **AWS_INC, "ChargeCategory": "Usage", "ChargeClass": None,
        "ChargeFrequency": "Usage-Based", "BilledCost": "6.8", "EffectiveCost": "4.76",
        "ListCost": "6.8", "ContractedCost": "6.8", "ListUnitPrice": "0.068",
        "ContractedUnitPrice": "0.068", "PricingQuantity": "100", "PricingUnit": "Hours",
        "PricingCategory": "Committed", "ConsumedQuantity": "100", "ConsumedUnit": "Hours",
        "CommitmentDiscountId": SP, "CommitmentDiscountCategory": "Spend",
        "CommitmentDiscountType": "Savings Plan", "CommitmentDiscountStatus": "Used",
        "CommitmentDiscountQuantity": "4.76", "CommitmentDiscountUnit": "USD",
        "RegionId": "us-east-1", "SubAccountId": "210987654321",
        "SkuPriceId": "UFK5E5HK6XMGH3GA.JRTCKXETXF.6YS6EN2CT7",
    },
    ("SavingsPlanNegation", "SavingsPlanNegation used by"): {  # offsets the line above
        **EC2, **AWS_INC, "ChargeCategory": "Usage", "ChargeClass": None,
        "ChargeFrequency": "Usage-Based", "BilledCost": "-6.8", "EffectiveCost": "0",
        "ListCost": "0", "ContractedCost": "0", "ListUnitPrice": "0.068",
        "ContractedUnitPrice": "0.068", "PricingQuantity": "0", "PricingUnit": "Hours",
        "PricingCategory": "Committed", "ConsumedQuantity": "0", "ConsumedUnit": "Hours",
        "CommitmentDiscountId": SP, "CommitmentDiscountCategory": "Spend",
        "CommitmentDiscountType": "Savings Plan", "CommitmentDiscountStatus": "Used",
        "CommitmentDiscountQuantity": "0", "CommitmentDiscountUnit": "USD",
        "RegionId": "us-east-1", "SubAccountId": "210987654321",
        "SkuPriceId": "UFK5E5HK6XMGH3GA.JRTCKXETXF.6YS6EN2CT7",
    },
    ("SavingsPlanRecurringFee", "1 year No Upfront"): {  # effective: the unused commitment
        **AWS_INC, "ServiceName": "Savings Plans for AWS Compute usage",
        "ServiceCategory": "Compute", "ServiceSubcategory": "Other (Compute)",
        "ChargeCategory": "Purchase", "ChargeClass": None, "ChargeFrequency": "Recurring",
        "BilledCost": "7.44", "EffectiveCost": "2.68", "ListCost": "7.44",
        "ContractedCost": "7.44", "ListUnitPrice": "0.01", "ContractedUnitPrice": "0.01",
        "PricingQuantity": "744", "PricingUnit": "Hours", "PricingCategory": "Standard",
        "ConsumedQuantity": None, "ConsumedUnit": None, "CommitmentDiscountId": SP,
        "CommitmentDiscountCategory": "Spend", "CommitmentDiscountType": "Savings Plan",
        "CommitmentDiscountStatus": None, "CommitmentDiscountQuantity": "7.44",
        "CommitmentDiscountUnit": "USD", "RegionId": None, "SubAccountId": "012345678901",
        "SkuPriceId": "SPRECURRINGFEE01.JRTCKXETXF.2TG2D8R56U",
    },
    ("SavingsPlanUpfrontFee", "1 year All Upfront"): {
        **AWS_INC, "ServiceName": "Savings Plans for AWS Compute usage",
        "ServiceCategory": "Compute", "ServiceSubcategory": "Other (Compute)",
        "ChargeCategory": "Purchase", "ChargeClass": None, "ChargeFrequency": "One-Time",
        "BilledCost": "87.6", "EffectiveCost": "0", "ListCost": "87.6", "ContractedCost": "87.6",
        "ListUnitPrice": "87.6", "ContractedUnitPrice": "87.6", "PricingQuantity": "1",
        "PricingUnit": "Quantity", "PricingCategory": "Standard", "ConsumedQuantity": None,
        "ConsumedUnit": None,
        "CommitmentDiscountId": SP.replace("000000000001", "000000000002"),
        "CommitmentDiscountCategory": "Spend", "CommitmentDiscountType": "Savings Plan",
        "CommitmentDiscountStatus": None, "CommitmentDiscountQuantity": "87.6",
        "CommitmentDiscountUnit": "USD", "RegionId": None, "SubAccountId": "012345678901",
        "SkuPriceId": "SPUPFRONTFEE0001.JRTCKXETXF.2TG2D8R56U",
    },
    ("Usage", "$0.05 per host hour"): {  # AWS Marketplace: the seller publishes it
        **NO_COMMITMENT, "ServiceName": "Acme Observability Platform", "ServiceCategory": "Other",
        "ServiceSubcategory": "Other (Other)", "PublisherName": "Acme Observability Inc.",
        "ChargeCategory": "Usage", "ChargeClass": None, "ChargeFrequency": "Usage-Based",
        "BilledCost": "37.2", "EffectiveCost": "37.2", "ListCost": "37.2",
        "ContractedCost": "37.2", "ListUnitPrice": "0.05", "ContractedUnitPrice": "0.05",
        "PricingQuantity": "744", "PricingUnit": "Hours", "PricingCategory": "Standard",
        "ConsumedQuantity": "744", "ConsumedUnit": "Hours", "RegionId": None,
        "SubAccountId": "012345678901", "SkuPriceId": "MPHOSTS000000001.JRTCKXETXF.6YS6EN2CT7",
    },
    ("Fee", "Acme Observability Platform annual"): {
        **NO_COMMITMENT, "ServiceName": "Acme Observability Platform", "ServiceCategory": "Other",
        "ServiceSubcategory": "Other (Other)", "PublisherName": "Acme Observability Inc.",
        "ChargeCategory": "Purchase", "ChargeClass": None, "ChargeFrequency": "One-Time",
        "BilledCost": "100", "EffectiveCost": "100", "ListCost": "100", "ContractedCost": "100",
        "ListUnitPrice": "100", "ContractedUnitPrice": "100", "PricingQuantity": "1",
        "PricingUnit": "Quantity", "PricingCategory": "Standard", "ConsumedQuantity": None,
        "ConsumedUnit": None, "RegionId": None, "SubAccountId": "012345678901",
        "SkuPriceId": "MPSUBS0000000001.JRTCKXETXF.2TG2D8R56U",
    },
    ("Tax", "Tax for product code AmazonEC2"): {
        **EC2, **AWS_INC, **NO_COMMITMENT, **NOT_PRICED, "ChargeCategory": "Tax",
        "ChargeClass": None, "ChargeFrequency": "One-Time", "BilledCost": "1.23",
        "EffectiveCost": "1.23", "ListCost": "1.23", "ContractedCost": "1.23", "RegionId": None,
        "SubAccountId": "012345678901", "SkuPriceId": None,
    },
    ("Credit", "AWS Promotional Credit"): {
        **EC2, **AWS_INC, **NO_COMMITMENT, **NOT_PRICED, "ChargeCategory": "Credit",
        "ChargeClass": None, "ChargeFrequency": "One-Time", "BilledCost": "-5",
        "EffectiveCost": "-5", "ListCost": "-5", "ContractedCost": "-5", "RegionId": None,
        "SubAccountId": "210987654321", "SkuPriceId": None,
    },
    ("Refund", "Refund for February"): {  # refunds a previously invoiced period
        **AWS_INC, **NO_COMMITMENT, **NOT_PRICED, "ServiceName": "Amazon Simple Storage Service",
        "ServiceCategory": "Storage", "ServiceSubcategory": "Object Storage",
        "ChargeCategory": "Usage", "ChargeClass": "Correction", "ChargeFrequency": "One-Time",
        "BilledCost": "-0.5", "EffectiveCost": "-0.5", "ListCost": "-0.5",
        "ContractedCost": "-0.5", "RegionId": None, "SubAccountId": "012345678901",
        "SkuPriceId": None,
    },
    ("EdpDiscount", "EDP discount"): {
        **EC2, **AWS_INC, **NO_COMMITMENT, **NOT_PRICED, "ChargeCategory": "Credit",
        "ChargeClass": None, "ChargeFrequency": "Usage-Based", "BilledCost": "-0.25",
        "EffectiveCost": "-0.25", "ListCost": "-0.25", "ContractedCost": "-0.25",
        "RegionId": None, "SubAccountId": "210987654321", "SkuPriceId": None,
    },
}  # fmt: skip

# The FinOps Foundation's legacy sample (Canadian entity, bill not final yet).
SAMPLE_ROWS: dict[tuple[str, str], dict[str, object]] = {
    ("Usage", "$0.02 per GB - Canada (Central) data transfer to EU (Germany)"): {
        "ChargeCategory": "Usage", "BilledCost": "7.8E-9", "EffectiveCost": "7.8E-9",
        "ListCost": "7.8E-9", "PricingQuantity": "3.912E-7", "PricingUnit": "GB",
        "ListUnitPrice": "0.02", "ServiceName": "Amazon Simple Storage Service",
        "ServiceCategory": "Storage", "RegionId": "ca-central-1",
        "PublisherName": "Amazon Web Services Canada, Inc.",
        "SkuPriceId": "7PMSRR6NE88VRxxx.xxxxxxxxxx.xxx6EN2CT7",
    },
    ("Usage", "0.000001 per data event recorded in Canada (Central) region"): {
        "ChargeCategory": "Usage", "BilledCost": "0.000113", "PricingQuantity": "113",
        "PricingUnit": "Events", "ServiceName": "AWS CloudTrail",
        "ServiceCategory": "Management and Governance", "ServiceSubcategory": "Compliance",
        "RegionId": "ca-central-1",
    },
    ("Tax", "Tax for product code AmazonS3"): {
        "ChargeCategory": "Tax", "ChargeFrequency": "One-Time", "BilledCost": "0.07",
        "ListCost": "0.07", "PricingQuantity": None, "PricingUnit": None, "SkuId": None,
        "ServiceCategory": "Storage",
    },
}  # fmt: skip


def focus_row(store: Store, line_type: str, description: str) -> dict[str, object]:
    rows = store.connect().execute(
        "SELECT * FROM costs WHERE x_LineItemType = ? AND starts_with(ChargeDescription, ?)",
        [line_type, description],
    )
    columns = [d[0] for d in rows.description]
    found = rows.fetchall()
    assert len(found) == 1, (line_type, description, len(found))
    return dict(zip(columns, found[0], strict=True))


def expected_value(column: str, value: object) -> object:
    """A golden value as the lake holds it: decimals for the FOCUS Decimal columns."""
    if value is not None and CANONICAL_BY_NAME[column].sql_type == DECIMAL:
        return Decimal(str(value)).normalize()
    return value


def actual_value(value: object) -> object:
    return value.normalize() if isinstance(value, Decimal) else value


@pytest.mark.parametrize("converter", sorted(SYNTHETIC))
def test_every_kind_of_line_maps_to_its_golden_focus_row(store: Store, converter: str) -> None:
    ingest(store, [SYNTHETIC[converter]])
    for (line_type, description), expected in SYNTHETIC_ROWS.items():
        row = focus_row(store, line_type, description)
        got = {c: actual_value(row[c]) for c in COMPARED}
        assert got == {c: expected_value(c, expected[c]) for c in COMPARED}, (
            line_type,
            description,
        )
        assert row["x_SourceFormat"] == converter
        assert row["ProviderName"] == "AWS"
        assert row["InvoiceIssuerName"] == "Amazon Web Services, Inc."
        assert row["BillingAccountId"] == "012345678901"  # leading zero kept


def test_legacy_sample_rows(store: Store) -> None:
    ingest(store, [SAMPLE])
    for (line_type, description), expected in SAMPLE_ROWS.items():
        row = focus_row(store, line_type, description)
        assert {c: actual_value(row[c]) for c in expected} == {
            c: expected_value(c, v) for c, v in expected.items()
        }
        assert row["InvoiceIssuerName"] == "Amazon Web Services Canada, Inc."
        assert row["InvoiceId"] is None  # the sample's bill is not final


def test_tags_and_cost_categories(store: Store, tmp_path: Path) -> None:
    ingest(store, [LEGACY])
    s3 = focus_row(store, "Usage", "$0.023 per GB")
    # One column per tag key in legacy CUR; `user:Name` and `user:name` are two keys.
    assert s3["Tags"] == {"Team": "data", "Name": "Raw data", "name": "raw"}
    rds = focus_row(store, "Usage", "$0.068 per RDS")
    assert rds["Tags"] == {"Team": "orders", "aws:createdBy": "AssumedRole:AROAEXAMPLE:deploy"}
    assert rds["x_CostCategories"] == {"BusinessUnit": "Retail"}  # the empty `Program` dropped
    assert focus_row(store, "Usage", "$0.30 per metric")["Tags"] is None  # only empty values
    assert rds["BillingAccountName"] is None  # legacy CUR has no account names

    cur2 = Store(tmp_path / "cur2")
    ingest(cur2, [CUR2])
    rds = focus_row(cur2, "Usage", "$0.068 per RDS")
    # CUR 2.0 rewrites tag keys (`user:Team` -> `user_team`); the `user_` marker is dropped.
    assert rds["Tags"] == {"team": "orders", "aws_created_by": "AssumedRole:AROAEXAMPLE:deploy"}
    assert rds["x_CostCategories"] == {"BusinessUnit": "Retail"}
    assert (rds["BillingAccountName"], rds["SubAccountName"]) == (
        "Example Corp Payer",
        "workloads-prod",
    )
    assert rds["x_ProductCode"] == "AmazonRDS"
    assert rds["x_UsageType"] == "InstanceUsage:db.t3.medium"


def canonical_rows(store: Store, drop: tuple[str, ...]) -> list[tuple[object, ...]]:
    rows = store.connect().execute("SELECT * FROM costs ORDER BY ChargeDescription, x_LineItemType")
    names = [d[0] for d in rows.description]
    keep = [i for i, n in enumerate(names) if n not in drop]
    return [tuple(r[i] for i in keep) for r in rows.fetchall()]


DIFFERENT_BY_DESIGN = (
    "x_SourceFormat", "x_SourceFile", "x_IngestId", "Tags", "x_CostCategories",
    "BillingAccountName", "SubAccountName",
)  # fmt: skip


def test_legacy_and_cur2_give_the_same_focus_rows(tmp_path: Path) -> None:
    legacy, cur2 = Store(tmp_path / "legacy"), Store(tmp_path / "cur2")
    ingest(legacy, [LEGACY])
    ingest(cur2, [CUR2])
    assert canonical_rows(legacy, DIFFERENT_BY_DESIGN) == canonical_rows(cur2, DIFFERENT_BY_DESIGN)


def athena_name(column: str) -> str:
    """Legacy CUR's Parquet spelling of a column: `lineItem/UnblendedCost` is
    `line_item_unblended_cost`, the tag `resourceTags/user:CostCenter` is
    `resource_tags_user_cost_center`."""
    group, _, key = column.partition("/")
    if group not in ("resourceTags", "costCategory"):
        return snake_case(column)
    prefix, colon, name = key.rpartition(":")
    words = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()
    return f"{snake_case(group)}_{prefix + '_' if colon else ''}{words}"


def legacy_as_parquet(tmp_path: Path) -> Path:
    """The synthetic legacy report as CUR's Parquet delivery writes it: snake_case names, costs
    as doubles, times as timestamps (UTC)."""
    header = next(csv.reader(LEGACY.open(encoding="utf-8")))
    columns, seen = [], set()
    for i, column in enumerate(header):
        name = athena_name(column)
        name += "_2" if name in seen else ""  # `user:Name` and `user:name`
        seen.add(name)
        value = f"c{i}"
        if name in ("line_item_usage_amount", "line_item_unblended_cost"):
            value = f"CAST({value} AS DOUBLE)"
        elif name.endswith(("_start_date", "_end_date")):
            value = f"CAST(CAST({value} AS TIMESTAMPTZ) AS TIMESTAMP)"
        columns.append(f"{value} AS {name}")
    out = tmp_path / "legacy.parquet"
    names = ", ".join(f"'c{i}'" for i in range(len(header)))
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        f"COPY (SELECT {', '.join(columns)} FROM read_csv('{LEGACY}', header = true, "
        f"all_varchar = true, names = [{names}])) TO '{out}' (FORMAT parquet)"
    )
    return out


def test_legacy_cur_delivered_as_parquet(tmp_path: Path) -> None:
    parquet = legacy_as_parquet(tmp_path)
    assert detect_converter(inspect(parquet)).name == "aws-cur"
    from_csv, from_parquet = Store(tmp_path / "csv"), Store(tmp_path / "parquet")
    ingest(from_csv, [LEGACY])
    ingest(from_parquet, [parquet])
    assert canonical_rows(from_csv, DIFFERENT_BY_DESIGN) == canonical_rows(
        from_parquet, DIFFERENT_BY_DESIGN
    )
    rds = focus_row(from_parquet, "Usage", "$0.068 per RDS")
    assert rds["Tags"] == {"team": "orders", "aws_created_by": "AssumedRole:AROAEXAMPLE:deploy"}


# -- detection -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [(SAMPLE, "aws-cur"), (LEGACY, "aws-cur"), (CUR2, "aws-cur2"), (FOCUS_10, "focus")],
    ids=lambda v: v.name if isinstance(v, Path) else v,
)
def test_detected_from_the_header_by_exactly_one_converter(path: Path, expected: str) -> None:
    source = inspect(path)
    assert [n for n, c in Converter.registry.items() if c.matches(source)] == [expected]
    assert detect_converter(source).name == expected


def test_gzip_csv_is_read(store: Store, tmp_path: Path) -> None:
    packed = tmp_path / "report-00001.csv.gz"
    packed.write_bytes(gzip.compress(LEGACY.read_bytes()))
    ingest(store, [packed])
    assert lake_totals(store) == native_totals(LEGACY)


# -- bad input ---------------------------------------------------------------------------------------


def without_column(tmp_path: Path, column: str) -> Path:
    rows = list(csv.reader(LEGACY.open(encoding="utf-8")))
    index = rows[0].index(column)
    path = tmp_path / "no-cost.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows([r[:index] + r[index + 1 :] for r in rows])
    return path


def test_missing_required_column_names_the_file_and_column(cli, tmp_path: Path) -> None:
    bad = without_column(tmp_path, "lineItem/UnblendedCost")
    result = cli("ingest", bad)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {bad.resolve()}: an AWS Cost and Usage Report must have the column "
        "lineItem/UnblendedCost, which is missing. Export the report with its standard columns "
        "(or add them) and run again.\n"
    )


def test_unparseable_cost_names_the_line_and_column(cli, tmp_path: Path) -> None:
    rows = list(csv.reader(LEGACY.open(encoding="utf-8")))
    rows[3][rows[0].index("lineItem/UnblendedCost")] = "4,5"
    bad = tmp_path / "bad-number.csv"
    with open(bad, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    result = cli("ingest", bad)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"Error: {bad.resolve()}: line 4, column lineItem/UnblendedCost: '4,5' is not a number."
    )


def test_cur2_as_csv_is_refused_out_loud(cli, tmp_path: Path) -> None:
    as_csv = tmp_path / "cur2.csv"
    duckdb.connect().execute(f"COPY (SELECT * FROM '{CUR2}') TO '{as_csv}' (HEADER)")
    result = cli("ingest", as_csv)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"Error: {as_csv.resolve()}: CUR 2.0 delivered as CSV is not supported"
    )


# -- units ---------------------------------------------------------------------------------------------

AWS_UNITS = (
    "Hrs", "Hr", "GB-Mo", "Obj-Month", "Lambda-GB-Second", "ReadCapacityUnit-Hrs", "IOPS-Mo",
    "vCPU-Hours", "GB", "Requests", "API Request", "Tag-Mo", "LCU-Hrs", "Events", "Count",
)  # fmt: skip


def test_unit_rewrites_in_sql_equal_the_python_ones() -> None:
    con = duckdb.connect()
    for unit in AWS_UNITS:
        sql = unit_sql("u")
        (got,) = con.execute(f"SELECT {sql} FROM (SELECT ? AS u)", [unit]).fetchone()  # type: ignore[misc]
        assert got == focus_unit(unit), unit
    assert [focus_unit(u) for u in ("Hrs", "GB-Mo", "Obj-Month", "Lambda-GB-Second")] == [
        "Hours",
        "GB-Months",
        "Obj-Months",
        "GB-Seconds",
    ]


# -- the FOCUS validator ---------------------------------------------------------------------------

VALIDATOR = default_validator()

PROVIDER_IS_NOT_ISSUER = (
    "ProviderName 'AWS' differs from InvoiceIssuerName (the AWS entity that invoices, e.g. "
    "'Amazon Web Services, Inc.'), which validator 2.2.1 reads as 'paid to a third party'; "
    "AWS's own FOCUS export fails it the same way (samples/focus/1.0)"
)
PURCHASES_CARRY_UNUSED = (
    "CUR carries the unused reservation / savings plan commitment as the amortized cost of its "
    "RIFee / SavingsPlanRecurringFee line (no separate unused row), and validator 2.2.1 drops "
    "the 'intended to cover future charges' condition, so the Marketplace subscription fee is "
    "flagged too"
)
EXPECTED_FAILURES: dict[Path, dict[str, str]] = {
    SAMPLE: {
        "BilledCost-C-000-M": "parent of BilledCost-C-005-C",
        "BilledCost-C-005-C": PROVIDER_IS_NOT_ISSUER,
        "InvoiceId-C-005-C": "source: the sample's bill is not final, bill/InvoiceId is empty",
    },
    LEGACY: {
        "BilledCost-C-000-M": "parent of BilledCost-C-005-C",
        "BilledCost-C-005-C": PROVIDER_IS_NOT_ISSUER,
        "EffectiveCost-C-005-C": PURCHASES_CARRY_UNUSED,
    },
    CUR2: {
        "BilledCost-C-000-M": "parent of BilledCost-C-005-C",
        "BilledCost-C-005-C": PROVIDER_IS_NOT_ISSUER,
        "EffectiveCost-C-005-C": PURCHASES_CARRY_UNUSED,
    },
}


@pytest.mark.validator
@pytest.mark.parametrize("path", sorted(EXPECTED_FAILURES), ids=lambda p: p.name)
def test_export_fails_only_listed_rules(cli, tmp_path: Path, path: Path) -> None:
    if VALIDATOR is None:
        if os.environ.get("CLOUDTALLY_REQUIRE_VALIDATOR") == "1":
            pytest.fail("CI must install focus-validator (make validator)")
        pytest.skip("focus-validator not installed (run `make validator`; needs Python 3.12)")
    assert cli("ingest", path).exit_code == 0
    exported = tmp_path / "export.parquet"
    assert cli("export", "--focus-version", "1.2", exported).exit_code == 0
    result = run_validator(exported, VALIDATOR)
    assert set(result.failures) - set(VALIDATOR_QUIRKS) == set(EXPECTED_FAILURES[path]), (
        result.output
    )


# -- manifests -------------------------------------------------------------------------------------


def split_legacy(folder: Path, names: list[str]) -> list[Path]:
    """The synthetic report cut into gzip parts, each with the header, as CUR delivers them."""
    header, *lines = LEGACY.read_text(encoding="utf-8").splitlines(keepends=True)
    folder.mkdir(parents=True, exist_ok=True)
    size = -(-len(lines) // len(names))
    parts = []
    for n, name in enumerate(names):
        part = folder / name
        part.write_bytes(
            gzip.compress((header + "".join(lines[n * size : (n + 1) * size])).encode())
        )
        parts.append(part)
    return parts


def write_json(path: Path, document: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_legacy_manifest_names_the_current_assembly(store: Store, tmp_path: Path) -> None:
    period = tmp_path / "cur" / "myreport" / "20240301-20240401"
    split_legacy(period / "0aa00000-old", ["myreport-00001.csv.gz"])  # superseded delivery
    parts = split_legacy(
        period / "1bb11111-new", ["myreport-00001.csv.gz", "myreport-00002.csv.gz"]
    )
    manifest = write_json(
        period / "myreport-Manifest.json",
        {
            "assemblyId": "1bb11111-new",
            "billingPeriod": {"start": "20240301T000000.000Z", "end": "20240401T000000.000Z"},
            "reportKeys": [
                f"prefix/cur/myreport/20240301-20240401/1bb11111-new/{p.name}" for p in parts
            ],
        },
    )
    assert expand_manifest(manifest) == parts
    read = read_manifest(manifest)
    assert read.assembly_id == "1bb11111-new"
    assert read.billing_period == ("20240301T000000.000Z", "20240401T000000.000Z")
    ingest(store, expand_manifest(manifest))
    assert lake_totals(store) == native_totals(LEGACY)


def test_cur2_manifest_finds_its_data_folder(tmp_path: Path) -> None:
    export = tmp_path / "exports" / "my-export"
    data = export / "data" / "BILLING_PERIOD=2024-03" / "my-export-00001.snappy.parquet"
    data.parent.mkdir(parents=True)
    data.write_bytes(CUR2.read_bytes())
    manifest = write_json(
        export / "metadata" / "BILLING_PERIOD=2024-03" / "my-export-Manifest.json",
        {
            "billingPeriod": {
                "start": "2024-03-01T00:00:00.000Z",
                "end": "2024-04-01T00:00:00.000Z",
            },
            "dataFiles": [f"s3://bucket/prefix/my-export/data/BILLING_PERIOD=2024-03/{data.name}"],
        },
    )
    assert expand_manifest(manifest) == [data]


def test_manifest_downloaded_flat(tmp_path: Path) -> None:
    parts = split_legacy(tmp_path, ["r-00001.csv.gz", "r-00002.csv.gz"])
    manifest = write_json(
        tmp_path / "r-Manifest.json",
        {"reportKeys": [f"p/r/20240301-20240401/abc/{p.name}" for p in parts]},
    )
    assert expand_manifest(manifest) == parts


def test_manifest_with_a_missing_file_names_both(tmp_path: Path) -> None:
    split_legacy(tmp_path / "abc", ["r-00001.csv.gz"])
    key = "p/r/20240301-20240401/abc/r-00002.csv.gz"
    manifest = write_json(
        tmp_path / "r-Manifest.json",
        {"reportKeys": ["p/r/20240301-20240401/abc/r-00001.csv.gz", key]},
    )
    with pytest.raises(IngestError) as error:
        expand_manifest(manifest)
    assert str(error.value).startswith(
        f"{manifest}: the manifest lists {key}, which is not next to it"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not a readable report manifest"),
        (json.dumps({"assemblyId": "x"}), "lists its data files under `reportKeys`"),
    ],
)
def test_unreadable_manifest_is_refused(tmp_path: Path, content: str, message: str) -> None:
    manifest = tmp_path / "r-Manifest.json"
    manifest.write_text(content, encoding="utf-8")
    with pytest.raises(IngestError, match=message) as error:
        expand_manifest(manifest)
    assert str(error.value).startswith(f"{manifest}: ")
