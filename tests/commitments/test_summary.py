"""The commitments summary (`commitments_cube`) gives the lake's answers exactly: every
utilization, coverage and savings question over the FOCUS appendix examples, the generated
company with commitments, the AWS CUR fixture and the FOCUS 1.3 samples, read from the summary
and from the lake; the summary equals its SQL over the lake after every ingest and restatement;
a lake without it (older, or its file damaged) answers from the lake and the next ingest builds
it."""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudtally.commitments.coverage import coverage
from cloudtally.commitments.savings import savings
from cloudtally.commitments.summary import COMMITMENTS_CUBE, SUMMARY_SQL, WORDS
from cloudtally.commitments.utilization import utilization
from cloudtally.ingest.pipeline import ingest
from cloudtally.results import Result
from cloudtally.store import Store
from cloudtally.store.catalog import Catalog
from tests.commitments.helpers import FIXTURES, NATIVE_AWS, builder, store_of
from tests.conftest import SAMPLES

M = builder()
D = Decimal
QUESTIONS: tuple[Callable[..., Result], ...] = (utilization, coverage, savings)
# Every --by the summary answers, alone and combined, and two it does not (the lake answers).
BY = [None, "period", "provider", "billing-account", "account", "service", "service-category",
      "service-subcategory", "charge-category", "pricing-category", "region", "resource-type",
      "sku", "commitment", "month", "week", "day", "currency", "instance-family", "ServiceName",
      "CommitmentDiscountType", "account,service", "region,instance-family",
      "period,commitment", "resource", "tag:team"]  # fmt: skip
SHORT_BY = [None, "instance-family", "day,commitment", "resource"]


class LakeOnly(Store):
    """The same data dir with the summary hidden: every question reads the lake."""

    def catalog(self) -> Catalog:
        catalog = super().catalog()
        derived = {k: v for k, v in catalog.derived.items() if k != COMMITMENTS_CUBE}
        return catalog.model_copy(update={"derived": derived})


def shown(result: Result) -> tuple[Any, ...]:
    """Everything a result shows, decimals with their exact digits (repr keeps the scale)."""
    return (
        result.title,
        [(c.name, c.kind) for c in result.columns],
        [tuple(map(repr, row)) for row in result.rows],
        {k: repr(v) for k, v in result.totals.items()},
        result.fraction_totals,
        result.notes,
    )


def from_summary(by: str | None) -> bool:
    return all(w in WORDS for w in (by or "").split(",") if w)


def assert_same_both_ways(
    path: Path, by_options: list[str | None], periods: list[str | None]
) -> int:
    """Every question, by and period on the store and on its lake alone: the same result; the
    store's read from the summary whenever the summary holds the groups. Rows compared."""
    summary, lake = Store(path), LakeOnly(path)
    assert COMMITMENTS_CUBE in summary.catalog().derived
    compared = 0
    for question in QUESTIONS:
        for by in by_options:
            for period in periods:
                a = question(summary, period=period, by=by)
                b = question(lake, period=period, by=by)
                assert shown(a) == shown(b), (question.__name__, by, period)
                assert (COMMITMENTS_CUBE in a.sql) == from_summary(by), (question.__name__, by)
                assert COMMITMENTS_CUBE not in b.sql
                compared += len(a.rows)
    return compared


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("summary-examples")
    names = sorted(p.stem for p in FIXTURES.glob("*.csv"))
    return {n: store_of(root / n, FIXTURES / f"{n}.csv").data_dir for n in names}


def test_each_focus_example_reads_the_same_from_the_summary(examples: dict[str, Path]) -> None:
    assert len(examples) == 10
    for path in examples.values():
        assert assert_same_both_ways(path, [None, "instance-family"], [None]) > 0


def test_the_company_with_commitments_reads_the_same_from_the_summary(acme: Store) -> None:
    rows = assert_same_both_ways(acme.data_dir, BY, [None])
    rows += assert_same_both_ways(acme.data_dir, SHORT_BY, ["2024-10", "2024-09..2024-10"])
    assert rows > 1000


def test_cur_fee_rows_and_the_focus_samples_read_the_same(tmp_path: Path) -> None:
    # CUR carries the unused commitment on fee rows (`rows.UNUSED_ON_PURCHASE`).
    cur = store_of(tmp_path / "cur", NATIVE_AWS)
    assert assert_same_both_ways(cur.data_dir, SHORT_BY, [None]) > 0
    focus = SAMPLES / "focus" / "1.3"
    samples = store_of(tmp_path / "focus", *(focus / f"{p}.csv" for p in ("aws", "azure", "gcp")))
    assert assert_same_both_ways(samples.data_dir, SHORT_BY, [None]) > 0


# -- the summary across ingests and restatements -------------------------------------------------

