"""OCI cost reports into FOCUS 1.2: exact rows, BilledCost = cost/myCost to the last digit,
tags from tags/* columns, corrections, bad input, and the FOCUS validator."""

from __future__ import annotations

import csv
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

import cloudtally.ingest.formats.oci  # noqa: F401  (registers the converter)
from cloudtally.errors import IngestError
from cloudtally.ingest.formats import detect_converter
from cloudtally.ingest.pipeline import ingest
from cloudtally.ingest.source import inspect
from cloudtally.store import Store
from tests.conftest import ROOT
from tests.ingest.formats.test_azure import (
    canonical,
    focus_rows,
    rewrite_csv,
    stored_totals,
    validator_failures,
)

FIXTURES = ROOT / "tests" / "fixtures" / "native" / "oci"
SAMPLE = FIXTURES / "cost-report-sample.csv"
CORRECTIONS = FIXTURES / "corrections.csv"
SUBSCRIPTION = (
    "ocid1.organizationssubscription.oc1.us-sanjose-1."
    "amaaaaaa33abj3qa7lv6zso4gq45je75qdvql5fmgrmzlic6nbtm33hlbt5q"
)
TENANCY = "ocid1.tenancy.oc1..aaaaaaaadsyhydp66mjpsohqocfcgzaabtrit47ex2igzu2j6lhuadrrglca"

ORACLE = {
    "ProviderName": "Oracle",
    "PublisherName": "Oracle",
    "InvoiceIssuerName": "Oracle",
    "BillingAccountId": SUBSCRIPTION,
    "BillingAccountType": "Subscription",
    "SubAccountId": TENANCY,
    "SubAccountType": "Tenancy",
    "BillingCurrency": "USD",
    "RegionId": "us-sanjose-1",
    "RegionName": "us-sanjose-1",
}
APEX = {
    **ORACLE,
    "BillingPeriodStart": "2023-11-01T00:00:00Z",
    "BillingPeriodEnd": "2023-12-01T00:00:00Z",
    "ChargePeriodStart": "2023-11-13T10:00:00Z",  # written `2023-11-13T10:00Z`
    "ChargePeriodEnd": "2023-11-13T11:00:00Z",
    "ChargeCategory": "Usage",
    "ChargeDescription": "Oracle APEX Application Development",
    "ChargeFrequency": "Usage-Based",
    "BilledCost": Decimal("0.012264277499950943"),
    "EffectiveCost": Decimal("0.012264277499950943"),
    "ListCost": Decimal("0.012264277499950943"),
    "ContractedCost": Decimal("0.012264277499950943"),  # 0.14717133 x 0.083333333333
    "ContractedUnitPrice": Decimal("0.14717133"),
    "PricingCategory": "Standard",
    "PricingQuantity": Decimal("0.083333333333"),
    "PricingUnit": "Hours",  # 1 NONE HOURS INSTANCE
    "ConsumedQuantity": Decimal("0.083333333333"),
    "ConsumedUnit": "Hours",
    "ServiceName": "DATABASE",
    "ServiceCategory": "Databases",
    "ServiceSubcategory": "Relational Databases",
    "SkuId": "B92911",
    "ResourceId": "ocid1.autonomousdatabase.oc1.us-sanjose-1."
    "anzwuljr33abj3qa3ustmv6jdlw6elfui5qg3jd7ugfx6oq7x5qa5emjmpta",
    "ResourceType": "autonomousdatabase",
    "AvailabilityZone": "sj-1",
    "Tags": {
        "Oracle-Tags.CreatedBy": "default/phil.newman@oracle.com",
        "OracleInternalReserved.CostCenter": "607825",
        "OracleInternalReserved.OwnerEmail": "marek.czajka@oracle.com",
        "OracleInternalReserved.Phonebook": "accounts",
        "OracleInternalReserved.ServiceType": "Other",
        "OracleInternalReserved.UsageType": "development-pre-production",
        "Valtest.Cat": "boots",
    },
    "x_ReferenceNo": "7108a1f83bdbad70487bf0cf99cbe260",
    "x_CompartmentName": "platformpm2022",
}
OBJECT_STORAGE = {
    **ORACLE,
    "BillingPeriodStart": "2023-11-01T00:00:00Z",
    "BillingPeriodEnd": "2023-12-01T00:00:00Z",
    "ChargePeriodStart": "2023-11-13T10:00:00Z",
    "ChargePeriodEnd": "2023-11-13T11:00:00Z",
    "ChargeCategory": "Usage",
    "ChargeDescription": "Object Storage - Storage",
    "ChargeFrequency": "Usage-Based",
    "BilledCost": Decimal("6.266090E-12"),  # written 6.266090E-12, kept exactly
    "EffectiveCost": Decimal("6.266090E-12"),
    "ListCost": Decimal("6.266090E-12"),
    "ContractedCost": Decimal("6.26609E-12"),
    "ContractedUnitPrice": Decimal("0.0099147"),
    "PricingCategory": "Standard",
    "PricingQuantity": Decimal("6.32E-10"),
    "PricingUnit": "GiB-Months",  # 1 GiB MONTHS STORAGE_SIZE
    "ConsumedQuantity": Decimal("6.32E-10"),
    "ConsumedUnit": "GiB-Months",
    "ServiceName": "OBJECTSTORE",
    "ServiceCategory": "Storage",
    "ServiceSubcategory": "Object Storage",
    "SkuId": "B91628",
    "ResourceId": "axi5rjbot4mp/MonitoringData",
    "Tags": {
        "Oracle-Tags.CreatedBy": "default/phil.newman@oracle.com",
        "OracleInternalReserved.CostCenter": "607825",
        "OracleInternalReserved.OwnerEmail": "marek.czajka@oracle.com",
        "OracleInternalReserved.Phonebook": "accounts",
        "OracleInternalReserved.ServiceType": "Other",
        "OracleInternalReserved.UsageType": "development-pre-production",
    },
    "x_ReferenceNo": "58354fa014bd633a21510107aaceed95",
    "x_CompartmentName": "platformpm2022",
}
EXTRA = ("x_ReferenceNo", "x_CompartmentName")


