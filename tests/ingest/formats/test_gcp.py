"""The Google Cloud Billing export into FOCUS 1.2: exact rows, invoice totals to the last digit,
JSON lines, Parquet and CSV giving the same rows, bad input, and the FOCUS validator."""

from __future__ import annotations

import gzip
import json
import shutil
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from cloudtally.errors import IngestError
from cloudtally.ingest.formats import detect_converter
from cloudtally.ingest.pipeline import ingest
from cloudtally.ingest.source import inspect, inspect_json_lines, is_json_lines
from cloudtally.store import Store
from tests.conftest import ROOT
from tests.ingest.formats.test_azure import (
    canonical,
    focus_rows,
    rewrite_csv,
    stored_totals,
    validator_failures,
)

FIXTURES = ROOT / "tests" / "fixtures" / "native" / "gcp"
JSONL = FIXTURES / "detailed.jsonl"
PARQUET = FIXTURES / "detailed.parquet"
CSV = FIXTURES / "standard.csv"
ACCOUNT = "01A2B3-C4D5E6-F70819"
# Fields only the detailed export has (the CSV is the standard table).
DETAILED_ONLY = ("ResourceId", "ResourceName", "ResourceType", "ContractedUnitPrice")


def line(n: int) -> str:
    """Rows are told apart by the minute of their export_time (the fixture's row number)."""
    return f"x_ExportTime LIKE '% 09:{n:02d}:00%'"


