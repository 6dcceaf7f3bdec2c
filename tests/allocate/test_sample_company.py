"""The example rules on the generated company: totals reconcile with the generator's exact
totals, only the unowned accounts stay unallocated, and the savings plan is amortized to the
teams that used it."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from cloudtally.allocate.engine import AllocationReport, allocate, explain
from cloudtally.ingest.pipeline import ingest
from cloudtally.rules.allocation import RuleSet, load_rules
from cloudtally.sample import SampleSummary, generate_sample
from cloudtally.store import Store

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "rules"


@pytest.fixture(scope="module")
def company(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Store, SampleSummary, RuleSet, AllocationReport]:
    root = tmp_path_factory.mktemp("acme")
    summary = generate_sample(root / "export", months=2, scale=0.05, seed=7)
    store = Store(root / "lake")
    ingest(store, [root / "export"])
    rules = load_rules(EXAMPLE)
    return store, summary, rules, allocate(store, rules)


def test_totals_equal_the_generated_bill_per_period(company) -> None:  # type: ignore[no-untyped-def]
    _, summary, _, report = company
    expected: dict = defaultdict(lambda: (Decimal(0), Decimal(0)))
    for file in summary.files:
        for currency, totals in file.totals.items():
            billed, effective = expected[(file.billing_period, currency)]
            expected[(file.billing_period, currency)] = (
                billed + totals["BilledCost"],
                effective + totals["EffectiveCost"],
            )
    assert report.totals == dict(expected)
    assert report.periods == ["2024-09", "2024-10"]


def test_only_accounts_without_an_owner_stay_unallocated(company) -> None:  # type: ignore[no-untyped-def]
    store = company[0]
    accounts = store.sql(
        "SELECT DISTINCT SubAccountName FROM allocated_costs WHERE team IS NULL ORDER BY 1"
    ).fetchall()
    assert {a for (a,) in accounts} <= {
        "sandbox-01",
        "sandbox-02",
        "sandbox-03",
        "sandbox-04",
        "az-sandbox",
    }
    assert store.sql(
        "SELECT count(*) FROM allocated_costs WHERE allocation_kind = 'shared' AND team IS NULL"
    ).fetchall() == [(0,)]


def test_savings_plan_purchase_goes_to_the_teams_that_used_it(company) -> None:  # type: ignore[no-untyped-def]
    store = company[0]
    purchases = store.sql(
        "SELECT x_BillingPeriod, sum(BilledCost) FROM costs WHERE ChargeCategory = 'Purchase' "
        "GROUP BY 1 ORDER BY 1"
    ).fetchall()
    shared = store.sql(
        "SELECT x_BillingPeriod, sum(BilledCost) FROM allocated_costs "
        "WHERE shared_pool = 'commitments' GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert shared == purchases
    users = store.sql(
        "SELECT DISTINCT team FROM allocated_costs WHERE CommitmentDiscountStatus = 'Used' "
        "AND allocation_kind = 'direct' ORDER BY 1"
    ).fetchall()
    recipients = store.sql(
        "SELECT DISTINCT team FROM allocated_costs WHERE shared_pool = 'commitments' ORDER BY 1"
    ).fetchall()
    assert recipients == users


def test_explain_names_the_conditional_rule(company) -> None:  # type: ignore[no-untyped-def]
    store, _, rules, _ = company
    found = explain(store, rules, "ServiceName=Amazon GuardDuty", ("2024-10", "2024-10"))
    assert {(e.values[0][1], e.values[0][2]) for e in found} == {
        ("security", "rule:threat-detection")
    }