@pytest.mark.parametrize(
    ("reference", "expected"),
    [("7108a1f83bdbad70487bf0cf99cbe260", APEX), ("58354fa014bd633a21510107aaceed95", OBJECT_STORAGE)],
    ids=["database-hours", "object-storage"],
)  # fmt: skip
def test_golden_rows(store: Store, reference: str, expected: dict) -> None:
    ingest(store, [SAMPLE])
    assert focus_rows(store, f"x_ReferenceNo = '{reference}'", EXTRA) == [expected]


def test_units_follow_the_focus_unit_format(store: Store) -> None:
    ingest(store, [SAMPLE])
    units = dict(
        store.sql("SELECT DISTINCT x_BillingUnitReadable, PricingUnit FROM costs").fetchall()
    )
    assert units == {
        "1000000 NONE NONE DATAPOINTS": "1000000 Datapoints",
        "1 GiB MONTHS STORAGE_SIZE": "GiB-Months",
        "1 GiB HOURS DATA_TRANSFERRED": "GiB-Hours",
        "1 NONE HOURS INSTANCE": "Hours",
        "1 TiB MONTHS STORAGE_SIZE": "TiB-Months",
        "1 GiB HOURS MEMORY": "GiB-Hours",
        "1 NONE HOURS OCPUS": "Hours",
        "1 GiB HOURS STORAGE_SIZE": "GiB-Hours",
        "1 GiB MONTHS PERFORMANCE_UNITS": "GiB-Months",
        "1 GiB NONE DATA_TRANSFERRED": "GiB",
    }


def test_corrections_and_credits(store: Store) -> None:
    ingest(store, [CORRECTIONS])
    rows = focus_rows(store, "true", ("x_ReferenceNo", "x_BackreferenceNo"))
    seen = {
        r["x_ReferenceNo"][-2:]: (
            r["ChargeCategory"],
            r.get("ChargeClass"),
            r["BilledCost"],
            r.get("x_BackreferenceNo"),
        )
        for r in rows
    }
    assert seen == {
        "a1": ("Usage", None, Decimal("0.01458454"), None),
        "a2": ("Usage", "Correction", Decimal("-0.00729227"), "c0ffee000000000000000000000000a1"),
        "a3": ("Credit", None, Decimal("-0.25"), None),
    }
    # The last hour of 2023 belongs to December (UTC), not to January.
    assert {r["BillingPeriodStart"] for r in rows} == {"2023-12-01T00:00:00Z"}


