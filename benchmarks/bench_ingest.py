"""Ingest of a 10M-row generated FOCUS export, as Parquet and as gzip CSV.

Figure: rows/s and peak RSS of `cloudtally ingest` (fresh process, fresh lake).
Reference: DuckDB reading the same file into a table (`CREATE TABLE t AS SELECT * FROM ...`),
the bare minimum of work on this machine. Target: ingest >= 50% of the reference throughput,
peak memory < 2 GiB.

    python benchmarks/bench_ingest.py [--rows 10000000]
"""

from __future__ import annotations

import argparse
import shutil
from functools import partial
from pathlib import Path

from _common import DATA, PYTHON, Measure, median_of, python_snippet, run, save
from data import benchmark_export


def bare_read(path: Path, fmt: str) -> Measure:
    reader = "read_parquet" if fmt == "parquet" else "read_csv"
    return run(
        python_snippet(
            "import duckdb; c = duckdb.connect(); "
            f"c.execute(\"CREATE TABLE t AS SELECT * FROM {reader}('{path}')\")"
        )
    )


def cloudtally_ingest(path: Path) -> Measure:
    lake = DATA / "bench-lake"
    shutil.rmtree(lake, ignore_errors=True)
    return run([PYTHON, "-m", "cloudtally", "--data-dir", str(lake), "ingest", "--no-progress",
                str(path)])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--formats", default="csv.gz,parquet", help="Comma-separated formats.")
    args = parser.parse_args()
    results = {}
    # csv.gz first, Parquet last: the lake left behind (for bench_costs.py) is the Parquet one.
    for fmt in args.formats.split(","):
        path, rows = benchmark_export(args.rows, fmt)
        reference = median_of(args.runs, partial(bare_read, path, fmt))
        measure = median_of(args.runs, partial(cloudtally_ingest, path))
        results[fmt] = {
            "rows": rows,
            "file_mb": round(path.stat().st_size / 2**20, 1),
            "cloudtally_seconds": round(measure.seconds, 2),
            "cloudtally_rows_per_s": round(rows / measure.seconds),
            "cloudtally_peak_rss_mb": round(measure.peak_rss_mb),
            "duckdb_bare_read_seconds": round(reference.seconds, 2),
            "duckdb_bare_read_peak_rss_mb": round(reference.peak_rss_mb),
            "throughput_ratio_to_bare_read": round(reference.seconds / measure.seconds, 2),
        }
        print(f"{fmt}: {results[fmt]}")
    save("ingest", results)


if __name__ == "__main__":
    main()
