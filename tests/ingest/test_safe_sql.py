"""Mapping expressions: the allowed subset of SQL, hostile text refused before it reaches the
engine, hostile column names kept quoted, and cost conserved through any mapping."""

from __future__ import annotations

import csv
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudtally.ingest.mapping import load_mapping
from cloudtally.ingest.pipeline import ingest
from cloudtally.ingest.safe_sql import ExpressionError, parse_expression
from cloudtally.store import Store


@pytest.mark.parametrize(
    ("text", "sql"),
    [
        ("amount * 1.1", '("amount" * 1.1)'),
        ('"Usage Date" + INTERVAL 1 DAY', "(\"Usage Date\" + INTERVAL '1' DAY)"),
        ("date_trunc('month', d)", "(DATE_TRUNC('MONTH', \"d\"))"),
        ("CASE WHEN k = 'x' THEN -a ELSE a END", "(CASE WHEN \"k\" = 'x' THEN -\"a\" ELSE \"a\" END)"),
        ("if(a > 0, a, 0)", '(CASE WHEN "a" > 0 THEN "a" ELSE 0 END)'),
        ("'a--b;' || x", "('a--b;' || \"x\")"),
        ("try_strptime(a, '%d/%m/%Y')", "(TRY_STRPTIME(\"a\", '%d/%m/%Y'))"),
        ("CAST(a AS DECIMAL(10, 2))", '(CAST("a" AS DECIMAL(10, 2)))'),
    ],
)  # fmt: skip
def test_allowed_expressions_compile_from_their_tree(text: str, sql: str) -> None:
    expression = parse_expression(text)
    assert expression.sql({c: c for c in expression.columns}) == sql


ALLOWED = (
    "Allowed: abs, ceil, coalesce, concat, concat_ws, date_trunc, floor, greatest, last_day, "
    "least, left, length, lower, ltrim, make_date, nullif, regexp_extract, regexp_replace, "
    "replace, right, round, rtrim, split_part, strftime, strptime, substring, trim, "
    "try_strptime, upper"
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1; DROP TABLE costs", "comments and `;` are not allowed in an expression; write one expression"),
        ("amount -- ignore the rest", "comments and `;` are not allowed in an expression; write one expression"),
        ("amount /* hidden */ + 1", "comments and `;` are not allowed in an expression; write one expression"),
        ("(SELECT 1)", "subqueries are not allowed; use the bill's columns"),
        ("'x' || (SELECT current_user)", "subqueries are not allowed; use the bill's columns"),
        ("read_csv('/etc/passwd')", f"`read_csv(...)` is not an allowed function. {ALLOWED}"),
        ("getenv('HOME')", f"`getenv(...)` is not an allowed function. {ALLOWED}"),
        ("query('SELECT 1')", f"`query(...)` is not an allowed function. Did you mean 'upper'? {ALLOWED}"),
        ("random()", f"`rand(...)` is not an allowed function. Did you mean 'round'? {ALLOWED}"),
        ("current_date", f"`current_date(...)` is not an allowed function. {ALLOWED}"),
        ("costs.BilledCost", "`costs.BilledCost`: name a column of the bill alone (no `table.`)"),
        ("CAST(amount AS DOUBLE)", "cannot cast to DOUBLE; allowed: DECIMAL, VARCHAR, DATE, TIMESTAMP, TIMESTAMPTZ, INTEGER, BIGINT"),
        ("a = ANY (SELECT 1)", "`ANY (SELECT 1)` is not allowed in a mapping expression"),
        ("$1", "`:1` is not allowed in a mapping expression"),
        ("", "the expression is empty"),
        ("a" * 1001, "the expression is longer than 1000 characters"),
    ],
)  # fmt: skip
def test_hostile_expressions_are_refused(text: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse_expression(text)
    assert str(caught.value) == message


def test_deep_nesting_is_refused_not_a_crash() -> None:
    with pytest.raises(ExpressionError) as caught:
        parse_expression("(" * 450 + "a" + ")" * 450)
    assert str(caught.value).startswith("not a valid expression")


MAPPING = """\
name: hostile
constants:
  ProviderName: Acme
  ChargeCategory: Usage
  ServiceName: Widgets
  ServiceCategory: Other
currency: USD
columns:
  BillingAccountId: '"acct"" FROM read_csv(''/etc/passwd'') --"'
  BillingPeriodStart: "'2026-10-01'"
  BillingPeriodEnd: "'2026-11-01'"
  ChargePeriodStart: "'2026-10-01'"
  ChargePeriodEnd: "'2026-11-01'"
  BilledCost: cost
"""


def test_a_hostile_column_name_stays_a_quoted_name(tmp_path: Path, store: Store) -> None:
    bill = tmp_path / "bill.csv"
    with open(bill, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["acct\" FROM read_csv('/etc/passwd') --", "cost"])
        writer.writerow(["A-1", "1.5"])
    mapping = tmp_path / "hostile.yaml"
    mapping.write_text(MAPPING, encoding="utf-8")
    ingest(store, [bill], mapping=load_mapping(mapping))
    rows = store.sql("SELECT BillingAccountId, BilledCost FROM costs").fetchall()
    assert rows == [("A-1", Decimal("1.5"))]


amounts = st.decimals(
    min_value=Decimal("-99999999"),
    max_value=Decimal("99999999"),
    places=6,
    allow_nan=False,
    allow_infinity=False,
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(st.tuples(st.sampled_from(["A-1", "A-2"]), amounts), min_size=1, max_size=30))
def test_a_mapping_conserves_cost_exactly(tmp_path: Path, rows: list[tuple[str, Decimal]]) -> None:
    folder = Path(tempfile.mkdtemp(dir=tmp_path))
    bill = folder / "bill.csv"
    with open(bill, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["acct", "cost"])
        writer.writerows([(a, str(c)) for a, c in rows])
    mapping = folder / "m.yaml"
    mapping.write_text(MAPPING.replace("'\"acct\"\" FROM read_csv(''/etc/passwd'') --\"'", "acct"))
    store = Store(folder / "lake")
    ingest(store, [bill], mapping=load_mapping(mapping))
    expected: dict[str, Decimal] = {}
    for account, cost in rows:
        expected[account] = expected.get(account, Decimal(0)) + cost
    stored = dict(
        store.sql("SELECT BillingAccountId, sum(BilledCost) FROM costs GROUP BY ALL").fetchall()
    )
    assert stored == expected
