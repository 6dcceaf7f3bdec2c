"""`cloudtally sample --commitments`: Acme Retail with reservations (unused hours, a partial
upfront purchase) and FOCUS 1.3 Contract Commitment files; every number pinned, the invariant
holds, and the default sample is unchanged (tests/sample pins it)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from cloudtally.commitments.expiry import expiry
from cloudtally.commitments.inventory import inventory
from cloudtally.commitments.utilization import utilization
from cloudtally.errors import CloudtallyError
from cloudtally.quality import run_checks
from cloudtally.sample import generate_sample
from cloudtally.store import Store
from tests.commitments.helpers import pick

EC2_RI = (
    "arn:aws:ec2:us-east-1:004218837459:reserved-instances/0b7e4c1a-6d2f-4e8a-9c3b-5a1f2e3d4c5b"
)
RDS_RI = "arn:aws:rds:us-east-1:004218837459:ri:acme-db-r6g-large-2024"
SP = "arn:aws:savingsplans::004218837459:savingsplan/5f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
AZURE = (
    "/providers/Microsoft.Capacity/reservationOrders/7c1d9e2f-3a4b-4c5d-8e6f-9a0b1c2d3e4f"
    "/reservations/1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a5b"
)


@pytest.fixture
def store(acme: Store) -> Store:
    export = acme.export_dir  # type: ignore[attr-defined]
    assert [p.relative_to(export).as_posix() for p in acme.contract_files] == [  # type: ignore[attr-defined]
        "aws/contract_commitments.csv",
        "azure/contract_commitments.csv",
    ]
    return acme


def test_utilization_of_each_commitment(store: Store) -> None:
    rows = pick(
        utilization(store, period="2024-10").records(),
        "commitment_id", "used_quantity", "unused_quantity", "used", "unused", "utilization",
    )  # fmt: skip
    assert rows == [
        {"commitment_id": EC2_RI, "used_quantity": "2232", "unused_quantity": "744",
         "used": "265.69728", "unused": "88.56576", "utilization": "0.75"},
        {"commitment_id": RDS_RI, "used_quantity": "744", "unused_quantity": "1488",
         "used": "110.484", "unused": "220.968", "utilization": "0.333333"},
        {"commitment_id": SP, "used_quantity": None, "unused_quantity": None,
         "used": "4888.806144", "unused": "312.063856", "utilization": "0.939998"},
        {"commitment_id": AZURE, "used_quantity": "744", "unused_quantity": "744",
         "used": "85.7088", "unused": "85.7088", "utilization": "0.5"},
    ]  # fmt: skip


def test_terms_come_from_the_contract_files_and_the_ladder_has_every_rung(store: Store) -> None:
    terms = {r["commitment_id"]: (r["term"], r["term_source"]) for r in inventory(store).records()}
    assert set(terms.values()) == {("1y", "contract_commitments")}
    rds = next(r for r in inventory(store).records() if r["commitment_id"] == RDS_RI)
    # Partial upfront: half of 0.225 x 0.66 = $0.1485 an hour paid upfront for 3 units over
    # 8,760 hours (0.07425 x 3 x 8760), and a daily fee for the rest.
    assert pick([rds], "one_time_purchases", "one_time_cost", "recurring_purchases") == [
        {"one_time_purchases": 1, "one_time_cost": "1951.29", "recurring_purchases": 61}
    ]
    ladder = expiry(store)
    assert ladder.title == "Commitment expiry ladder as of 2024-11-01"
    assert [(r["ends_in"], r["commitment_id"], r["days_left"]) for r in ladder.records()] == [
        ("within 30 days", EC2_RI, 20),
        ("31-90 days", AZURE, 75),
        ("91-180 days", SP, 150),
        ("later", RDS_RI, 304),
    ]


def test_the_amortization_invariant_holds(store: Store) -> None:
    report = run_checks(store, today=date(2024, 11, 2), only=["commitment-amortization"])
    assert [(r.status, r.findings) for r in report.results] == [("PASS", ())]


def test_commitments_need_a_window_within_the_terms(tmp_path: Path) -> None:
    with pytest.raises(CloudtallyError, match="use at most 12 --months, not 13"):
        generate_sample(tmp_path, months=13, scale=0.05, commitments=True)


def test_the_kpi_scorecard_reads_the_invariant_share(store: Store) -> None:
    from cloudtally.kpis.links import commitment_invariant_share

    assert commitment_invariant_share(store, "2024-10") == 100.0
    # Read for several periods in one pass (the scorecard's trend): the same share each.
    from cloudtally.kpis.links import commitment_invariant_shares

    periods = ["2024-05", "2024-08", "2024-09", "2024-10"]
    assert commitment_invariant_shares(store, periods) == {
        p: commitment_invariant_share(store, p) for p in periods
    }
    assert commitment_invariant_shares(store, periods)["2024-05"] is None  # before the data