# -- golden totals -------------------------------------------------------------------------------


def native_totals(path: Path) -> dict[tuple[str, str, str, str], tuple[Decimal, Decimal, int]]:
    """cost/myCost summed from the report's text, per subscription, month and currency."""
    totals: dict[tuple, list] = defaultdict(lambda: [Decimal(0), Decimal(0), 0])
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            cost = canonical(row["cost/myCost"])
            key = ("oci", row["cost/subscriptionId"], row["lineItem/intervalUsageStart"][:7],
                   row["cost/currencyCode"])  # fmt: skip
            totals[key][0] += cost
            totals[key][1] += cost
            totals[key][2] += 1
    return {k: tuple(v) for k, v in totals.items()}  # type: ignore[misc]


def test_native_total_of_the_sample() -> None:
    assert native_totals(SAMPLE) == {
        ("oci", SUBSCRIPTION, "2023-11", "USD"): (
            Decimal("2.523589325400648027"),
            Decimal("2.523589325400648027"),
            506,
        )
    }


@pytest.mark.parametrize("source", [SAMPLE, CORRECTIONS], ids=lambda p: p.stem)
def test_totals_reconcile_to_the_last_digit(store: Store, source: Path) -> None:
    report = ingest(store, [source])
    assert stored_totals(store) == native_totals(source)
    assert report.formats == {"oci": 1}


# -- bad input ---------------------------------------------------------------------------------


def test_missing_required_column_is_named(tmp_path: Path) -> None:
    def drop(header: list[str], rows: list[list[str]]) -> None:
        index = header.index("cost/currencyCode")
        for r in [header, *rows]:
            del r[index]

    path = rewrite_csv(SAMPLE, tmp_path / "no-currency.csv", drop)
    with pytest.raises(IngestError) as error:
        detect_converter(inspect(path))
    assert str(error.value).startswith(
        f"{path}: an OCI cost report needs column cost/currencyCode, which is missing."
    )


def test_renamed_column_is_named_with_its_likely_new_name(tmp_path: Path) -> None:
    def rename(header: list[str], rows: list[list[str]]) -> None:
        header[header.index("cost/myCost")] = "cost/myCosts"

    path = rewrite_csv(SAMPLE, tmp_path / "renamed.csv", rename)
    with pytest.raises(IngestError) as error:
        detect_converter(inspect(path))
    assert "needs column cost/myCost, which is missing." in str(error.value)
    assert "Column 'cost/myCosts' looks like it, renamed." in str(error.value)


def test_mixed_currencies_in_one_month_are_refused(cli, tmp_path: Path) -> None:
    def euro(header: list[str], rows: list[list[str]]) -> None:
        rows[7][header.index("cost/currencyCode")] = "EUR"

    path = rewrite_csv(SAMPLE, tmp_path / "mixed-currency.csv", euro)
    result = cli("ingest", path)
    assert result.exit_code == 1
    message = " ".join(result.output.split())
    assert str(path) in message
    assert "column cost/currencyCode holds EUR and USD" in message


def test_bad_number_names_line_and_column(store: Store, tmp_path: Path) -> None:
    def bad(header: list[str], rows: list[list[str]]) -> None:
        rows[2][header.index("cost/myCost")] = "n/a"

    path = rewrite_csv(SAMPLE, tmp_path / "bad-number.csv", bad)
    with pytest.raises(IngestError) as error:
        ingest(store, [path])
    assert str(error.value).startswith(f"{path}: line 4, column cost/myCost: 'n/a' is not a number")


# -- FOCUS validator -----------------------------------------------------------------------------

EXPECTED_FAILURES = {"InvoiceId-C-005-C": "source: the cost report has no invoice id"}


@pytest.mark.validator
def test_export_passes_the_focus_validator(cli, tmp_path: Path) -> None:
    assert validator_failures(cli, tmp_path, SAMPLE, CORRECTIONS) == set(EXPECTED_FAILURES)
