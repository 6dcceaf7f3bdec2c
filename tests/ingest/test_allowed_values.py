"""FOCUS values are case-sensitive: an export's value that equals an allowed value of the spec
but for case, spaces or punctuation (FOCUS 1.0's `Usage-based`) is stored as the spec spells it,
and the row keeps the source's own value in `x_SourceValues`. Other values are kept as they are.
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from cloudtally.focus.canonical import CANONICAL_VERSION
from cloudtally.focus.spec import allowed_values
from cloudtally.ingest.formats.expressions import spelling_key
from cloudtally.ingest.pipeline import ingest
from cloudtally.store import Store
from tests.conftest import FOCUS_10, SAMPLES

ALLOWED = allowed_values(CANONICAL_VERSION)
AWS_12 = SAMPLES / "focus" / "1.2" / "aws.csv"


def test_the_spec_lists_the_allowed_values_of_nine_columns() -> None:
    assert {c: len(v) for c, v in ALLOWED.items()} == {
        "CapacityReservationStatus": 2,
        "ChargeCategory": 5,
        "ChargeClass": 1,
        "ChargeFrequency": 3,
        "CommitmentDiscountCategory": 2,
        "CommitmentDiscountStatus": 2,
        "PricingCategory": 4,
        "ServiceCategory": 19,
        "ServiceSubcategory": 82,
    }
    assert ALLOWED["ChargeCategory"] == ("Usage", "Purchase", "Tax", "Credit", "Adjustment")


def test_focus_10_usage_based_is_respelled_and_recorded(store: Store) -> None:
    ingest(store, [FOCUS_10])
    rows = store.sql(
        "SELECT ChargeFrequency, x_SourceValues, count(*), sum(BilledCost) FROM costs "
        "GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert rows == [
        ("One-Time", None, 1, Decimal("-2.6137")),
        ("Usage-Based", '{"ChargeFrequency":"Usage-based"}', 7, Decimal("0.53707392473")),
        ("Usage-Based", None, 992, Decimal("22.59685280426")),
    ]
    # The 7 respelled rows are OCI's; costs are untouched (the sample's documented total).
    assert store.sql(
        "SELECT x_Provider, sum(BilledCost) FROM costs WHERE x_SourceValues IS NOT NULL "
        "GROUP BY ALL"
    ).fetchall() == [("oci", Decimal("0.53707392473"))]
    assert store.sql("SELECT sum(BilledCost) FROM costs").fetchall() == [
        (Decimal("20.52022672899"),)
    ]


def variants(value: str) -> list[str]:
    """Spellings of an allowed value that differ from it only in case, spaces and punctuation."""
    return [value.lower(), value.upper(), f" {value.replace('-', ' ')} ", value.swapcase()]


def respelled_export(tmp_path: Path, container: str) -> tuple[Path, list[dict[str, str]]]:
    """The AWS 1.2 sample, every allowed-value column of each row spelled some other way (each
    allowed value and each variant used), plus one row with values the spec does not know."""
    with open(AWS_12, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = list(reader.fieldnames or [])
        rows = list(reader)
    wanted: list[dict[str, str]] = []
    for n, row in enumerate(rows):
        want = {}
        for column, values in ALLOWED.items():
            value = values[n % len(values)]
            spellings = variants(value)
            row[column] = spellings[n // len(values) % len(spellings)]
            want[column] = value
        wanted.append(want)
    rows[0] |= {"PricingCategory": "On-Demand", "ChargeClass": "corrections"}
    wanted[0] |= {"PricingCategory": "On-Demand", "ChargeClass": "corrections"}
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path = tmp_path / "respelled.csv"
    path.write_text(text.getvalue(), encoding="utf-8")
    if container == "parquet":
        parquet = tmp_path / "respelled.parquet"
        duckdb.sql(
            f"COPY (SELECT * FROM read_csv('{path}', all_varchar = true)) TO '{parquet}' "
            "(FORMAT parquet)"
        )
        path = parquet
    return path, wanted


@pytest.mark.parametrize("container", ["csv", "parquet"])
def test_every_allowed_value_column_is_respelled(
    store: Store, tmp_path: Path, container: str
) -> None:
    source, wanted = respelled_export(tmp_path, container)
    ingest(store, [source])
    columns = list(ALLOWED)
    stored = store.sql(
        f"SELECT {', '.join(columns)}, x_SourceValues FROM costs "
        "ORDER BY x_SourceFile, ChargePeriodStart, BilledCost, ResourceId"
    ).fetchall()
    assert len(stored) == 1000
    expected_values = sorted(tuple(w[c] for c in columns) for w in wanted)
    assert sorted(tuple(r[:-1]) for r in stored) == expected_values
    # Every row was respelled somewhere, so every row records its source spellings.
    provenance = [json.loads(r[-1]) for r in stored]
    assert all(p for p in provenance)
    for row, recorded in zip(stored, provenance, strict=True):
        for column, source_value in recorded.items():
            assert source_value != row[columns.index(column)]
            assert spelling_key(source_value) == spelling_key(row[columns.index(column)])


def test_values_the_spec_does_not_know_are_kept(store: Store, tmp_path: Path) -> None:
    source, _ = respelled_export(tmp_path, "csv")
    ingest(store, [source])
    assert store.sql(
        "SELECT PricingCategory, ChargeClass FROM costs WHERE PricingCategory = 'On-Demand'"
    ).fetchall() == [("On-Demand", "corrections")]


def test_an_export_already_in_the_spec_spelling_records_nothing(store: Store) -> None:
    ingest(store, [AWS_12])
    assert store.sql("SELECT count(x_SourceValues) FROM costs").fetchall() == [(0,)]
