"""The FOCUS 1.2 appendix's commitment discount examples, made complete (tests/fixtures/
commitments), give the utilization, coverage and savings the appendix states."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudtally.commitments.coverage import coverage
from cloudtally.commitments.savings import savings
from cloudtally.commitments.utilization import utilization
from cloudtally.quality import run_checks
from tests.commitments.helpers import FIXTURES, builder, json_rows, pick, store_of

UTILIZATION = ("committed", "used", "unused", "committed_quantity", "used_quantity",
               "unused_quantity", "utilization", "basis")  # fmt: skip
COVERAGE = ("eligible_on_demand", "covered_on_demand", "coverage", "eligible_hours",
            "covered_hours", "hours_coverage")  # fmt: skip

# example -> utilization, coverage (one row: the one service), savings (list, effective,
# commitment savings, waste, the three ESRs)
EXPECTED = {
    # Usage scenarios: a $1.00/h spend-based commitment (Spend: utilization by cost).
    "usage_1_full_utilization": (
        ("1", "1", "0", None, None, None, "1", "cost"),
        ("2", "2", "1", "1", "1", "1"),
        ("2", "1", "1", "0", "0.5", "0.5", "0.5"),
    ),
    "usage_2_zero_utilization": (
        ("1", "0", "1", None, None, None, "0", "cost"),
        None,  # nothing ran: no eligible usage
        ("0", "1", "-1", "1", None, None, None),
    ),
    "usage_3_partial_utilization": (
        ("1", "0.75", "0.25", None, None, None, "0.75", "cost"),
        ("1.5", "1.5", "1", "1", "1", "1"),
        ("1.5", "1", "0.5", "0.25", "0.333333", "0.333333", "0.333333"),
    ),
    "usage_4_full_utilization_with_overage": (
        ("1", "1", "0", None, None, None, "1", "cost"),
        ("2.5", "2", "0.8", "1", "0.8", "0.8"),
        ("2.5", "1.5", "1", "0", "0.4", "0.4", "0.4"),
    ),
    # Flexibility: usage-based reservations in Hours and Normalized Hours (by quantity).
    "flexibility_1_full_without_flexibility": (
        ("1.5", "1.5", "0", "1", "1", "0", "1", "quantity"),
        ("3", "3", "1", "1", "1", "1"),
        ("3", "1.5", "1.5", "0", "0.5", "0.5", "0.5"),
    ),
    "flexibility_2_zero_without_flexibility": (
        ("1.5", "0", "1.5", "1", "0", "1", "0", "quantity"),
        ("2", "0", "0", "1", "0", "0"),
        ("2", "3.5", "-1.5", "1.5", "-0.75", "-0.75", "-0.75"),
    ),
    "flexibility_3_full_with_flexibility_one_resource": (
        ("0.5", "0.5", "0", "1", "1", "0", "1", "quantity"),
        ("4", "1", "0.25", "1", "0.25", "0.25"),
        ("4", "3.5", "0.5", "0", "0.125", "0.125", "0.125"),
    ),
    "flexibility_4_full_with_flexibility_two_resources": (
        ("2", "2", "0", "4", "4", "0", "1", "quantity"),
        ("4", "4", "1", "2", "2", "1"),
        ("4", "2", "2", "0", "0.5", "0.5", "0.5"),
    ),
    # Purchase scenarios: the first hour of a 1-year term bought all or half upfront.
    "purchase_1_all_upfront": (
        ("1", "1", "0", None, None, None, "1", "cost"),
        ("2", "2", "1", "1", "1", "1"),
        ("2", "1", "1", "0", "0.5", "0.5", "0.5"),
    ),
    "purchase_3_partial_upfront": (
        ("1", "1", "0", None, None, None, "1", "cost"),
        ("2", "2", "1", "1", "1", "1"),
        ("2", "1", "1", "0", "0.5", "0.5", "0.5"),
    ),
}


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("examples")
    return {name: store_of(root / name, FIXTURES / f"{name}.csv") for name in EXPECTED}


def test_the_shipped_files_are_what_the_script_writes(tmp_path: Path) -> None:
    module = builder()
    written = sorted(p.name for p in FIXTURES.glob("*.csv"))
    assert written == sorted(f"{name}.csv" for name in EXPECTED)
    for name, rows in module.examples().items():
        again = module.write_rows(tmp_path / name, rows)
        assert again.read_text("utf-8") == (FIXTURES / name).read_text("utf-8"), name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_utilization_coverage_and_savings_of_each_example(stores, name: str) -> None:
    store = stores[name]
    expected_utilization, expected_coverage, expected_savings = EXPECTED[name]
    assert pick(utilization(store).records(), *UTILIZATION) == [
        dict(zip(UTILIZATION, expected_utilization, strict=True))
    ]
    rows = pick(coverage(store).records(), *COVERAGE)
    assert rows == (
        [dict(zip(COVERAGE, expected_coverage, strict=True))] if expected_coverage else []
    )
    names = ("list_cost", "effective_cost", "commitment_savings", "waste", "esr_finops_toolkit",
             "esr_finops_foundation", "esr_google_cloud")  # fmt: skip
    assert pick(savings(store).records(), *names) == [
        dict(zip(names, expected_savings, strict=True))
    ]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_example_passes_every_check(stores, name: str) -> None:
    from datetime import date

    report = run_checks(stores[name], today=date(2023, 1, 2))
    assert {r.id: r.status for r in report.results if r.status != "PASS"} == {}
    assert "commitment-amortization" in {r.id for r in report.results}


def test_the_cli_gives_the_same_rows_as_json(cli, data_dir: Path) -> None:
    assert cli("ingest", FIXTURES / "usage_3_partial_utilization.csv").exit_code == 0
    assert json_rows(cli, "commitments", "utilization") == [
        {
            "commitment_id": "tc-commitment-sp-0001",
            "period": "2023-01",
            "commitment_name": "Compute savings plan, $1.00/h, 1 year",
            "provider": "tinycloud",
            "category": "Spend",
            "unit": "USD",
            "currency": "USD",
            "committed": "1",
            "used": "0.75",
            "unused": "0.25",
            "committed_quantity": None,
            "used_quantity": None,
            "unused_quantity": None,
            "utilization": "0.75",
            "basis": "cost",
        }
    ]
    table = cli("commitments", "utilization")
    assert table.exit_code == 0
    assert "75.0%" in table.stdout and "utilization by cost (USD): 75.0%" in table.stdout
    csv_out = cli("commitments", "utilization", "--format", "csv").stdout.splitlines()
    assert csv_out[1].startswith("tc-commitment-sp-0001,2023-01,")
    assert csv_out[1].endswith(",1,0.75,0.25,,,,0.75,cost")
