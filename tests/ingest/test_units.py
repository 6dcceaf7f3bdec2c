"""Units are rewritten to the FOCUS unit format; spelling only, and only when a rewrite applies."""

from __future__ import annotations

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudtally.ingest.formats.expressions import unit_expr, unit_rewrites

SPELLINGS = {
    "Hours": "Hours",
    "Hrs": "Hours",
    "GB-Months": "GB-Months",
    "GB Hours": "GB-Hours",
    " GB Hours ": "GB-Hours",
    "Lambda-GB-Seconds": "GB-Seconds",
    "Gigabyte Hours": "GB-Hours",
    "OCPU Per Hour": "OCPU/Hour",
    "Requests": "Requests",
    "1K Requests": "1K Requests",
    "GiB/Second-Months": "GiB/Second-Months",
}


def rewrite(values: list[str | None], expr: str) -> list[str | None]:
    con = duckdb.connect()
    con.execute("CREATE TABLE u (unit VARCHAR)")
    con.executemany("INSERT INTO u VALUES (?)", [[v] for v in values])
    return [r[0] for r in con.execute(f"SELECT {expr} FROM u").fetchall()]


def test_known_spellings() -> None:
    assert rewrite(list(SPELLINGS), unit_expr("unit")) == list(SPELLINGS.values())


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.none(),
            st.text(alphabet="GBKMiHrsoun-/ \tPpeyta", max_size=20),
            st.sampled_from([*SPELLINGS, "Gigabytes", "Hrs ", "x-y-z", "a\tb"]),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_the_guard_never_changes_a_result(values: list[str | None]) -> None:
    # The guarded expression skips the rewrites only where none of them would change the text.
    assert rewrite(values, unit_expr("unit")) == rewrite(values, unit_rewrites("unit"))
