"""DuckDB and Spark on the same input give the same lake, the same allocation and the same
answers, to the last digit: the shipped FOCUS samples, one native export per converter and
the generated company (small), ingested, allocated and queried on each engine.

Both lakes are read back through DuckDB for the row comparisons (the files are the product:
what either engine wrote must read the same), and each engine answers the questions itself.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cloudtally.allocate.engine import allocate
from cloudtally.allocate.reports import showback
from cloudtally.cli import app
from cloudtally.engine import DUCKDB, Engine, SparkEngine
from cloudtally.ingest.pipeline import ingest
from cloudtally.query.costs import grouped_costs
from cloudtally.query.periods import parse_range
from cloudtally.rules.allocation import load_rules
from cloudtally.sample import generate_sample
from cloudtally.store import Store

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples" / "focus"
NATIVE = ROOT / "tests" / "fixtures" / "native"
RULES = ROOT / "examples" / "rules"

# One delivery per group (an actual and an amortized export of one account-period cannot be
# given together, nor two FOCUS versions of one: the 1.3 samples restate the 1.2 ones'
# account-periods, so they come later and replace them; each group is one `ingest` call).
DELIVERIES = [
    sorted(p for p in SAMPLES.glob("1.[02]/*.csv") if "contract_commitment" not in p.name),
    sorted(p for p in SAMPLES.glob("1.3/*.csv") if "contract_commitment" not in p.name),
    [
        NATIVE / "aws" / "legacy" / "synthetic-2024-03.csv",
        NATIVE / "azure" / "cost-details-sample.csv",
        NATIVE / "gcp" / "detailed.jsonl",
        NATIVE / "gcp" / "standard.csv",
        NATIVE / "oci" / "cost-report-sample.csv",
    ],
    [NATIVE / "aws" / "cur2" / "cur2-2024-03.parquet"],  # CUR 2.0 of the same account-period
]

pytestmark = pytest.mark.spark


def _lake(root: Path, engine: Engine, company: Path) -> Store:
    store = Store(root / engine.name, engine)
    for files in [*DELIVERIES, [company]]:
        ingest(store, files)
    allocate(store, load_rules(RULES))
    return store


@pytest.fixture(scope="module")
def lakes(tmp_path_factory: pytest.TempPathFactory, spark_engine: SparkEngine) -> dict[str, Store]:
    root = tmp_path_factory.mktemp("engines")
    company = root / "company"
    generate_sample(company, months=2, scale=0.02, seed=11)
    return {engine.name: _lake(root, engine, company) for engine in (DUCKDB, spark_engine)}


def _rows(store: Store, sql: str) -> list[tuple[Any, ...]]:
    """Rows of `sql` over a lake, read by DuckDB whichever engine wrote it."""
    return Store(store.data_dir).connect().execute(sql).fetchall()


def _columns(store: Store, relation: str) -> list[tuple[str, str]]:
    # SkuPriceDetails: DuckDB writes its JSON logical type, Spark a plain string; both read
    # back as the same text.
    described = _rows(store, f"DESCRIBE {relation}")
    return [(r[0], "VARCHAR" if r[1] == "JSON" else r[1]) for r in described]


def test_ingest_writes_the_same_rows(lakes: dict[str, Store]) -> None:
    duck, spark = lakes["duckdb"], lakes["spark"]
    assert _columns(spark, "costs") == _columns(duck, "costs")
    query = "SELECT * EXCLUDE (x_IngestId) FROM costs ORDER BY ALL"
    on_duckdb, on_spark = _rows(duck, query), _rows(spark, query)
    assert len(on_duckdb) == 8_074
    assert on_spark == on_duckdb


def test_ingest_keeps_the_same_catalog(lakes: dict[str, Store]) -> None:
    def shape(store: Store) -> list[tuple[str, int, Any]]:
        catalog = store.catalog()
        return sorted(
            (p.key.label(), f.rows, f.totals) for p in catalog.partitions for f in p.files
        )

    assert shape(lakes["spark"]) == shape(lakes["duckdb"])
    totals = _rows(lakes["spark"], "SELECT sum(BilledCost), sum(EffectiveCost) FROM costs")
    assert totals == [(Decimal("95629.293093105600082027"), Decimal("95055.189380562470082027"))]


def test_allocation_gives_the_same_rows(lakes: dict[str, Store]) -> None:
    duck, spark = lakes["duckdb"], lakes["spark"]
    assert _columns(spark, "allocated_costs") == _columns(duck, "allocated_costs")
    # Direct rows carry their line's x_IngestId: each engine's ingest run has its own.
    query = "SELECT * EXCLUDE (x_IngestId) FROM allocated_costs ORDER BY ALL"
    on_duckdb = _rows(duck, query)
    assert _rows(spark, query) == on_duckdb
    assert len(on_duckdb) == 11_369  # shared pools are split per day
    # Conservation on Spark: allocation moves cost between owners, it never makes or loses it.
    totals = _rows(spark, "SELECT sum(BilledCost), sum(EffectiveCost) FROM allocated_costs")
    assert totals == [(Decimal("95629.293093105600082027"), Decimal("95055.189380562470082027"))]


WEB = ("USD", Decimal("1096.281413707380000000"), Decimal("114.934163058798000000"))


@pytest.mark.parametrize(
    ("by", "first"),
    [
        ("team", ("web", *WEB, Decimal("1211.215576766178000000"))),
        (
            "product",
            (
                "ml-platform",
                "USD",
                Decimal("650.876975618000000000"),
                Decimal("67.587973738475000000"),  # shared pools split by product too
                Decimal("718.464949356475000000"),
            ),
        ),
        ("cost_center", ("CC-1100", *WEB, Decimal("1211.215576766178000000"))),
    ],
)
def test_showback_is_the_same(lakes: dict[str, Store], by: str, first: tuple[Any, ...]) -> None:
    on_duckdb = showback(lakes["duckdb"], by, "2024-10")
    on_spark = showback(lakes["spark"], by, "2024-10")
    assert on_spark.rows == on_duckdb.rows
    assert on_duckdb.rows[0][:5] == first


@pytest.mark.parametrize(
    ("by", "period"),
    [
        (["service", "account"], None),
        (["team", "env"], "2024-10"),
        (["tag:env", "provider"], "2024-09..2024-10"),
        (["week", "charge-category"], "2024-W40..2024-W43"),
        (["day"], "2024-10-01..2024-10-03"),
    ],
)
def test_grouped_costs_are_the_same(
    lakes: dict[str, Store], by: list[str], period: str | None
) -> None:
    when = parse_range(period) if period else None
    on_duckdb = grouped_costs(lakes["duckdb"], by, when=when, metric_name="EffectiveCost")
    on_spark = grouped_costs(lakes["spark"], by, when=when, metric_name="EffectiveCost")
    assert on_spark.columns == on_duckdb.columns
    assert on_spark.rows == on_duckdb.rows
    assert on_spark.total_by_currency == on_duckdb.total_by_currency


@pytest.mark.parametrize(
    ("command", "lines", "first"),
    [
        (
            ["costs", "--by", "service,team", "--period", "2024-10", "--format", "csv"],
            66,
            "Amazon Relational Database Service,mobile,USD,418.21728,0.1103652364920392",
        ),
        (
            ["showback", "--by", "team", "--period", "2024-10", "--format", "csv"],
            10,
            "web,USD,1096.28141370738,114.934163058798,1211.215576766178,0.31965336401506056,"
            "1167.826392513344,43.389184252834,0.0371537966010973",
        ),
        (
            ["chargeback", "--period", "2024-10", "--format", "csv"],
            10,
            "CC-1100,USD,1096.28141370738,114.934163058798,1211.215576766178,web",
        ),
        (
            ["movers", "--by", "service", "--period", "2024-10", "--format", "csv"],
            11,
            "Amazon Elastic Compute Cloud,USD,1036.5867330505,1157.178336,120.5916029495,"
            "0.11633527528817511",
        ),
    ],
    ids=["costs", "showback", "chargeback", "movers"],
)
def test_the_cli_prints_the_same_on_both_engines(
    lakes: dict[str, Store], spark_engine: SparkEngine, command: list[str], lines: int, first: str
) -> None:
    def printed(engine: Engine) -> list[str]:
        store = lakes[engine.name]
        result = CliRunner().invoke(
            app,
            ["--data-dir", str(store.data_dir), "--engine", engine.name,
             "--spark-master", spark_engine.master, *command],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        return result.output.splitlines()

    on_spark = printed(spark_engine)
    assert on_spark == printed(DUCKDB)
    assert (len(on_spark), on_spark[1]) == (lines, first)
