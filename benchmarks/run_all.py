"""Run every benchmark script in turn (`make bench`); each prints its figures and ratios and
saves them under benchmarks/results/. Copy the figures into BENCHMARKS.md by hand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = [
    "bench_ingest.py",
    "bench_costs.py",
    "bench_ingest_cur.py",
    "bench_allocate.py",
    "bench_anomaly_eval.py",
    "bench_anomaly_speed.py",
]


def main() -> None:
    failed = []
    for script in SCRIPTS:
        if not (HERE / script).exists():
            continue
        print(f"== {script}", flush=True)
        if subprocess.run([sys.executable, str(HERE / script)], cwd=HERE).returncode != 0:
            failed.append(script)
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
