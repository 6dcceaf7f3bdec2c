"""What numbering the lines (x_LineNo) costs an ingest: the staging query of a generated FOCUS
export written to Parquet, with and without x_LineNo.

Figure: seconds of the staging COPY with x_LineNo (fresh process, median of `--runs`).
Reference: the same COPY with x_LineNo left NULL (the ingest before lines had keys). Parquet
numbers its rows in the reader (`file_row_number`); a text file through a window over its
reader, which makes DuckDB read it in one thread, in order.

    python benchmarks/bench_line_numbers.py [--rows 2000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import statistics
from pathlib import Path

from _common import DATA, PYTHON, run, save
from data import benchmark_export

from cloudtally.ingest.formats import detect_converter
from cloudtally.ingest.source import inspect


def staging_sql(path: Path, numbered: bool) -> str:
    converter = detect_converter(inspect(path))
    if numbered:
        return converter.select_sql("bench")
    # A select over the reader given as `from_sql` leaves x_LineNo NULL.
    return converter.select_sql("bench", from_sql=converter.read_sql())


def copy_seconds(sql: str, target: Path) -> float:
    copy = f"COPY ({sql}) TO '{target}' (FORMAT parquet, COMPRESSION zstd)"
    code = (
        "import duckdb; c = duckdb.connect(); "
        "c.execute('SET preserve_insertion_order = false'); "
        f"c.execute({copy!r})"
    )
    return run([PYTHON, "-c", code]).seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    files = {fmt: benchmark_export(args.rows, fmt)[0] for fmt in ("parquet", "csv.gz")}
    plain = DATA / f"focus-{args.rows}.csv"
    if not plain.exists():
        with gzip.open(files["csv.gz"], "rb") as src, open(plain, "wb") as dst:
            shutil.copyfileobj(src, dst)
    files["csv"] = plain
    target = DATA / "line-numbers-out.parquet"
    results = {}
    for fmt, path in files.items():
        times: dict[bool, list[float]] = {True: [], False: []}
        for _ in range(args.runs):
            for numbered in (False, True):  # alternated: load changes hit both alike
                times[numbered].append(copy_seconds(staging_sql(path, numbered), target))
        with_numbers, without = (statistics.median(times[n]) for n in (True, False))
        results[fmt] = {
            "rows": args.rows,
            "with_x_LineNo_s": round(with_numbers, 2),
            "without_s": round(without, 2),
            "ratio": round(with_numbers / without, 3),
            "runs": times,
        }
        print(
            f"{fmt}: staging with x_LineNo {with_numbers:.2f} s, without {without:.2f} s "
            f"(reference), ratio {with_numbers / without:.3f}"
        )
    target.unlink(missing_ok=True)
    save("line_numbers", results)


if __name__ == "__main__":
    main()
