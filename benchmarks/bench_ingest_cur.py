"""Ingest of native AWS billing exports: a generated legacy CUR gzip CSV and a CUR 2.0 Parquet
of N lines each (benchmarks/cur_data.py), into a fresh store.

Figures: rows/s and peak RSS of `cloudtally ingest` (fresh process, fresh lake).
References: DuckDB reading the same file into a table (`CREATE TABLE t AS SELECT * FROM
read_csv/read_parquet(file)`, fresh process), and the FinOps Foundation's `focus-converter` 1.0.0
converting the same legacy CUR CSV to FOCUS Parquet (`focus-converter convert --provider aws-cur
--data-format csv`). Targets: ingest >= 50% of the bare read's throughput, >= 20x focus-converter's
throughput, peak memory < 2 GiB.

focus-converter reads the whole CSV into memory with polars, so it is measured on a smaller file
(`--focus-rows`, 1M lines) and compared with cloudtally on that same file, rows/s to rows/s. It
is tried on the full N lines too only when the 1M run projects (linearly) under the time cap
(`--focus-cap`, 20 minutes) and under half the machine's memory; otherwise the results say why.
It is installed in its own venv (its pins clash with ours), created on first use:

    uv venv -p 3.11 benchmarks/data/venv-focus-converter
    uv pip install -p benchmarks/data/venv-focus-converter/bin/python \\
        focus-converter==1.0.0 "multimethod<2" "click<8.2"

    python benchmarks/bench_ingest_cur.py [--rows 10000000] [--focus-rows 1000000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import duckdb
from _common import DATA, PYTHON, Measure, ingest_figures, save
from cur_data import cur_file

FOCUS_CONVERTER_VENV = DATA / "venv-focus-converter"
FOCUS_CONVERTER = FOCUS_CONVERTER_VENV / "bin" / "focus-converter"
FOCUS_CONVERTER_PINS = ("focus-converter==1.0.0", "multimethod<2", "click<8.2")
LAKE = DATA / "bench-cur-lake"
FOCUS_OUT = DATA / "focus-converter-out"


def install_focus_converter() -> None:
    """focus-converter 1.0.0 in a venv of its own (git-ignored, under benchmarks/data/)."""
    if FOCUS_CONVERTER.exists():
        return
    uv = shutil.which("uv") or str(Path(PYTHON).parent / "uv")
    subprocess.run([uv, "venv", "-p", "3.11", str(FOCUS_CONVERTER_VENV)], check=True)
    python = str(FOCUS_CONVERTER_VENV / "bin" / "python")
    subprocess.run([uv, "pip", "install", "-p", python, *FOCUS_CONVERTER_PINS], check=True)


def focus_converter(path: Path, cap_seconds: float) -> Measure | None:
    """focus-converter on a legacy CUR file, in a fresh process group; None if it ran past the
    cap (then the whole group, its writer processes included, is killed)."""
    shutil.rmtree(FOCUS_OUT, ignore_errors=True)
    args = [str(FOCUS_CONVERTER), "convert", "--provider", "aws-cur", "--data-format", "csv",
            "--data-path", str(path), "--export-path", f"{FOCUS_OUT}/"]  # fmt: skip
    log = DATA / "focus-converter.log"
    timed_out = threading.Event()

    with open(log, "w") as stderr:
        start = time.perf_counter()
        process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True
        )

        def kill() -> None:
            timed_out.set()
            os.killpg(process.pid, signal.SIGKILL)

        timer = threading.Timer(cap_seconds, kill)
        timer.start()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        timer.cancel()
    if timed_out.is_set():
        return None
    # focus-converter can fail in its main process and still exit 0; count what it wrote.
    written = duckdb.connect().execute(
        f"SELECT count(*) FROM read_parquet('{FOCUS_OUT}/*.parquet')"
    )
    if os.waitstatus_to_exitcode(status) != 0 or written.fetchone()[0] == 0:  # type: ignore[index]
        raise SystemExit(f"focus-converter failed on {path}: see {log}")
    return Measure(seconds, usage.ru_maxrss / 1024)


def compare_focus_converter(rows: int, focus_rows: int, cap: float, runs: int) -> dict:
    install_focus_converter()
    path, _ = cur_file(focus_rows, "legacy")
    small = ingest_figures(path, focus_rows, runs, LAKE)
    measure = focus_converter(path, cap)
    if measure is None:
        return {"rows": focus_rows, "note": f"focus-converter did not finish in {cap:.0f} s"}
    theirs = focus_rows / measure.seconds
    ours = focus_rows / small["cloudtally_seconds"]
    result = {
        **small,
        "focus_converter_seconds": round(measure.seconds, 2),
        "focus_converter_rows_per_s": round(theirs),
        "focus_converter_peak_rss_mb": round(measure.peak_rss_mb),
        "throughput_ratio_to_focus_converter": round(ours / theirs, 1),
        "target_focus_converter_met": ours / theirs >= 20,
        # The ceiling of that ratio for anything that reads the CSV at DuckDB's speed.
        "bare_read_ratio_to_focus_converter": round(
            measure.seconds / small["duckdb_bare_read_seconds"], 1
        ),
    }
    if rows <= focus_rows:
        return result
    # The full file only when the small run projects under the cap and under half the memory.
    scale = rows / focus_rows
    memory_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
    projected_s, projected_mb = measure.seconds * scale, measure.peak_rss_mb * scale
    full = None
    attempt = projected_s <= cap and projected_mb <= memory_mb / 2
    if attempt:
        full = focus_converter(cur_file(rows, "legacy")[0], cap)
    if full is None:
        outcome = f"did not finish in {cap:.0f} s" if attempt else "so it was not attempted"
        result["note"] = (
            f"focus-converter measured on {focus_rows:,} lines, not {rows:,}: at {rows:,} it "
            f"projects to {projected_s:.0f} s and {projected_mb / 1024:.1f} GiB (cap "
            f"{cap:.0f} s, {memory_mb / 2048:.0f} GiB) {outcome}; the ratio compares rows/s of "
            f"focus-converter and cloudtally on the same {focus_rows:,}-line file."
        )
    else:
        result["full_size"] = {
            "rows": rows,
            "focus_converter_seconds": round(full.seconds, 2),
            "focus_converter_rows_per_s": round(rows / full.seconds),
            "focus_converter_peak_rss_mb": round(full.peak_rss_mb),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--focus-rows", type=int, default=1_000_000)
    parser.add_argument("--focus-cap", type=float, default=20 * 60, help="seconds")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--skip-focus-converter", action="store_true", help="only the two 10M-row figures"
    )
    parser.add_argument("--kinds", default="legacy,cur2", help="Comma-separated: legacy, cur2.")
    args = parser.parse_args()
    results: dict = {"load_average_before": [round(x, 2) for x in os.getloadavg()]}
    for kind, label in (("legacy", "cur_legacy_csv_gz"), ("cur2", "cur2_parquet")):
        if kind not in args.kinds.split(","):
            continue
        path, rows = cur_file(args.rows, kind)
        results[label] = ingest_figures(path, rows, args.runs, LAKE)
        print(f"{label}: {results[label]}", flush=True)
    if not args.skip_focus_converter:
        focus_rows = min(args.focus_rows, args.rows)
        results["focus_converter_cur_legacy_csv_gz"] = compare_focus_converter(
            args.rows, focus_rows, args.focus_cap, args.runs
        )
        print(f"focus-converter: {results['focus_converter_cur_legacy_csv_gz']}", flush=True)
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    save("ingest_cur", results)


if __name__ == "__main__":
    main()