ALPHA = {
    "ProviderName": "Google Cloud",
    "PublisherName": "Google Cloud",
    "InvoiceIssuerName": "Google Cloud",
    "BillingAccountId": ACCOUNT,
    "BillingAccountType": "Billing Account",
    "SubAccountId": "alpha-web-381204",
    "SubAccountName": "alpha-web",
    "SubAccountType": "Project",
    "BillingPeriodStart": "2024-05-01T00:00:00Z",
    "BillingPeriodEnd": "2024-06-01T00:00:00Z",
    "BillingCurrency": "USD",
    "ServiceName": "Compute Engine",
    "ServiceCategory": "Compute",
    "ServiceSubcategory": "Virtual Machines",
}
N2 = {"SkuId": "CF4E-A0C7-E3BF", "SkuMeter": "N2 Instance Core running in Americas"}
N2 |= {"ChargeDescription": N2["SkuMeter"]}
VM = "//compute.googleapis.com/projects/alpha-web-381204/zones/us-central1-a/instances/"
SUSTAINED_USE = {
    **ALPHA,
    **N2,
    "ChargePeriodStart": "2024-05-14T10:00:00Z",
    "ChargePeriodEnd": "2024-05-14T11:00:00Z",
    "ChargeCategory": "Usage",
    "ChargeFrequency": "Usage-Based",
    "BilledCost": Decimal("0.101891"),  # 0.127364 - 0.025473 sustained use discount
    "EffectiveCost": Decimal("0.101891"),
    "ListCost": Decimal("0.127364"),
    "ContractedCost": Decimal("0.127364"),
    "ContractedUnitPrice": Decimal("0.031841"),
    "PricingCategory": "Standard",
    "PricingQuantity": Decimal("4"),
    "PricingUnit": "Hours",
    "ConsumedQuantity": Decimal("14400"),
    "ConsumedUnit": "Seconds",
    "ResourceId": VM + "4411",
    "ResourceName": "web-1",
    "ResourceType": "instances",
    "RegionId": "us-central1",
    "RegionName": "us-central1",
    "AvailabilityZone": "us-central1-a",
    "Tags": {"compute.googleapis.com/machine_spec": "n2-standard-4", "env": "prod", "team": "web"},
    "x_Cost": Decimal("0.127364"),
    "x_CreditsAmount": Decimal("-0.025473"),
    "x_ProjectLabels": {"cost-center": "cc-100"},
}
CUD_COVERED = {
    **ALPHA,
    **N2,
    "ChargePeriodStart": "2024-05-14T10:00:00Z",
    "ChargePeriodEnd": "2024-05-14T11:00:00Z",
    "ChargeCategory": "Usage",
    "ChargeFrequency": "Usage-Based",
    "BilledCost": Decimal("0"),  # the committed use credit covers it all
    "EffectiveCost": Decimal("0"),
    "ListCost": Decimal("0.254728"),
    "ContractedCost": Decimal("0.254728"),
    "ContractedUnitPrice": Decimal("0.031841"),
    "PricingCategory": "Committed",
    "PricingQuantity": Decimal("8"),
    "PricingUnit": "Hours",
    "ConsumedQuantity": Decimal("28800"),
    "ConsumedUnit": "Seconds",
    "ResourceId": VM + "4412",
    "ResourceName": "web-2",
    "ResourceType": "instances",
    "RegionId": "us-central1",
    "RegionName": "us-central1",
    "AvailabilityZone": "us-central1-a",
    "CommitmentDiscountId": "CommittedUsageDiscount:1234567890",
    "CommitmentDiscountName": "Committed Usage Discount: CPU",
    "CommitmentDiscountCategory": "Usage",
    "CommitmentDiscountType": "Committed Use Discount",
    "CommitmentDiscountStatus": "Used",
    "Tags": {"env": "prod"},
    "x_Cost": Decimal("0.254728"),
    "x_CreditsAmount": Decimal("-0.254728"),
    "x_ProjectLabels": {"cost-center": "cc-100"},
}
COMMITMENT_FEE = {
    **ALPHA,
    "SkuId": "8A1B-2C3D-4E5F",
    "SkuMeter": "Commitment v1: N2 Cpu in Americas for 1 Year",
    "ChargeDescription": "Commitment v1: N2 Cpu in Americas for 1 Year",
    "ChargePeriodStart": "2024-05-01T00:00:00Z",
    "ChargePeriodEnd": "2024-06-01T00:00:00Z",
    "ChargeCategory": "Purchase",
    "ChargeFrequency": "Recurring",
    # Billed monthly for the month's usage: nothing to amortize.
    "BilledCost": Decimal("149.76"),
    "EffectiveCost": Decimal("149.76"),
    "ListCost": Decimal("149.76"),
    "ContractedCost": Decimal("149.76"),
    "PricingCategory": "Standard",
    "PricingQuantity": Decimal("744"),
    "PricingUnit": "Hours",
    "RegionId": "us-central1",
    "RegionName": "us-central1",
    "x_Cost": Decimal("149.76"),
    "x_CreditsAmount": Decimal("0"),
    "x_ProjectLabels": {"cost-center": "cc-100"},
}
USAGE_CORRECTION = {
    **ALPHA,
    **N2,
    "ChargePeriodStart": "2024-04-28T00:00:00Z",  # April's usage, on May's invoice
    "ChargePeriodEnd": "2024-04-29T00:00:00Z",
    "ChargeCategory": "Adjustment",
    "ChargeClass": "Correction",
    "ChargeFrequency": "One-Time",
    "BilledCost": Decimal("-1.1"),
    "EffectiveCost": Decimal("-1.1"),
    "ListCost": Decimal("-1.1"),
    "ContractedCost": Decimal("-1.1"),
    "RegionId": "us-central1",
    "RegionName": "us-central1",
    "x_Cost": Decimal("-1.1"),
    "x_CreditsAmount": Decimal("0"),
    "x_ProjectLabels": {"cost-center": "cc-100"},
}
EXTRA = ("x_Cost", "x_CreditsAmount", "x_ProjectLabels")


@pytest.mark.parametrize(
    ("n", "expected"),
    [(1, SUSTAINED_USE), (2, CUD_COVERED), (3, COMMITMENT_FEE), (10, USAGE_CORRECTION)],
    ids=["sustained-use-discount", "cud-covered-usage", "commitment-fee", "usage-correction"],
)
def test_golden_rows(store: Store, n: int, expected: dict) -> None:
    ingest(store, [PARQUET])
    assert focus_rows(store, line(n), EXTRA) == [expected]


