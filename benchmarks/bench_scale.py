"""The whole path at N rows: ingest, allocate, costs, anomalies detect and the monthly pack.

For each N (default 1M and 10M; add 100000000 when disk and time allow) the benchmark export of
`data.py` (one month of the generated company, about N rows, Parquet) goes into a fresh lake,
and each step runs as its own fresh process, as a user runs them:

    cloudtally ingest EXPORT
    cloudtally allocate --rules examples/rules
    cloudtally costs --by team --period P
    cloudtally anomalies detect --rules examples/rules/monitors.yaml
    cloudtally report monthly --period P --rules examples/rules --out OUT

Figures per step: wall time, CPU time (user + system), peak RSS (the child's `ru_maxrss` from wait4) and seconds per
million rows. Targets (issue 15): peak memory under 4 GiB and no step slower than linear:
`growth` is (time at N / time at the previous N) / (N / previous N), of wall and of CPU time
(the one to read on a shared machine), so 1.0 is linear and less is better than linear (fixed costs such as start-up weigh less as N grows). Reference: DuckDB
reading the same export into a table (the ingest benchmarks' reference), at each N.

    python benchmarks/bench_scale.py [--rows 1000000,10000000] [--keep] [--merge]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from _common import DATA, PYTHON, RESULTS, ROOT, bare_read, save
from data import benchmark_export

RULES = ROOT / "examples" / "rules"
CAP_MB = 4096
REFERENCE_MAX_ROWS = 20_000_000


@dataclass
class Step:
    seconds: float
    peak_rss_mb: float
    cpu_seconds: float  # user + system: what the work costs whatever else shares the cores


# Runs the command and prints its wall time and rusage. A child's peak RSS counts the memory
# of the process it was forked from (Linux keeps the high-water mark across exec), and this
# script may have grown (the export is generated in it), so the command is forked from a fresh
# small interpreter instead.
MEASURE = """
import json, os, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(child.pid, 0)
print(json.dumps([time.perf_counter() - start, os.waitstatus_to_exitcode(status),
                  usage.ru_maxrss, usage.ru_utime + usage.ru_stime]))
"""


def run_step(args: list[str]) -> Step:
    """One command in a fresh process: wall time, peak RSS and CPU time (from wait4)."""
    done = subprocess.run(
        [PYTHON, "-c", MEASURE, *args], stdout=subprocess.PIPE, text=True, check=True
    )
    seconds, code, max_kb, cpu = json.loads(done.stdout)
    if code != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(args)}")
    return Step(seconds, max_kb / 1024, cpu)


def steps(lake: Path, export: Path, period: str) -> list[tuple[str, list[str]]]:
    base = [PYTHON, "-m", "cloudtally", "--data-dir", str(lake)]
    out = lake.parent / f"{lake.name}-pack"
    monitors = str(RULES / "monitors.yaml")
    return [
        ("ingest", [*base, "ingest", "--no-progress", str(export)]),
        ("allocate", [*base, "allocate", "--rules", str(RULES)]),
        ("costs", [*base, "costs", "--by", "team", "--period", period, "-f", "json"]),
        ("anomalies detect", [*base, "anomalies", "detect", "--rules", monitors, "-f", "json"]),
        ("report monthly", [*base, "report", "monthly", "--period", period, "--rules",
                            str(RULES), "--out", str(out)]),
    ]  # fmt: skip


def period_of(export: Path) -> str:
    import duckdb

    found = (
        duckdb.connect()
        .execute(f"SELECT strftime(min(BillingPeriodStart), '%Y-%m') FROM read_parquet('{export}')")
        .fetchone()
    )
    assert found is not None
    return str(found[0])


def at(rows: int, keep: bool) -> dict:
    start = time.perf_counter()
    export, count = benchmark_export(rows, "parquet")
    prepared = time.perf_counter() - start
    period = period_of(export)
    lake = DATA / f"scale-lake-{rows}"
    shutil.rmtree(lake, ignore_errors=True)
    shutil.rmtree(lake.parent / f"{lake.name}-pack", ignore_errors=True)
    figures: dict[str, dict] = {}
    for name, args in steps(lake, export, period):
        measure = run_step(args)
        figures[name] = {
            "seconds": round(measure.seconds, 2),
            "cpu_seconds": round(measure.cpu_seconds, 2),
            "peak_rss_mb": round(measure.peak_rss_mb),
            "seconds_per_million_rows": round(measure.seconds / (count / 1e6), 3),
            "under_cap": measure.peak_rss_mb < CAP_MB,
        }
        print(f"{count:>11,} rows  {name:17} {measure.seconds:8.2f} s  "
              f"{measure.cpu_seconds:8.2f} s CPU  {measure.peak_rss_mb:7.0f} MB",
              flush=True)  # fmt: skip
    # The reference holds the whole export in memory (10 GB at 10M rows): beyond that it
    # would not fit this machine, so it is left out.
    reference = bare_read(export) if count <= REFERENCE_MAX_ROWS else None
    lake_mb = sum(p.stat().st_size for p in lake.rglob("*") if p.is_file()) / 2**20
    if not keep:
        shutil.rmtree(lake, ignore_errors=True)
        shutil.rmtree(lake.parent / f"{lake.name}-pack", ignore_errors=True)
    return {
        "rows": count,
        "period": period,
        "export_mb": round(export.stat().st_size / 2**20),
        "lake_mb": round(lake_mb),
        "export_prepared_seconds": round(prepared, 1),
        "steps": figures,
        "total_seconds": round(sum(f["seconds"] for f in figures.values()), 1),
        "load_average_after": round(os.getloadavg()[0], 1),
        "reference_duckdb_bare_read_seconds": round(reference.seconds, 2) if reference else None,
        "reference_duckdb_bare_read_peak_rss_mb": (
            round(reference.peak_rss_mb) if reference else None
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", default="1000000,10000000", help="Comma-separated row counts.")
    parser.add_argument("--keep", action="store_true", help="Keep the lakes afterwards.")
    parser.add_argument(
        "--merge", action="store_true", help="Keep the other sizes of results/scale.json."
    )
    args = parser.parse_args()
    results = [at(int(n), args.keep) for n in args.rows.split(",")]
    if args.merge:
        # Sizes measured earlier (and not again now) stay, so growth spans every size.
        earlier = json.loads((RESULTS / "scale.json").read_text())["sizes"]
        again = {r["rows"] for r in results}
        results = sorted([*(r for r in earlier if r["rows"] not in again), *results],
                         key=lambda r: r["rows"])  # fmt: skip
        for result in results:
            for figure in result["steps"].values():
                for key in [k for k in figure if "_growth_from_" in k]:
                    del figure[key]
    for before, after in itertools.pairwise(results):
        scale = after["rows"] / before["rows"]
        for name, figure in after["steps"].items():
            for measure in ("seconds", "cpu_seconds"):
                figure[f"{measure}_growth_from_{before['rows']}"] = round(
                    figure[measure] / before["steps"][name][measure] / scale, 2
                )
    save("scale", {"cap_mb": CAP_MB, "sizes": results})


if __name__ == "__main__":
    main()
