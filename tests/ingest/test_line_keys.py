"""Every line of `costs` has a key, (x_IngestId, x_LineNo), even where an export repeats a
line identically: unique in the lake across ingests and restatements, the same numbers for the
same files, and a lake ingested before keys existed still answers (x_LineNo NULL) until its
exports are ingested again."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from cloudtally.ingest.pipeline import ingest
from cloudtally.store import Store
from cloudtally.store.catalog import file_sha256
from tests.allocate.lake import Line, write_focus_csv
from tests.conftest import FOCUS_10, Run

KEYS = "SELECT x_IngestId, x_LineNo FROM costs"
UNIQUE = f"SELECT count(*), count(x_LineNo), count(DISTINCT (x_IngestId, x_LineNo)) FROM ({KEYS})"


def repeated_line_csv(path: Path, period: str = "2024-09", account: str = "111") -> Path:
    """A FOCUS export whose last two lines are the same line, byte for byte."""
    write_focus_csv(
        path,
        [
            Line(account, "30", period=period, tags={"team": "web"}, resource="i-1"),
            Line(account, "12.5", period=period, tags={"team": "web"}, resource="i-2"),
        ],
    )
    text = path.read_text(encoding="utf-8")
    path.write_text(text + text.splitlines()[-1] + "\n", encoding="utf-8")
    return path


def test_identical_lines_get_one_key_each(store: Store, tmp_path: Path) -> None:
    source = repeated_line_csv(tmp_path / "export.csv")
    report = ingest(store, [source])
    rows = store.sql(
        "SELECT x_IngestId, x_LineNo, BilledCost, ResourceId FROM costs ORDER BY x_LineNo"
    ).rows
    assert rows == [
        (report.ingest_id, 1, Decimal("30"), "i-1"),
        (report.ingest_id, 2, Decimal("12.5"), "i-2"),
        (report.ingest_id, 3, Decimal("12.5"), "i-2"),
    ]
    # The two copies differ in their key alone.
    assert store.sql(
        "SELECT count(*) FROM (SELECT DISTINCT * EXCLUDE (x_LineNo) FROM costs)"
    ).rows == [(2,)]


def test_line_numbers_are_the_rows_of_each_file(store: Store, tmp_path: Path) -> None:
    """File k of a run (from 0) numbers its rows k * 10^12 + 1, 2, ...; Parquet as CSV."""
    parquet = tmp_path / "second.parquet"
    duckdb.execute(
        f"COPY (SELECT * FROM read_csv('{repeated_line_csv(tmp_path / 'p.csv', account='222')}', "
        f"all_varchar = true)) TO '{parquet}' (FORMAT parquet, ROW_GROUP_SIZE 2)"
    )
    ingest(store, [repeated_line_csv(tmp_path / "first.csv"), parquet])
    rows = store.sql("SELECT x_LineNo, SubAccountId, BilledCost FROM costs ORDER BY x_LineNo").rows
    assert rows == [
        (1, "111", Decimal("30")),
        (2, "111", Decimal("12.5")),
        (3, "111", Decimal("12.5")),
        (1_000_000_000_001, "222", Decimal("30")),
        (1_000_000_000_002, "222", Decimal("12.5")),
        (1_000_000_000_003, "222", Decimal("12.5")),
    ]


def test_the_same_files_get_the_same_numbers(tmp_path: Path) -> None:
    query = (
        "SELECT x_LineNo, BilledCost, ChargePeriodStart, ResourceId, SubAccountId "
        "FROM costs ORDER BY ALL"
    )
    first, second = Store(tmp_path / "one"), Store(tmp_path / "two")
    ingest(first, [FOCUS_10])
    ingest(second, [FOCUS_10])
    rows = first.sql(query).rows
    assert len(rows) == 1000 and rows == second.sql(query).rows
    # x_LineNo is the line's data row in the CSV.
    with open(FOCUS_10, newline="", encoding="utf-8") as fh:
        in_file = [(n, Decimal(r["BilledCost"])) for n, r in enumerate(csv.DictReader(fh), 1)]
    assert first.sql("SELECT x_LineNo, BilledCost FROM costs ORDER BY 1").rows == in_file


def test_keys_are_unique_across_ingests_and_a_restatement(store: Store, tmp_path: Path) -> None:
    september = repeated_line_csv(tmp_path / "september.csv")
    october = repeated_line_csv(tmp_path / "october.csv", period="2024-10")
    first = ingest(store, [september])
    second = ingest(store, [october])
    assert store.sql(UNIQUE).rows == [(6, 6, 6)]
    # Both runs number from 1: the ingest id tells their lines apart.
    assert store.sql(f"SELECT x_IngestId, min(x_LineNo), max(x_LineNo) FROM ({KEYS}) "
                     "GROUP BY 1 ORDER BY 1").rows == sorted([
        (first.ingest_id, 1, 3),
        (second.ingest_id, 1, 3),
    ])  # fmt: skip
    # A restated September (one more line) replaces its lines with the new run's.
    restated = write_focus_csv(
        tmp_path / "restated.csv",
        [Line("111", "30", tags={"team": "web"}, resource="i-1")] * 2
        + [Line("111", "5", resource="i-3")],
    )
    third = ingest(store, [restated])
    assert store.sql(UNIQUE).rows == [(6, 6, 6)]
    assert store.sql(f"SELECT x_IngestId, x_LineNo FROM ({KEYS}) ORDER BY ALL").rows == sorted(
        [(second.ingest_id, n) for n in (1, 2, 3)] + [(third.ingest_id, n) for n in (1, 2, 3)]
    )


def remove_line_numbers(store: Store) -> None:
    """Make the lake one ingested before x_LineNo existed: its files without the column."""
    catalog = json.loads(store.catalog_path.read_text())
    for partition in catalog["partitions"]:
        for part in partition["files"]:
            path = store.data_dir / part["path"]
            older = path.with_suffix(".old")
            path.rename(older)
            duckdb.execute(
                f"COPY (SELECT * EXCLUDE (x_LineNo) FROM read_parquet('{older}')) TO '{path}' "
                "(FORMAT parquet)"
            )
            older.unlink()
            part["sha256"] = file_sha256(path)
    store.catalog_path.write_text(json.dumps(catalog))


def test_a_lake_from_before_keys_answers_and_gets_them_by_ingesting_again(
    store: Store, cli: Callable[..., Run], tmp_path: Path
) -> None:
    source = repeated_line_csv(tmp_path / "export.csv")
    ingest(store, [source])
    remove_line_numbers(store)
    assert all(
        "x_LineNo" not in pq.read_schema(store.data_dir / f).names
        for f in store.catalog().live_files()
    )
    # The views work as before; the lines have no key yet.
    assert store.sql("SELECT count(*), count(x_LineNo), sum(BilledCost) FROM costs").rows == [
        (3, 0, Decimal("55"))
    ]
    run = cli("sql", "SELECT typeof(x_LineNo) AS t, count(*) AS n FROM costs GROUP BY 1")
    assert run.exit_code == 0, run.output
    assert "BIGINT" in run.stdout and "3" in run.stdout

    # Ingesting the same export again numbers its lines (and changes nothing else).
    again = cli("ingest", source)
    assert again.exit_code == 0, again.output
    assert (
        "Numbered the lines (x_LineNo) of 1 account-period(s) ingested before lines had keys: "
        "aws/payer/2024-09" in " ".join(again.stdout.split())
    )
    assert store.sql("SELECT count(*), count(x_LineNo), sum(BilledCost) FROM costs").rows == [
        (3, 3, Decimal("55"))
    ]
    assert store.sql(UNIQUE).rows == [(3, 3, 3)]
    # Given once more, it is unchanged.
    assert "Nothing to do" in cli("ingest", source).stdout


def test_a_large_text_file_is_written_in_parallel_and_numbered_by_its_rows(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gzip CSV of 60,000 lines (many reader batches, two account-periods in runs of 5,000)
    is converted in parallel in the file's order, and every line's x_LineNo is its data row."""
    import gzip

    from cloudtally.ingest import pipeline

    lines = [
        Line("111", f"{n % 97}.25", period=("2024-09", "2024-10")[n // 5000 % 2], resource=f"r-{n}")
        for n in range(1, 60_001)
    ]
    plain = write_focus_csv(tmp_path / "export.csv", lines)
    source = tmp_path / "export.csv.gz"
    source.write_bytes(gzip.compress(plain.read_bytes(), compresslevel=1))
    in_order: list[int | None] = []
    copy = pipeline._copy_in_file_order

    def spy(*args: object) -> int | None:
        in_order.append(copy(*args))  # type: ignore[arg-type]
        return in_order[-1]

    monkeypatch.setattr(pipeline, "_copy_in_file_order", spy)
    report = ingest(store, [source])
    assert in_order == [60_000]  # the parallel, ordered path (not the one-thread numbering)
    assert [k.label() for k in report.partitions] == ["aws/payer/2024-09", "aws/payer/2024-10"]
    misplaced = store.sql(
        "SELECT count(*), count(*) FILTER (WHERE ResourceId <> 'r-' || x_LineNo) FROM costs"
    ).rows
    assert misplaced == [(60_000, 0)]
