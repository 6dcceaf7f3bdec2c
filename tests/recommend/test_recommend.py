"""Recommendations from billing rows built for each finding: exact kinds, savings, confidence,
evidence; the brief; and turning one into a tracked savings item."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cloudtally.recommend.engine import recommendations
from cloudtally.recommend.report import brief
from cloudtally.store import Store
from tests.commitments.helpers import builder, store_of

M = builder()
D = Decimal
MONTHS = {
    "2024-08": ("2024-08-01T00:00:00Z", "2024-09-01T00:00:00Z"),
    "2024-09": ("2024-09-01T00:00:00Z", "2024-10-01T00:00:00Z"),
    "2024-10": ("2024-10-01T00:00:00Z", "2024-11-01T00:00:00Z"),
}


def line(rows: Any, month: str, resource: str, quantity: str, price: str, **fields: str) -> None:
    start, end = MONTHS[month]
    cost = format(D(quantity) * D(price), "f")
    row = {
        **rows._base(start, end),
        "BillingPeriodStart": start,
        "BillingPeriodEnd": end,
        "ChargeCategory": "Usage",
        "ChargeFrequency": "Usage-Based",
        "ChargeDescription": f"{resource} usage",
        "BilledCost": cost, "EffectiveCost": cost, "ListCost": cost, "ContractedCost": cost,
        "PricingCurrencyEffectiveCost": cost,
        "ListUnitPrice": price, "ContractedUnitPrice": price,
        "PricingCurrencyListUnitPrice": price, "PricingCurrencyContractedUnitPrice": price,
        "PricingCategory": "Standard", "PricingQuantity": quantity, "PricingUnit": "Hours",
        "ConsumedQuantity": quantity, "ConsumedUnit": "Hours",
        "SkuId": "SKU-" + resource, "SkuPriceId": "SKU-" + resource + ".OnDemand",
        "ResourceId": resource, "ResourceName": resource, "ResourceType": "Virtual Machine",
        "Tags": '{"Team": "Web "}',
    }  # fmt: skip
    row.update(fields)
    rows.rows.append(row)


def volume(klass: str) -> dict[str, str]:
    return {
        "ServiceName": "Block Storage", "ServiceSubcategory": "Block Storage",
        "ServiceCategory": "Storage", "PricingUnit": "GB-Months", "ConsumedUnit": "GB-Months",
        "ResourceType": "Volume", "SkuPriceDetails": json.dumps({"StorageClass": klass}),
    }  # fmt: skip


WEST = {"SubAccountId": "tc-sub-0002", "SubAccountName": "example-west", "RegionId": "tc-west-1",
        "RegionName": "TinyCloud West 1", "Tags": '{"team": "data"}'}  # fmt: skip


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Store:
    folder = tmp_path_factory.mktemp("recommend")
    rows = M.Rows()
    for month in MONTHS:
        line(rows, month, "vm-a", "720", "0.5", SkuPriceDetails='{"InstanceType": "t3.medium"}')
        bucket = {"2024-08": "1000", "2024-09": "1200", "2024-10": "1400"}[month]
        line(rows, month, "bucket-1", bucket, "0.023", ServiceName="Object Storage",
             ServiceSubcategory="Object Storage", ServiceCategory="Storage", PricingUnit="GB-Months",
             ConsumedUnit="GB-Months", ResourceType="Bucket",
             SkuPriceDetails='{"StorageClass": "Standard"}')  # fmt: skip
    line(rows, "2024-10", "bucket-2", "100", "0.0125", ServiceName="Object Storage",
         ServiceSubcategory="Object Storage", ServiceCategory="Storage", PricingUnit="GB-Months",
         ConsumedUnit="GB-Months", ResourceType="Bucket",
         SkuPriceDetails='{"StorageClass": "Standard-IA"}')  # fmt: skip
    # West: compute ran in September only; its volume stayed.
    line(
        rows,
        "2024-09",
        "vm-west",
        "720",
        "0.5",
        SkuPriceDetails='{"InstanceType": "t3.medium"}',
        **WEST,
    )
    for month in ("2024-09", "2024-10"):
        line(rows, month, "vol-left", "200", "0.08", **volume("gp3"), **WEST)
    line(rows, "2024-10", "vol-gp2", "500", "0.10", **volume("gp2"))
    line(rows, "2024-10", "vol-gp3", "100", "0.08", **volume("gp3"))
    aws = {"ProviderName": "AWS", "PublisherName": "AWS", "InvoiceIssuerName": "AWS",
           "BillingAccountId": "111122223333", "RegionId": "us-east-1"}  # fmt: skip
    line(rows, "2024-10", "vm-m5", "720", "0.096", SkuPriceDetails='{"InstanceType": "m5.large"}',
         **aws)  # fmt: skip
    line(rows, "2024-10", "vm-m6i", "10", "0.0864",
         SkuPriceDetails='{"InstanceType": "m6i.large"}', **aws)  # fmt: skip
    line(rows, "2024-10", "eip-1", "720", "0.005", ServiceName="Virtual Private Cloud",
         ServiceSubcategory="Network Infrastructure", ServiceCategory="Networking",
         ResourceType="Elastic IP", SkuMeter="IdleAddress",
         ChargeDescription="Elastic IP address not associated with a running instance")  # fmt: skip
    line(rows, "2024-10", "nat-1", "2000", "0.09", ServiceName="Data Transfer",
         ServiceSubcategory="Network Connectivity", ServiceCategory="Networking",
         PricingUnit="GB", ConsumedUnit="GB", ResourceType="NAT Gateway")  # fmt: skip
    sp = M.SAVINGS_PLAN
    start, end = MONTHS["2024-10"]
    rows.purchase(sp, D("100"), D("100"), period=(start, end))
    rows.used(sp, "VM_MEDIUM", "vm-sp", D("40"), D("40"), (start, end))
    rows.unused(sp, D("60"), D("60"), (start, end))
    for row in rows.rows[-3:]:
        row["BillingPeriodStart"], row["BillingPeriodEnd"] = start, end
    return store_of(folder / "lake", M.write_rows(folder / "rows.csv", rows))


def test_every_finding_with_its_estimate_and_confidence(lake: Store) -> None:
    period, found = recommendations(lake)
    assert period == "2024-10"
    kinds = {r.kind: r for r in found}
    assert {k: (v.monthly_savings, v.confidence, v.owner) for k, v in kinds.items()} == {
        "low-utilization": (D("60.00"), "high", None),
        "data-transfer": (D("54.00"), "low", "web"),
        "orphaned": (D("16.00"), "high", "data"),
        "gp2-volume": (D("10.00"), "high", "web"),
        "storage-lifecycle": (D("7.35"), "medium", "web"),
        "previous-generation": (D("6.91"), "medium", "web"),
        "idle-address": (D("3.60"), "high", "web"),
    }
    assert [r.monthly_savings for r in found] == sorted(
        (r.monthly_savings for r in found), reverse=True
    )
    assert kinds["previous-generation"].title == "Move vm-m5 from m5.large to m6i.large"
    assert kinds["previous-generation"].assumption == (
        "the same hours (720) at m6i.large's price in the lake (0.0864 per hour, us-east-1) "
        "instead of 0.096"
    )
    assert kinds["orphaned"].why == (
        "It was billed in 2024-10 in account tc-sub-0002, region tc-west-1, where no compute "
        "instance was billed (there was compute the period before: it went, the block storage "
        "stayed)"
    )
    assert kinds["gp2-volume"].evidence == [
        {"resource": "vol-gp2", "service": "Block Storage", "sku": "SKU-vol-gp2",
         "meter": "vol-gp2 usage", "unit": "GB-Months", "quantity": D("500"), "cost": D("50"),
         "first_day": kinds["gp2-volume"].evidence[0]["first_day"],
         "last_day": kinds["gp2-volume"].evidence[0]["last_day"]}
    ]  # fmt: skip


def test_the_brief_has_every_section(lake: Store) -> None:
    period, found = recommendations(lake)
    gp2 = next(r for r in found if r.kind == "gp2-volume")
    text = brief(gp2, period)
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings == [
        "# Change the gp2 volume vol-gp2 to gp3",
        "## What", "## Why", "## Evidence", "## Assumptions", "## Impact", "## Risk",
        "## How to verify",
    ]  # fmt: skip
    assert (
        "| vol-gp2 | Block Storage | SKU-vol-gp2 | vol-gp2 usage | 500 | GB-Months | 50 |" in text
    )
    assert "Estimated savings: 10.00 USD per month." in text


def test_a_recommendation_becomes_a_tracked_item(
    cli: Callable[..., Any], lake: Store, tmp_path: Path
) -> None:
    _, found = recommendations(lake)
    gp2 = next(r for r in found if r.kind == "gp2-volume")
    data = ["--data-dir", str(lake.data_dir)]
    from click.testing import CliRunner

    from cloudtally.cli import app

    runner = CliRunner()
    listed = runner.invoke(app, [*data, "recommend", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    assert gp2.id in {r["id"] for r in json.loads(listed.stdout)["rows"]}
    out = tmp_path / "brief.md"
    written = runner.invoke(app, [*data, "recommend", "brief", gp2.id, "--out", str(out)])
    assert written.stdout == f"Wrote {out}\n" and out.read_text("utf-8") == brief(gp2, "2024-10")
    added = runner.invoke(app, [*data, "savings", "add", "--from-recommendation", gp2.id,
                                "--ticket", "https://tickets/42"])  # fmt: skip
    assert (
        added.stdout == "S1: Change the gp2 volume vol-gp2 to gp3 (resource=vol-gp2), identified\n"
    )
    shown = json.loads(runner.invoke(app, [*data, "savings", "show", "S1", "-f", "json"]).stdout)
    assert (shown["totals"]["estimate per month"], shown["totals"]["owner"],
            shown["totals"]["from recommendation"]) == ("10", "web", gp2.id)  # fmt: skip
    unknown = runner.invoke(app, [*data, "recommend", "brief", "r000"])
    assert unknown.exit_code == 1
