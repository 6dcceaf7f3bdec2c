"""A command reads the catalog once (`Store.pinned`): all its answers come from one generation,
even when another process commits meanwhile; its own commits move it on."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from cloudtally.errors import StoreError
from cloudtally.ingest.pipeline import ingest
from cloudtally.store import Store
from cloudtally.store.verify import lake_file_error
from tests.conftest import FOCUS_10, SAMPLES, Run

AWS = SAMPLES / "focus" / "1.2" / "aws.csv"
TOTAL = "SELECT count(*), sum(BilledCost) FROM costs"


def test_a_pinned_store_answers_from_the_generation_it_first_read(
    store: Store, cli: Callable[..., Run]
) -> None:
    assert cli("ingest", FOCUS_10).exit_code == 0
    with store.pinned():
        first = store.catalog()
        # Another process (another Store) commits a new generation meanwhile.
        assert cli("ingest", AWS).exit_code == 0
        assert store.catalog() is first
        assert store.sql(TOTAL).fetchall() == [(1000, Decimal("20.520226728990000000"))]
        seen: list[int] = []
        worker = threading.Thread(target=lambda: seen.append(store.catalog().generation))
        worker.start()
        worker.join()
        assert seen == [first.generation + 1]  # (a thread of its own reads the live one)
    assert store.catalog().generation == first.generation + 1
    # 20.52022672899 + aws.csv's 25993.813466032605, as DuckDB sums the two CSVs
    assert store.sql(TOTAL).fetchall() == [(2000, Decimal("26014.333692761595000000"))]


def test_a_commit_moves_the_pin_to_the_catalog_it_made_live(
    store: Store, cli: Callable[..., Run]
) -> None:
    assert cli("ingest", FOCUS_10).exit_code == 0
    with store.pinned():
        before = store.catalog().generation
        assert cli("ingest", AWS).exit_code == 0
        # The writer reads the live catalog under the lock, not the pinned one.
        with store.writing() as catalog:
            assert catalog.generation == before + 1
            committed = store.commit(catalog)
        assert store.catalog() is committed
        assert committed.generation == before + 2


def restate_twice(data_dir: Path, tmp_path: Path) -> None:
    """Another process ingests two restatements of aws.csv: the first generation's files are
    then gone (a replaced generation's files are kept for one more)."""
    for n in (2, 3):
        restated = tmp_path / f"aws-{n}.csv"
        restated.write_text(AWS.read_text().replace("0.01", f"0.0{n}", 1))
        ingest(Store(data_dir), [restated])


def test_a_command_whose_generation_went_away_is_told_to_run_again(
    store: Store, data_dir: Path, tmp_path: Path
) -> None:
    ingest(store, [AWS])
    with store.pinned():
        first = store.catalog()
        con = store.connect()
        restate_twice(data_dir, tmp_path)
        # A connection made before: the error names a file the live catalog no longer uses.
        with pytest.raises(duckdb.IOException) as failed:
            con.execute(TOTAL).fetchall()
        live = Store(data_dir)
        assert str(lake_file_error(live, live.catalog(), failed.value)) == (
            f"The lake changed while this command ran ({live.location(first.live_files()[0])} "
            "is no longer one of its files: another ingest or allocation made newer data live "
            "meanwhile). Run the command again."
        )
        # A question asked now: the generation it read is not the live one.
        with pytest.raises(StoreError) as refused:
            store.sql(TOTAL)
        assert str(refused.value) == (
            "The lake changed while this command ran (it read generation 1; generation 3 is "
            "live now: another ingest or allocation made newer data live meanwhile). Run the "
            "command again."
        )
    # A file of the lake's folder that no catalog names yet (a writer's, before its commit)
    # and that cannot be read: not "the lake changed" (it is there), nothing to say.
    own = data_dir / "lake" / "x_Provider=aws" / "x_BillingPeriod=2026-05" / "own.parquet"
    own.write_bytes(b"not parquet")
    with pytest.raises(duckdb.Error) as unreadable:
        duckdb.sql(f"SELECT * FROM read_parquet('{own}')").fetchall()
    assert str(own) in str(unreadable.value)
    live = Store(data_dir)
    assert lake_file_error(live, live.catalog(), unreadable.value) is None
    own.unlink()
    # (the restatements change a column other than the costs: the total is aws.csv's)
    assert Store(data_dir).sql(TOTAL).rows == [(1000, Decimal("25993.813466032605000000"))]