ACCOUNTS = ("tc-billing-0001", "tc-billing-0002")
PERIODS = ("2023-01", "2023-02")
AMOUNTS = [D("1.000000000000000001"), D("0.5"), D("2.25"), D("1234.56"), D("0.100000000000000003")]
SP = M.SAVINGS_PLAN
RI = M.reservation("VM_LARGE", "Normalized Hours")
# One line: what it is, whose and when, and how much.
LINE = st.tuples(
    st.sampled_from(["purchase", "fee", "fee-negative", "used", "unused", "on-demand", "spot",
                     "tax", "correction", "no-quantity"]),
    st.sampled_from(ACCOUNTS),
    st.sampled_from(PERIODS),
    st.integers(0, 40),  # hour of the period (the first two days, and a later one)
    st.sampled_from(AMOUNTS),
    st.sampled_from([SP, RI]),
)  # fmt: skip


def _row(line: tuple[str, str, str, int, Decimal, Any]) -> dict[str, str]:
    kind, account, period, hour, amount, commitment = line
    rows = M.Rows()
    if kind in ("purchase", "fee", "fee-negative"):
        rows.purchase(commitment, amount, amount)
        if kind != "purchase":  # a fee row carrying the unused part, as CUR's are converted
            effective = amount if kind == "fee" else -amount
            rows.rows[-1]["EffectiveCost"] = M.money(effective)
    elif kind in ("used", "correction", "no-quantity"):
        rows.used(commitment, "VM_LARGE", f"tc-vm-{hour % 3}", amount, amount)
        if kind == "correction":
            rows.rows[-1]["ChargeClass"] = "Correction"
        if kind == "no-quantity":
            rows.rows[-1]["CommitmentDiscountQuantity"] = ""
    elif kind == "unused":
        rows.unused(commitment, amount, amount)
    else:
        rows.on_demand("VM_MEDIUM" if hour % 2 else "VM_SMALL", f"tc-vm-{hour % 3}", amount)
        if kind == "spot":
            rows.rows[-1]["PricingCategory"] = "Dynamic"
        if kind == "tax":
            rows.rows[-1].update(ChargeCategory="Tax", PricingUnit="", ConsumedUnit="")
    row = rows.rows[-1]
    year, month = (int(p) for p in period.split("-"))
    following = f"{year}-{month + 1:02d}"
    day, at = 1 + hour // 24 + (20 if hour >= 40 else 0), hour % 24
    start = f"{period}-{day:02d}T{at:02d}:00:00Z"
    end = f"{period}-{day:02d}T{at:02d}:59:59Z"
    row.update(
        BillingAccountId=account,
        BillingPeriodStart=f"{period}-01T00:00:00Z",
        BillingPeriodEnd=f"{following}-01T00:00:00Z",
        ChargePeriodStart=start,
        ChargePeriodEnd=end,
        InvoiceId=f"TC-{period}",
    )
    return row


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=st.lists(st.lists(LINE, min_size=1, max_size=8), min_size=2, max_size=4))
def test_the_summary_equals_its_sql_over_the_lake_after_each_ingest(steps) -> None:  # type: ignore[no-untyped-def]
    from cloudtally.allocate.engine import lake_fingerprint

    with tempfile.TemporaryDirectory() as folder, contextlib.chdir(folder):
        store = Store(Path(folder) / "lake")
        parts_before: dict[object, str] = {}
        for n, lines in enumerate(steps):
            rows = M.Rows([_row(line) for line in lines])
            report = ingest(store, [M.write_rows(Path(folder) / f"step-{n}.csv", rows)])
            catalog = store.catalog()
            summary = catalog.derived[COMMITMENTS_CUBE]
            assert summary.parameters["lake"] == lake_fingerprint(catalog)
            # The summary holds exactly its SQL over the lake...
            con = store.connect()
            assert con.execute(f"SELECT * FROM {COMMITMENTS_CUBE} ORDER BY ALL").fetchall() == (
                con.execute(f"SELECT * FROM ({SUMMARY_SQL}) ORDER BY ALL").fetchall()
            )
            # ...and the lake's totals of its lines, line for line.
            assert (
                con.execute(
                    f"SELECT sum(EffectiveCost), coalesce(sum(lines), 0) FROM {COMMITMENTS_CUBE}"
                ).fetchone()
                == con.execute(
                    "SELECT sum(EffectiveCost), count(*) FROM costs "
                    "WHERE ChargeCategory = 'Usage' OR CommitmentDiscountId IS NOT NULL"
                ).fetchone()
            )
            # One part per live partition; those the ingest did not touch kept as they were,
            # a restated one's old file retired.
            parts = {p.key: p.file for p in summary.parts}
            assert list(parts) == sorted(
                (p.key for p in catalog.partitions),
                key=lambda k: (k.provider, k.billing_period, k.billing_account_id),
            )
            for key, file in parts.items():
                if key in report.partitions:
                    assert file not in parts_before.values()
                elif key in parts_before:
                    assert file == parts_before[key]
            for file in set(parts_before.values()) - set(parts.values()):
                assert file in catalog.retired_files
            parts_before = parts
            # The questions read the same from the summary and the lake.
            for question in QUESTIONS:
                for by in (None, "day,account,instance-family"):
                    a = question(store, by=by)
                    assert shown(a) == shown(question(LakeOnly(store.data_dir), by=by))
                    assert COMMITMENTS_CUBE in a.sql


