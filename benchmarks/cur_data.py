"""The AWS CUR files the CUR ingest benchmark runs on, generated and cached under benchmarks/data/:
a legacy CUR gzip CSV (`lineItem/...` columns, one `resourceTags/...` column per tag key) and a
CUR 2.0 Parquet (snake_case columns, `product` / `resource_tags` / `cost_category` maps) of the
same N generated lines.

    python benchmarks/cur_data.py [--rows 10000000]

Every line is one of the 21 line kinds of the synthetic CUR fixture
(tests/fixtures/native/aws/make_cur2_fixture.py: usage, RI and savings plan usage, negations and
fees, marketplace, tax, credit, refund, discounts), weighted the way a real month is (mostly
usage), with hash-based variation per line: 50 member accounts, ~300k resources, 31 days, 6
regions, instance types, tags (20% untagged) and amounts scaled 0.001x-2x. One DuckDB query per
file streams `range(N)` through `COPY ... TO`, so memory stays bounded at any N.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
from _common import DATA, ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "native" / "aws" / "make_cur2_fixture.py"

# Relative weight of a fixture line by its line item type (others weigh 1): mostly usage.
WEIGHTS = {
    "Usage": 120,
    "DiscountedUsage": 60,
    "SavingsPlanCoveredUsage": 60,
    "SavingsPlanNegation": 60,
    "Tax": 5,
    "Credit": 3,
    "EdpDiscount": 5,
}
# Columns whose amount scales with the line's quantity (rates stay as the template has them).
AMOUNTS = (
    "line_item_usage_amount", "line_item_unblended_cost", "pricing_public_on_demand_cost",
    "reservation_effective_cost", "reservation_amortized_upfront_cost_for_usage",
    "reservation_recurring_fee_for_usage",
    "reservation_unused_amortized_upfront_fee_for_billing_period",
    "reservation_unused_recurring_fee", "reservation_unused_quantity",
    "reservation_total_reserved_units", "reservation_amortized_upfront_fee_for_billing_period",
    "savings_plan_savings_plan_effective_cost", "savings_plan_total_commitment_to_date",
    "savings_plan_used_commitment", "savings_plan_recurring_commitment_for_billing_period",
)  # fmt: skip
REGIONS = {
    "us-east-1": "US East (N. Virginia)",
    "us-west-2": "US West (Oregon)",
    "eu-west-1": "EU (Ireland)",
    "eu-central-1": "EU (Frankfurt)",
    "ap-southeast-2": "Asia Pacific (Sydney)",
    "ap-northeast-1": "Asia Pacific (Tokyo)",
}
INSTANCE_TYPES = (
    "m5.large", "m5.xlarge", "c5.2xlarge", "r6g.large", "t3.medium", "c6g.large", "m6i.4xlarge",
    "g5.xlarge",
)  # fmt: skip
TEAMS = (
    "web", "data", "api", "batch", "media", "orders", "search", "payments", "ml", "platform",
    "security", "mobile", "growth", "billing", "infra", "analytics",
)  # fmt: skip
# Tag columns: legacy CUR key (`resourceTags/<key>`) -> SQL for the value ('' = not tagged).
# `user:name` beside `user:Name` is the case collision the fixture also carries.
TAGS = {
    "user:Team": "CASE WHEN h_tag % 5 = 0 THEN '' ELSE {teams}[1 + h2(i, 'team') % {n_teams}] END",
    "user:Env": "CASE WHEN h_tag % 5 = 0 OR h2(i, 'env') % 10 >= 7 THEN '' "
    "ELSE ['prod', 'staging', 'dev'][1 + h2(i, 'env') % 3] END",
    "user:Owner": "CASE WHEN h_tag % 5 = 0 OR h2(i, 'own') % 10 >= 4 THEN '' "
    "ELSE 'owner-' || (h2(i, 'own') % 97) END",
    "user:CostCenter": "CASE WHEN h_tag % 5 = 0 OR h2(i, 'cc') % 2 = 0 THEN '' "
    "ELSE 'CC-' || (1000 + h2(i, 'cc') % 40) END",
    "user:Name": "CASE WHEN h_tag % 5 = 0 OR h2(i, 'nm') % 10 >= 3 THEN '' "
    "ELSE 'node-' || (h_res % 5000) END",
    "user:name": "CASE WHEN h2(i, 'nm') % 100 = 0 THEN 'legacy-' || (h_res % 50) ELSE '' END",
    "aws:createdBy": "CASE WHEN h_tag % 5 = 0 OR h2(i, 'cb') % 4 <> 0 THEN '' "
    "ELSE 'AssumedRole:AROAEXAMPLE:deploy-' || (h2(i, 'cb') % 9) END",
}
COST_CATEGORIES = {
    "BusinessUnit": "CASE WHEN h_tag % 3 = 0 THEN '' "
    "ELSE ['Retail', 'Wholesale', 'Platform'][1 + h_tag % 3] END",
}
# Legacy CUR columns beyond the fixture's, as real reports have them: column -> SQL.
LEGACY_EXTRA = {
    "lineItem/BlendedRate": "line_item_unblended_rate",
    "lineItem/BlendedCost": "line_item_unblended_cost",
    "lineItem/NormalizationFactor": "CASE WHEN line_item_usage_type LIKE 'BoxUsage:%' THEN 8 END",
    # focus-converter 1.0.0 refuses a report without `product/region`.
    "product/region": "product_region_code",
    "product/servicecode": "line_item_product_code",
    "product/usagetype": "line_item_usage_type",
    "product/operation": "line_item_operation",
    "product/instanceType": "CASE WHEN line_item_usage_type LIKE 'BoxUsage:%' "
    "THEN split_part(line_item_usage_type, ':', 2) END",
    "pricing/RateId": "CASE WHEN pricing_rate_code IS NOT NULL THEN hash(pricing_rate_code) % 99999999 END",
}


def _fixture():
    """The fixture script as a module: its LINES, column lists and legacy names."""
    spec = importlib.util.spec_from_file_location("make_cur2_fixture", FIXTURE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _list(values: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(_lit(v) for v in values) + "]"


def _lines_sql(con: duckdb.DuckDBPyConnection, rows: int) -> str:
    """Register the templates and return the query of `rows` generated lines, in CUR 2.0 snake
    case with SQL types (text, DOUBLE amounts, naive UTC timestamps), plus one `tag:<key>`
    column per legacy tag key and `category:<name>` per cost category."""
    fx = _fixture()
    columns = [*fx.TEXT, *fx.DOUBLE, *fx.TIMES, "product_product_name"]
    templates: dict[str, list] = {c: [] for c in columns}
    templates["weight"] = []
    templates["daily"] = []
    for row in fx.LINES:
        for c in columns:
            value = row.get(c)
            templates[c].append(None if value in (None, "") else str(value))
        templates["weight"].append(WEIGHTS.get(row["line_item_line_item_type"], 1))
        templates["daily"].append(row["line_item_usage_start_date"] == fx.DAY[0])
    con.register("template_source", pa.table(templates))
    # A hash as a non-negative BIGINT, usable as a list index.
    con.execute("CREATE OR REPLACE TEMP MACRO h2(a, b) AS CAST(hash(a, b) >> 1 AS BIGINT)")
    # One slot per unit of weight: line i takes slot hash(i) % slots (a tiny hash join).
    con.execute(
        "CREATE OR REPLACE TEMP TABLE template AS SELECT row_number() OVER () - 1 AS slot, * "
        "FROM (SELECT * EXCLUDE (weight, daily), daily, unnest(range(weight)) AS copy "
        "FROM template_source ORDER BY line_item_line_item_type, copy)"
    )
    slots = con.execute("SELECT count(*) FROM template").fetchone()[0]  # type: ignore[index]
    regions = list(REGIONS)
    start = (
        "CASE WHEN t.daily THEN TIMESTAMP '2024-03-01' + to_days(CAST(h_day % 31 AS INTEGER)) "
        "ELSE CAST(t.line_item_usage_start_date AS TIMESTAMP) END"
    )
    varied = {
        "identity_line_item_id": "lower(hex(h2(i, 'id'))) || lower(hex(h2(i, 'id2')))",
        "line_item_usage_account_id": "'0' || CAST(40000000000 + (h_acct % 50) * 7919 AS VARCHAR)",
        "line_item_usage_account_name": "'workload-' || (h_acct % 50)",
        "line_item_usage_type": "CASE WHEN t.line_item_usage_type LIKE 'BoxUsage:%' THEN "
        f"'BoxUsage:' || {_list(INSTANCE_TYPES)}[1 + h_res % {len(INSTANCE_TYPES)}] "
        "ELSE t.line_item_usage_type END",
        "line_item_resource_id": "CASE WHEN t.line_item_resource_id IS NULL THEN NULL "
        "WHEN t.line_item_product_code = 'AmazonEC2' "
        "THEN 'i-0' || lpad(lower(hex(h_res % 300000)), 16, '0') "
        "ELSE t.line_item_resource_id || '-' || (h_res % 300000) END",
        "product_region_code": "CASE WHEN t.product_region_code IS NOT NULL "
        f"THEN {_list(regions)}[1 + h_res % {len(regions)}] END",
        "product_location": "CASE WHEN t.product_location IS NOT NULL "
        f"THEN {_list(list(REGIONS.values()))}[1 + h_res % {len(regions)}] END",
        "line_item_availability_zone": "CASE WHEN t.line_item_availability_zone IS NOT NULL "
        f"THEN {_list(regions)}[1 + h_res % {len(regions)}] || ['a', 'b', 'c'][1 + h_day % 3] END",
        "line_item_usage_start_date": start,
        "line_item_usage_end_date": f"CASE WHEN t.daily THEN {start} + INTERVAL 1 DAY "
        "ELSE CAST(t.line_item_usage_end_date AS TIMESTAMP) END",
        "identity_time_interval": f"strftime({start}, '%Y-%m-%dT%H:%M:%SZ') || '/' || "
        f"strftime(CASE WHEN t.daily THEN {start} + INTERVAL 1 DAY "
        "ELSE CAST(t.line_item_usage_end_date AS TIMESTAMP) END, '%Y-%m-%dT%H:%M:%SZ')",
    }
    for c in AMOUNTS:
        varied[c] = f"round(CAST(t.{c} AS DOUBLE) * scale, 8)"
    select = []
    for c in columns:
        if c in varied:
            select.append(f"{varied[c]} AS {c}")
        elif c in fx.TIMES:
            select.append(f"CAST(t.{c} AS TIMESTAMP) AS {c}")
        else:
            select.append(f"t.{c}")
    teams = _list(TEAMS)
    for key, sql in TAGS.items():
        select.append(f"{sql.format(teams=teams, n_teams=len(TEAMS))} AS {_q('tag:' + key)}")
    for name, sql in COST_CATEGORIES.items():
        select.append(f"{sql} AS {_q('category:' + name)}")
    hashes = (
        "h2(range, 'acct') AS h_acct, h2(range, 'res') AS h_res, "
        "h2(range, 'day') AS h_day, h2(range, 'tag') AS h_tag, "
        "(1 + h2(range, 'scale') % 2000) / 1000.0 AS scale, "
        f"h2(range, 'slot') % {slots} AS slot, range AS i"
    )
    return (
        f"SELECT {', '.join(select)} FROM (SELECT {hashes} FROM range({rows})) AS g "
        "JOIN template AS t USING (slot)"
    )


def _legacy_query(lines: str) -> str:
    """The generated lines as legacy CUR's CSV columns, times as legacy CUR writes them."""
    fx = _fixture()
    select = []
    for snake, legacy in fx.LEGACY.items():
        value = _q(snake)
        if snake in fx.TIMES:
            value = f"strftime({value}, '%Y-%m-%dT%H:%M:%S.000Z')"
        select.append(f"{value} AS {_q(legacy)}")
    select += [f"{sql} AS {_q(name)}" for name, sql in LEGACY_EXTRA.items()]
    select += [f"{_q('tag:' + key)} AS {_q('resourceTags/' + key)}" for key in TAGS]
    select += [f"{_q('category:' + n)} AS {_q('costCategory/' + n)}" for n in COST_CATEGORIES]
    return f"SELECT {', '.join(select)} FROM ({lines})"


