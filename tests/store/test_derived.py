"""Derived datasets (e.g. allocated_costs) are published atomically as views beside `costs`."""

from __future__ import annotations

from decimal import Decimal

from cloudtally.ingest.pipeline import ingest
from cloudtally.store import Store
from tests.conftest import FOCUS_10


def build_totals(store: Store, label: str) -> None:
    with store.writing() as catalog:
        folder = store.staging_for("by_provider")
        out = folder / "part.parquet"
        store.connect(catalog).execute(
            f"COPY (SELECT x_Provider, sum(BilledCost) AS cost, '{label}' AS label FROM costs "
            f"GROUP BY 1 ORDER BY 1) TO '{out}' (FORMAT parquet)"
        )
        store.publish(catalog, "by_provider", [out], rows=3, parameters={"label": label})


def test_publish_creates_a_view_and_replaces_it(store: Store) -> None:
    ingest(store, [FOCUS_10])
    build_totals(store, "first")
    assert store.sql("SELECT * FROM by_provider ORDER BY 1").fetchall() == [
        ("aws", Decimal("18.006638618400000000"), "first"),
        ("azure", Decimal("1.976514185860000000"), "first"),
        ("oci", Decimal("0.537073924730000000"), "first"),
    ]
    build_totals(store, "second")
    assert store.sql("SELECT DISTINCT label FROM by_provider").fetchall() == [("second",)]
    catalog = store.catalog()
    assert catalog.derived["by_provider"].parameters == {"label": "second"}
    assert catalog.derived["by_provider"].source_generation == 2
    # The first build's file is retired (kept one generation), then collected.
    assert len(catalog.retired_files) == 1
    build_totals(store, "third")
    on_disk = {str(p.relative_to(store.data_dir)) for p in store.lake_dir.rglob("*.parquet")}
    catalog = store.catalog()
    assert on_disk == set(catalog.all_files()) | set(catalog.retired_files)


def test_re_ingest_keeps_derived_datasets(store: Store) -> None:
    ingest(store, [FOCUS_10])
    build_totals(store, "x")
    ingest(store, [FOCUS_10])  # unchanged: nothing happens
    assert store.sql("SELECT count(*) FROM by_provider").fetchone() == (3,)


def test_state_database_is_a_real_duckdb_file(store: Store) -> None:
    with store.state() as con:
        con.execute("CREATE TABLE notes (id INTEGER, text VARCHAR)")
        con.execute("INSERT INTO notes VALUES (1, 'kept')")
    with store.state() as con:
        assert con.execute("SELECT * FROM notes").fetchall() == [(1, "kept")]
    assert (store.data_dir / "state.duckdb").exists()
