"""FOCUS exports 1.0-1.3 into the canonical dataset: totals to the last digit, types, versions."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from cloudtally.ingest.pipeline import ingest
from cloudtally.store import Store
from tests.conftest import FOCUS_10, SAMPLES

# (provider, billing account, period, currency) -> (BilledCost, EffectiveCost, rows), summed
# from the files' text with Python's Decimal, independently of DuckDB.
GOLDEN = {
    "1.0/focus10_sample_1000.csv": {
        ("aws", "1234567890123", "2024-09", "USD"): ("18.0066386184", "13", 942),
        (
            "azure",
            "/providers/Microsoft.Billing/billingAccounts/8611537",
            "2024-09",
            "USD",
        ): ("1.97651418586", "1.97651418586", 51),
        ("oci", "20209880", "2024-09", "USD"): ("0.29707392473", "0", 6),
        ("oci", "20209880", "2024-10", "USD"): ("0.24", "0", 1),
    },
    "1.2/aws.csv": {
        ("aws", "100000000001", "2026-05", "USD"): ("12375.4809370615425", "12375.4809370615425", 479),
        ("aws", "100000000002", "2026-05", "USD"): ("13618.3325289710625", "13618.3325289710625", 521),
    },
    "1.2/azure.csv": {
        ("azure", "8a1b2c3d-0000-4a00-9000-000000000001", "2026-05", "USD"): ("23216.299732149792", "23216.299732149792", 475),
        ("azure", "8a1b2c3d-0000-4a00-9000-000000000002", "2026-05", "USD"): ("15749.015061977568", "15749.015061977568", 525),
    },
    "1.2/gcp.csv": {
        ("gcp", "01A2B3-C4D5E6-F70819", "2026-05", "USD"): ("12898.089095507896", "12898.089095507896", 475),
        ("gcp", "11C2D3-E4F506-A7B8C9", "2026-05", "USD"): ("17480.6721464454545", "17480.6721464454545", 525),
    },
    "1.3/aws.csv": {
        ("aws", "100000000001", "2026-05", "USD"): ("11903.22717782717599", "11903.22717782717599", 485),
        ("aws", "100000000002", "2026-05", "USD"): ("11732.625175744698684", "11732.625175744698684", 515),
    },
    "1.3/azure.csv": {
        ("azure", "8a1b2c3d-0000-4a00-9000-000000000001", "2026-05", "USD"): ("16100.43980903504", "16100.43980903504", 483),
        ("azure", "8a1b2c3d-0000-4a00-9000-000000000002", "2026-05", "USD"): ("13419.05280359664", "13419.05280359664", 517),
    },
    "1.3/gcp.csv": {
        ("gcp", "01A2B3-C4D5E6-F70819", "2026-05", "USD"): ("17909.0166662565825", "17909.0166662565825", 583),
        ("gcp", "11C2D3-E4F506-A7B8C9", "2026-05", "USD"): ("15560.182109034395", "15560.182109034395", 417),
    },
}  # fmt: skip


def totals(store: Store) -> dict[tuple[str, str, str, str], tuple[str, str, int]]:
    rows = store.sql(
        "SELECT x_Provider, BillingAccountId, x_BillingPeriod, BillingCurrency, "
        "sum(BilledCost), sum(EffectiveCost), count(*) FROM costs GROUP BY ALL"
    ).fetchall()
    return {
        tuple(r[:4]): (str(r[4].normalize()), str(r[5].normalize()), r[6])  # type: ignore[misc]
        for r in rows
    }


def normalized(golden: dict) -> dict:
    return {
        k: (str(Decimal(b).normalize()), str(Decimal(e).normalize()), n)
        for k, (b, e, n) in golden.items()
    }


@pytest.mark.parametrize("sample", sorted(GOLDEN))
def test_every_sample_reconciles_to_the_last_digit(store: Store, sample: str) -> None:
    report = ingest(store, [SAMPLES / "focus" / sample])
    assert totals(store) == normalized(GOLDEN[sample])
    assert report.rows == sum(n for _, _, n in GOLDEN[sample].values())


def test_issue_example_sum_of_billed_cost(cli) -> None:
    assert cli("ingest", FOCUS_10).exit_code == 0
    result = cli("sql", "SELECT sum(BilledCost) FROM costs")
    assert result.exit_code == 0
    assert result.stdout == "20.52022672899\n"
    result = cli("sql", "SELECT sum(EffectiveCost) FROM costs")
    assert result.stdout == "14.97651418586\n"


def test_all_samples_in_one_folder_ingest_together(store: Store) -> None:
    report = ingest(store, [SAMPLES / "focus" / "1.2", SAMPLES / "focus" / "1.0"])
    expected = normalized(
        GOLDEN["1.0/focus10_sample_1000.csv"]
        | GOLDEN["1.2/aws.csv"]
        | GOLDEN["1.2/azure.csv"]
        | GOLDEN["1.2/gcp.csv"]
    )
    assert totals(store) == expected
    assert report.formats == {"focus-1.0": 1, "focus-1.2": 3}


@pytest.mark.parametrize(
    ("sample", "version"),
    [("1.0/focus10_sample_1000.csv", "focus-1.0"), ("1.2/gcp.csv", "focus-1.2"), ("1.3/gcp.csv", "focus-1.3")],
)  # fmt: skip
def test_version_is_detected_and_recorded(store: Store, sample: str, version: str) -> None:
    ingest(store, [SAMPLES / "focus" / sample])
    assert store.sql("SELECT DISTINCT x_SourceFormat FROM costs").fetchall() == [(version,)]
    assert [m.source_format for m in store.manifest()] == [version]


def test_canonical_types(store: Store) -> None:
    ingest(store, [FOCUS_10])
    types = dict(store.sql("SELECT column_name, column_type FROM (DESCRIBE costs)").fetchall())
    assert types["BilledCost"] == "DECIMAL(38,18)"
    assert types["ConsumedQuantity"] == "DECIMAL(38,18)"
    assert types["ChargePeriodStart"] == "TIMESTAMP WITH TIME ZONE"
    assert types["Tags"] == "MAP(VARCHAR, VARCHAR)"
    assert types["BillingAccountId"] == "VARCHAR"
    assert types["x_Id"] == "VARCHAR"  # the 1.0 sample's extra column, kept
    for column in ("x_Provider", "x_SourceFile", "x_IngestId", "x_BillingPeriod"):
        assert types[column] == "VARCHAR"


def test_datetimes_are_utc_and_values_survive(store: Store) -> None:
    ingest(store, [FOCUS_10])
    row = store.sql(
        "SELECT strftime(ChargePeriodStart, '%Y-%m-%dT%H:%M:%S%z'), Tags, ConsumedQuantity, "
        "x_Id, ServiceSubcategory FROM costs WHERE x_Id = '19384'"
    ).fetchone()
    assert row == (
        "2024-09-30T22:00:00+00",
        {"application": "BrightLensMatrix", "environment": "dev", "business_unit": "ViennaAI"},
        Decimal("0.002007490000000000"),
        "19384",
        "Other (Networking)",
    )


def test_literal_null_text_is_null(store: Store) -> None:
    ingest(store, [FOCUS_10])
    nulls = store.sql(
        "SELECT count(*) FILTER (WHERE AvailabilityZone IS NULL), count(*) FILTER (WHERE ChargeClass IS NULL), "
        "count(*) FILTER (WHERE AvailabilityZone = 'NULL') FROM costs"
    ).fetchone()
    assert nulls == (893, 1000, 0)  # counted in the file with the csv module


def test_units_are_rewritten_to_the_focus_unit_format(store: Store) -> None:
    ingest(store, [FOCUS_10])
    units = dict(
        store.sql(
            "SELECT PricingUnit, count(*) FROM costs WHERE PricingUnit IN "
            "('GB-Months', 'GB-Hours', 'OCPU/Hour', 'GB/Hour', 'OCPU-Hours', 'GB Months') "
            "GROUP BY 1"
        ).fetchall()
    )
    # "GB Months" x2 joined the 166 "GB-Months"; "OCPU Per Hour" -> "OCPU/Hour", ...
    assert units == {"GB-Months": 168, "GB-Hours": 2, "OCPU/Hour": 1, "GB/Hour": 1, "OCPU-Hours": 1}


def test_focus_13_columns_are_kept_as_extensions(store: Store) -> None:
    ingest(store, [SAMPLES / "focus" / "1.3" / "aws.csv"])
    columns = [r[0] for r in store.sql("SELECT column_name FROM (DESCRIBE costs)").fetchall()]
    for name in (
        "x_ServiceProviderName",
        "x_HostProviderName",
        "x_AllocatedTags",
        "x_ContractApplied",
    ):
        assert name in columns
    assert store.sql("SELECT count(DISTINCT x_ServiceProviderName) FROM costs").fetchone() == (1,)


def test_manifest_records_each_file(store: Store) -> None:
    ingest(store, [FOCUS_10])
    (entry,) = store.manifest()
    assert entry.path == str(FOCUS_10)
    assert entry.rows == 1000
    assert entry.size == FOCUS_10.stat().st_size
    assert len(entry.sha256) == 64
    assert entry.totals == {
        "USD": {"BilledCost": Decimal("20.52022672899"), "EffectiveCost": Decimal("14.97651418586")}
    }
    assert entry.outcome == "stored"
    on_disk = json.loads((store.data_dir / "manifest.jsonl").read_text().splitlines()[0])
    assert on_disk["totals"]["USD"]["BilledCost"] == "20.520226728990000000"


def test_parquet_and_gzip_csv_give_the_same_rows(tmp_path: Path) -> None:
    import gzip
    import shutil

    import duckdb

    gz = tmp_path / "aws.csv.gz"
    with open(SAMPLES / "focus" / "1.2" / "aws.csv", "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    csv_store, gz_store, pq_store = (Store(tmp_path / n) for n in ("a", "b", "c"))
    ingest(csv_store, [SAMPLES / "focus" / "1.2" / "aws.csv"])
    ingest(gz_store, [gz])
    parquet = tmp_path / "aws.parquet"
    con = csv_store.connect()
    con.execute(
        "COPY (SELECT * EXCLUDE (x_Provider, x_BillingPeriod, x_SourceFormat, x_SourceFile, "
        "x_IngestId, x_LineNo) REPLACE (to_json(Tags)::VARCHAR AS Tags) FROM costs) "
        f"TO '{parquet}' (FORMAT parquet)"
    )
    ingest(pq_store, [parquet])
    # The CSV and its gzip have the same lines in the same rows: the same line numbers too.
    # The Parquet file, written from the lake, has them in another order.
    query = "SELECT * EXCLUDE (x_SourceFile, x_IngestId) FROM costs ORDER BY ALL"
    a, b = (s.connect().execute(query).fetchall() for s in (csv_store, gz_store))
    assert a == b
    query = "SELECT * EXCLUDE (x_SourceFile, x_IngestId, x_LineNo) FROM costs ORDER BY ALL"
    a, b, c = (s.connect().execute(query).fetchall() for s in (csv_store, gz_store, pq_store))
    assert a == b == c
    assert len(a) == 1000
    assert isinstance(duckdb.__version__, str)


def aws_parquet(tmp_path: Path, replace: str = "", where: str = "", options: str = "") -> Path:
    """The 1.2 AWS sample as a FOCUS Parquet export (through a lake, with `replace` applied to
    its columns), to ingest as a source."""
    csv_store = Store(tmp_path / "csv")
    ingest(csv_store, [SAMPLES / "focus" / "1.2" / "aws.csv"])
    parquet = tmp_path / "aws.parquet"
    csv_store.connect().execute(
        "COPY (SELECT * EXCLUDE (x_Provider, x_BillingPeriod, x_SourceFormat, x_SourceFile, "
        f"x_IngestId, x_LineNo) REPLACE (to_json(Tags)::VARCHAR AS Tags{replace}) FROM costs "
        f"{where}) "
        f"TO '{parquet}' (FORMAT parquet{options})"
    )
    return parquet


@pytest.mark.parametrize("accounts", [["100000000001"], ["100000000001", "100000000002"]])
def test_parquet_split_by_account_from_row_group_statistics(
    tmp_path: Path, accounts: list[str]
) -> None:
    # Row groups of 100 rows, sorted by account: each row group holds one account, so only the
    # statistics of all row groups together tell one account-period from two.
    listed = ", ".join(f"'{a}'" for a in accounts)
    parquet = aws_parquet(
        tmp_path,
        where=f"WHERE BillingAccountId IN ({listed}) ORDER BY BillingAccountId",
        options=", ROW_GROUP_SIZE 100",
    )
    store = Store(tmp_path / "lake")
    ingest(store, [parquet])
    golden = GOLDEN["1.2/aws.csv"]
    expected = {
        (account, str(Decimal(golden[("aws", account, "2026-05", "USD")][0])))
        for account in accounts
    }
    totals = (
        store.connect()
        .execute("SELECT BillingAccountId, sum(BilledCost)::VARCHAR FROM costs GROUP BY 1")
        .fetchall()
    )
    assert {(a, str(Decimal(t).normalize())) for a, t in totals} == {
        (a, str(Decimal(t).normalize())) for a, t in expected
    }
    written = [p for p in store.lake_dir.rglob("*.parquet") if "_derived" not in p.parts]
    assert len(written) == len(accounts)  # (besides the daily cube of the costs)


def test_sql_refuses_writes(cli) -> None:
    cli("ingest", FOCUS_10)
    result = cli("sql", "DELETE FROM costs")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: `cloudtally sql` is read-only: a DELETE statement is refused. Use SELECT (or "
        "EXPLAIN SELECT); change data with `cloudtally ingest`.\n"
    )
    result = cli("sql", "SELECT * FROM read_csv('/etc/passwd')")
    assert result.exit_code == 1
    assert "reads only the lake's files" in result.stderr


def test_sql_on_an_empty_lake_sees_an_empty_typed_view(cli, data_dir: Path) -> None:
    data_dir.mkdir()  # a data dir that does not exist is refused
    result = cli("sql", "SELECT count(*), sum(BilledCost) FROM costs", "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == [{"count_star()": 0, "sum(BilledCost)": None}]


def test_parquet_key_spelled_two_ways_is_one_account_period(tmp_path: Path) -> None:
    # 'AWS' and ' aws' are one provider: the rows of both spellings land in one partition.
    parquet = aws_parquet(
        tmp_path,
        replace=", CASE WHEN ChargeCategory = 'Tax' THEN ' aws' ELSE ProviderName END "
        "AS ProviderName",
        options=", ROW_GROUP_SIZE 100",
    )
    store = Store(tmp_path / "lake")
    ingest(store, [parquet])
    assert store.sql(
        "SELECT x_Provider, BillingAccountId, count(*), sum(BilledCost)::VARCHAR FROM costs "
        "GROUP BY ALL ORDER BY ALL"
    ).fetchall() == [
        ("aws", "100000000001", 479, "12375.480937061542500000"),
        ("aws", "100000000002", 521, "13618.332528971062500000"),
    ]
    assert len(store.catalog().live_files()) == 2


def test_parquet_with_many_account_periods_is_written_whole_then_split(tmp_path: Path) -> None:
    # More account-periods than one filtered copy each is worth: one write, then DuckDB's
    # partitioned writer; the files keep x_Provider and x_BillingPeriod inside them.
    parquet = aws_parquet(
        tmp_path,
        replace=", BillingAccountId || '-' || (hash(ChargePeriodStart) % 5)::VARCHAR "
        "AS BillingAccountId",
    )
    store = Store(tmp_path / "lake")
    ingest(store, [parquet])
    assert len(store.catalog().partitions) == 10
    assert store.sql("SELECT count(*), sum(BilledCost)::VARCHAR FROM costs").fetchall() == [
        (1000, "25993.813466032605000000")  # 12375.48... + 13618.33...
    ]
