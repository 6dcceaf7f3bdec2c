"""Savings and the three Effective Savings Rates on the worked example of docs/commitments.md,
and on the AWS CUR fixture (negotiated discount, savings plan and reservation together)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from cloudtally.commitments.savings import savings
from tests.commitments.helpers import NATIVE_AWS, builder, json_rows, pick, store_of

M = builder()
D = Decimal
NAMES = ("list_cost", "contracted_cost", "effective_cost", "negotiated_savings",
         "commitment_savings", "other_savings", "total_savings", "waste", "eligible_on_demand",
         "esr_finops_toolkit", "esr_finops_foundation", "esr_google_cloud")  # fmt: skip


def priced(row: dict[str, str], listed: str, contracted: str, effective: str) -> None:
    row.update(ListCost=listed, ContractedCost=contracted, EffectiveCost=effective,
               PricingCurrencyEffectiveCost=effective)  # fmt: skip
    quantity = D(row["PricingQuantity"])
    for column, amount in (("ListUnitPrice", listed), ("ContractedUnitPrice", contracted)):
        row[column] = row["PricingCurrency" + column] = format(D(amount) / quantity, "f")


def on_demand(rows: Any, resource: str, listed: str, contracted: str, effective: str) -> None:
    """An on-demand hour of VM_MEDIUM at these costs, billed its effective cost."""
    rows.on_demand("VM_MEDIUM", resource, D("1"))
    priced(rows.rows[-1], listed, contracted, effective)
    rows.rows[-1]["BilledCost"] = effective


def test_the_worked_example_of_the_docs(tmp_path: Path) -> None:
    rows = M.Rows()
    sp = M.SAVINGS_PLAN
    rows.purchase(sp, D("130"), D("130"))
    rows.used(sp, "VM_MEDIUM", "vm-covered", D("100"), D("117"))
    priced(rows.rows[-1], "200", "180", "117")
    rows.on_demand("VM_MEDIUM", "vm-on-demand", D("50"))
    priced(rows.rows[-1], "100", "90", "90")
    rows.rows[-1]["BilledCost"] = "90"
    rows.on_demand("VM_MEDIUM", "bucket", D("1000"))
    priced(rows.rows[-1], "100", "90", "90")
    rows.rows[-1].update(BilledCost="90", ServiceName="Object Storage", ServiceCategory="Storage",
                         ServiceSubcategory="Object Storage", PricingUnit="GB-Months",
                         ConsumedUnit="GB-Months", ResourceType="Bucket")  # fmt: skip
    rows.unused(sp, D("13"), D("13"))
    store = store_of(tmp_path / "lake", M.write_rows(tmp_path / "example.csv", rows))
    assert pick(savings(store).records(), *NAMES) == [
        {"list_cost": "400", "contracted_cost": "360", "effective_cost": "310",
         "negotiated_savings": "40", "commitment_savings": "50", "other_savings": "0",
         "total_savings": "90", "waste": "13", "eligible_on_demand": "270",
         "esr_finops_toolkit": "0.225", "esr_finops_foundation": "0.138889",
         "esr_google_cloud": "0.185185"}
    ]  # fmt: skip


def test_savings_by_group_add_up_and_name_each_definition(tmp_path: Path) -> None:
    store = store_of(tmp_path / "lake", NATIVE_AWS)
    whole = savings(store)
    (total,) = pick(whole.records(), *NAMES)
    assert total == {
        "list_cost": "254.58868", "contracted_cost": "252.15028", "effective_cost": "203.83028",
        "negotiated_savings": "2.4384", "commitment_savings": "48.32", "other_savings": "0",
        "total_savings": "50.7584", "waste": "5.56", "eligible_on_demand": "196.592",
        "esr_finops_toolkit": "0.199374", "esr_finops_foundation": "0.191632",
        "esr_google_cloud": "0.245788",
    }  # fmt: skip
    assert whole.notes == [
        "esr_finops_toolkit: FinOps toolkit: (ListCost - EffectiveCost) / ListCost.",
        "esr_finops_foundation: FinOps Foundation: (ContractedCost - EffectiveCost) / ContractedCost.",
        "esr_google_cloud: Google Cloud: commitment savings / on-demand equivalent of eligible usage.",
    ]
    by_service = savings(store, by="service")
    parts = by_service.records()
    assert len(parts) > 1
    for name in ("list_cost", "effective_cost", "total_savings", "waste"):
        assert sum(r[name] for r in parts) == D(total[name])
    assert by_service.totals["total_savings (USD)"] == D("50.7584")


def test_a_rate_over_less_than_a_cent_of_list_cost_is_not_given(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """ListCost of 3e-18 and savings of 1 (a valid bill): the rates over it would not fit any
    fraction, and mean nothing; they are not given (and a note says why), every other figure
    is."""
    rows = M.Rows()
    tiny, credit = "0.000000000000000003", "-0.999999999999999997"
    on_demand(rows, "vm-tiny", tiny, tiny, credit)
    assert cli("ingest", M.write_rows(tmp_path / "tiny.csv", rows)).exit_code == 0
    result = cli("commitments", "savings", "--format", "csv")
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        "currency,list_cost,contracted_cost,effective_cost,negotiated_savings,"
        "commitment_savings,other_savings,total_savings,waste,eligible_on_demand,"
        "esr_finops_toolkit,esr_finops_foundation,esr_google_cloud",
        "USD,0.000000000000000003,0.000000000000000003,-0.999999999999999997,0,0,1,1,0,0,,,",
    ]
    result = cli("commitments", "savings")
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout.splitlines()[-1] == (
        "Note: A fraction whose denominator is under one minor unit of its currency (0.01 USD), "
        "or under 0.000001 of a quantity, is not given."
    )


def test_coverage_and_utilization_over_less_than_a_cent_are_not_given(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The same floor for coverage (eligible on-demand cost 3e-18 USD, 1 covered) and
    utilization (committed 3e-18 USD): no DECIMAL error, the fraction not given."""
    rows = M.Rows()
    sp = M.SAVINGS_PLAN
    rows.purchase(sp, D("1"), D("1"))
    rows.used(sp, "VM_MEDIUM", "vm-covered", D("1"), D("1"))
    priced(rows.rows[-1], "2", "1", "1")
    credit = "-0.999999999999999997"
    on_demand(rows, "vm-credited", credit, credit, credit)
    rows.unused(sp, D(credit), D("1"))
    assert cli("ingest", M.write_rows(tmp_path / "tiny.csv", rows)).exit_code == 0
    (covered,) = json_rows(cli, "commitments", "coverage")
    assert {k: covered[k] for k in ("eligible_on_demand", "covered_on_demand", "coverage")} == {
        "eligible_on_demand": "0.000000000000000003",
        "covered_on_demand": "1",
        "coverage": None,
    }
    (used,) = json_rows(cli, "commitments", "utilization")
    assert {k: used[k] for k in ("committed", "used", "unused", "utilization", "basis")} == {
        "committed": "0.000000000000000003",
        "used": "1",
        "unused": "-0.999999999999999997",
        "utilization": None,
        "basis": "cost",
    }
    result = cli("commitments", "utilization")
    assert (result.exit_code, result.stderr) == (0, "")
    assert "utilization by cost (USD): n/a\n" in result.stdout
    result = cli("commitments", "coverage")
    assert (result.exit_code, result.stderr) == (0, "")
    assert "coverage by cost (USD): n/a\n" in result.stdout
    (ending,) = json_rows(cli, "commitments", "expiry")
    assert (ending["amortized_cost"], ending["utilization"]) == ("0.000000000000000003", None)