# Row -> what sets it apart (each a FOCUS hard case the export has).
SPECIAL = {
    4: {"BilledCost": Decimal("0.0217013"), "ChargeCategory": "Usage", "PricingUnit": "GiB-Months",
        "ConsumedUnit": "Byte-Seconds", "ServiceSubcategory": "Object Storage"},  # free tier
    5: {"BilledCost": Decimal("1.25"), "PricingUnit": "TiB", "ServiceCategory": "Databases"},
    6: {"BilledCost": Decimal("0.06195"), "CommitmentDiscountCategory": "Spend",
        "CommitmentDiscountId": "CudDollarBase:555", "PricingCategory": "Committed"},
    7: {"PublisherName": "Acme Analytics Ltd", "InvoiceIssuerName": "Google Cloud",
        "ServiceCategory": "Other", "BilledCost": Decimal("99")},  # Marketplace
    8: {"ChargeCategory": "Tax", "ChargeFrequency": "One-Time", "BilledCost": Decimal("12.95")},
    9: {"ChargeCategory": "Credit", "BilledCost": Decimal("-3")},  # SLA credit
    11: {"ChargeCategory": "Adjustment", "BilledCost": Decimal("-1E-7"),
         "SubAccountId": None},  # rounding error, written -1e-07
    12: {"BillingPeriodStart": "2024-06-01T00:00:00Z",  # May's last hour, June's invoice
         "ChargePeriodStart": "2024-05-31T23:00:00Z", "BilledCost": Decimal("0.127364")},
    13: {"BilledCost": Decimal("0.1082594"), "x_CreditsAmount": Decimal("-0.0191046")},
}  # fmt: skip


@pytest.mark.parametrize("n", sorted(SPECIAL))
def test_hard_cases(store: Store, n: int) -> None:
    ingest(store, [PARQUET])
    (row,) = focus_rows(store, line(n), EXTRA)
    assert {column: row.get(column) for column in SPECIAL[n]} == SPECIAL[n]
    assert row["EffectiveCost"] == row["BilledCost"]


# -- golden totals -------------------------------------------------------------------------------


def native_totals(path: Path) -> dict[tuple[str, str, str, str], tuple[Decimal, Decimal, int]]:
    """Invoice totals from the JSON text alone: cost plus credits, per invoice month."""
    totals: dict[tuple, list] = defaultdict(lambda: [Decimal(0), Decimal(0), 0])
    for text in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(text, parse_float=Decimal, parse_int=Decimal)
        net = canonical(str(row["cost"])) + sum(
            (canonical(str(c["amount"])) for c in row["credits"]), Decimal(0)
        )
        month = row["invoice"]["month"]
        key = ("gcp", row["billing_account_id"], f"{month[:4]}-{month[4:]}", row["currency"])
        totals[key][0] += net
        totals[key][1] += net
        totals[key][2] += 1
    return {k: tuple(v) for k, v in totals.items()}  # type: ignore[misc]


def test_native_totals_are_the_invoice_totals() -> None:
    assert native_totals(JSONL) == {
        ("gcp", ACCOUNT, "2024-05", "USD"): (Decimal("259.0455422"), Decimal("259.0455422"), 11),
        ("gcp", ACCOUNT, "2024-06", "USD"): (Decimal("156.9260053"), Decimal("156.9260053"), 5),
    }


@pytest.mark.parametrize("source", [JSONL, PARQUET, CSV], ids=lambda p: p.name)
def test_totals_reconcile_to_the_last_digit(store: Store, source: Path):
    report = ingest(store, [source])
    assert stored_totals(store) == native_totals(JSONL)
    assert report.formats == {"gcp": 1}
    assert report.rows == 16


def test_json_lines_parquet_and_csv_give_the_same_rows(tmp_path: Path):
    rows = {}
    for source in (JSONL, PARQUET, CSV):
        store = Store(tmp_path / source.suffix.strip("."))
        ingest(store, [source])
        rows[source] = [
            {k: v for k, v in r.items() if k not in DETAILED_ONLY}
            for r in focus_rows(store, "true", ("x_CreditsAmount", "x_Credits", "x_CostType"))
        ]
    assert rows[JSONL] == rows[PARQUET] == rows[CSV]
    assert len(rows[JSONL]) == 16


def test_json_lines_are_recognised(tmp_path: Path) -> None:
    gzipped = tmp_path / "export.json.gz"
    gzipped.write_bytes(gzip.compress(JSONL.read_bytes()))
    for path in (JSONL, gzipped):
        assert is_json_lines(path)
        source = inspect_json_lines(path)
        assert source.container == "jsonl"
        assert {"billing_account_id", "cost", "credits", "invoice"} <= set(source.columns)
        assert type(detect_converter(source)).__name__ == "GcpBillingExportConverter"
    assert not is_json_lines(CSV)


