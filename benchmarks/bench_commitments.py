"""`cloudtally commitments utilization|coverage|savings` on the 10M-row lake.

Data: the 10M-row export of `data.py` ingested into its own lake (benchmarks/data/
commitments-lake; made once). Figure: each question's time inside the process (median of 3,
after one warm-up; interpreter start-up excluded). Reference: DuckDB's bare
`SELECT CommitmentDiscountId, sum(EffectiveCost) ... GROUP BY 1` over the same Parquet files
(one scan of the two columns). Target: each under 2 s.

    python benchmarks/bench_commitments.py [--rows 10000000] [--runs 3] [--lake DIR]

`--lake DIR` times an already-ingested lake instead (read only). An ingest writes the
commitments summary (`commitments_cube`), which the questions read when it is current; a lake
ingested before it exists is answered from its lines (`read_from` in the results says which).
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import DATA, save
from data import benchmark_export


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lake", help="an ingested lake to time instead (read only)")
    args = parser.parse_args()

    from cloudtally.commitments.coverage import coverage
    from cloudtally.commitments.savings import savings
    from cloudtally.commitments.utilization import utilization
    from cloudtally.ingest.pipeline import ingest
    from cloudtally.store import Store

    if args.lake:
        store = Store(args.lake)
        rows = sum(p.rows for p in store.catalog().partitions)
    else:
        export, rows = benchmark_export(args.rows, "parquet")
        store = Store(DATA / "commitments-lake")
        if not store.catalog().partitions:
            ingest(store, [export])
    files = ", ".join(f"'{store.data_dir / f}'" for f in store.catalog().live_files())

    def timed(work: object) -> float:
        assert callable(work)
        work()  # warm-up: the page cache, the catalog
        seconds = []
        for _ in range(args.runs):
            start = time.perf_counter()
            work()
            seconds.append(time.perf_counter() - start)
        return round(statistics.median(seconds), 3)

    def bare() -> None:
        store.engine().execute(
            f"SELECT CommitmentDiscountId, sum(EffectiveCost) FROM read_parquet([{files}]) "
            "GROUP BY 1"
        ).fetchall()

    from cloudtally.commitments.summary import COMMITMENTS_CUBE

    read_from = COMMITMENTS_CUBE if COMMITMENTS_CUBE in utilization(store).sql else "costs"
    reference = timed(bare)
    figures = {
        "utilization_seconds": timed(lambda: utilization(store)),
        "coverage_seconds": timed(lambda: coverage(store)),
        "savings_seconds": timed(lambda: savings(store)),
    }
    save(
        "commitments",
        {
            "rows": rows,
            "read_from": read_from,
            **figures,
            "duckdb_bare_group_by_seconds": reference,
            **{
                f"{k.removesuffix('_seconds')}_ratio_to_bare": round(v / reference, 2)
                for k, v in figures.items()
            },
            "target_2s_met": all(v < 2 for v in figures.values()),
        },
    )


if __name__ == "__main__":
    main()