# -- lakes without a current summary ---------------------------------------------------------------


def _two_accounts(tmp_path: Path) -> tuple[Path, Path]:
    first = M.Rows([_row(("used", ACCOUNTS[0], "2023-01", 1, D("2.25"), RI)),
                    _row(("unused", ACCOUNTS[0], "2023-01", 1, D("0.5"), RI)),
                    _row(("fee", ACCOUNTS[0], "2023-01", 2, D("0.5"), SP))])  # fmt: skip
    second = M.Rows([_row(("used", ACCOUNTS[1], "2023-01", 3, D("1234.56"), SP)),
                     _row(("on-demand", ACCOUNTS[1], "2023-01", 3, D("0.5"), SP))])  # fmt: skip
    return (
        M.write_rows(tmp_path / "first.csv", first),
        M.write_rows(tmp_path / "second.csv", second),
    )


def _answers(store: Store) -> list[tuple[Any, ...]]:
    return [shown(q(store, by=by)) for q in QUESTIONS for by in (None, "account", "day")]


def _sql(store: Store) -> list[str]:
    return [q(store, by="account").sql for q in QUESTIONS]


def test_a_lake_from_before_the_summary_answers_from_the_lake_and_gets_one(
    tmp_path: Path,
) -> None:
    first, second = _two_accounts(tmp_path)
    store = store_of(tmp_path / "lake", first)
    expected = _answers(store)
    # As an older version left it: no summary.
    on_disk = json.loads(store.catalog_path.read_text())
    del on_disk["derived"][COMMITMENTS_CUBE]
    store.catalog_path.write_text(json.dumps(on_disk))
    assert _answers(store) == expected
    assert not any(COMMITMENTS_CUBE in sql for sql in _sql(store))
    # The next ingest builds the parts of every partition, the one it did not touch too.
    ingest(store, [second])
    summary = store.catalog().derived[COMMITMENTS_CUBE]
    assert [p.key.billing_account_id for p in summary.parts] == list(ACCOUNTS)
    assert all(COMMITMENTS_CUBE in sql for sql in _sql(store))
    assert _answers(store) == _answers(LakeOnly(store.data_dir))


def test_a_summary_built_by_other_sql_or_from_other_files_is_not_read(tmp_path: Path) -> None:
    first, second = _two_accounts(tmp_path)
    store = store_of(tmp_path / "lake", first, second)
    on_disk = json.loads(store.catalog_path.read_text())
    on_disk["derived"][COMMITMENTS_CUBE]["parameters"]["sql"] = "0" * 16
    store.catalog_path.write_text(json.dumps(on_disk))
    assert not any(COMMITMENTS_CUBE in sql for sql in _sql(store))
    on_disk["derived"][COMMITMENTS_CUBE]["parameters"]["sql"] = (
        store_of(tmp_path / "other", first).catalog().derived[COMMITMENTS_CUBE].parameters["sql"]
    )
    on_disk["derived"][COMMITMENTS_CUBE]["parameters"]["lake"] = "0" * 16
    store.catalog_path.write_text(json.dumps(on_disk))
    assert not any(COMMITMENTS_CUBE in sql for sql in _sql(store))


@pytest.mark.parametrize("damage", ["garbage", "missing", "truncated"])
def test_a_damaged_summary_is_read_around_and_built_again(tmp_path: Path, damage: str) -> None:
    first, second = _two_accounts(tmp_path)
    store = store_of(tmp_path / "lake", first, second)
    expected = _answers(store)
    damaged = next(
        p for p in store.catalog().derived[COMMITMENTS_CUBE].parts
        if p.key.billing_account_id == ACCOUNTS[0]
    )  # fmt: skip
    path = store.data_dir / damaged.file
    if damage == "garbage":
        path.write_bytes(b"not parquet" * 10)
    elif damage == "missing":
        path.unlink()
    else:  # the footer intact, the rows not: as a copy cut short and patched would be
        path.write_bytes(path.read_bytes()[:4] + path.read_bytes()[-8:])
    # Every command still works; the questions read the lake, with the same answers.
    assert _answers(store) == expected
    assert not any(COMMITMENTS_CUBE in sql for sql in _sql(store))
    assert store.sql("SELECT count(*) FROM costs").rows == [(5,)]
    # An ingest of the other account succeeds and builds the damaged part again.
    restated = M.Rows([_row(("used", ACCOUNTS[1], "2023-01", 4, D("0.5"), SP))])
    ingest(store, [M.write_rows(tmp_path / "restated.csv", restated)])
    summary = store.catalog().derived[COMMITMENTS_CUBE]
    assert damaged.file not in summary.files
    assert len(summary.parts) == 2
    assert all(COMMITMENTS_CUBE in sql for sql in _sql(store))
    con = store.connect()
    assert con.execute(f"SELECT * FROM {COMMITMENTS_CUBE} ORDER BY ALL").fetchall() == (
        con.execute(f"SELECT * FROM ({SUMMARY_SQL}) ORDER BY ALL").fetchall()
    )
