"""Ingest of a generated SaaS usage bill through a mapping file (examples/mappings/
saas-monitoring.yaml), as CSV.

Figure: rows/s and peak RSS of `cloudtally ingest --mapping` (fresh process, fresh lake).
Reference: DuckDB reading the same file into a table, the bare minimum of work on this machine
(as bench_ingest.py). The mapping's checks read the bill once more before the conversion (the
types, every FOCUS column's value, the source totals), so the target is >= 25% of the
reference's throughput; peak memory < 2 GiB.

    python benchmarks/bench_ingest_mapping.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import csv
import random
import shutil
from pathlib import Path

from _common import DATA, PYTHON, ROOT, bare_read, median_of, run, save

MAPPING = ROOT / "examples" / "mappings" / "saas-monitoring.yaml"
PRODUCTS = [
    ("Infrastructure", "infra_host_hours", "host_hour", "0.0308"),
    ("Logs", "log_ingest_gb", "gb_ingested", "0.10"),
    ("APM", "apm_spans", "million_spans", "1.70"),
    ("Custom Metrics", "custom_metrics", "custom_metric", "0.00165"),
]


def bill(rows: int) -> Path:
    path = DATA / f"saas-monitoring-{rows}.csv"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(MAPPING.with_suffix(".csv").read_text().splitlines()[0].split(","))
        for n in range(rows):
            product, usage, unit, price = PRODUCTS[n % len(PRODUCTS)]
            quantity = rng.randint(1, 5000)
            cost = f"{quantity * float(price):.4f}"
            writer.writerow(
                [f"org-{n % 2:04d}", f"Org {n % 2}", f"2026-10-{1 + n % 31:02d}", product,
                 usage, quantity, unit, price, cost, cost, f"team-{n % 9}", "Prod"]
            )  # fmt: skip
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    path = bill(args.rows)
    lake = DATA / "bench-mapping-lake"

    def ingest() -> object:
        shutil.rmtree(lake, ignore_errors=True)
        return run([PYTHON, "-m", "cloudtally", "--data-dir", str(lake), "ingest",
                    "--no-progress", "--mapping", str(MAPPING), str(path)])  # fmt: skip

    reference = median_of(args.runs, lambda: bare_read(path))
    measure = median_of(args.runs, ingest)  # type: ignore[arg-type]
    ratio = reference.seconds / measure.seconds
    save(
        "ingest_mapping",
        {
            "rows": args.rows,
            "file_mb": round(path.stat().st_size / 2**20, 1),
            "cloudtally_seconds": round(measure.seconds, 2),
            "cloudtally_rows_per_s": round(args.rows / measure.seconds),
            "cloudtally_peak_rss_mb": round(measure.peak_rss_mb),
            "duckdb_bare_read_seconds": round(reference.seconds, 2),
            "throughput_ratio_to_bare_read": round(ratio, 2),
            "target_bare_read_met": ratio >= 0.25,
            "target_memory_met": measure.peak_rss_mb < 2048,
        },
    )


if __name__ == "__main__":
    main()
