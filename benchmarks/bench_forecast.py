"""Forecast speed: month-end forecasts (this month and the next 3, with calibrated intervals) of
10,000 daily series with 400 days of history.

    python benchmarks/bench_forecast.py [--series 10000] [--days 400]

The series are written once to Parquet as a `costs`-shaped table (not timed): weekday
patterns, growth, noise, a month-start fee on every fifth series (marked Recurring) and a
level shift on every seventh. Timed, exactly as `cloudtally forecast --by service` runs them:
the SQL aggregate into daily matrices, the exact actuals to date, the model and its conformal
calibration (the calibration re-runs the model on 500 of the series as of 27 earlier days),
and the typed rows. Target: under 30 s on this machine (ratio = time / 30 s). Reference: the
SQL aggregate alone, the least any forecast over the lake must do.
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

from cloudtally.forecast.history import actual_to_date, load_history
from cloudtally.forecast.query import rows_of, run_forecast
from cloudtally.query.ownership import Lens

AS_OF = date(2024, 11, 16)
TARGET_SECONDS = 30.0


def write_costs(path: Path, series: int, days: int) -> None:
    con = duckdb.connect()
    first = AS_OF - timedelta(days=days)
    day = f"(DATE '{first}' + CAST(d AS INTEGER))"
    noise = "(hash(s * 100003 + d) % 1000) / 1000.0"
    con.execute(
        f"""
        COPY (
            SELECT 'svc-' || lpad(CAST(s AS VARCHAR), 6, '0') AS ServiceName,
                   'aws' AS x_Provider, strftime({day}, '%Y-%m') AS x_BillingPeriod,
                   'USD' AS BillingCurrency, 'Usage-Based' AS ChargeFrequency,
                   NULL::VARCHAR AS ChargeClass,
                   CAST({day} AS TIMESTAMPTZ) AS ChargePeriodStart,
                   CAST((50 + s % 997)
                        * (CASE WHEN isodow({day}) >= 6 THEN 0.6 ELSE 1 END)
                        * (1 + 0.0008 * d) * (0.85 + 0.3 * {noise})
                        * (CASE WHEN s % 7 = 0 AND d >= {days - 40} THEN 1.6 ELSE 1 END)
                        AS DECIMAL(18, 6)) AS BilledCost
            FROM range({series}) AS a(s), range({days}) AS b(d)
            UNION ALL
            SELECT 'svc-' || lpad(CAST(s AS VARCHAR), 6, '0'), 'aws',
                   strftime(m, '%Y-%m'), 'USD', 'Recurring', NULL, CAST(m AS TIMESTAMPTZ),
                   CAST((50 + s % 997) * 3 AS DECIMAL(18, 6))
            FROM range({series}) AS a(s),
                 (SELECT DISTINCT date_trunc('month', {day}) AS m FROM range({days}) AS b(d))
            WHERE s % 5 = 0 AND m >= DATE '{first}'
        ) TO '{path}' (FORMAT parquet)
        """
    )
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "daily.parquet"
        started = time.perf_counter()
        write_costs(path, args.series, args.days)
        print(f"wrote {args.series:,} x {args.days} days in {time.perf_counter() - started:.1f} s")
        con = duckdb.connect(config={"memory_limit": "1500MB", "threads": 2})
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"CREATE VIEW costs AS SELECT * FROM read_parquet('{path}')")
        cpu = time.process_time()
        started = time.perf_counter()
        history = load_history(
            con, Lens("costs"), ["service"], metric="BilledCost", as_of=AS_OF,
            last_period="2025-02",
        )  # fmt: skip
        exact = actual_to_date(con, history, "2024-11", AS_OF)
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        point, bands = run_forecast(history, AS_OF, 3)
        rows = rows_of(history, point, bands, exact, point.alive)
        modelled = time.perf_counter() - started
        cpu = time.process_time() - cpu
    total = loaded + modelled
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{len(history.keys):,} series, {len(rows):,} rows: aggregate+load {loaded:.1f} s, "
        f"model+calibration {modelled:.1f} s, total {total:.1f} s "
        f"(target {TARGET_SECONDS:g} s: {'PASS' if total < TARGET_SECONDS else 'FAIL'}, "
        f"ratio {total / TARGET_SECONDS:.2f}; {total / loaded:.1f}x the SQL aggregate alone), "
        f"peak RSS {peak:,.0f} MB"
    )
    print(
        f"CPU time (both threads) {cpu:.1f} s; load average during the run {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
