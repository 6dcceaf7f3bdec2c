"""Spark leaves out files whose names start with `_` or `.` (Hadoop's hidden files), even
files it is given by name. An export so named, or a lake file of an account whose id starts
with `_` (as an earlier version named them), is read all the same, or the read is refused:
never answered as if the file were not there."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import pytest

from cloudtally.allocate.engine import allocate
from cloudtally.engine import DUCKDB, SparkEngine
from cloudtally.errors import UnsupportedError
from cloudtally.ingest.pipeline import ingest
from cloudtally.rules.allocation import load_rules
from cloudtally.store import Store
from tests.conftest import ROOT, SAMPLES

pytestmark = pytest.mark.spark

FOCUS_12 = SAMPLES / "focus" / "1.2"
RULES = ROOT / "examples" / "rules"


def exports(folder: Path) -> list[Path]:
    """The AWS sample with each billing account id starting with `#` (a lake file's name
    keeps `_` for it), and the GCP sample as `_gcp.csv`."""
    folder.mkdir()
    with open(FOCUS_12 / "aws.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    column = rows[0].index("BillingAccountId")
    for row in rows[1:]:
        row[column] = "#" + row[column]
    with open(folder / "aws.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    (folder / "_gcp.csv").write_bytes((FOCUS_12 / "gcp.csv").read_bytes())
    return [folder / "aws.csv", folder / "_gcp.csv"]


def total(store: Store, relation: str) -> Decimal:
    [(found,)] = (
        Store(store.data_dir)
        .connect()
        .execute(f"SELECT sum(BilledCost) FROM {relation}")
        .fetchall()
    )
    return Decimal(found).normalize()


def test_spark_reads_an_export_named_with_an_underscore(
    spark_engine: SparkEngine, tmp_path: Path
) -> None:
    files = exports(tmp_path / "exports")
    spark = Store(tmp_path / "spark", spark_engine)
    ingest(spark, files)
    duck = Store(tmp_path / "duck", DUCKDB)
    ingest(duck, files)
    assert total(spark, "costs") == total(duck, "costs") == Decimal("56372.5747079859555")
    names = sorted(p.name for p in (spark.data_dir / "lake").glob("x_Provider=*/*/*.parquet"))
    assert len(names) == 4 and not [n for n in names if n.startswith(("_", "."))]


def _old_lake(tmp_path: Path) -> Store:
    """A lake written as an earlier version wrote it: the AWS accounts' files named `_...`."""
    store = Store(tmp_path / "old", DUCKDB)
    ingest(store, exports(tmp_path / "exports"))
    catalog = (store.data_dir / "catalog.json").read_text()
    for path in sorted((store.data_dir / "lake").glob("x_Provider=aws/*/*.parquet")):
        hidden = path.with_name("_" + path.name)
        path.rename(hidden)
        relative = path.relative_to(store.data_dir).as_posix()
        catalog = catalog.replace(f'"{relative}"', f'"{hidden.relative_to(store.data_dir)}"')
    (store.data_dir / "catalog.json").write_text(catalog)
    assert json.loads(catalog)  # (still the catalog, two paths renamed)
    return store


def test_spark_allocates_a_lake_holding_such_files(
    spark_engine: SparkEngine, tmp_path: Path
) -> None:
    """Before: Spark's allocation held the GCP accounts' 30378.76 alone, and said nothing."""
    old = _old_lake(tmp_path)
    allocate(Store(old.data_dir, spark_engine), load_rules(RULES))
    assert total(old, "allocated_costs") == Decimal("56372.5747079859555")


def test_a_spark_without_the_read_option_refuses_such_a_file(
    spark_engine: SparkEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cloudtally.engine.spark as spark_module

    old = _old_lake(tmp_path)
    # An older Spark ignores the option: as one given an option no Spark knows.
    monkeypatch.setattr(spark_module, "READ_HIDDEN_FILES", ("noSuchReadOption", ""))
    with pytest.raises(UnsupportedError) as refused:
        allocate(Store(old.data_dir, spark_engine), load_rules(RULES))
    [first] = sorted((old.data_dir / "lake").glob("x_Provider=aws/*/_*.parquet"))[:1]
    assert str(refused.value) == (
        f"{first}: this Spark leaves out files whose names start with '_' or '.', even when "
        "named (it has no read option noSuchReadOption), so it would read as if the "
        "file were not there. Run this command with the default engine, or on a newer Spark."
    )
