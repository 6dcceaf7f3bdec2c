"""The amortization invariant (per commitment, the purchases' amortized cost equals the
EffectiveCost of its Used plus Unused rows) holds for any purchase option and usage, is checked
by `cloudtally check`, and a broken row is reported with its numbers."""

from __future__ import annotations

import tempfile
from datetime import date
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudtally.commitments.amortization import amortizations
from cloudtally.commitments.utilization import utilization
from cloudtally.quality import run_checks
from tests.commitments.helpers import builder, store_of

M = builder()
D = Decimal
HALF_HOURS = st.integers(min_value=0, max_value=6).map(lambda n: D(n) / 2)  # 0 to 3 hours


def spend_rows(
    commit: Decimal, usage: list[Decimal], payment: str
) -> tuple[object, Decimal, Decimal]:
    """A $`commit`/h savings plan bought with `payment` (none | partial | all) over len(usage)
    hours; VM_MEDIUM (committed rate $1.00/h) runs usage[h] hours in hour h. Returns the rows,
    the used and the committed cost."""
    rows = M.Rows()
    sp = M.Commitment("sp-1", "plan", "Spend", "Savings Plan", "USD", "COMPUTE_SAVINGS_PLAN")
    upfront = {"none": D(0), "partial": commit / 2, "all": commit}[payment]
    if upfront:
        rows.purchase(
            sp,
            upfront * 8760,
            upfront * 8760,
            frequency="One-Time",
            period=M.YEAR,
            option="Partial Upfront" if payment == "partial" else "All Upfront",
        )
    used_total = D(0)
    for h, hours in enumerate(usage):
        at = M.hour(h)
        if commit - upfront:
            rows.purchase(sp, commit - upfront, commit - upfront, period=at)
        used = min(hours * D("1.00"), commit)
        used_total += used
        if used:
            rows.used(sp, "VM_MEDIUM", f"vm-{h}", used, used, at)
        if hours * D("1.00") > used:
            rows.on_demand("VM_MEDIUM", f"vm-{h}", hours - used, at)
        if commit > used:
            rows.unused(sp, commit - used, commit - used, at)
    return rows, used_total, commit * len(usage)


def reservation_rows(count: int, running: list[int]) -> tuple[object, Decimal, Decimal]:
    """A no-upfront reservation of `count` VM_LARGE (Hours, $1.50/h each); running[h] of them
    run in hour h. Returns the rows, the used and the committed hours."""
    rows = M.Rows()
    ri = M.reservation("VM_LARGE", "Hours")
    used_hours = D(0)
    for h, n in enumerate(running):
        at = M.hour(h)
        rows.purchase(ri, D("1.50") * count, D(count), period=at)
        used = min(n, count)
        used_hours += used
        for k in range(used):
            rows.used(ri, "VM_LARGE", f"vm-{h}-{k}", D(1), D(1), at)
        for k in range(used, n):
            rows.on_demand("VM_LARGE", f"vm-{h}-{k}", D(1), at)
        if count > used:
            rows.unused(ri, D("1.50") * (count - used), D(count - used), at)
    return rows, used_hours, D(count * len(running))


def checked(rows: object) -> tuple[object, list[str]]:
    folder = Path(tempfile.mkdtemp(prefix="amortization-"))
    source = M.write_rows(folder / "rows.csv", rows)
    store = store_of(folder / "lake", source)
    report = run_checks(store, today=date(2023, 1, 3), only=["commitment-amortization"])
    return store, [f.detail for r in report.results for f in r.findings]


SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(
    commit=st.sampled_from([D("0.50"), D("1.00"), D("2.50")]),
    usage=st.lists(HALF_HOURS, min_size=1, max_size=6),
    payment=st.sampled_from(["none", "partial", "all"]),
)
def test_a_savings_plan_amortizes_to_its_used_and_unused_rows(
    commit: Decimal, usage: list[Decimal], payment: str
) -> None:
    rows, used, committed = spend_rows(commit, usage, payment)
    store, findings = checked(rows)
    assert findings == []
    (row,) = utilization(store).records()
    assert (row["used"], row["committed"]) == (used, committed)
    assert row["utilization"] == (used / committed).quantize(D("0.000001"))
    for a in amortizations(store.connect()):
        assert a.amortized == a.expected  # to the last digit, one-time share included


@SETTINGS
@given(count=st.integers(1, 3), running=st.lists(st.integers(0, 4), min_size=1, max_size=6))
def test_a_reservation_amortizes_and_reads_its_unused_hours(count: int, running: list[int]) -> None:
    rows, used, committed = reservation_rows(count, running)
    store, findings = checked(rows)
    assert findings == []
    (row,) = utilization(store).records()
    assert (row["used_quantity"], row["committed_quantity"], row["basis"]) == (
        used,
        committed,
        "quantity",
    )
    assert row["utilization"] == (used / committed).quantize(D("0.000001"))


def test_a_row_off_by_a_cent_fails_the_check_with_its_numbers() -> None:
    rows, _, _ = spend_rows(D("1.00"), [D("0.5"), D("1")], "none")
    unused = next(r for r in rows.rows if r["CommitmentDiscountStatus"] == "Unused")
    unused["EffectiveCost"] = "0.51"
    unused["PricingCurrencyEffectiveCost"] = "0.51"
    _, findings = checked(rows)
    assert findings == [
        "commitment sp-1: Used + Unused rows amortize 2.01 USD but its purchases give 2 USD "
        "(recurring 2 USD, one-time share 0 USD); difference 0.01 USD "
        "(tinycloud, billing account tc-billing-0001, 2023-01)"
    ]


def test_usage_without_its_purchase_in_the_lake_is_a_warning() -> None:
    rows, _, _ = reservation_rows(2, [1])
    rows.rows = [r for r in rows.rows if r["ChargeCategory"] != "Purchase"]
    store, findings = checked(rows)
    assert findings == [
        "commitment tc-commitment-ri-vm-large has usage rows but no purchase in the lake "
        "(amortized 3 USD): ingest the period it was bought in to check it "
        "(tinycloud, billing account tc-billing-0001, 2023-01)"
    ]
    report = run_checks(store, today=date(2023, 1, 3), only=["commitment-amortization"])
    assert [r.status for r in report.results] == ["WARN"]
