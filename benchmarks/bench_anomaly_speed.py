"""Scoring speed: the newest day of 100,000 daily series with 400 days of history.

    python benchmarks/bench_anomaly_speed.py [--series 100000] [--days 400]

The series are written once to Parquet as a `costs`-shaped table (not timed). Timed: the
monitor's SQL aggregate into the (series x days) matrix, and the causal scoring of the newest
complete day (with its warm-up replay), exactly as `cloudtally anomalies detect` runs them.
Target: under 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

from cloudtally.anomaly.config import MonitorModel
from cloudtally.anomaly.detector import score_days
from cloudtally.anomaly.series import load_series
from cloudtally.query.ownership import Lens

END = date(2024, 12, 31)


def write_costs(path: Path, series: int, days: int) -> None:
    con = duckdb.connect()
    first = END - timedelta(days=days)
    con.execute(
        f"""
        COPY (
            SELECT 'svc-' || lpad(CAST(s AS VARCHAR), 6, '0') AS ServiceName,
                   'aws' AS x_Provider,
                   CAST(DATE '{first}' + CAST(d AS INTEGER) AS TIMESTAMPTZ) AS ChargePeriodStart,
                   CAST((50 + s % 997) * (CASE WHEN isodow(DATE '{first}' + CAST(d AS INTEGER)) >= 6
                        THEN 0.6 ELSE 1 END) * (1 + 0.05 * sin(s * 7.1 + d * 1.3)) AS DOUBLE)
                       AS BilledCost
            FROM range({series}) AS a(s), range({days + 1}) AS b(d)
        ) TO '{path}' (FORMAT parquet)
        """
    )
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=400)
    parser.add_argument("--keep", type=Path, help="Keep (or reuse) the generated Parquet here.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "daily.parquet"
        started = time.perf_counter()
        if args.keep and args.keep.exists():
            path = args.keep
            print(f"reusing {path}")
        else:
            write_costs(path, args.series, args.days)
            seconds = time.perf_counter() - started
            print(f"wrote {args.series:,} x {args.days + 1} days in {seconds:.1f} s")
            if args.keep:
                path = path.replace(args.keep)
        con = duckdb.connect(config={"memory_limit": "1500MB", "threads": 2})
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"CREATE VIEW costs AS SELECT * FROM read_parquet('{path}')")
        monitor = MonitorModel(name="speed", dimensions=["ServiceName"])
        cpu = time.process_time()
        started = time.perf_counter()
        series = load_series(
            con,
            monitor,
            lens=Lens("costs"),
            report_from=END - timedelta(days=1),
            last_complete=END - timedelta(days=1),
        )
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        result = score_days(series.values, series.first_day, series.column(END - timedelta(days=1)))
        scored = time.perf_counter() - started
        cpu = time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    total = loaded + scored
    print(
        f"{len(series.keys):,} series: aggregate+load {loaded:.1f} s, score {scored:.1f} s, "
        f"total {total:.1f} s (target 60 s: {'PASS' if total < 60 else 'FAIL'}), "
        f"{len(result.detections)} anomalies, peak RSS {peak:,.0f} MB"
    )
    # On a shared machine wall time includes waiting for a core: CPU time shows the work.
    load = os.getloadavg()[0]
    print(f"CPU time (both threads) {cpu:.1f} s; load average during the run {load:.1f}")


if __name__ == "__main__":
    main()