def _cur2_query(lines: str) -> str:
    """The generated lines as CUR 2.0 columns: the fixture's text, double and ms-timestamp
    columns, product attributes in `product`, tags and cost categories in maps."""
    fx = _fixture()

    def kv_map(pairs: list[tuple[str, str]]) -> str:
        entries = ", ".join(f"{{'key': {_lit(k)}, 'value': {v}}}" for k, v in pairs)
        return f"map_from_entries(list_filter([{entries}], lambda e: coalesce(e.value, '') <> ''))"

    select = [_q(c) for c in (*fx.TEXT, *fx.DOUBLE)]
    select += [f"CAST({_q(c)} AS TIMESTAMP_MS) AS {c}" for c in fx.TIMES]
    product = [
        ("product_name", "product_product_name"),
        ("servicecode", "line_item_product_code"),
        ("region", "product_region_code"),
        (
            "instance_type",
            "CASE WHEN line_item_usage_type LIKE 'BoxUsage:%' "
            "THEN split_part(line_item_usage_type, ':', 2) END",
        ),
    ]
    select.append(f"{kv_map(product)} AS product")
    # CUR 2.0 snake-cases tag keys, so `user:Name` and `user:name` are one key: keep the first.
    tags: dict[str, str] = {}
    for key in TAGS:
        tags.setdefault(fx.cur2_tag_key(key), _q("tag:" + key))
    select.append(f"{kv_map(list(tags.items()))} AS resource_tags")
    categories = [(name, _q("category:" + name)) for name in COST_CATEGORIES]
    select.append(f"{kv_map(categories)} AS cost_category")
    return f"SELECT {', '.join(select)} FROM ({lines})"


