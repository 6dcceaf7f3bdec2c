"""Azure cost details exports into FOCUS 1.2: exact rows, totals to the last digit, every header
set, actual vs amortized, bad input, and the FOCUS validator on the export."""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.csv
import pyarrow.parquet as pq
import pytest

import cloudtally.ingest.formats.azure  # noqa: F401  (registers the converter)
from cloudtally.errors import IngestError
from cloudtally.focus.canonical import FOCUS_COLUMNS
from cloudtally.focus.validator import VALIDATOR_QUIRKS, default_validator, run_validator
from cloudtally.ingest.formats import detect_converter
from cloudtally.ingest.pipeline import ingest
from cloudtally.ingest.source import inspect
from cloudtally.store import Store
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "native" / "azure"
ACTUAL = FIXTURES / "ea-actual-small.csv"
AMORTIZED = FIXTURES / "ea-amortized-small.csv"
COST_DETAILS = FIXTURES / "cost-details-sample.csv"
HEADER_SETS = ("PayAsYouGo", "Enterprise", "EnterpriseCamel", "German", "BOM", "YA")
TIMES = ("BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd")
ONE = Decimal("1E-18")  # DECIMAL(38,18): the canonical money scale

# -- helpers shared with test_gcp.py and test_oci.py ------------------------------------------------


