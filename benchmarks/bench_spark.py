"""Ingest and allocation on Spark local[2] against DuckDB, on one machine.

The same commands, `cloudtally --engine E ingest FILE` then `cloudtally --engine E allocate`
(the allocation benchmark's rule set: 20 rules, 3 shared pools), each in a fresh process, so
Spark's figure includes starting its JVM and session: on one machine Spark is expected to be
slower, and the figure shows that fixed cost. Reference: DuckDB (the default engine) on the
same file. Default 1M rows: the machine is shared (the 10M-row file takes several minutes on
Spark).

    python benchmarks/bench_spark.py [--rows 1000000] [--runs 1]

Results go to benchmarks/results/spark-ROWS.json (one file per size).
"""

from __future__ import annotations

import argparse
import shutil

from _common import DATA, PYTHON, run, save
from bench_allocate import rules_folder
from data import benchmark_export

MASTER = "local[2]"


def command(engine: str, lake: str, *args: str) -> list[str]:
    return [PYTHON, "-m", "cloudtally", "--data-dir", lake, "--engine", engine,
            "--spark-master", MASTER, *args]  # fmt: skip


def ingest_then_allocate(engine: str, export: str, rules: str) -> tuple[float, float, float]:
    lake = DATA / f"bench-spark-lake-{engine}"
    shutil.rmtree(lake, ignore_errors=True)
    ingest = run(command(engine, str(lake), "ingest", "--no-progress", export))
    allocate = run(command(engine, str(lake), "allocate", "--rules", rules))
    shutil.rmtree(lake, ignore_errors=True)
    return ingest.seconds, allocate.seconds, max(ingest.peak_rss_mb, allocate.peak_rss_mb)


def startup() -> float:
    """A Spark session started and stopped, nothing else (the fixed cost)."""
    code = (
        "from cloudtally.engine.spark import spark_session; "
        f"spark_session({MASTER!r}).range(1).collect()"
    )
    return run([PYTHON, "-c", code]).seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    export, rows = benchmark_export(args.rows, "parquet")
    rules = str(rules_folder(DATA / "bench-rules"))
    figures = {}
    for engine in ("duckdb", "spark"):
        runs = [ingest_then_allocate(engine, str(export), rules) for _ in range(args.runs)]
        runs.sort(key=lambda r: r[0] + r[1])
        ingest, allocate, rss = runs[len(runs) // 2]
        figures[engine] = {
            "ingest_seconds": round(ingest, 2),
            "allocate_seconds": round(allocate, 2),
            # the Python process's peak (Spark's JVM is a process of its own, not counted)
            "peak_rss_mb_python": round(rss),
        }
    interpreter = run([PYTHON, "-c", "import cloudtally.store"]).seconds
    spark_start = startup()
    save(
        f"spark-{args.rows}",
        {
            "rows": rows,
            "master": MASTER,
            **{f"{e}_{k}": v for e, f in figures.items() for k, v in f.items()},
            "spark_session_start_seconds": round(spark_start - interpreter, 2),
            "ratio_spark_to_duckdb_ingest": round(
                figures["spark"]["ingest_seconds"] / figures["duckdb"]["ingest_seconds"], 2
            ),
            "ratio_spark_to_duckdb_allocate": round(
                figures["spark"]["allocate_seconds"] / figures["duckdb"]["allocate_seconds"], 2
            ),
        },
    )


if __name__ == "__main__":
    main()
