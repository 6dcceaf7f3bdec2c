"""A command reads the catalog once (`Store.pinned`): all its answers come from one generation,
even when another process commits meanwhile; its own commits move it on."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal

from cloudtally.store import Store
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