def focus_rows(store: Store, where: str, extra: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The stored rows matching `where`, as {column: value} without NULLs; times as ISO UTC."""
    columns = [*FOCUS_COLUMNS, *extra]
    select = ", ".join(f"strftime({c}, '%Y-%m-%dT%H:%M:%SZ')" if c in TIMES else c for c in columns)
    rows = store.sql(f"SELECT {select} FROM costs WHERE {where} ORDER BY ALL").fetchall()
    return [{c: v for c, v in zip(columns, r, strict=True) if v is not None} for r in rows]


def stored_totals(store: Store) -> dict[tuple[str, str, str, str], tuple[Decimal, Decimal, int]]:
    rows = store.sql(
        "SELECT x_Provider, BillingAccountId, x_BillingPeriod, BillingCurrency, "
        "sum(BilledCost), sum(EffectiveCost), count(*) FROM costs GROUP BY ALL"
    ).fetchall()
    return {tuple(r[:4]): (r[4], r[5], r[6]) for r in rows}  # type: ignore[misc]


def canonical(text: str) -> Decimal:
    """A source number as the lake stores it: DECIMAL(38,18), rounded half away from zero."""
    return Decimal(text).quantize(ONE, rounding=ROUND_HALF_UP)


def validator_failures(cli: Any, tmp_path: Path, *sources: Path) -> set[str]:
    """Rule ids the FOCUS validator fails on the `cloudtally export` of `sources`."""
    validator = default_validator()
    if validator is None:
        pytest.skip("focus-validator not installed (run `make validator`; needs Python 3.12)")
    assert cli("ingest", *sources).exit_code == 0
    exported = tmp_path / "export.parquet"
    assert cli("export", "--focus-version", "1.2", exported).exit_code == 0
    result = run_validator(exported, validator)
    return set(result.failures) - set(VALIDATOR_QUIRKS)


def rewrite_csv(source: Path, target: Path, edit: Any) -> Path:
    """A copy of a CSV fixture with `edit(header, rows)` applied (in place)."""
    header, *body = csv.reader(io.StringIO(source.read_text(encoding="utf-8-sig")))
    edit(header, body)
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *body])
    target.write_text(out.getvalue(), encoding="utf-8")
    return target


# -- golden rows --------------------------------------------------------------------------------

TREY = {
    "ProviderName": "Microsoft",
    "PublisherName": "Microsoft",
    "InvoiceIssuerName": "Microsoft",
    "BillingAccountId": "8611537",
    "BillingAccountName": "Trey Research Demo (DO NOT USE)",
    "BillingAccountType": "Billing Account",
    "SubAccountType": "Subscription",
    "BillingPeriodStart": "2023-09-01T00:00:00Z",
    "BillingPeriodEnd": "2023-10-01T00:00:00Z",
    "BillingCurrency": "USD",
}
RI_ORDER = "/providers/Microsoft.Capacity/reservationOrders/"
RI_PURCHASE = {
    **TREY,
    "SubAccountId": "/subscriptions/1caaa5a3-2b66-438e-8ab4-bce37d518c5d",
    "SubAccountName": "Cost Management Research",
    "ChargePeriodStart": "2023-09-21T00:00:00Z",
    "ChargePeriodEnd": "2023-09-22T00:00:00Z",
    "ChargeCategory": "Purchase",
    "ChargeDescription": "Virtual Machines BS Series - B1s - UK South",
    "ChargeFrequency": "Recurring",
    "BilledCost": Decimal("3.25"),
    "EffectiveCost": Decimal("0"),
    "ListCost": Decimal("3.25"),
    "ContractedCost": Decimal("3.25"),
    "ContractedUnitPrice": Decimal("3.25"),
    "PricingCategory": "Committed",
    "PricingQuantity": Decimal("1"),
    "PricingUnit": "Hours",
    "ServiceName": "Virtual Machines",
    "ServiceCategory": "Compute",
    "ServiceSubcategory": "Virtual Machines",
    "SkuId": "f31064a2-ed95-4e11-8b69-270f2fc4fbdd",
    "SkuMeter": "B1s",
    "ResourceId": RI_ORDER + "49ed0e4d-8e0c-4f1f-af2c-67c865056615/reservations/",
    "RegionId": "uksouth",
    "RegionName": "UK South",
    "CommitmentDiscountId": RI_ORDER + "49ed0e4d-8e0c-4f1f-af2c-67c865056615/reservations/",
    "CommitmentDiscountName": "VM_RI_06-21-2023_18-56",
    "CommitmentDiscountCategory": "Usage",
    "CommitmentDiscountType": "Reservation",
    "x_CostView": "actual",
}
STORAGE_OPERATIONS = {
    **TREY,
    "SubAccountId": "/subscriptions/ed570627-0265-4620-bb42-bae06bcfa914",
    "SubAccountName": "Trey Research IT",
    "ChargePeriodStart": "2023-09-04T00:00:00Z",
    "ChargePeriodEnd": "2023-09-05T00:00:00Z",
    "ChargeCategory": "Usage",
    "ChargeDescription": "Tiered Block Blob - GRS - List and Create Container Operations - US East 2",
    "ChargeFrequency": "Usage-Based",
    "BilledCost": Decimal("0.00004"),
    "EffectiveCost": Decimal("0.00004"),
    "ListCost": Decimal("0.00004"),
    "ContractedCost": Decimal("0.00004"),
    "ListUnitPrice": Decimal("0.1"),
    "ContractedUnitPrice": Decimal("0.1"),
    "PricingCategory": "Standard",
    # `10K` with Quantity 0.0004: 4 operations, priced per block of 10,000.
    "PricingQuantity": Decimal("0.0004"),
    "PricingUnit": "10000 Units",
    "ConsumedQuantity": Decimal("4"),
    "ConsumedUnit": "Units",
    "ServiceName": "Storage",
    "ServiceCategory": "Storage",
    "ServiceSubcategory": "Storage Platforms",
    "SkuId": "aaaef613-418a-4a5f-af72-d224d7dee2c6",
    "SkuMeter": "GRS List and Create Container Operations",
    "ResourceId": "/subscriptions/ed570627-0265-4620-bb42-bae06bcfa914/resourceGroups/"
    "databricks-rg-PeskyData-s6taefbli5c5e/providers/Microsoft.Storage/storageAccounts/"
    "dbstoragewp6hglwvvrad2",
    "ResourceName": "dbstoragewp6hglwvvrad2",
    "ResourceType": "Microsoft.Storage/storageAccounts",
    "RegionId": "eastus2",
    "RegionName": "East US 2",
    "Tags": {
        "CostCenter": "1234",
        "env": "prod",
        "org": "trey",
        "application": "databricks",
        "databricks-environment": "true",
    },
    "x_CostView": "actual",
}
AKS = "/subscriptions/9ec51cfd-5ca7-4d76-8101-dd0a4abc5674/resourceGroups/"
AKS += "MC_ANALYTICSENGINE_ANALYTICSENGINE_EASTUS/providers/Microsoft.Compute/"
AKS += "virtualMachineScaleSets/"
AKS_TAGS = {
    "aks-managed-createOperationID": "",
    "aks-managed-kubeletIdentityClientID": "6b18955b-fa04-4011-91e3-adb713ef4034",
    "aks-managed-operationID": "d495e5d1-2c1e-4d2c-9d14-05917c785f6c",
    "aks-managed-orchestrator": "Kubernetes:1.23.8",
    "aks-managed-resourceNameSuffix": "42850074",
    "env": "prod",
    "org": "trey",
}
COVERED_USAGE = {
    **TREY,
    "SubAccountId": "/subscriptions/9ec51cfd-5ca7-4d76-8101-dd0a4abc5674",
    "SubAccountName": "Trey Research Corporate",
    "ChargePeriodStart": "2023-09-22T00:00:00Z",
    "ChargePeriodEnd": "2023-09-23T00:00:00Z",
    "ChargeCategory": "Usage",
    "ChargeDescription": "Virtual Machines Dv2/DSv2 Series - D2 v2/DS2 v2 - US East",
    "ChargeFrequency": "Usage-Based",
    # Billed on the reservation's purchase; its amortized share is the effective cost.
    "BilledCost": Decimal("0"),
    "EffectiveCost": Decimal("0.493152"),
    "ListCost": Decimal("1.168"),
    "ContractedCost": Decimal("1.168"),
    "ContractedUnitPrice": Decimal("0.146"),
    "PricingCategory": "Committed",
    "PricingQuantity": Decimal("8"),
    "PricingUnit": "Hours",
    "ConsumedQuantity": Decimal("8"),
    "ConsumedUnit": "Hours",
    "ServiceName": "Virtual Machines",
    "ServiceCategory": "Compute",
    "ServiceSubcategory": "Virtual Machines",
    "SkuId": "14fc9a21-4919-4cb1-b495-5666966556bc",
    "SkuMeter": "D2 v2/DS2 v2",
    "ResourceId": AKS + "aks-agentpool-42850074-vmss",
    "ResourceName": "aks-agentpool-42850074-vmss",
    "ResourceType": "Microsoft.Compute/virtualMachineScaleSets",
    "RegionId": "eastus",
    "RegionName": "East US",
    "CommitmentDiscountId": RI_ORDER + "a965d46f-aedf-4176-8ff1-2617943b8960/reservations/"
    "f39d1c73-af74-4308-9083-fbf5efab37d1",
    "CommitmentDiscountName": "ProdDS1VMReservation",
    "CommitmentDiscountCategory": "Usage",
    "CommitmentDiscountType": "Reservation",
    "CommitmentDiscountStatus": "Used",
    "Tags": {
        **AKS_TAGS,
        "aks-managed-creationSource": "vmssclient-aks-agentpool-42850074-vmss",
        "aks-managed-poolName": "agentpool",
        "orchestrator": "Kubernetes:1.20.9",
        "poolName": "agentpool",
    },
    "x_CostView": "amortized",
}
SAVINGS_PLAN_USAGE = {
    **TREY,
    "SubAccountId": "/subscriptions/9ec51cfd-5ca7-4d76-8101-dd0a4abc5674",
    "SubAccountName": "Trey Research Corporate",
    "ChargePeriodStart": "2023-09-03T00:00:00Z",
    "ChargePeriodEnd": "2023-09-04T00:00:00Z",
    "ChargeCategory": "Usage",
    "ChargeDescription": "Virtual Machines BS Series - B2s - US East",
    "ChargeFrequency": "Usage-Based",
    "BilledCost": Decimal("0"),
    "EffectiveCost": Decimal("0.006000000468"),
    "ListCost": Decimal("0.013347594624"),  # 0.0416 x 0.32085564
    "ContractedCost": Decimal("0.013347594624"),
    "ListUnitPrice": Decimal("0.0416"),
    "ContractedUnitPrice": Decimal("0.0416"),
    "PricingCategory": "Committed",
    "PricingQuantity": Decimal("0.32085564"),
    "PricingUnit": "Hours",
    "ConsumedQuantity": Decimal("0.32085564"),
    "ConsumedUnit": "Hours",
    "ServiceName": "Virtual Machines",
    "ServiceCategory": "Compute",
    "ServiceSubcategory": "Virtual Machines",
    "SkuId": "2c57ed84-f939-4f5c-ba90-782349a367b8",
    "SkuMeter": "B2s",
    "ResourceId": AKS + "aks-secretagent-37798712-vmss",
    "ResourceName": "aks-secretagent-37798712-vmss",
    "ResourceType": "Microsoft.Compute/virtualMachineScaleSets",
    "RegionId": "eastus",
    "RegionName": "East US",
    "CommitmentDiscountId": "/providers/Microsoft.BillingBenefits/savingsPlanOrders/"
    "802a9e8b-e860-4d5f-b63b-c5bdf7ee2446/savingsPlans/09ff8291-64ac-45fb-afed-b9b39dbd88d7",
    "CommitmentDiscountName": "Compute_SavingsPlan_11-07-2022_09-55",
    "CommitmentDiscountCategory": "Spend",
    "CommitmentDiscountType": "Savings Plan",
    "CommitmentDiscountStatus": "Used",
    "Tags": {
        **AKS_TAGS,
        "aks-managed-creationSource": "vmssclient-aks-secretagent-37798712-vmss",
        "aks-managed-poolName": "secretagent",
    },
    "x_CostView": "amortized",
}


@pytest.mark.parametrize(
    ("source", "where", "expected"),
    [
        (ACTUAL, "x_ChargeType = 'Purchase'", RI_PURCHASE),
        (ACTUAL, "x_MeterId = 'aaaef613-418a-4a5f-af72-d224d7dee2c6'", STORAGE_OPERATIONS),
        (AMORTIZED, "x_PricingModel = 'Reservation'", COVERED_USAGE),
        (AMORTIZED, "x_PricingModel = 'SavingsPlan'", SAVINGS_PLAN_USAGE),
    ],
    ids=["reservation-purchase", "storage-operations", "reservation-usage", "savings-plan-usage"],
)
def test_golden_rows(store: Store, source: Path, where: str, expected: dict) -> None:
    ingest(store, [source])
    assert focus_rows(store, where, ("x_CostView",)) == [expected]


def test_cost_details_sample_row(store: Store) -> None:
    """The newer EA schema (CostInBillingCurrency, BillingCurrencyCode, M/D/YYYY dates)."""
    ingest(store, [COST_DETAILS])
    (row,) = focus_rows(store, "BilledCost = 0.000305367")
    assert {k: row[k] for k in ("BillingAccountId", "ChargePeriodStart", "BilledCost")} == {
        "BillingAccountId": "12345678",
        "ChargePeriodStart": "2023-09-02T00:00:00Z",  # 9/2/2023: September 2nd, not a day off
        "BilledCost": Decimal("0.000305367"),
    }
    assert row["Tags"] == {"tagA": "valueA", "tagB": "valueB", "tagC": "valueC"}
    assert (row["BillingCurrency"], row["SubAccountName"]) == ("CAD", "sub-example")


# -- golden totals -------------------------------------------------------------------------------


def native_totals(path: Path) -> dict[tuple[str, str, str, str], tuple[Decimal, Decimal, int]]:
    """Totals computed from the file's text alone: the actual view bills the cost column, the
    amortized view bills none of the commitment-covered usage; commitment purchases have no
    effective cost."""
    totals: dict[tuple, list] = defaultdict(lambda: [Decimal(0), Decimal(0), 0])
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            cost = canonical(row.get("CostInBillingCurrency") or row["Cost"])
            month, _, year = row["BillingPeriodStartDate"].split("/")
            currency = row.get("BillingCurrencyCode") or row["BillingCurrency"]
            key = ("azure", row["BillingAccountId"], f"{year}-{int(month):02d}", currency)
            commitment = row["PricingModel"] in ("Reservation", "SavingsPlan")
            covered = commitment and row["ChargeType"] == "Usage"
            purchase = commitment and row["ChargeType"] in ("Purchase", "Refund")
            totals[key][0] += 0 if covered else cost
            totals[key][1] += 0 if purchase else cost
            totals[key][2] += 1
    return {k: tuple(v) for k, v in totals.items()}  # type: ignore[misc]


# Summed by hand from the files; the actual views equal the invoice's cost column exactly.
GOLDEN_BILLED = {
    ACTUAL: Decimal("8.5450077867419368"),
    COST_DETAILS: Decimal("1.26136926505726"),  # the sample's documented golden sum
}


@pytest.mark.parametrize("source", [ACTUAL, AMORTIZED, COST_DETAILS], ids=lambda p: p.stem)
def test_totals_reconcile_to_the_last_digit(store: Store, source: Path) -> None:
    report = ingest(store, [source])
    expected = native_totals(source)
    assert stored_totals(store) == expected
    assert report.rows == sum(n for _, _, n in expected.values())
    if source in GOLDEN_BILLED:
        ((billed, _, _),) = expected.values()
        assert billed == GOLDEN_BILLED[source]


def test_parquet_export_gives_the_same_totals(store: Store, tmp_path: Path) -> None:
    """Cost Management also exports Parquet: costs as doubles, read through their shortest text."""
    path = tmp_path / "actual.parquet"
    pq.write_table(pyarrow.csv.read_csv(ACTUAL), path)
    assert pq.read_schema(path).field("Cost").type == "double"
    ingest(store, [path])
    assert stored_totals(store) == native_totals(ACTUAL)


def test_amortized_effective_cost_keeps_digits_beyond_the_lake_scale_rounded(
    store: Store,
) -> None:
    """Amortized costs with 28 decimals are stored rounded to 18, row by row."""
    ingest(store, [AMORTIZED])
    ((_, effective, _),) = stored_totals(store).values()
    assert effective == Decimal("16.296932136636644627")
    assert abs(effective - Decimal("16.29693213663664462748541900")) < Decimal("1E-17")


# -- header sets, dates, views --------------------------------------------------------------------

# One row written for each header set (tests/fixtures/native/azure/headers), and what it gives.
SUB = "/subscriptions/11111111-1111-4111-8111-00000000000"
HEADER_EXPECTED: dict[str, dict[str, Any]] = {
    "PayAsYouGo": {
        "BillingAccountId": SUB + "1", "BillingAccountType": "Subscription",
        "SubAccountId": SUB + "1", "ChargePeriodStart": "2021-02-03T00:00:00Z",
        "BilledCost": Decimal("12.5"), "BillingCurrency": "USD", "RegionId": "eastus",
        "PricingUnit": "Hours", "ConsumedQuantity": Decimal("100"),
        "Tags": {"team": "web", "env": "prod"},
    },
    "BOM": {
        "BillingAccountId": SUB + "2", "BillingAccountType": "Subscription",
        "SubAccountId": SUB + "2", "ChargePeriodStart": "2022-11-03T00:00:00Z",
        "BilledCost": Decimal("0.000001"), "BillingCurrency": "EUR", "RegionId": "westeurope",
        "PricingUnit": "10000 Units", "ConsumedQuantity": Decimal("5000"),
        "Tags": {"team": "data"},
    },
    "German": {
        "BillingAccountId": SUB + "3", "BillingAccountType": "Subscription",
        "SubAccountId": SUB + "3", "ChargePeriodStart": "2021-02-03T00:00:00Z",
        "BilledCost": Decimal("7.25"), "BillingCurrency": "EUR",
        "RegionId": "germanywestcentral", "PricingUnit": "Hours",
        "ConsumedQuantity": Decimal("58"), "Tags": {"Abteilung": "Einkauf"},
    },
    "YA": {
        "BillingAccountId": SUB + "4", "BillingAccountType": "Subscription",
        "SubAccountId": SUB + "4", "ChargePeriodStart": "2021-02-03T00:00:00Z",
        "BilledCost": Decimal("3.5"), "BillingCurrency": "GBP", "RegionId": "uksouth",
        "PricingUnit": "100 Hours", "ConsumedQuantity": Decimal("2800"), "Tags": None,
    },
    "Enterprise": {
        "BillingAccountId": "12345678", "BillingAccountType": "Billing Account",
        "SubAccountId": SUB + "5", "ChargePeriodStart": "2021-02-03T00:00:00Z",
        "BilledCost": Decimal("42.42"), "BillingCurrency": "CAD", "RegionId": "canadacentral",
        "PricingUnit": "10 Hours", "ConsumedQuantity": Decimal("100"),
        "Tags": {"createOperationID": "abc", "poolName": "defaultpool"},
    },
    "EnterpriseCamel": {
        "BillingAccountId": SUB + "6", "BillingAccountType": "Subscription",
        "SubAccountId": SUB + "6", "ChargePeriodStart": "2021-02-03T00:00:00Z",
        "BilledCost": Decimal("0.012"), "BillingCurrency": "USD", "RegionId": "westus",
        "PricingUnit": "Hours", "ConsumedQuantity": Decimal("3"),
        "Tags": {"ClusterId": "0103-212455-stash756", "Vendor": "Databricks"},
    },
}  # fmt: skip


@pytest.mark.parametrize("name", HEADER_SETS)
def test_every_header_set_is_detected_and_mapped(store: Store, name: str) -> None:
    """MM/DD/YYYY (`02/03/2021`) and YYYY-MM-DD dates are both February 3rd, 00:00 UTC."""
    path = FIXTURES / "headers" / f"{name}.csv"
    assert type(detect_converter(inspect(path))).__name__ == "AzureConverter"
    report = ingest(store, [path])
    assert report.formats == {"azure": 1}
    (row,) = focus_rows(store, "true", ("x_CostView",))
    expected = HEADER_EXPECTED[name]
    assert {column: row.get(column) for column in expected} == expected
    assert row["EffectiveCost"] == row["BilledCost"]
    assert row["x_CostView"] == "actual"


def test_german_header_columns_keep_english_extension_names(store: Store) -> None:
    ingest(store, [FIXTURES / "headers" / "German.csv"])
    row = store.sql("SELECT x_ResourceGroup, x_MeterCategory, x_ConsumedService FROM costs")
    assert row.fetchall() == [("rg-web", "Virtual Machines", "Microsoft.Network")]


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC"])
def test_dates_are_the_utc_day_in_any_session_time_zone(zone: str) -> None:
    """Azure's Date is a day: 00:00 UTC to 00:00 UTC the next day, whatever zone DuckDB runs in
    (UTC+14 and UTC-11 would shift a local-time reading by a day either way)."""
    converter = detect_converter(inspect(COST_DETAILS))
    con = duckdb.connect()
    con.execute(f"SET TimeZone = '{zone}'")
    rows = con.execute(
        "SELECT DISTINCT strftime(timezone('UTC', ChargePeriodStart), '%Y-%m-%d %H:%M'), "
        "strftime(timezone('UTC', ChargePeriodEnd), '%Y-%m-%d %H:%M'), x_BillingPeriod "
        f"FROM ({converter.select_sql('test')})"
    ).fetchall()
    assert rows == [("2023-09-02 00:00", "2023-09-03 00:00", "2023-09")]


def test_cost_view_is_detected(store: Store) -> None:
    assert detect_converter(inspect(ACTUAL)).cost_view == "actual"  # type: ignore[attr-defined]
    assert detect_converter(inspect(AMORTIZED)).cost_view == "amortized"  # type: ignore[attr-defined]
    # Without commitment rows both views are the same rows.
    assert detect_converter(inspect(COST_DETAILS)).cost_view == "actual"  # type: ignore[attr-defined]


def test_a_file_mixing_both_views_is_refused(tmp_path: Path) -> None:
    purchase = next(
        r for r in csv.reader(io.StringIO(ACTUAL.read_text("utf-8-sig"))) if "Purchase" in r
    )
    mixed = rewrite_csv(AMORTIZED, tmp_path / "mixed.csv", lambda h, rows: rows.append(purchase))
    with pytest.raises(IngestError, match=r"both the actual view .* and the amortized view"):
        detect_converter(inspect(mixed))


def test_unused_reservation_is_unused_commitment(store: Store, tmp_path: Path) -> None:
    """An amortized export's UnusedReservation row: usage, not billed, effective cost kept."""

    def unused(header: list[str], rows: list[list[str]]) -> None:
        row = next(r for r in rows if r[header.index("PricingModel")] == "Reservation")
        row[header.index("ChargeType")] = "UnusedReservation"
        row[header.index("Quantity")] = "2"
        row[header.index("Cost")] = "0.123288"

    ingest(store, [rewrite_csv(AMORTIZED, tmp_path / "unused.csv", unused)])
    (row,) = focus_rows(store, "CommitmentDiscountStatus = 'Unused'")
    assert (row["ChargeCategory"], row["BilledCost"], row["EffectiveCost"]) == (
        "Usage",
        Decimal(0),
        Decimal("0.123288"),
    )
    assert "ConsumedQuantity" not in row


def test_refund_is_a_purchase_correction(store: Store, tmp_path: Path) -> None:
    def refund(header: list[str], rows: list[list[str]]) -> None:
        row = next(r for r in rows if r[header.index("ChargeType")] == "Purchase")
        row[header.index("ChargeType")] = "Refund"
        row[header.index("Cost")] = "-3.25"

    ingest(store, [rewrite_csv(ACTUAL, tmp_path / "refund.csv", refund)])
    (row,) = focus_rows(store, "ChargeClass = 'Correction'")
    assert (row["ChargeCategory"], row["BilledCost"], row["EffectiveCost"]) == (
        "Purchase",
        Decimal("-3.25"),
        Decimal(0),
    )


# -- bad input ---------------------------------------------------------------------------------


def test_missing_required_column_is_named(tmp_path: Path) -> None:
    def drop_date(header: list[str], rows: list[list[str]]) -> None:
        index = header.index("Date")
        for r in [header, *rows]:
            del r[index]

    path = rewrite_csv(ACTUAL, tmp_path / "no-date.csv", drop_date)
    with pytest.raises(IngestError) as error:
        detect_converter(inspect(path))
    assert str(error.value).startswith(f"{path}: an Azure cost export needs column Date")


def test_renamed_column_is_named_with_its_likely_new_name(tmp_path: Path) -> None:
    def rename(header: list[str], rows: list[list[str]]) -> None:
        header[header.index("CostInBillingCurrency")] = "CostInBillingCurency"

    path = rewrite_csv(COST_DETAILS, tmp_path / "renamed.csv", rename)
    with pytest.raises(IngestError) as error:
        detect_converter(inspect(path))
    message = str(error.value)
    assert message.startswith(f"{path}: an Azure cost export needs column Cost (spelled ")
    assert "Column 'CostInBillingCurency' looks like it, renamed." in message


def test_mixed_currencies_in_one_account_period_are_refused(cli, tmp_path: Path) -> None:
    def euro(header: list[str], rows: list[list[str]]) -> None:
        rows[3][header.index("BillingCurrencyCode")] = "EUR"

    path = rewrite_csv(COST_DETAILS, tmp_path / "mixed-currency.csv", euro)
    result = cli("ingest", path)
    assert result.exit_code == 1
    assert str(path) in result.output
    assert "column BillingCurrencyCode holds CAD and EUR for billing account 12345678" in (
        " ".join(result.output.split())
    )


def test_bad_date_names_the_column_and_value(store: Store, tmp_path: Path) -> None:
    def bad(header: list[str], rows: list[list[str]]) -> None:
        rows[0][header.index("Date")] = "13/45/2023"

    path = rewrite_csv(ACTUAL, tmp_path / "bad-date.csv", bad)
    with pytest.raises(IngestError) as error:
        ingest(store, [path])
    assert str(path) in str(error.value)
    assert "column Date: 13/45/2023 is not a date" in str(error.value)


def test_tags_that_are_not_a_tag_list_name_the_column(store: Store, tmp_path: Path) -> None:
    def bad(header: list[str], rows: list[list[str]]) -> None:
        rows[1][header.index("Tags")] = "team=web"

    path = rewrite_csv(ACTUAL, tmp_path / "bad-tags.csv", bad)
    with pytest.raises(
        IngestError, match=re.escape("data row 2, column Tags: '{team=web}' is not a JSON object")
    ):
        ingest(store, [path])


# -- FOCUS validator -----------------------------------------------------------------------------

# Rule id -> why the export still fails it.
EXPECTED_FAILURES = {
    "InvoiceId-C-005-C": "source: an EA cost details export has no invoice id column",
}


@pytest.mark.validator
@pytest.mark.parametrize("source", [ACTUAL, AMORTIZED, COST_DETAILS], ids=lambda p: p.stem)
def test_export_passes_the_focus_validator(cli, tmp_path: Path, source: Path) -> None:
    assert validator_failures(cli, tmp_path, source) == set(EXPECTED_FAILURES)
