"""`cloudtally costs --by service` on the 10M-row lake left by bench_ingest.py.

Figure: the query's time inside the process (median of 5, excluding interpreter start-up),
and the whole command's wall time. Reference: DuckDB's bare `SELECT ServiceName,
sum(BilledCost) ... GROUP BY 1` over the same Parquet files. Target: under 1 s.
"""

from __future__ import annotations

import statistics
import time

from _common import DATA, PYTHON, run, save


def main() -> None:
    from cloudtally.query.costs import grouped_costs
    from cloudtally.store import Store

    store = Store(DATA / "bench-lake")
    rows = store.sql("SELECT count(*) FROM costs").fetchone()[0]  # type: ignore[index]
    if not rows:
        raise SystemExit("run bench_ingest.py first")
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        grouped_costs(store, ["service"])
        timings.append(time.perf_counter() - start)
    files = store.catalog().live_files()
    listed = ", ".join(f"'{store.data_dir / f}'" for f in files)
    bare = []
    for _ in range(5):
        con = store.engine()
        start = time.perf_counter()
        con.execute(
            f"SELECT ServiceName, sum(BilledCost) FROM read_parquet([{listed}]) GROUP BY 1"
        ).fetchall()
        bare.append(time.perf_counter() - start)
    command = run([PYTHON, "-m", "cloudtally", "--data-dir", str(store.data_dir), "costs",
                   "--by", "service"])  # fmt: skip
    save(
        "costs",
        {
            "rows": rows,
            "costs_by_service_query_seconds": round(statistics.median(timings), 3),
            "costs_by_service_command_seconds": round(command.seconds, 3),
            "duckdb_bare_group_by_seconds": round(statistics.median(bare), 3),
            "ratio_to_bare": round(statistics.median(timings) / statistics.median(bare), 2),
        },
    )


if __name__ == "__main__":
    main()
