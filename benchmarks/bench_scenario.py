"""`cloudtally commitments scenario` over 90 days of hourly usage of 1,000 SKUs.

Data: a FOCUS 1.2 file written here (benchmarks/data/scenario-<skus>.parquet, made once):
1,000 compute SKUs x 2,160 hours of on-demand usage (2.16M rows) with a daily and weekly
shape, and one covered row per SKU so the lake knows each SKU's commitment rate; ingested into
its own lake. Figure: a savings-plan scenario with a target coverage (bisection, the amount
table, the risk range) and a reservation scenario with an amount, inside the process (median
of 3 after a warm-up). Reference: DuckDB's bare hourly usage aggregation
(`SELECT SkuId, ChargePeriodStart, sum(ContractedCost) ... GROUP BY ALL`) over the same
files. Target: under 10 s.

    python benchmarks/bench_scenario.py [--skus 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import duckdb
from _common import DATA, save

from cloudtally.focus.canonical import CANONICAL


def write_usage(skus: int) -> tuple[str, int]:
    target = DATA / f"scenario-{skus}.parquet"
    if not target.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        values = {
            "ProviderName": "'AWS'", "PublisherName": "'AWS'", "InvoiceIssuerName": "'AWS'",
            "BillingAccountId": "'000000000001'", "BillingAccountName": "'Bench'",
            "SubAccountId": "'000000000002'", "BillingCurrency": "'USD'", "PricingCurrency": "'USD'",
            "BillingPeriodStart": "date_trunc('month', t)", "ChargePeriodStart": "t",
            "BillingPeriodEnd": "date_trunc('month', t) + INTERVAL 1 MONTH",
            "ChargePeriodEnd": "t + INTERVAL 1 HOUR", "ChargeCategory": "'Usage'",
            "ChargeFrequency": "'Usage-Based'", "ChargeDescription": "'compute hours'",
            "ServiceName": "'Amazon Elastic Compute Cloud'", "ServiceCategory": "'Compute'",
            "ServiceSubcategory": "'Virtual Machines'", "RegionId": "'us-east-1'",
            "SkuId": "'SKU-' || lpad(CAST(s AS VARCHAR), 4, '0')",
            "ResourceId": "'i-' || lpad(CAST(s AS VARCHAR), 4, '0')",
            "PricingUnit": "'Hours'", "ConsumedUnit": "'Hours'",
            "PricingCategory": "CASE WHEN covered THEN 'Committed' ELSE 'Standard' END",
            "PricingQuantity": "q", "ConsumedQuantity": "q",
            "ListUnitPrice": "price", "ContractedUnitPrice": "price",
            "ListCost": "q * price", "ContractedCost": "q * price",
            "BilledCost": "CASE WHEN covered THEN 0 ELSE q * price END",
            "EffectiveCost": "CASE WHEN covered THEN q * price * rate ELSE q * price END",
            "CommitmentDiscountId": "CASE WHEN covered THEN 'sp-bench' END",
            "CommitmentDiscountStatus": "CASE WHEN covered THEN 'Used' END",
            "CommitmentDiscountCategory": "CASE WHEN covered THEN 'Spend' END",
            "CommitmentDiscountType": "CASE WHEN covered THEN 'Savings Plan' END",
            "CommitmentDiscountQuantity": "CASE WHEN covered THEN q * price * rate END",
            "CommitmentDiscountUnit": "CASE WHEN covered THEN 'USD' END",
        }  # fmt: skip
        columns = ", ".join(
            f"CAST({values.get(c.name, 'NULL')} AS {c.sql_type}) AS {c.name}"
            for c in CANONICAL
            if not c.name.startswith("x_")
        )
        con.execute(
            f"""COPY (
                SELECT {columns} FROM (
                    SELECT s, t, h = 0 AS covered,
                           CAST(0.05 + (s % 97) * 0.01 AS DECIMAL(18, 4)) AS price,
                           CAST(0.55 + (s % 13) * 0.02 AS DECIMAL(18, 4)) AS rate,
                           CAST(1 + (s % 5) + CASE WHEN hour(t) BETWEEN 8 AND 19 THEN s % 3
                                ELSE 0 END + CASE WHEN dayofweek(t) IN (0, 6) THEN 0 ELSE 1 END
                                AS DECIMAL(18, 2)) AS q
                    FROM range({skus}) AS a(s),
                         (SELECT range AS h, TIMESTAMPTZ '2024-07-01 00:00:00+00'
                                 + INTERVAL (range) HOUR AS t FROM range(2160)) AS b
                )
            ) TO '{target}.tmp' (FORMAT parquet, COMPRESSION zstd)"""
        )
        (DATA / f"scenario-{skus}.parquet.tmp").rename(target)
    rows = duckdb.connect().execute(f"SELECT count(*) FROM '{target}'").fetchall()[0][0]
    return str(target), int(rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--skus", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    from pathlib import Path

    from cloudtally.commitments.scenario import scenario
    from cloudtally.ingest.pipeline import ingest
    from cloudtally.store import Store

    source, rows = write_usage(args.skus)
    store = Store(DATA / f"scenario-lake-{args.skus}")
    if not store.catalog().partitions:
        ingest(store, [Path(source)])
    files = ", ".join(f"'{store.data_dir / f}'" for f in store.catalog().live_files())

    def timed(work: object) -> float:
        assert callable(work)
        work()
        seconds = []
        for _ in range(args.runs):
            start = time.perf_counter()
            work()
            seconds.append(time.perf_counter() - start)
        return round(statistics.median(seconds), 3)

    def bare() -> None:
        store.engine().execute(
            f"SELECT SkuId, ChargePeriodStart, sum(ContractedCost) FROM read_parquet([{files}]) "
            "GROUP BY ALL"
        ).fetchall()

    def savings_plan() -> None:
        scenario(store, kind="savings-plan", term="1y", payment="none", target_coverage=0.8,
                 lookback="90d")  # fmt: skip

    def reservation() -> None:
        scenario(store, kind="reservation", term="3y", payment="all", amount=50.0,
                 lookback="90d")  # fmt: skip

    reference = timed(bare)
    figures = {
        "savings_plan_target_coverage_seconds": timed(savings_plan),
        "reservation_amount_seconds": timed(reservation),
    }
    save(
        "scenario",
        {
            "rows": rows,
            "skus": args.skus,
            "hours": 2160,
            **figures,
            "duckdb_bare_hourly_aggregation_seconds": reference,
            **{
                f"{k.removesuffix('_seconds')}_ratio_to_bare": round(v / reference, 2)
                for k, v in figures.items()
            },
            "target_10s_met": all(v < 10 for v in figures.values()),
        },
    )


if __name__ == "__main__":
    main()
