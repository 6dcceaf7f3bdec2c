"""Purchase scenarios on usage whose answer is known by hand: one SKU (on-demand $2.00/h,
commitment rate 0.5) running 2 instances in even hours and 1 in odd hours for 30 days."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from cloudtally.commitments.scenario import scenario
from cloudtally.errors import QueryError
from tests.commitments.helpers import builder, store_of

M = builder()
D = Decimal


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> object:
    folder = tmp_path_factory.mktemp("scenario")
    rows = M.Rows()
    for h in range(720):
        rows.on_demand("VM_MEDIUM", "vm-a", D(1), M.hour(h))
        if h % 2 == 0:
            rows.on_demand("VM_MEDIUM", "vm-b", D(1), M.hour(h))
    # One covered hour of another commitment teaches the lake VM_MEDIUM's rate (1.00 / 2.00).
    ri = M.reservation("VM_MEDIUM", "Hours")
    rows.purchase(ri, D("1.00"), D("1"), period=M.hour(0))
    rows.used(ri, "VM_MEDIUM", "vm-c", D(1), D(1), M.hour(0))
    for row in rows.rows:  # one billing period per month
        month = row["ChargePeriodStart"][:7]
        row["BillingPeriodStart"] = f"{month}-01T00:00:00Z"
        row["BillingPeriodEnd"] = (
            "2023-02-01T00:00:00Z" if month == "2023-01" else "2023-03-01T00:00:00Z"
        )
    return store_of(folder / "lake", M.write_rows(folder / "rows.csv", rows))


@pytest.mark.parametrize("kind", ["savings-plan", "reservation"])
@pytest.mark.parametrize(
    ("amount", "coverage", "utilization", "savings"),
    [
        (1.0, "0.666667", "1", "730.00"),  # $1/h pays for 2 instance-hours every hour
        (1.5, "0.833333", "0.833333", "730.00"),  # the third half-instance is used half the time
        (2.0, "1", "0.75", "730.00"),  # covers the peak: the extra $0.5/h saves nothing
    ],
)
def test_coverage_utilization_and_savings_of_an_amount(
    lake, kind: str, amount: float, coverage: str, utilization: str, savings: str
) -> None:
    result = scenario(lake, kind=kind, term="1y", payment="none", amount=amount)
    totals = result.totals
    assert (
        str(totals["projected coverage"].normalize()),
        str(totals["projected utilization"].normalize()),
        str(totals["monthly savings"]),
    ) == (coverage, utilization, savings)
    assert totals["break-even month"] == 1


def test_the_amount_table_shows_where_savings_stop_paying(lake) -> None:
    result = scenario(lake, kind="savings-plan", term="1y", payment="none", amount=1.0)
    table = [
        (str(r[0]), str(r[3]), str(r[4]) if r[4] is not None else None, r[5]) for r in result.rows
    ]
    assert table[0] == ("0.00", "0.00", None, "")
    assert ("1.00", "730.00", "1.000000", "*") in table
    # From $1/h (every hour's usage of the odd hours paid for) extra commitment saves nothing.
    after = [row for row in table if D(row[0]) > 1]
    assert after and all(row[2] == "0.000000" for row in after)
    assert table[-1][0] == "2.00"  # the peak hour: 2 instances x $2.00 x 0.5


def test_target_coverage_and_upfront_break_even(tmp_path: Path, lake) -> None:
    rates = tmp_path / "rates.csv"
    rates.write_text("sku_id,type,term,payment,rate\nVM_MEDIUM,*,*,*,0.5\n", encoding="utf-8")
    result = scenario(
        lake, kind="savings-plan", term="1y", payment="all", target_coverage=0.5,
        rates_file=rates,
    )  # fmt: skip
    totals = result.totals
    # Half of the $3.00 of on-demand usage an hour is $1.50, bought at rate 0.5: $0.75/h.
    assert totals["amount per hour"] == D("0.75")
    assert totals["upfront payment"] == D("6570.00")
    # Paid upfront, each month avoids $1.50 x 730 = $1,095 of on-demand cost: the $6,570 is
    # back in the 6th month. The savings: ($1.50 - $0.75) x 730.
    assert totals["break-even month"] == 6
    assert totals["monthly savings"] == D("547.50")
    assert (
        result.notes[0] == "Rates (commitment price / on-demand price): 1 SKU(s) from rates file."
    )
    # Usage 20% lower ($3.20 and $1.60 an hour) still uses the whole commitment.
    assert totals["monthly savings if usage falls by 20%"] == D("547.50")


def test_no_eligible_usage_is_a_clear_error(tmp_path: Path) -> None:
    rows = M.Rows()
    rows.on_demand("VM_MEDIUM", "vm-a", D(1))
    rows.rows[0].update(
        ServiceName="Object Storage", PricingUnit="GB-Months", ConsumedUnit="GB-Months"
    )
    store = store_of(tmp_path / "lake", M.write_rows(tmp_path / "rows.csv", rows))
    with pytest.raises(QueryError) as raised:
        scenario(store, kind="savings-plan", term="1y", payment="none", amount=1.0)
    assert str(raised.value) == (
        "No eligible usage to commit to in the 30d before 2023-01-01: the lake has no on-demand "
        "usage of services commitments cover (compute, databases) that no commitment covers "
        "already."
    )


def test_bad_rates_file_names_line_and_column(tmp_path: Path, lake) -> None:
    rates = tmp_path / "rates.csv"
    rates.write_text("sku_id,type,term,payment,rate\nVM_MEDIUM,*,*,*,1.5\n", encoding="utf-8")
    with pytest.raises(QueryError, match=r"line 2, column rate: '1.5' is not a ratio from 0 to 1"):
        scenario(lake, kind="cud", term="3y", payment="none", amount=1.0, rates_file=rates)
