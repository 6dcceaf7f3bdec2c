"""Store format 1 (lake/<provider>/<period>/, x_Provider and x_BillingPeriod inside the files)
stays readable, and the first write upgrades it to format 2 (Hive-style folders) in place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cloudtally.errors import StoreError
from cloudtally.ingest.pipeline import ingest
from cloudtally.store import Store
from cloudtally.store.catalog import FORMAT_VERSION
from tests.conftest import FOCUS_10, SAMPLES

TOTALS = "SELECT x_Provider, x_BillingPeriod, sum(BilledCost)::VARCHAR FROM costs GROUP BY ALL ORDER BY ALL"
FOCUS_10_TOTALS = [
    ("aws", "2024-09", "18.006638618400000000"),
    ("azure", "2024-09", "1.976514185860000000"),
    ("oci", "2024-09", "0.297073924730000000"),
    ("oci", "2024-10", "0.240000000000000000"),
]


def downgrade_to_format_1(store: Store) -> None:
    """Rewrite a format-2 store as format 1 wrote it (the shape of lakes made before)."""
    con = store.connect()
    catalog = json.loads(store.catalog_path.read_text())
    old_paths = []
    for partition in catalog["partitions"]:
        key = partition["key"]
        for part in partition["files"]:
            new = Path("lake") / key["provider"] / key["billing_period"] / Path(part["path"]).name
            (store.data_dir / new).parent.mkdir(parents=True, exist_ok=True)
            con.execute(
                f"COPY (SELECT * FROM costs WHERE x_Provider = '{key['provider']}' AND "
                f"x_BillingPeriod = '{key['billing_period']}' AND BillingAccountId = "
                f"'{key['billing_account_id']}') TO '{store.data_dir / new}' (FORMAT parquet)"
            )
            old_paths.append(part["path"])
            part["path"] = str(new)
    for old in old_paths:
        (store.data_dir / old).unlink()
    catalog["format_version"] = 1
    store.catalog_path.write_text(json.dumps(catalog))


def test_format_1_store_is_read_then_upgraded_by_the_next_write(store: Store) -> None:
    ingest(store, [FOCUS_10])
    downgrade_to_format_1(store)
    assert store.catalog().format_version == 1
    assert store.sql(TOTALS).fetchall() == FOCUS_10_TOTALS

    ingest(store, [SAMPLES / "focus" / "1.2" / "gcp.csv"])

    catalog = store.catalog()
    assert catalog.format_version == FORMAT_VERSION
    assert all(f.startswith("lake/x_Provider=") for f in catalog.live_files())
    # 12898.089095507896 + 17480.6721464454545, the two accounts of gcp.csv.
    gcp = ("gcp", "2026-05", "30378.761241953350500000")
    assert store.sql(TOTALS).fetchall() == sorted([*FOCUS_10_TOTALS, gcp])
    # The format-1 paths are retired for one generation, then collected.
    ingest(store, [SAMPLES / "focus" / "1.2" / "aws.csv"])
    on_disk = sorted(
        str(p.relative_to(store.data_dir))
        for p in store.lake_dir.rglob("*.parquet")
        if "_derived" not in p.parts
    )
    assert on_disk == sorted(store.catalog().live_files())


def test_partition_folders_carry_provider_and_period(store: Store) -> None:
    ingest(store, [FOCUS_10])
    folders = sorted({str(Path(f).parent) for f in store.catalog().live_files()})
    assert folders == [
        "lake/x_Provider=aws/x_BillingPeriod=2024-09",
        "lake/x_Provider=azure/x_BillingPeriod=2024-09",
        "lake/x_Provider=oci/x_BillingPeriod=2024-09",
        "lake/x_Provider=oci/x_BillingPeriod=2024-10",
    ]
    assert store.sql(TOTALS).fetchall() == FOCUS_10_TOTALS
    # The view keeps the canonical column order.
    columns = store.sql("SELECT * FROM costs LIMIT 0").columns
    assert columns[columns.index("Tags") + 1 : columns.index("Tags") + 3] == [
        "x_Provider",
        "x_BillingPeriod",
    ]


def test_a_catalog_from_a_newer_version_is_refused(store: Store) -> None:
    ingest(store, [FOCUS_10])
    catalog = json.loads(store.catalog_path.read_text())
    # (with a field this version does not know: the format is read first)
    catalog.update(format_version=FORMAT_VERSION + 1, a_later_field=[1, 2])
    store.catalog_path.write_text(json.dumps(catalog))
    with pytest.raises(StoreError) as raised:
        store.catalog()
    assert str(raised.value) == (
        f"{store.catalog_path} was written by a newer cloudtally (store format 6; this one "
        "reads up to 5). Upgrade cloudtally and run again."
    )


def test_a_key_value_folder_above_the_data_dir_adds_no_column(tmp_path: Path) -> None:
    store = Store(tmp_path / "team=web" / "lake")
    ingest(store, [FOCUS_10])
    columns = store.sql("SELECT * FROM costs LIMIT 0").columns
    assert "team" not in columns
    # The canonical columns, then FOCUS 1.0's `Id` kept as an extension column and the
    # provenance of respelled allowed values.
    assert columns[-8:] == [
        "x_Provider",
        "x_BillingPeriod",
        "x_SourceFormat",
        "x_SourceFile",
        "x_IngestId",
        "x_LineNo",
        "x_Id",
        "x_SourceValues",
    ]
    assert store.sql(TOTALS).fetchall() == FOCUS_10_TOTALS
