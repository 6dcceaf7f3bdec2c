"""Ingest of a 10M-row generated FOCUS export, as Parquet and as gzip CSV.

Figure: rows/s and peak RSS of `cloudtally ingest` (fresh process, fresh lake).
Reference: DuckDB reading the same file into a table (`CREATE TABLE t AS SELECT * FROM ...`),
the bare minimum of work on this machine. Target: ingest >= 50% of the reference throughput,
peak memory < 2 GiB. The CPU seconds of both (all threads) are printed too, with the load
average before and after: on a machine shared with other jobs their ratio is the steadier one.

    python benchmarks/bench_ingest.py [--rows 10000000]
"""

from __future__ import annotations

import argparse

from _common import DATA, ingest_figures, save
from data import benchmark_export


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
        results[fmt] = ingest_figures(path, rows, args.runs, DATA / "bench-lake")
        print(f"{fmt}: {results[fmt]}")
    save("ingest", results)


if __name__ == "__main__":
    main()