def cur_file(rows: int, kind: str) -> tuple[Path, int]:
    """A generated CUR file of `rows` lines: `legacy` (gzip CSV) or `cur2` (Parquet), and its row
    count. Generated once, then reused from benchmarks/data/."""
    if kind not in ("legacy", "cur2"):
        raise ValueError(f"unknown CUR kind {kind!r}: use 'legacy' or 'cur2'")
    target = DATA / (f"cur-legacy-{rows}.csv.gz" if kind == "legacy" else f"cur2-{rows}.parquet")
    if not target.exists():
        DATA.mkdir(parents=True, exist_ok=True)
        tmp = Path(f"{target}.tmp")
        con = duckdb.connect(config={"memory_limit": "2GB"})
        con.execute("SET preserve_insertion_order = false")
        lines = _lines_sql(con, rows)
        if kind == "legacy":
            con.execute(
                f"COPY ({_legacy_query(lines)}) TO '{tmp}' "
                "(FORMAT csv, HEADER true, COMPRESSION gzip)"
            )
        else:
            con.execute(
                f"COPY ({_cur2_query(lines)}) TO '{tmp}' (FORMAT parquet, COMPRESSION snappy)"
            )
        con.close()
        tmp.rename(target)
    return target, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    args = parser.parse_args()
    for kind in ("legacy", "cur2"):
        path, rows = cur_file(args.rows, kind)
        print(f"{path} ({rows} rows, {path.stat().st_size / 2**20:.1f} MiB)", file=sys.stderr)


if __name__ == "__main__":
    main()
