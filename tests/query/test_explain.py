"""`explain`: daily averages over overlapping ranges, ranges outside the data, and parts that
add up to the change exactly."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudtally.query.bridge import PARTS, decompose
from cloudtally.query.ownership import Lens
from cloudtally.query.periods import parse_range
from cloudtally.store import Store
from tests.query.lake import Day, day_store


def _days(first: int, last: int, **line: object) -> list[Day]:
    return [Day(f"2024-10-{d:02d}", **line) for d in range(first, last + 1)]  # type: ignore[arg-type]


def _explain(cli, *args: str) -> dict:  # type: ignore[no-untyped-def, type-arg]
    result = cli("explain", *args, "-f", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_overlapping_ranges_count_shared_days_in_both(store, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    # 10 a day on Oct 1-7, 30 a day on Oct 8-14.
    day_store(store, tmp_path, [*_days(1, 7, billed="10"), *_days(8, 14, billed="30")])
    found = _explain(
        cli, "--baseline", "2024-10-01..2024-10-07", "--compare", "2024-10-04..2024-10-10"
    )
    # Baseline: 70 / 7 = 10. Compare: Oct 4-7 (40) + Oct 8-10 (90) = 130 / 7.
    assert found["baseline_per_day"] == "10"
    assert found["compare_per_day"] == "18.571428571428571429"
    assert found["change_per_day"] == "8.571428571428571429"
    assert sum(Decimal(v) for v in found["parts"].values()) == Decimal(found["change_per_day"])


def test_ranges_outside_the_data_are_refused(store, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    day_store(store, tmp_path, _days(1, 14, billed="10"))
    result = cli(
        "explain", "--baseline", "2024-10-08..2024-10-14", "--compare", "2024-10-15..2024-10-21"
    )
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: --compare 2024-10-15..2024-10-21 is not inside the data: charges run from "
        "2024-10-01 to 2024-10-14. Choose days inside that range."
    )
    result = cli("explain", "--baseline", "2024-10", "--compare", "2024-10-01..2024-10-02")
    assert result.stderr.startswith("Error: --baseline 2024-10 is not inside the data")
    result = cli("explain", "--baseline", "2024-10-1", "--compare", "2024-10-01")
    assert result.stderr.startswith("Error: --baseline '2024-10-1' is not a date range")


def test_each_part_is_named_for_what_moved(store, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    lines = [
        # volume: 10 -> 12 hours a day at 1.0
        *_days(1, 7, billed="10", quantity="10", resource="vol", service="A"),
        *_days(8, 14, billed="12", quantity="12", resource="vol", service="A"),
        # price: 10 hours a day at 1.0 -> 1.5
        *_days(1, 7, billed="10", quantity="10", resource="price", service="B"),
        *_days(8, 14, billed="15", quantity="10", resource="price", service="B"),
        # coverage: 10 on-demand hours at 1.0 -> 5 covered at 0.6 and 5 on-demand at 1.0
        *_days(1, 7, billed="10", quantity="10", resource="cov", service="C"),
        *_days(8, 14, billed="3", quantity="5", resource="cov", service="C", covered=True),
        *_days(8, 14, billed="5", quantity="5", resource="cov", service="C"),
        # a new resource, a removed one, a credit, tax, and a fee without quantity
        *_days(8, 14, billed="7", resource="new", service="D"),
        *_days(1, 7, billed="4", resource="gone", service="D"),
        *_days(8, 14, billed="-1", resource=None, quantity=None, category="Credit", service="E"),
        *_days(8, 14, billed="2", resource=None, quantity=None, category="Tax", service="E"),
        *_days(1, 7, billed="3", resource=None, quantity=None, category="Purchase", service="F"),
        *_days(8, 14, billed="5", resource=None, quantity=None, category="Purchase", service="F"),
    ]
    day_store(store, tmp_path, lines)
    found = _explain(
        cli, "--baseline", "2024-10-01..2024-10-07", "--compare", "2024-10-08..2024-10-14"
    )
    assert found["parts"] == {
        "volume": "2",
        "price": "5",
        "coverage": "-2",
        "new": "7",
        "removed": "-4",
        "credits": "-1",
        "tax": "2",
        "other": "2",
    }
    assert found["change_per_day"] == "11"
    by_driver = {d["driver"]: d for d in found["drivers"]}
    assert by_driver["C"]["coverage"] == "-2" and by_driver["C"]["price"] == "0"
    assert (by_driver["D"]["new_resources"], by_driver["D"]["removed_resources"]) == (1, 1)


def test_a_fall_is_not_drafted_as_a_spike(store, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    day_store(
        store,
        tmp_path,
        [
            *_days(1, 7, billed="10", tags={"team": "web"}),
            *_days(8, 14, billed="4", tags={"team": "web"}),
        ],
    )
    message = _explain(
        cli, "--baseline", "2024-10-01..2024-10-07", "--compare", "2024-10-08..2024-10-14"
    )
    assert message["message"].splitlines()[:3] == [
        "Hi web,",
        "",
        "For your information: daily spend went down from 10.00 to 4.00 USD (-6.00/day) between "
        "2024-10-01..2024-10-07 and 2024-10-08..2024-10-14. The largest decreases by service:",
    ]
    assert "noticed" not in message["message"]
    assert "    resource i-1: 10.00 -> 4.00 per day" in message["message"]


amounts = st.decimals(min_value=-1000, max_value=1000, places=6, allow_nan=False)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.integers(1, 14),
            amounts,
            st.sampled_from(["0", "1", "2.5", None]),
            st.sampled_from(["r1", "r2", None]),
            st.sampled_from(["Usage", "Credit", "Tax", "Purchase"]),
            st.booleans(),
            st.sampled_from(["A", "B"]),
        ),
        min_size=1,
        max_size=30,
    ),
    st.integers(1, 14),
    st.integers(0, 6),
)
def test_parts_add_up_to_the_change_exactly(
    tmp_path_factory, rows, start: int, length: int
) -> None:  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("bridge")
    store = Store(tmp / "lake")
    lines = [
        Day(
            f"2024-10-{d:02d}",
            str(cost),
            quantity=q,
            resource=r,
            category=c,
            covered=cov,
            service=s,
        )
        for d, cost, q, r, c, cov, s in rows
    ]
    day_store(store, tmp, lines)
    con = store.connect()
    first = parse_range("2024-10-01..2024-10-07")
    second = parse_range(f"2024-10-{start:02d}..2024-10-{min(start + length, 14):02d}")
    assert first and second
    for per_day in (False, True):
        groups = decompose(con, Lens(), ["service"], first, second, per_day=per_day)
        for group in groups:
            assert sum(group.parts[p] for p in PARTS) == group.after - group.before
        if not per_day:
            expected = {}
            for d, cost, *_rest, s in rows:
                delta = (cost if second.first.day <= d <= second.last.day else 0) - (
                    cost if d <= 7 else 0
                )
                expected[s] = expected.get(s, 0) + delta
            assert {g.key[0]: g.change for g in groups} == {
                k: v for k, v in expected.items() if k in {g.key[0] for g in groups}
            }
