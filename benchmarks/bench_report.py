"""`cloudtally report monthly` (HTML, PDF, Markdown and data/) on the 10M-row lake.

Lake: the benchmark export of `data.py` (one month, about 10M rows) ingested and allocated
with `examples/rules` (accounts and teams mappings, tag policy, budgets, monitors), built once
under benchmarks/data/ and reused.

Figure: wall time, CPU time and peak RSS of the whole command in a fresh process (interpreter start-up,
imports, every query, the charts, WeasyPrint's PDF). Reference: DuckDB in a fresh process
doing one grouped sum of the period over the same Parquet files (`SELECT BillingCurrency,
sum(EffectiveCost) ... WHERE x_BillingPeriod = P GROUP BY 1`). Target (issue 11): under 30 s.
With `--stages`, the pack's three stages are also timed inside one process (the numbers,
the contributors, the writing).

    python benchmarks/bench_report.py [--rows 10000000] [--runs 1] [--stages]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from pathlib import Path

from _common import DATA, PYTHON, ROOT, Measure, python_snippet, run, save
from bench_scale import Step, run_step
from data import benchmark_export

RULES = ROOT / "examples" / "rules"
TARGET_SECONDS = 30.0


def cloudtally(lake: Path, *args: str) -> Measure:
    return run([PYTHON, "-m", "cloudtally", "--data-dir", str(lake), *args])


def allocated_lake(rows: int) -> tuple[Path, int]:
    """The benchmark export ingested and allocated with examples/rules (built once)."""
    export, count = benchmark_export(rows, "parquet")
    lake = DATA / f"report-lake-{rows}"
    if not (lake / ".allocated").exists():
        shutil.rmtree(lake, ignore_errors=True)
        cloudtally(lake, "ingest", "--no-progress", str(export))
        cloudtally(lake, "allocate", "--rules", str(RULES))
        (lake / ".allocated").touch()
    return lake, count


def newest_period(lake: Path) -> str:
    from cloudtally.store import Store

    found = Store(lake).sql("SELECT max(x_BillingPeriod) FROM costs").fetchone()
    assert found is not None and found[0] is not None
    return str(found[0])


def grouped_sum(lake: Path, period: str) -> Step:
    """The reference: one grouped sum of the period over the lake's live files."""
    from cloudtally.store import Store

    store = Store(lake)
    files = ", ".join(f"'{store.data_dir / f}'" for f in store.catalog().live_files())
    return run_step(
        python_snippet(
            'import duckdb; duckdb.connect().execute("SELECT BillingCurrency, '
            f"sum(EffectiveCost) FROM read_parquet([{files}], hive_partitioning = true, "
            "hive_types = {'x_Provider': VARCHAR, 'x_BillingPeriod': VARCHAR}) "
            f"WHERE x_BillingPeriod = '{period}' GROUP BY 1\").fetchall()"
        )
    )


def stages(lake: Path, period: str, out: Path) -> dict[str, float]:
    """The pack's stages timed inside one process."""
    from cloudtally.report.extras import extras_for
    from cloudtally.report.monthly import monthly_pack
    from cloudtally.report.pack import write_pack
    from cloudtally.store import Store

    store = Store(lake)
    timings = {}
    start = time.perf_counter()
    pack = monthly_pack(store, period, rules_dir=RULES)
    timings["numbers_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    extras = extras_for(store, pack, RULES)
    timings["contributors_seconds"] = time.perf_counter() - start
    start = time.perf_counter()
    write_pack(pack, out, extras, pdf=True)
    timings["writing_seconds"] = time.perf_counter() - start
    return {k: round(v, 2) for k, v in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--stages", action="store_true", help="Also time the stages in-process.")
    args = parser.parse_args()
    lake, rows = allocated_lake(args.rows)
    period = newest_period(lake)
    out = DATA / "bench-report-out"
    references = [grouped_sum(lake, period) for _ in range(args.runs)]
    reference = sorted(references, key=lambda m: m.seconds)[len(references) // 2]

    def pack() -> Step:
        shutil.rmtree(out, ignore_errors=True)
        return run_step([PYTHON, "-m", "cloudtally", "--data-dir", str(lake), "report",
                         "monthly", "--period", period, "--rules", str(RULES), "--out",
                         str(out)])  # fmt: skip

    packs = [pack() for _ in range(args.runs)]
    measure = sorted(packs, key=lambda m: m.seconds)[len(packs) // 2]
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    result = {
        "rows": rows,
        "period": period,
        "runs": args.runs,
        "pack_seconds": round(measure.seconds, 2),
        "pack_cpu_seconds": round(measure.cpu_seconds, 2),
        "pack_peak_rss_mb": round(max(m.peak_rss_mb for m in packs)),
        "pack_files": len(files),
        "reference_grouped_sum_seconds": round(reference.seconds, 2),
        "reference_cpu_seconds": round(reference.cpu_seconds, 2),
        "reference_peak_rss_mb": round(reference.peak_rss_mb),
        "ratio_to_grouped_sum": round(measure.seconds / reference.seconds, 1),
        "cpu_ratio_to_grouped_sum": round(measure.cpu_seconds / reference.cpu_seconds, 1),
        "target_seconds": TARGET_SECONDS,
        "target_met": measure.seconds < TARGET_SECONDS,
        "load_average_after": round(os.getloadavg()[0], 1),
    }
    if args.stages:
        timings = [stages(lake, period, out) for _ in range(args.runs)]
        result["stages_in_process"] = {
            k: round(statistics.median(t[k] for t in timings), 2) for k in timings[0]
        }
    shutil.rmtree(out, ignore_errors=True)
    save("report", result)


if __name__ == "__main__":
    main()
