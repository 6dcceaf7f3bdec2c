"""The FOCUS 1.3 Contract Commitment dataset: stored beside the costs as `contract_commitments`
(exact types, every row), a new delivery replaces its contracts' rows, bad files are refused."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb

from cloudtally.ingest.formats import detect_converter
from cloudtally.ingest.source import inspect
from cloudtally.store import Store
from tests.conftest import SAMPLES, lake_snapshot

FOCUS_13 = SAMPLES / "focus" / "1.3"
AWS = FOCUS_13 / "aws_contract_commitment.csv"


def rows_in(path: Path) -> int:
    return duckdb.connect().execute(f"SELECT count(*) FROM read_csv('{path}')").fetchone()[0]  # type: ignore[index]


def test_detected_and_stored_beside_the_costs(cli, store: Store) -> None:
    assert detect_converter(inspect(AWS)).name == "focus-contract-commitment"
    result = cli("ingest", AWS)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        "Stored contract_commitments: 75 rows after this delivery (the view "
        "`contract_commitments`; beside the costs, not in them)."
    )
    assert store.catalog().partitions == []  # nothing in the costs
    con = store.connect()
    assert con.execute("SELECT count(*) FROM costs").fetchone() == (0,)
    types = dict(
        con.execute(
            "SELECT column_name, column_type FROM (DESCRIBE contract_commitments)"
        ).fetchall()
    )
    assert types["ContractCommitmentCost"] == "DECIMAL(38,18)"
    assert types["ContractCommitmentPeriodEnd"] == "TIMESTAMP WITH TIME ZONE"
    row = con.execute(
        "SELECT ContractCommitmentType, ContractCommitmentCategory, ContractCommitmentCost, "
        "ContractCommitmentQuantity, ContractCommitmentUnit, "
        "strftime(ContractCommitmentPeriodEnd, '%Y-%m-%dT%H:%M:%SZ') FROM contract_commitments "
        "WHERE ContractCommitmentId = 'arn:aws:ec2:us-west-2::reservation/fe0297c79bfbdabe'"
    ).fetchone()
    assert row == (
        "Reserved Instance",
        "Usage",
        Decimal("280460.16"),
        Decimal("4380000"),
        "Hours",
        "2027-05-02T10:00:00Z",
    )
    sums = con.execute("SELECT count(*), sum(ContractCommitmentCost) FROM contract_commitments")
    assert sums.fetchone() == (75, Decimal("20713131.52"))
    assert cli("sql", "SELECT count(*) FROM contract_commitments").stdout.strip() == "75"


def test_a_new_delivery_replaces_the_rows_of_its_contracts(
    cli, store: Store, tmp_path: Path
) -> None:
    assert cli("ingest", AWS, FOCUS_13 / "gcp_contract_commitment.csv").exit_code == 0
    con = store.connect()
    assert con.execute("SELECT count(*) FROM contract_commitments").fetchone() == (75 + 73,)
    # The next AWS delivery: one commitment's cost restated, the rest dropped from the contract.
    lines = AWS.read_text("utf-8").splitlines()
    restated = lines[1].replace(",280460.160000,", ",1000.000000,")
    newer = tmp_path / "aws_contract_commitment-2.csv"
    newer.write_text("\n".join([lines[0], restated]) + "\n", encoding="utf-8")
    assert cli("ingest", newer).exit_code == 0
    con = store.connect()
    contract = lines[1].split(",")[9]
    assert con.execute(
        "SELECT ContractCommitmentCost FROM contract_commitments WHERE ContractId = ?", [contract]
    ).fetchall() == [(Decimal("1000"),)]
    # That contract had 3 commitments, now 1; the other AWS contracts and GCP stay.
    assert sum(1 for line in lines if line.split(",")[9] == contract) == 3
    assert con.execute("SELECT count(*) FROM contract_commitments").fetchone() == (75 + 73 - 2,)


def test_a_commitment_twice_in_one_delivery_is_refused(cli, data_dir: Path, tmp_path: Path) -> None:
    assert cli("ingest", FOCUS_13 / "gcp_contract_commitment.csv").exit_code == 0
    before = lake_snapshot(data_dir)
    lines = AWS.read_text("utf-8").splitlines()
    twice = tmp_path / "twice.csv"
    twice.write_text("\n".join([lines[0], lines[1], lines[1]]) + "\n", encoding="utf-8")
    result = cli("ingest", twice)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {twice}: ContractCommitmentId "
        "'arn:aws:savingsplans:ap-southeast-1::savingsplan/b62179273c8eb5bb' appears on 2 rows. "
        "A delivery describes each commitment once: ingest one version of the dataset.\n"
    )
    assert lake_snapshot(data_dir) == before


def test_a_folder_with_costs_and_contracts_stores_both_in_one_swap(cli, store: Store) -> None:
    result = cli("ingest", FOCUS_13)
    assert result.exit_code == 0, result.output
    con = store.connect()
    assert con.execute("SELECT count(*) FROM contract_commitments").fetchone() == (
        rows_in(AWS) + rows_in(FOCUS_13 / "azure_contract_commitment.csv")
        + rows_in(FOCUS_13 / "gcp_contract_commitment.csv"),
    )  # fmt: skip
    assert con.execute("SELECT count(*) FROM costs").fetchone() == (3000,)
    assert store.catalog().generation == 1  # one commit
