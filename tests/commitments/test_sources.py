"""Commitments from real shapes of data: AWS CUR (unused on the fee row), usage commitments
whose Unused rows carry no quantity, and the FOCUS 1.3 samples with their Contract Commitment
dataset (terms and end dates)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from cloudtally.commitments.expiry import expiry
from cloudtally.commitments.inventory import inventory
from cloudtally.commitments.utilization import utilization
from tests.commitments.helpers import NATIVE_AWS, builder, pick, store_of
from tests.conftest import SAMPLES

M = builder()
UTILIZATION = ("commitment_id", "committed", "used", "unused", "committed_quantity",
               "used_quantity", "unused_quantity", "utilization", "basis")  # fmt: skip
RI = "arn:aws:ec2:us-east-1:012345678901:reserved-instances/6f1e2d3c-aaaa-bbbb-cccc-000000000001"
SP = "arn:aws:savingsplans::012345678901:savingsplan/2c8e5a1f-0000-4000-8000-000000000001"


def test_aws_cur_unused_commitment_on_the_fee_rows_is_unused(tmp_path: Path) -> None:
    # The fixture's RI is used 720 of 744 hours, its savings plan $4.76 of $7.44 (its README);
    # CUR carries the unused part on the RIFee and SavingsPlanRecurringFee rows.
    store = store_of(tmp_path / "lake", NATIVE_AWS)
    assert pick(utilization(store).records(), *UTILIZATION) == [
        {"commitment_id": RI, "committed": "89.28", "used": "86.4", "unused": "2.88",
         "committed_quantity": "744", "used_quantity": "720", "unused_quantity": "24",
         "utilization": "0.967742", "basis": "quantity"},
        {"commitment_id": SP, "committed": "7.44", "used": "4.76", "unused": "2.68",
         "committed_quantity": None, "used_quantity": None, "unused_quantity": None,
         "utilization": "0.639785", "basis": "cost"},
    ]  # fmt: skip


def test_usage_commitment_whose_unused_rows_lack_quantities_is_measured_by_cost(
    tmp_path: Path,
) -> None:
    # A usage-based reservation: 1 of 2 instances used; the Unused row has no quantity. Dividing
    # quantities (1 used / 1 known) would read 100%.
    rows = M.Rows()
    ri = M.reservation("VM_LARGE", "Hours")
    rows.purchase(ri, Decimal("3.00"), Decimal("2"))
    rows.used(ri, "VM_LARGE", "vm-1", Decimal("1"), Decimal("1"))
    rows.unused(ri, Decimal("1.50"), Decimal("1"))
    rows.rows[-1]["CommitmentDiscountQuantity"] = ""
    rows.rows[-1]["CommitmentDiscountUnit"] = ""
    store = store_of(tmp_path / "lake", M.write_rows(tmp_path / "ri.csv", rows))
    (row,) = pick(utilization(store).records(), *UTILIZATION)
    assert (row["used"], row["unused"], row["utilization"], row["basis"]) == (
        "1.5",
        "1.5",
        "0.5",
        "cost",
    )


def test_contract_commitments_give_terms_and_end_dates(tmp_path: Path) -> None:
    focus = SAMPLES / "focus" / "1.3"
    store = store_of(tmp_path / "lake", focus / "aws.csv", focus / "aws_contract_commitment.csv")
    records = inventory(store).records()
    assert len(records) == 72
    assert {r["term_source"] for r in records} == {"contract_commitments"}
    first = records[0]
    assert pick([first], "commitment_id", "type", "category", "term", "term_end",
                "recurring_purchases", "recurring_cost", "amortized_cost") == [
        {"commitment_id": "arn:aws:savingsplans:ap-southeast-1::savingsplan/b62179273c8eb5bb",
         "type": "Savings Plan", "category": "Spend", "term": "1y",
         "term_end": first["term_end"], "recurring_purchases": 2, "recurring_cost": "64.032",
         "amortized_cost": "64.032"}
    ]  # fmt: skip
    assert first["term_end"].isoformat() == "2027-05-01T01:00:00+00:00"
    assert first["amortized_by_period"] == {"2026-05": Decimal("64.032")}
    ladder = expiry(store)
    assert ladder.title == "Commitment expiry ladder as of 2026-06-01"
    assert {r["ends_in"] for r in ladder.records()} == {"later"}
    assert min(r["days_left"] for r in ladder.records()) == 334


def test_without_contract_commitments_the_term_is_unknown(tmp_path: Path) -> None:
    store = store_of(tmp_path / "lake", SAMPLES / "focus" / "1.3" / "aws.csv")
    result = inventory(store)
    assert {r["term_end"] for r in result.records()} == {None}
    assert result.notes == [
        "72 commitment(s) without a known term: ingest the provider's FOCUS 1.3 Contract "
        "Commitment dataset to see their terms and end dates."
    ]
    assert {r["ends_in"] for r in expiry(store).records()} == {"unknown"}
