"""`cloudtally allocate` on 10M rows with a realistic rule set.

Rules: the generated company's account mapping (50+ rows) and team table, 20 conditional rules
(service, region, resource-name pattern, charge category), 3 shared pools (support and tax by
direct cost, the shared-services account by fixed percentages). Figure: allocation time inside
the process (median of 3), which includes writing `allocated_costs` and checking conservation.
Reference: one hand-written DuckDB query doing the same mapping, rules and split (pools summed
per day, shares by each team's direct cost per product and env) and writing the same canonical
columns to Parquet (it skips what only the engine records: the source of each value, missing
tags, the exact remainder, the accounts of shared rows and the conservation check). Target: within 2x of the reference.

    python benchmarks/bench_allocate.py [--rows 10000000] [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path

from _common import DATA, ROOT, save
from data import benchmark_export

SERVICES = [
    ("Amazon SageMaker", "ml"), ("Amazon Bedrock", "ml"), ("Azure Machine Learning", "ml"),
    ("Vertex AI", "ml"), ("Amazon GuardDuty", "security"), ("Key Vault", "security"),
    ("AWS Key Management Service", "security"), ("BigQuery", "data"), ("Amazon Redshift", "data"),
    ("Amazon Athena", "data"), ("Amazon Kinesis", "data"), ("Amazon CloudFront", "web"),
    ("Amazon Route 53", "platform"), ("AWS Backup", "platform"),
]  # fmt: skip
PATTERNS = [("*-search-*", "search"), ("*-checkout-*", "payments"), ("*-cms-*", "web")]
REGIONS = [("ap-southeast-2", "search"), ("asia-northeast1", "search")]


def rules_folder(target: Path) -> Path:
    shutil.rmtree(target, ignore_errors=True)
    (target / "mappings").mkdir(parents=True)
    example = ROOT / "examples" / "rules"
    for name in ("accounts.csv", "teams.csv"):
        shutil.copy(example / "mappings" / name, target / "mappings" / name)
    shutil.copy(example / "tags.yaml", target / "tags.yaml")
    rules = [
        f"  - id: svc-{n}\n    when: {{service: '{s}'}}\n    set: {{team: {t}}}\n"
        for n, (s, t) in enumerate(SERVICES)
    ]
    rules += [
        f"  - id: name-{n}\n    when: {{resource_name: '{p}', charge_category: Usage}}\n"
        f"    set: {{product: {t}}}\n"
        for n, (p, t) in enumerate(PATTERNS)
    ]
    rules += [
        f"  - id: region-{n}\n    when: {{region: {r}}}\n    set: {{env: prod}}\n"
        for n, (r, _) in enumerate(REGIONS)
    ]
    rules.append(
        "  - id: credits\n    when: {charge_category: Credit}\n    set: {product: credits}\n"
    )
    assert len(rules) == 20
    (target / "allocation.yaml").write_text(
        "dimensions:\n  team: [rules, tag, mapping:accounts]\n  product: [rules, tag, mapping:accounts]\n"
        "  cost_center: [mapping:teams, tag]\n  env: [rules, tag, mapping:accounts]\n"
        "rules:\n" + "".join(rules) + "shared_pools:\n"
        "  - id: support\n    match: {service: [AWS Support (Business), Azure Support, Cloud Support]}\n"
        "    split: direct_cost\n"
        "  - id: tax\n    match: {charge_category: Tax}\n    split: direct_cost\n"
        "  - id: shared-services\n    match: {account: shared-services}\n    split: fixed\n"
        "    percentages: {web: 25, payments: 20, search: 15, data: 15, mobile: 10, ml: 10, platform: 5}\n"
    )
    return target


def hand_written(store, out: Path) -> None:  # type: ignore[no-untyped-def]
    """The same work as one query a DuckDB user would write by hand."""
    from cloudtally.allocate.sql import GROUP_COLUMNS, LINE_COLUMNS, MONEY

    con = store.engine()
    con.execute("SET preserve_insertion_order = false")
    example = ROOT / "examples" / "rules" / "mappings"
    files = ", ".join(f"'{store.data_dir / f}'" for f in store.catalog().live_files())
    rules = " ".join(f"WHEN ServiceName = '{s}' THEN '{t}'" for s, t in SERVICES)
    names = " ".join(
        f"WHEN coalesce(ResourceName, ResourceId) GLOB '{p}' AND ChargeCategory = 'Usage' THEN '{t}'"
        for p, t in PATTERNS
    )
    regions = " ".join(f"WHEN RegionId = '{r}' THEN 'prod'" for r, _ in REGIONS)
    team_tag = (
        "lower(trim(coalesce(Tags['team'], Tags['Team'], Tags['TEAM'], "
        "replace(Tags['owner'], 'team-', ''))))"
    )
    con.execute(
        f"""COPY (
        WITH acc AS (SELECT * FROM read_csv('{example / "accounts.csv"}', all_varchar = true)),
        teams AS (SELECT * FROM read_csv('{example / "teams.csv"}', all_varchar = true)),
        l AS (
            SELECT {", ".join("c." + col for col in LINE_COLUMNS)},
                   coalesce(CASE {rules} END, {team_tag}, acc.team) AS team,
                   coalesce(CASE {names} WHEN ChargeCategory = 'Credit' THEN 'credits' END,
                            lower(Tags['product']), acc.product) AS product,
                   coalesce(CASE {regions} END, lower(coalesce(Tags['env'], Tags['environment'])), acc.env) AS env,
                   CASE WHEN ServiceName IN ('AWS Support (Business)', 'Azure Support', 'Cloud Support') THEN 'support'
                        WHEN ChargeCategory = 'Tax' THEN 'tax'
                        WHEN SubAccountName = 'shared-services' THEN 'shared-services' END AS pool
            FROM read_parquet([{files}], hive_partitioning = true,
                              hive_types = {{'x_Provider': VARCHAR, 'x_BillingPeriod': VARCHAR}}) c
            LEFT JOIN acc ON acc.account = c.SubAccountId
              AND c.x_BillingPeriod BETWEEN coalesce(nullif(acc.effective_from, ''), '0000-01')
                                        AND coalesce(nullif(acc.effective_to, ''), '9999-12')
        ),
        w AS (SELECT x_BillingPeriod, BillingCurrency, team, product, env, sum(EffectiveCost) AS cost
              FROM l WHERE pool IS NULL AND team IS NOT NULL GROUP BY ALL HAVING cost > 0),
        fixed(team, pct) AS (VALUES ('web', 25), ('payments', 20), ('search', 15), ('data', 15),
                                    ('mobile', 10), ('ml', 10), ('platform', 5)),
        p AS (SELECT row_number() OVER () AS gid, {", ".join(GROUP_COLUMNS)}, pool,
                     date_trunc('day', ChargePeriodStart) AS charge_day,
                     min(ChargePeriodStart) AS ChargePeriodStart, max(ChargePeriodEnd) AS ChargePeriodEnd,
                     {", ".join(f"sum({m}) AS g_{m}" for m in MONEY)}
              FROM l WHERE pool IS NOT NULL GROUP BY ALL),
        -- By direct cost per (team, product, env); fixed: the team's percentage, spread over
        -- its products and environments by its direct cost.
        r AS (SELECT p.*, w.team, w.product, w.env, CAST(w.cost AS DOUBLE) AS weight
              FROM p JOIN w USING (x_BillingPeriod, BillingCurrency) WHERE pool <> 'shared-services'
              UNION ALL
              SELECT p.*, w.team, w.product, w.env,
                     fixed.pct * CAST(w.cost AS DOUBLE)
                     / sum(CAST(w.cost AS DOUBLE)) OVER (PARTITION BY p.gid, w.team)
              FROM p JOIN w USING (x_BillingPeriod, BillingCurrency) JOIN fixed USING (team)
              WHERE pool = 'shared-services')
        SELECT l.* EXCLUDE (pool), teams.cost_center, 'direct' AS allocation_kind FROM l
        LEFT JOIN teams USING (team) WHERE pool IS NULL
        UNION ALL BY NAME
        SELECT r.* EXCLUDE ({", ".join(f"g_{m}" for m in MONEY)}, weight, gid, charge_day),
               {", ".join(f"CAST(g_{m} * weight / sum(weight) OVER (PARTITION BY gid) AS DECIMAL(38,18)) AS {m}" for m in MONEY)},
               teams.cost_center, 'shared' AS allocation_kind
        FROM r LEFT JOIN teams USING (team)
        ) TO '{out}' (FORMAT parquet)"""
    )
    con.close()


def main() -> None:
    from cloudtally.allocate.engine import allocate
    from cloudtally.ingest.pipeline import ingest
    from cloudtally.rules.allocation import load_rules
    from cloudtally.store import Store

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    export, rows = benchmark_export(args.rows, "parquet")
    store = Store(DATA / f"bench-allocate-lake-{args.rows}")
    if not store.catalog().live_files():
        ingest(store, [export])
    rules = load_rules(rules_folder(DATA / "bench-rules"))
    mapping_rows = sum(len(m.rows) for m in rules.mappings.values())
    timings = []
    for _ in range(args.runs):
        start = time.perf_counter()
        report = allocate(store, rules)
        timings.append(time.perf_counter() - start)
    reference = []
    out = DATA / "bench-hand-written.parquet"
    for _ in range(args.runs):
        start = time.perf_counter()
        hand_written(store, out)
        reference.append(time.perf_counter() - start)
    out.unlink(missing_ok=True)
    seconds, bare = statistics.median(timings), statistics.median(reference)
    save(
        "allocate",
        {
            "rows": rows,
            "allocated_rows": report.rows,
            "mapping_rows": mapping_rows,
            "conditional_rules": len(rules.allocation.rules),
            "shared_pools": len(rules.allocation.shared_pools),
            "allocate_seconds": round(seconds, 3),
            "hand_written_query_seconds": round(bare, 3),
            "ratio_to_hand_written": round(seconds / bare, 2),
            "target_ratio": 2.0,
        },
    )


if __name__ == "__main__":
    main()
