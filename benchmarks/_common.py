"""Shared by the benchmark scripts: fresh-process timing with peak RSS, the machine's
description, and the generated data they run on."""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
RESULTS = ROOT / "benchmarks" / "results"
PYTHON = sys.executable


@dataclass
class Measure:
    seconds: float
    peak_rss_mb: float
    # CPU seconds of the process, all threads (user + system): on a machine shared with other
    # jobs, steadier than the wall time.
    cpu_seconds: float = 0.0


def run(args: list[str], *, env: dict[str, str] | None = None) -> Measure:
    """Run a command in a fresh process; its wall time and peak resident memory."""
    start = time.perf_counter()
    process = subprocess.Popen(args, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(args)}")
    return Measure(seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)


def median_of(runs: int, make: Callable[[], Measure]) -> Measure:
    measures = [make() for _ in range(runs)]
    return Measure(
        statistics.median(m.seconds for m in measures),
        max(m.peak_rss_mb for m in measures),
        statistics.median(m.cpu_seconds for m in measures),
    )


def python_snippet(code: str) -> list[str]:
    return [PYTHON, "-c", code]


def bare_read(path: Path) -> Measure:
    """The reference of the ingest benchmarks: DuckDB reading the file into an in-memory table,
    the bare minimum of work on this machine (fresh process)."""
    reader = "read_parquet" if path.suffix == ".parquet" else "read_csv"
    return run(
        python_snippet(
            "import duckdb; c = duckdb.connect(); "
            f"c.execute(\"CREATE TABLE t AS SELECT * FROM {reader}('{path}')\")"
        )
    )


def cloudtally_ingest(path: Path, lake: Path) -> Measure:
    """`cloudtally ingest` of one file into a fresh lake (fresh process)."""
    shutil.rmtree(lake, ignore_errors=True)
    return run([PYTHON, "-m", "cloudtally", "--data-dir", str(lake), "ingest", "--no-progress",
                str(path)])  # fmt: skip


def ingest_figures(path: Path, rows: int, runs: int, lake: Path) -> dict:
    """Ingest against the bare read of the same file, median of `runs`; targets: >= 0.5 of the
    reference's throughput, peak memory < 2 GiB."""
    load = os.getloadavg()[0]
    reference = median_of(runs, partial(bare_read, path))
    measure = median_of(runs, partial(cloudtally_ingest, path, lake))
    ratio = reference.seconds / measure.seconds
    return {
        "load_average_1min": [round(load, 1), round(os.getloadavg()[0], 1)],
        "rows": rows,
        "file_mb": round(path.stat().st_size / 2**20, 1),
        "cloudtally_seconds": round(measure.seconds, 2),
        "cloudtally_rows_per_s": round(rows / measure.seconds),
        "cloudtally_peak_rss_mb": round(measure.peak_rss_mb),
        "duckdb_bare_read_seconds": round(reference.seconds, 2),
        "duckdb_bare_read_rows_per_s": round(rows / reference.seconds),
        "duckdb_bare_read_peak_rss_mb": round(reference.peak_rss_mb),
        "cloudtally_cpu_seconds": round(measure.cpu_seconds, 2),
        "duckdb_bare_read_cpu_seconds": round(reference.cpu_seconds, 2),
        "throughput_ratio_to_bare_read": round(ratio, 2),
        "cpu_ratio_to_bare_read": round(reference.cpu_seconds / measure.cpu_seconds, 2),
        "target_bare_read_met": ratio >= 0.5,
        "target_memory_met": measure.peak_rss_mb < 2048,
    }


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import duckdb

    return (
        f"{os.cpu_count()} cores ({cpu}), {mem_gb:.0f} GiB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, DuckDB {duckdb.__version__}"
    )


def save(name: str, result: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"machine": machine(), **result}
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
