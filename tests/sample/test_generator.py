"""`cloudtally sample`: the made-up company's FOCUS 1.2 exports, pinned, valid and shaped."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from statistics import median
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from cloudtally.cli import _Group
from cloudtally.errors import CloudtallyError
from cloudtally.focus.canonical import CANONICAL_BY_NAME, DECIMAL, FOCUS_COLUMNS, TIMESTAMP
from cloudtally.sample import SampleError, SampleSummary, generate_sample
from cloudtally.sample.acme import ACME
from cloudtally.sample.command import sample

SMALL = {"months": 2, "scale": 0.2, "seed": 7}

# Pinned for SMALL (end month 2024-10, Parquet). Demos, golden files and benchmarks are built
# on the generator: a change that moves these numbers should be made on purpose. They also
# depend on DuckDB's hash(), so a DuckDB upgrade may move them.
SMALL_ROWS = 23_076
SMALL_TOTALS = {
    "USD": {
        "BilledCost": Decimal("81438.7515973080992"),
        "EffectiveCost": Decimal("81438.7515973080992"),
    }
}

# The team of a row as a tag-normalizing report reads it: any of the key variants, case and
# spaces folded, `team-` owner values stripped.
TEAM = """CASE WHEN Tags IS NULL THEN NULL ELSE coalesce(
    lower(trim(Tags->>'team')), lower(trim(Tags->>'Team')),
    regexp_replace(lower(trim(Tags->>'owner')), '^team-', '')) END"""

# FOCUS 1.2 ServiceCategory -> allowed ServiceSubcategory values (the specification's table).
SUBCATEGORIES = {
    "AI and Machine Learning": {"AI Platforms", "Bots", "Generative AI", "Machine Learning", "Natural Language Processing"},
    "Analytics": {"Analytics Platforms", "Business Intelligence", "Data Processing", "Search", "Streaming Analytics"},
    "Business Applications": {"Productivity and Collaboration"},
    "Compute": {"Containers", "End User Computing", "Quantum Compute", "Serverless Compute", "Virtual Machines"},
    "Databases": {"Caching", "Data Warehouses", "Ledger Databases", "NoSQL Databases", "Relational Databases", "Time Series Databases"},
    "Developer Tools": {"Developer Platforms", "Continuous Integration and Deployment", "Development Environments", "Source Code Management", "Quality Assurance"},
    "Identity": {"Identity and Access Management"},
    "Integration": {"API Management", "Messaging", "Workflow Orchestration"},
    "Internet of Things": {"IoT Analytics", "IoT Platforms"},
    "Management and Governance": {"Architecture", "Compliance", "Cost Management", "Data Governance", "Disaster Recovery", "Endpoint Management", "Observability", "Support"},
    "Media": {"Content Creation", "Gaming", "Media Streaming", "Mixed Reality"},
    "Migration": {"Data Migration", "Resource Migration"},
    "Mobile": set(),
    "Multicloud": {"Multicloud Integration"},
    "Networking": {"Application Networking", "Content Delivery", "Network Connectivity", "Network Infrastructure", "Network Routing", "Network Security"},
    "Security": {"Secret Management", "Security Posture Management", "Threat Detection and Response"},
    "Storage": {"Backup Storage", "Block Storage", "File Storage", "Object Storage", "Storage Platforms"},
    "Web": {"Application Platforms"},
    "Other": set(),
}  # fmt: skip

# FOCUS unit format: a count or size unit, optionally "<n> " before it, "-<Times>" or "/<Time>".
UNIT = re.compile(
    r"^(\d+ )?[A-Za-z][A-Za-z0-9]*( [A-Za-z][A-Za-z0-9]*)*"
    r"(-(Seconds|Minutes|Hours|Days|Months|Years)|/(Second|Minute|Hour|Day|Month|Year))?$"
)

# Rules every row must keep: name -> a condition true on the rows that break it.
VIOLATIONS = {
    "provider, publisher and invoice issuer agree": "ProviderName <> PublisherName OR ProviderName <> InvoiceIssuerName",
    "one region name per region id": "RegionName <> first_value(RegionName) OVER (PARTITION BY RegionId)",
    "region id and name null together": "(RegionId IS NULL) <> (RegionName IS NULL)",
    "pricing unit with pricing quantity": "(PricingQuantity IS NULL) <> (PricingUnit IS NULL)",
    "consumed unit with consumed quantity": "(ConsumedQuantity IS NULL) <> (ConsumedUnit IS NULL)",
    "consumed quantity only on used usage": "(ChargeCategory <> 'Usage' OR CommitmentDiscountStatus = 'Unused') AND ConsumedQuantity IS NOT NULL",
    "consumed quantity on all other usage": "ChargeCategory = 'Usage' AND ChargeClass IS NULL AND CommitmentDiscountStatus IS DISTINCT FROM 'Unused' AND ConsumedQuantity IS NULL",
    "JSON columns are objects": "json_type(Tags) <> 'OBJECT' OR json_type(SkuPriceDetails) <> 'OBJECT'",
    "taxes have no price or SKU": "ChargeCategory = 'Tax' AND (PricingQuantity IS NOT NULL OR SkuId IS NOT NULL OR ListUnitPrice IS NOT NULL OR PricingCategory IS NOT NULL)",
    "usage and purchases are priced": "ChargeCategory IN ('Usage', 'Purchase') AND ChargeClass IS NULL AND (ListUnitPrice IS NULL OR ContractedUnitPrice IS NULL OR PricingQuantity IS NULL OR SkuId IS NULL OR SkuPriceId IS NULL OR PricingCategory IS NULL)",
    "purchases are not usage-based": "ChargeCategory = 'Purchase' AND ChargeFrequency = 'Usage-Based'",
    "list >= contracted >= effective for usage": "ChargeCategory = 'Usage' AND NOT (ListCost >= ContractedCost AND ContractedCost >= EffectiveCost)",
    "effective cost in pricing currency": "PricingCurrencyEffectiveCost <> EffectiveCost",
    "usage names its resource": "ChargeCategory = 'Usage' AND ChargeFrequency = 'Usage-Based' AND ChargeClass IS NULL AND (ResourceId IS NULL OR ResourceName IS NULL OR ResourceType IS NULL)",
    "commitment columns together": "(CommitmentDiscountId IS NULL) <> (CommitmentDiscountType IS NULL) OR (CommitmentDiscountId IS NULL) <> (CommitmentDiscountQuantity IS NULL)",
    "commitment usage has a status": "CommitmentDiscountId IS NOT NULL AND ChargeCategory = 'Usage' AND CommitmentDiscountStatus IS NULL",
    "a day per charge": "ChargePeriodEnd <> ChargePeriodStart + INTERVAL 1 DAY OR date_trunc('day', ChargePeriodStart) <> ChargePeriodStart",
    "a month per billing period": "BillingPeriodStart <> date_trunc('month', BillingPeriodStart) OR BillingPeriodEnd <> BillingPeriodStart + INTERVAL 1 MONTH",
    "charges in their billing period, except corrections": "ChargeClass IS NULL AND (ChargePeriodStart < BillingPeriodStart OR ChargePeriodStart >= BillingPeriodEnd)",
    "corrections refund the previous period": "ChargeClass = 'Correction' AND (ChargePeriodStart >= BillingPeriodStart OR BilledCost >= 0)",
    "credits are what they give back": "ChargeCategory = 'Credit' AND (EffectiveCost <> BilledCost OR BilledCost >= 0)",
    "savings plan purchases amortize to nothing": "ChargeCategory = 'Purchase' AND (EffectiveCost <> 0 OR BilledCost <= 0)",
    "covered usage is paid by the plan": "CommitmentDiscountStatus = 'Used' AND (BilledCost <> 0 OR EffectiveCost <= 0 OR PricingCategory <> 'Committed')",
    "GCP labels are lower case": "ProviderName = 'Google Cloud' AND (list_filter(json_keys(Tags), lambda k: k <> lower(k)) <> [] OR Tags->>'team' <> lower(Tags->>'team'))",
}  # fmt: skip


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> SampleSummary:
    return generate_sample(tmp_path_factory.mktemp("small"), **SMALL)  # type: ignore[arg-type]


def view(path: Path, name: str = "t") -> duckdb.DuckDBPyConnection:
    db = duckdb.connect()
    db.execute("SET TimeZone = 'UTC'")
    db.execute(
        f"CREATE VIEW {name} AS SELECT *, {TEAM} AS team FROM read_parquet('{path}/*/*.parquet')"
    )
    return db


@pytest.fixture(scope="module")
def con(small: SampleSummary) -> duckdb.DuckDBPyConnection:
    return view(small.out_dir)


def one(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    rows = con.execute(sql).fetchall()
    assert len(rows) == 1 and len(rows[0]) == 1, rows
    return rows[0][0]


def rows_where(con: duckdb.DuckDBPyConnection, condition: str, table: str = "t") -> int:
    return int(one(con, f"SELECT count(*) FROM (SELECT {condition} AS hit FROM {table}) WHERE hit"))


def column(con: duckdb.DuckDBPyConnection, sql: str) -> list[Any]:
    return [row[0] for row in con.execute(sql).fetchall()]


def digests(summary: SampleSummary) -> dict[str, str]:
    return {
        str(f.path.relative_to(summary.out_dir)): hashlib.sha256(f.path.read_bytes()).hexdigest()
        for f in summary.files
    }


# -- what is written ------------------------------------------------------------------------


def test_small_sample_is_pinned(small: SampleSummary, con: duckdb.DuckDBPyConnection) -> None:
    assert (small.rows, small.totals) == (SMALL_ROWS, SMALL_TOTALS)
    # The summary is exact: the files add up to it to the last digit.
    sums = "SELECT sum(BilledCost), sum(EffectiveCost), count(*) FROM t"
    usd = SMALL_TOTALS["USD"]
    assert con.execute(sums).fetchall() == [(usd["BilledCost"], usd["EffectiveCost"], SMALL_ROWS)]


def test_one_file_per_provider_and_billing_month(small: SampleSummary) -> None:
    written = sorted(str(f.path.relative_to(small.out_dir)) for f in small.files)
    assert written == [
        f"{provider}/{month}.parquet"
        for provider in ("aws", "azure", "gcp")
        for month in ("2024-09", "2024-10")
    ]
    everything = sorted(str(p.relative_to(small.out_dir)) for p in small.out_dir.rglob("*"))
    assert everything == sorted(["aws", "azure", "gcp", *written]), "nothing else is left behind"
    for f in small.files:
        assert pq.read_metadata(f.path).num_rows == f.rows
    assert sum(f.rows for f in small.files) == small.rows


def test_same_arguments_same_bytes_and_another_seed_other_data(
    small: SampleSummary, tmp_path: Path
) -> None:
    again = generate_sample(tmp_path / "again", **SMALL)  # type: ignore[arg-type]
    assert digests(again) == digests(small)
    assert (again.rows, again.totals, again.anomalies) == (
        small.rows,
        small.totals,
        small.anomalies,
    )
    other = generate_sample(tmp_path / "other", **{**SMALL, "seed": 8})  # type: ignore[arg-type]
    assert other.totals != small.totals
    assert set(digests(other).values()).isdisjoint(digests(small).values())


def test_parquet_has_exactly_the_focus_columns_with_their_types(small: SampleSummary) -> None:
    expected = {
        DECIMAL: pa.decimal128(38, 18),
        TIMESTAMP: pa.timestamp("us", tz="UTC"),
        "VARCHAR": pa.string(),
        "MAP(VARCHAR, VARCHAR)": pa.string(),  # Tags: JSON object text, as exports ship it
        "JSON": pa.string(),  # SkuPriceDetails
    }
    for f in small.files:
        schema = pq.read_schema(f.path)
        assert schema.names == list(FOCUS_COLUMNS) and len(schema.names) == 57
        for field in schema:
            assert field.type == expected[CANONICAL_BY_NAME[field.name].sql_type], field


def test_csv_and_csv_gz_carry_the_same_rows_as_text(tmp_path: Path) -> None:
    args: dict[str, Any] = {"months": 1, "scale": 0.05, "seed": 3}
    parquet = generate_sample(tmp_path / "parquet", **args)
    iso_day = r"regexp_full_match(ChargePeriodStart, '\d{4}-\d\d-\d\dT00:00:00Z')"
    plain_decimal = r"regexp_full_match(BilledCost, '-?\d+(\.\d*[1-9])?')"
    for fmt in ("csv", "csv.gz"):
        text = generate_sample(tmp_path / fmt, fmt=fmt, **args)
        assert [f.path.name for f in text.files] == [f"2024-10.{fmt}"] * 3
        assert (text.rows, text.totals) == (parquet.rows, parquet.totals)
        db = duckdb.connect()
        for f in text.files:
            first_line = f"SELECT * FROM read_csv('{f.path}', header = false, all_varchar = true)"
            assert list(db.execute(f"{first_line} LIMIT 1").fetchall()[0]) == list(FOCUS_COLUMNS)
        files = [str(f.path) for f in text.files]
        db.execute(f"CREATE VIEW c AS SELECT * FROM read_csv({files}, all_varchar = true)")
        # ISO 8601 UTC times with a Z; plain decimals, no exponent or trailing zeros; account
        # ids with their leading zeros; exact money.
        assert rows_where(db, f"NOT {iso_day}", "c") == 0
        assert rows_where(db, f"NOT {plain_decimal}", "c") == 0
        assert rows_where(db, "BillingAccountId = '004218837459'", "c") > 0
        exact = one(db, "SELECT sum(CAST(BilledCost AS DECIMAL(38,18))) FROM c")
        assert exact == text.totals["USD"]["BilledCost"]
        assert rows_where(db, "json_valid(Tags) IS FALSE", "c") == 0


# -- FOCUS 1.2 validity -------------------------------------------------------------------------


def test_no_nulls_where_focus_forbids_them(con: duckdb.DuckDBPyConnection) -> None:
    not_null = [n for n in FOCUS_COLUMNS if not CANONICAL_BY_NAME[n].allows_nulls]
    assert {"BilledCost", "ChargeFrequency", "ServiceSubcategory"} <= set(not_null)
    counts = ", ".join(f"count(*) FILTER (WHERE {name} IS NULL)" for name in not_null)
    nulls = con.execute(f"SELECT {counts} FROM t").fetchall()[0]
    assert dict(zip(not_null, nulls, strict=True)) == dict.fromkeys(not_null, 0)


@pytest.mark.parametrize("rule", VIOLATIONS)
def test_focus_rule_holds(con: duckdb.DuckDBPyConnection, rule: str) -> None:
    assert rows_where(con, VIOLATIONS[rule]) == 0


def test_allowed_values(con: duckdb.DuckDBPyConnection) -> None:
    def values(name: str) -> set[Any]:
        return set(column(con, f"SELECT DISTINCT {name} FROM t"))

    assert values("ChargeCategory") == {"Usage", "Purchase", "Tax", "Credit"}
    assert values("ChargeFrequency") == {"Recurring", "Usage-Based"}
    assert values("ChargeClass") == {None, "Correction"}
    assert values("PricingCategory") == {None, "Standard", "Committed", "Dynamic"}
    assert values("CommitmentDiscountStatus") == {None, "Used", "Unused"}
    assert values("BillingCurrency") == values("PricingCurrency") == {"USD"}
    assert values("ProviderName") == {"AWS", "Microsoft", "Google Cloud"}
    pairs = con.execute("SELECT DISTINCT ServiceCategory, ServiceSubcategory FROM t").fetchall()
    for category, subcategory in pairs:
        assert subcategory in SUBCATEGORIES[category] | {f"Other ({category})"}
    two = "SELECT ServiceName FROM t GROUP BY ALL HAVING count(DISTINCT ServiceSubcategory) > 1"
    assert column(con, two) == []
    for unit in values("PricingUnit") | values("ConsumedUnit") | values("CommitmentDiscountUnit"):
        assert unit is None or UNIT.match(unit), unit
    assert 0 < rows_where(con, "ChargeClass = 'Correction'") <= 12


def test_costs_are_exact_unit_price_times_quantity(con: duckdb.DuckDBPyConnection) -> None:
    # In Python's Decimal: DuckDB cannot multiply two DECIMAL(38,18) without overflow.
    rows = con.execute(
        "SELECT ListUnitPrice, ContractedUnitPrice, PricingQuantity, ListCost, ContractedCost "
        "FROM t WHERE ChargeClass IS NULL AND PricingQuantity IS NOT NULL"
    ).fetchall()
    assert len(rows) > 10_000
    for list_price, contracted_price, quantity, listed, contracted in rows:
        assert list_price * quantity == listed
        assert contracted_price * quantity == contracted


def test_the_company(con: duckdb.DuckDBPyConnection) -> None:
    assert len(ACME.accounts) == 50 and len(ACME.providers) == 3
    accounts = con.execute(
        "SELECT ProviderName, count(DISTINCT SubAccountId), count(DISTINCT BillingAccountId) "
        "FROM t GROUP BY ALL ORDER BY 1"
    ).fetchall()
    # At scale 0.2 a small sandbox may draw no resources; every other account has some.
    assert [(p, b) for p, _, b in accounts] == [("AWS", 1), ("Google Cloud", 1), ("Microsoft", 1)]
    assert sum(n for _, n, _ in accounts) >= 47
    aws = column(con, "SELECT DISTINCT SubAccountId FROM t WHERE ProviderName = 'AWS'")
    assert all(re.fullmatch(r"\d{12}", i) for i in aws)
    assert sum(i.startswith("0") for i in aws) >= 3
    teams = {"web", "mobile", "payments", "search", "data", "ml", "platform", "security"}
    assert set(column(con, "SELECT DISTINCT team FROM t")) == {None, *teams}
    assert one(con, "SELECT count(DISTINCT Tags->>'product') FROM t") == 12
    share = "SELECT ProviderName, sum(EffectiveCost) / (SELECT sum(EffectiveCost) FROM t) FROM t"
    shares = dict(con.execute(f"{share} GROUP BY ALL").fetchall())
    assert shares["AWS"] > 0.6 and shares["Microsoft"] + shares["Google Cloud"] > 0.1


# -- the charges a real bill has ----------------------------------------------------------------


def test_credits_taxes_and_the_support_fee(con: duckdb.DuckDBPyConnection) -> None:
    assert one(con, "SELECT sum(BilledCost) FROM t WHERE ChargeCategory = 'Credit'") < 0
    assert one(con, "SELECT sum(BilledCost) FROM t WHERE ChargeCategory = 'Tax'") > 0
    fees = (
        "SELECT day(ChargePeriodStart), ChargeFrequency FROM t WHERE ServiceSubcategory = 'Support'"
    )
    support = con.execute(fees).fetchall()
    assert len(support) == 6 and set(support) == {(1, "Recurring")}  # 3 providers x 2 months


def test_savings_plan_is_bought_used_and_amortized(con: duckdb.DuckDBPyConnection) -> None:
    assert rows_where(con, "ChargeCategory = 'Purchase'") == 61  # a purchase row a day
    assert rows_where(con, "CommitmentDiscountStatus = 'Unused'") == 61
    assert rows_where(con, "CommitmentDiscountStatus = 'Used'") > 0
    # Every day the commitment bought is exactly what is used plus unused.
    daily = """SELECT ChargePeriodStart,
                      sum(BilledCost) FILTER (WHERE ChargeCategory = 'Purchase') AS bought,
                      sum(EffectiveCost) FILTER (WHERE ChargeCategory = 'Usage') AS amortized
               FROM t WHERE CommitmentDiscountId IS NOT NULL GROUP BY ALL"""
    assert rows_where(con, "bought IS DISTINCT FROM amortized", f"({daily})") == 0


# -- shapes, tags and anomalies -------------------------------------------------------------------


@pytest.fixture(scope="module")
def month_at_scale_1(tmp_path_factory: pytest.TempPathFactory) -> SampleSummary:
    return generate_sample(tmp_path_factory.mktemp("scale1"), months=1, scale=1, seed=1)


def test_untagged_share_of_cost_is_15_to_20_percent(month_at_scale_1: SampleSummary) -> None:
    # At scale 1 there are enough resources for the share to settle (scale 0.2 is noisier).
    untagged = "SELECT sum(EffectiveCost) FILTER (WHERE team IS NULL) / sum(EffectiveCost) FROM t"
    assert 0.15 <= one(view(month_at_scale_1.out_dir), untagged) <= 0.20
    assert 30_000 <= month_at_scale_1.rows <= 60_000


def test_tag_key_and_value_variants(con: duckdb.DuckDBPyConnection) -> None:
    keys = "SELECT DISTINCT unnest(json_keys(Tags)) FROM t WHERE Tags IS NOT NULL"
    assert set(column(con, keys)) == {
        "team", "Team", "owner", "env", "environment", "product", "cost-center"
    }  # fmt: skip
    key = """CASE WHEN Tags->>'team' IS NOT NULL THEN 'team'
                  WHEN Tags->>'Team' IS NOT NULL THEN 'Team'
                  WHEN Tags->>'owner' IS NOT NULL THEN 'owner' END"""
    shares = con.execute(
        f"SELECT k, count(*) / sum(count(*)) OVER () FROM (SELECT {key} AS k FROM t) "
        "WHERE k IS NOT NULL GROUP BY ALL"
    ).fetchall()
    share = dict(shares)
    assert share["team"] > 0.6 and 0.05 < share["Team"] < 0.2 and 0.05 < share["owner"] < 0.2
    values = set(column(con, "SELECT DISTINCT coalesce(Tags->>'team', Tags->>'Team') FROM t"))
    assert {"Web", "web ", "WEB"} & values and len(values - {None}) > 8


def test_compute_is_quieter_at_weekends_and_storage_grows(con: duckdb.DuckDBPyConnection) -> None:
    compute = """SELECT isodow(ChargePeriodStart) >= 6 AS weekend, sum(EffectiveCost) AS cost
                 FROM t WHERE ServiceCategory = 'Compute' AND ChargeCategory = 'Usage'
                   AND ResourceName NOT LIKE '%-asg-%' GROUP BY ChargePeriodStart"""
    by_kind = dict(
        con.execute(f"SELECT weekend, avg(cost) FROM ({compute}) GROUP BY ALL").fetchall()
    )
    assert by_kind[True] < 0.95 * by_kind[False]
    stored = """SELECT sum(PricingQuantity * day(last_day(ChargePeriodStart))) FROM t
                WHERE ServiceCategory = 'Storage' GROUP BY ChargePeriodStart ORDER BY ChargePeriodStart"""
    gigabytes = column(con, stored)
    assert gigabytes[0] < gigabytes[len(gigabytes) // 2] < gigabytes[-1]
    resources = """SELECT count(DISTINCT ResourceId) FROM t WHERE ResourceName NOT LIKE '%-asg-%'
                   GROUP BY BillingPeriodStart ORDER BY BillingPeriodStart"""
    september, october = column(con, resources)
    assert 1.01 < october / september < 1.1  # growth, about 3% a month


def test_planted_anomalies_show(small: SampleSummary, con: duckdb.DuckDBPyConnection) -> None:
    kinds = {a.kind: a for a in small.anomalies}
    assert set(kinds) == {"spike", "level-shift", "new-service"}

    def daily(where: str) -> dict[Any, Decimal]:
        series = f"SELECT ChargePeriodStart::DATE, sum(EffectiveCost) FROM t WHERE {where}"
        return dict(con.execute(f"{series} GROUP BY ALL").fetchall())

    spike = kinds["spike"]
    assert (spike.dimension, spike.value, spike.days) == ("team", "payments", 3)
    compute = daily(f"team = '{spike.value}' AND ServiceCategory = 'Compute'")
    typical = median(compute.values())
    for n in range(spike.days):
        assert compute[spike.date + timedelta(days=n)] > 3 * typical
    assert compute[spike.date + timedelta(days=spike.days)] < 2 * typical

    shift = kinds["level-shift"]
    service = daily(f"ServiceName = '{shift.value}'")
    before = median(v for d, v in service.items() if d < shift.date)
    after = median(v for d, v in service.items() if d >= shift.date)
    assert after > 2 * before

    new = kinds["new-service"]
    assert min(daily(f"ServiceName = '{new.value}'")) == new.date


def test_rows_grow_linearly_with_scale(tmp_path: Path, month_at_scale_1: SampleSummary) -> None:
    rows = [generate_sample(tmp_path / str(s), months=1, scale=s, seed=1).rows for s in (0.25, 0.5)]
    rows.append(month_at_scale_1.rows)
    fixed = 1_700  # taxes, fees, commitments: per account and day, not per resource
    assert (rows[1] - fixed) / (rows[0] - fixed) == pytest.approx(2, rel=0.08)
    assert (rows[2] - fixed) / (rows[1] - fixed) == pytest.approx(2, rel=0.08)


# -- arguments and the command ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"months": 0}, "--months must be a whole number from 1 to 120"),
        ({"scale": 0}, "--scale must be a number above 0"),
        ({"scale": -1.5}, "--scale must be a number above 0"),
        ({"scale": float("nan")}, "--scale must be a number above 0"),
        ({"end_month": "2024-13"}, "--end-month '2024-13' is not a month"),
        ({"end_month": "October"}, "--end-month 'October' is not a month"),
        ({"fmt": "xlsx"}, "Unknown file format 'xlsx'"),
        ({"seed": -1}, "--seed must be a whole number"),
    ],
)
def test_bad_arguments_are_sample_errors(
    tmp_path: Path, args: dict[str, Any], message: str
) -> None:
    with pytest.raises(SampleError, match=re.escape(message)) as raised:
        generate_sample(tmp_path / "out", **args)
    assert isinstance(raised.value, CloudtallyError) and isinstance(raised.value, ValueError)
    assert not (tmp_path / "out").exists()


def test_cli_writes_and_summarises(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    args = [str(out), "--months", "1", "--scale", "0.05", "--seed", "3", "--file-format", "csv.gz"]
    result = CliRunner().invoke(sample, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Wrote 3 files" in result.output
    assert "Planted anomalies" in result.output and "team=payments" in result.output
    assert sorted(p.name for p in out.rglob("*.csv.gz")) == ["2024-10.csv.gz"] * 3


def test_cli_help_and_bad_values(tmp_path: Path) -> None:
    app = _Group(name="cloudtally", commands={"sample": sample})  # the app's error boundary
    runner = CliRunner()
    help_text = runner.invoke(app, ["sample", "--help"]).output
    for option in ("--months", "--scale", "--seed", "--end-month", "--file-format", "csv.gz"):
        assert option in help_text
    bad = runner.invoke(app, ["sample", str(tmp_path / "x"), "--scale", "0"])
    assert bad.exit_code == 1
    assert "Error: --scale must be a number above 0" in bad.stderr
    assert "Traceback" not in bad.output
