"""Exact arithmetic at any magnitude: in VND or IDR a month's total is 1e10 or more, and with 18
decimals that is more than the 28 significant digits of Python's default decimal context. Every
path where money is parsed (FOCUS CSV and Parquet, each native converter) stores and reconciles
such totals to the last digit, and products of prices and quantities do not overflow.

Each native fixture is enlarged: every money value v becomes v x 10^12 plus 0.123456789012345678
(same sign; zero stays zero; quantities unchanged). Expected totals come from the fixture's own
text, through the reference readers of the format tests, in a context wide enough for them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from cloudtally.errors import IngestError
from cloudtally.ingest.formats.expressions import times
from cloudtally.ingest.pipeline import ingest
from cloudtally.store import Store
from tests.ingest.formats import test_aws_cur, test_azure, test_gcp, test_oci
from tests.ingest.test_properties import expected_totals, lake_totals, write_csv

WIDE = Context(prec=80)
TAIL = Decimal("0.123456789012345678")
SCALE = Decimal(10) ** 12
ONE = Decimal("1E-18")

Totals = dict[tuple[str, str, str, str], tuple[Decimal, ...]]


def enlarge(text: str) -> str:
    """A money value VND-sized: v x 10^12 + 0.123456789012345678 (same sign), exact."""
    with localcontext(WIDE):
        value = Decimal(text)
        if value == 0:
            return text
        big = (value * SCALE + TAIL.copy_sign(value)).quantize(ONE)
        return format(big.normalize(), "f")


def enlarge_csv(source: Path, target: Path, is_money: Callable[[str], bool]) -> Path:
    """A copy of a CSV fixture with every non-empty money field enlarged."""
    header, *rows = csv.reader(io.StringIO(source.read_text(encoding="utf-8-sig")))
    money = [i for i, name in enumerate(header) if is_money(name)]
    for row in rows:
        for i in money:
            if row[i].strip():
                row[i] = enlarge(row[i])
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([header, *rows])
    target.write_text(out.getvalue(), encoding="utf-8")
    return target


def digits(totals: Totals) -> int:
    """The most significant digits among the totals."""
    return max(len(v.as_tuple().digits) for t in totals.values() for v in t[:2])


def normalized(totals: Totals) -> Totals:
    with localcontext(WIDE):
        return {k: tuple(v.normalize() if isinstance(v, Decimal) else v for v in t) for k, t in totals.items()}  # fmt: skip


# -- FOCUS ---------------------------------------------------------------------------------------

BIG_ROWS = [
    {
        "ProviderName": "AWS",
        "BillingAccountId": "vn-1",
        "BillingPeriodStart": "2024-08-01T00:00:00Z",
        "BillingCurrency": "VND",
        "BilledCost": Decimal(billed),
        "EffectiveCost": Decimal(effective),
        "Tags": {},
    }
    for billed, effective in [
        ("12345678901.123456789012345678", "12345678901.123456789012345678"),
        ("98765432109.987654321098765432", "-0.000000000000000001"),
        ("99999999999999999.999999999999999999", "1"),
    ]
]
# Summed by hand: 30 and 36 significant digits, beyond the 28 of the default context.
BIG_TOTALS = {
    ("aws", "vn-1", "2024-08", "VND"): (
        Decimal("100000111111111011.111111110111111109"),
        Decimal("12345678902.123456789012345677"),
    )
}


def test_focus_csv_totals_beyond_28_digits_are_exact(store: Store, tmp_path: Path) -> None:
    source = tmp_path / "vnd.csv"
    write_csv(source, BIG_ROWS)
    with localcontext(WIDE):
        assert expected_totals(BIG_ROWS) == BIG_TOTALS
    report = ingest(store, [source])
    assert lake_totals(store) == BIG_TOTALS
    assert report.totals == {
        "VND": {
            "BilledCost": Decimal("100000111111111011.111111110111111109"),
            "EffectiveCost": Decimal("12345678902.123456789012345677"),
        }
    }
    (part,) = store.catalog().partitions
    assert part.files[0].totals["VND"]["BilledCost"] == Decimal(
        "100000111111111011.111111110111111109"
    )


def test_focus_parquet_totals_beyond_28_digits_are_exact(store: Store, tmp_path: Path) -> None:
    text = tmp_path / "vnd.csv"
    write_csv(text, BIG_ROWS)
    source = tmp_path / "vnd.parquet"
    duckdb.sql(
        f"COPY (SELECT * REPLACE (CAST(BilledCost AS DECIMAL(38,18)) AS BilledCost, "
        f"CAST(EffectiveCost AS DECIMAL(38,18)) AS EffectiveCost) "
        f"FROM read_csv('{text}', all_varchar = true)) TO '{source}' (FORMAT parquet)"
    )
    assert pq.read_schema(source).field("BilledCost").type == pa.decimal128(38, 18)
    ingest(store, [source])
    assert lake_totals(store) == BIG_TOTALS


def test_a_value_beyond_decimal_38_18_is_named(cli, tmp_path: Path) -> None:
    source = tmp_path / "huge.csv"
    write_csv(source, [{**BIG_ROWS[0], "BilledCost": Decimal("123456789012345678901.5")}])
    result = cli("ingest", source)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {source}: line 2, column BilledCost: '123456789012345678901.5' is too large "
        "for exact money (DECIMAL(38,18) holds below 10^20). Check the value (a misplaced "
        "decimal separator?) and run again.\n"
    )


def test_a_total_beyond_decimal_38_18_is_named(tmp_path: Path) -> None:
    source = tmp_path / "overflow.csv"
    near = Decimal("90000000000000000000")
    write_csv(source, [{**BIG_ROWS[0], "BilledCost": near}, {**BIG_ROWS[0], "BilledCost": near}])
    with pytest.raises(IngestError) as error:
        ingest(Store(tmp_path / "lake"), [source])
    assert str(error.value) == (
        f"{source}: a total or product of its costs reaches 10^20, more than exact money "
        "(DECIMAL(38,18)) holds. Check the file for a value off by orders of magnitude, or "
        "split the file by billing account, and run again."
    )


def test_parts_adding_up_beyond_decimal_38_18_are_named(tmp_path: Path) -> None:
    first, second = tmp_path / "part-1.csv", tmp_path / "part-2.csv"
    near = Decimal("90000000000000000000")
    write_csv(first, [{**BIG_ROWS[0], "BilledCost": near}])
    write_csv(second, [{**BIG_ROWS[0], "BilledCost": near, "EffectiveCost": Decimal(2)}])
    store = Store(tmp_path / "lake")
    with pytest.raises(IngestError) as error:
        ingest(store, [first, second])
    assert str(error.value) == (
        "The files given for aws/vn-1/2024-08 add up to 10^20 or more in one currency, more "
        "than exact money (DECIMAL(38,18)) holds. Check them for a value off by orders of "
        "magnitude, and run again."
    )
    assert store.catalog().partitions == []


# -- native converters ---------------------------------------------------------------------------


def aws_money(name: str) -> bool:
    """Legacy CUR money columns: costs, fees, rates (prices), commitments."""
    field = name.split("/")[-1].lower()
    if name.startswith("costCategory/") or field in ("ratecode", "rateid", "feecode"):
        return False
    return any(word in field for word in ("cost", "fee", "rate", "commitment"))


AZURE_MONEY = {"Cost", "CostInBillingCurrency", "EffectivePrice", "UnitPrice", "PayGPrice"}
OCI_MONEY = {"cost/unitPrice", "cost/myCost", "cost/unitPriceOverage", "cost/myCostOverage"}

CSV_CASES = {
    "aws-cur legacy csv": (test_aws_cur.LEGACY, aws_money, test_aws_cur.native_totals),
    "azure ea actual": (test_azure.ACTUAL, AZURE_MONEY.__contains__, test_azure.native_totals),
    "azure ea amortized": (
        test_azure.AMORTIZED,
        AZURE_MONEY.__contains__,
        test_azure.native_totals,
    ),
    "azure cost details": (
        test_azure.COST_DETAILS,
        AZURE_MONEY.__contains__,
        test_azure.native_totals,
    ),
    "oci cost report": (test_oci.SAMPLE, OCI_MONEY.__contains__, test_oci.native_totals),
    "oci corrections": (test_oci.CORRECTIONS, OCI_MONEY.__contains__, test_oci.native_totals),
}


def stored(store: Store) -> Totals:
    return normalized(test_azure.stored_totals(store))


@pytest.mark.parametrize("case", sorted(CSV_CASES))
def test_native_csv_totals_at_vnd_magnitude(store: Store, tmp_path: Path, case: str) -> None:
    fixture, is_money, native_totals = CSV_CASES[case]
    source = enlarge_csv(fixture, tmp_path / fixture.name, is_money)
    with localcontext(WIDE):
        expected = normalized(native_totals(source))
    assert digits(expected) > 28
    ingest(store, [source])
    assert stored(store) == expected


def test_oci_contracted_cost_is_the_exact_product_at_vnd_magnitude(
    store: Store, tmp_path: Path
) -> None:
    ingest(store, [enlarge_csv(test_oci.SAMPLE, tmp_path / "oci.csv", OCI_MONEY.__contains__)])
    rows = store.sql(
        "SELECT ContractedUnitPrice, PricingQuantity, ContractedCost FROM costs "
        "WHERE ContractedUnitPrice IS NOT NULL"
    ).fetchall()
    assert max(cost for _, _, cost in rows) > 10**10
    with localcontext(WIDE):
        for price, quantity, cost in rows:
            product = price.quantize(Decimal("1E-14"), ROUND_HALF_UP) * quantity.quantize(
                Decimal("1E-12"), ROUND_HALF_UP
            )
            assert cost == product.quantize(ONE, ROUND_HALF_UP), (price, quantity)


PRODUCTS = [
    # (unit price, quantity): a VND price times bytes, a large price times a fraction, ...
    ("2500.12345678901234", "1000000000000.123456789012"),  # 2.5e15: overflowed 12 digits
    ("123456789012345.5", "0.000000000001"),
    ("-99999999.99999999999999", "99999999999.999999999999"),  # just below 10^19
    ("0.00000000000001", "0.000000000001"),  # rounds to 0 at 18 places
    ("7.12345678901234", "-3.5"),
    ("1", "99999999999999999999.999999999999"),  # near the largest DECIMAL(38,18)
    ("10", "10000000000000000000"),  # 10^20: an error, never a wrong number
]


@pytest.mark.parametrize(("price", "quantity"), PRODUCTS)
def test_price_times_quantity_is_exact_at_any_magnitude(price: str, quantity: str) -> None:
    """`times` equals the exact product of the price at 14 places and the quantity at 12,
    rounded once to 18 places, half away from zero (as DuckDB casts)."""
    sql = times(f"CAST('{price}' AS DECIMAL(38,18))", f"CAST('{quantity}' AS DECIMAL(38,18))")
    with localcontext(WIDE):
        exact = Decimal(price).quantize(Decimal("1E-14"), ROUND_HALF_UP) * Decimal(
            quantity
        ).quantize(Decimal("1E-12"), ROUND_HALF_UP)
        expected = exact.quantize(ONE, rounding=ROUND_HALF_UP)
        too_large = abs(expected) >= 10**20  # abs() rounds to the context's precision
    if too_large:
        with pytest.raises(duckdb.Error):
            duckdb.sql(f"SELECT {sql}").fetchall()
        return
    assert duckdb.sql(f"SELECT {sql}").fetchall() == [(expected,)]


def test_cur2_parquet_at_vnd_magnitude(store: Store, tmp_path: Path) -> None:
    """CUR 2.0 writes money as doubles: 10^10 times larger, they keep ~17 digits."""
    table = pq.read_table(test_aws_cur.CUR2)
    for n, field in enumerate(table.schema):
        if pa.types.is_floating(field.type) and field.name != "line_item_usage_amount":
            table = table.set_column(n, field, pc.multiply(table.column(n), 1e10))
    source = tmp_path / "cur2.parquet"
    pq.write_table(table, source)
    expected = normalized(test_aws_cur.native_totals(source))  # type: ignore[arg-type]
    assert max(abs(b) for b, _, _ in expected.values()) > 10**12
    ingest(store, [source])
    assert normalized(test_aws_cur.lake_totals(store)) == expected  # type: ignore[arg-type]


def gcp_enlarged(tmp_path: Path) -> Path:
    """The GCP JSON lines with cost, credits and prices enlarged, written as exact JSON text."""
    lines = []
    for text in test_gcp.JSONL.read_text(encoding="utf-8").splitlines():
        row = json.loads(text, parse_float=Decimal, parse_int=Decimal)
        row["cost"] = Decimal(enlarge(str(row["cost"])))
        for credit in row["credits"]:
            credit["amount"] = Decimal(enlarge(str(credit["amount"])))
        lines.append(json.dumps(row, default=_number, separators=(",", ":")))
    path = tmp_path / "detailed.jsonl"
    # json.dumps quotes what `default` returns: unquote the marked numbers.
    path.write_text("\n".join(lines).replace('"#', "").replace('#"', "") + "\n", "utf-8")
    return path


def _number(value: object) -> str:
    return f"#{value}#"


def test_gcp_json_lines_at_vnd_magnitude(store: Store, tmp_path: Path) -> None:
    source = gcp_enlarged(tmp_path)
    with localcontext(WIDE):
        expected = normalized(test_gcp.native_totals(source))
    assert digits(expected) > 28
    ingest(store, [source])
    assert stored(store) == expected


def test_gcp_csv_at_vnd_magnitude(store: Store, tmp_path: Path) -> None:
    def big(header: list[str], rows: list[list[str]]) -> None:
        cost, credits = header.index("cost"), header.index("credits")
        for row in rows:
            row[cost] = enlarge(row[cost])
            listed = json.loads(row[credits] or "[]", parse_float=Decimal)
            for credit in listed:
                credit["amount"] = f"#{enlarge(str(credit['amount']))}#"
            row[credits] = json.dumps(listed, separators=(",", ":"))
            row[credits] = row[credits].replace('"#', "").replace('#"', "")

    source = test_azure.rewrite_csv(test_gcp.CSV, tmp_path / "standard.csv", big)
    with localcontext(WIDE):
        expected = normalized(test_gcp.native_totals(gcp_enlarged(tmp_path)))
    assert digits(expected) > 28
    ingest(store, [source])
    assert stored(store) == expected


def test_gcp_parquet_at_vnd_magnitude(store: Store, tmp_path: Path) -> None:
    """BigQuery's Parquet holds FLOAT64: the enlarged doubles, ~17 digits each."""
    rows = pq.read_table(test_gcp.PARQUET).to_pylist()
    lines = []
    for row in rows:
        row["cost"] = row["cost"] * 1e10
        for credit in row["credits"]:
            credit["amount"] = credit["amount"] * 1e10
    table = pa.Table.from_pylist(rows, schema=pq.read_schema(test_gcp.PARQUET))
    source = tmp_path / "detailed.parquet"
    pq.write_table(table, source)
    for row in rows:
        month = row["invoice"]["month"]
        lines.append(
            json.dumps(
                {
                    "billing_account_id": row["billing_account_id"],
                    "currency": row["currency"],
                    "invoice": {"month": month},
                    "cost": row["cost"],
                    "credits": [{"amount": c["amount"]} for c in row["credits"]],
                }
            )
        )
    reference = tmp_path / "reference.jsonl"
    reference.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with localcontext(WIDE):
        expected = normalized(test_gcp.native_totals(reference))
    assert max(abs(b) for b, _, _ in expected.values()) > 10**12
    ingest(store, [source])
    assert stored(store) == expected


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("1e25", "too large for exact money (DECIMAL(38,18) holds below 10^20)"),
        ('"abc"', "not a number"),
    ],
)
def test_a_json_number_beyond_decimal_38_18_is_named(tmp_path: Path, value: str, kind: str) -> None:
    lines = test_gcp.JSONL.read_text(encoding="utf-8").splitlines()
    row = json.loads(lines[2])
    lines[2] = lines[2].replace(f'"cost":{json.dumps(row["cost"])},', f'"cost":{value},')
    source = tmp_path / "export.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(IngestError) as error:
        ingest(Store(tmp_path / "lake"), [source])
    assert str(error.value) == (
        f"{source}: line 3: a number field holds {value}, which is {kind}. Fix the value and "
        "run again."
    )