def test_dotted_csv_names_are_read_too(store: Store, tmp_path: Path) -> None:
    """A CSV may name nested fields `service.description` instead of `service_description`."""

    def dots(header: list[str], rows: list[list[str]]) -> None:
        times = ("usage_start_time", "usage_end_time")
        for i, name in enumerate(header):
            for parent in ("service", "sku", "project", "location", "usage", "invoice"):
                if name.startswith(parent + "_") and name not in times:
                    header[i] = parent + "." + name[len(parent) + 1 :]

    ingest(store, [rewrite_csv(CSV, tmp_path / "dotted.csv", dots)])
    assert stored_totals(store) == native_totals(JSONL)


# -- bad input ---------------------------------------------------------------------------------


def test_missing_required_field_is_named(tmp_path: Path) -> None:
    def drop(header: list[str], rows: list[list[str]]) -> None:
        index = header.index("invoice_month")
        for r in [header, *rows]:
            del r[index]

    path = rewrite_csv(CSV, tmp_path / "no-invoice.csv", drop)
    with pytest.raises(IngestError) as error:
        detect_converter(inspect(path))
    assert str(error.value).startswith(
        f"{path}: a Cloud Billing export needs the field invoice.month, which is missing."
    )


def test_renamed_column_is_named_with_its_likely_new_name(tmp_path: Path) -> None:
    def rename(header: list[str], rows: list[list[str]]) -> None:
        header[header.index("currency")] = "curency"

    path = rewrite_csv(CSV, tmp_path / "renamed.csv", rename)
    with pytest.raises(IngestError) as error:
        detect_converter(inspect(path))
    assert "needs the field currency, which is missing." in str(error.value)
    assert "Column 'curency' looks like it, renamed." in str(error.value)


def test_mixed_currencies_in_one_invoice_month_are_refused(cli, tmp_path: Path) -> None:
    def euro(header: list[str], rows: list[list[str]]) -> None:
        rows[4][header.index("currency")] = "EUR"

    path = rewrite_csv(CSV, tmp_path / "mixed-currency.csv", euro)
    result = cli("ingest", path)
    assert result.exit_code == 1
    message = " ".join(result.output.split())
    assert str(path) in message
    assert f"column currency holds EUR and USD for billing account {ACCOUNT} in 2024-05" in message


def test_bad_timestamp_names_the_field_and_value(store: Store, tmp_path: Path) -> None:
    def bad(header: list[str], rows: list[list[str]]) -> None:
        rows[2][header.index("usage_start_time")] = "yesterday"

    path = rewrite_csv(CSV, tmp_path / "bad-time.csv", bad)
    with pytest.raises(IngestError) as error:
        ingest(store, [path])
    assert str(path) in str(error.value)
    assert "field usage_start_time: yesterday is not a date-time" in str(error.value)


def test_jsonl_with_a_missing_field_is_named(tmp_path: Path) -> None:
    path = tmp_path / "no-cost.jsonl"
    rows = [json.loads(t) for t in JSONL.read_text().splitlines()]
    path.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "cost"}) + "\n"
                            for r in rows))  # fmt: skip
    with pytest.raises(IngestError, match="needs the field cost, which is missing"):
        detect_converter(inspect_json_lines(path))


# -- FOCUS validator -----------------------------------------------------------------------------

EXPECTED_FAILURES = {
    "EffectiveCost-C-005-C": "validator 2.2.1 drops the 'intended to cover future charges' "
    "condition, so the monthly commitment fees (Purchase, Recurring, billed for the same month's "
    "usage) are flagged",
    "InvoiceId-C-005-C": "source: the billing export has no invoice id, only invoice.month",
}


@pytest.mark.validator
def test_export_passes_the_focus_validator(cli, tmp_path: Path) -> None:
    source = tmp_path / "in" / PARQUET.name
    source.parent.mkdir()
    shutil.copy(PARQUET, source)
    assert validator_failures(cli, tmp_path, source) == set(EXPECTED_FAILURES)
