"""A `split: kubernetes` shared pool gives the same allocation on DuckDB and on Spark: the
OpenCost allocation data and the node bill ingested on each engine, allocated by each, the
rows compared to the last digit."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cloudtally.allocate.engine import allocate
from cloudtally.engine import DUCKDB, SparkEngine
from cloudtally.ingest.pipeline import ingest
from cloudtally.rules.allocation import load_rules
from cloudtally.store import Store
from tests.allocate.lake import write_rules
from tests.allocate.test_kubernetes import API, BILL, K8S_POOL, NODES

pytestmark = pytest.mark.spark


def _rows(store: Store, sql: str) -> list[tuple[Any, ...]]:
    return Store(store.data_dir).connect().execute(sql).fetchall()


def test_a_kubernetes_pool_allocates_the_same_on_both_engines(
    tmp_path: Path, spark_engine: SparkEngine
) -> None:
    rules = load_rules(write_rules(tmp_path / "rules", {"allocation.yaml": K8S_POOL}))
    lakes = {}
    for engine in (DUCKDB, spark_engine):
        store = Store(tmp_path / engine.name, engine)
        ingest(store, [API, BILL])
        allocate(store, rules)
        lakes[engine.name] = store
    # OpenCost's rows as each engine stored them (labels a map on both: Spark's JSON reader
    # inferred a struct for them before it was given the columns' types).
    stored = "SELECT * EXCLUDE (x_IngestId) FROM k8s_allocations ORDER BY ALL"
    assert _rows(lakes["spark"], stored) == _rows(lakes["duckdb"], stored)
    described = _rows(lakes["spark"], "DESCRIBE k8s_allocations")
    assert ("NamespaceLabels", "MAP(VARCHAR, VARCHAR)") in [(r[0], r[1]) for r in described]
    query = (
        "SELECT * EXCLUDE (x_IngestId) FROM allocated_costs "
        "WHERE shared_pool = 'prod-eu' ORDER BY ALL"
    )
    on_duckdb = _rows(lakes["duckdb"], query)
    assert _rows(lakes["spark"], query) == on_duckdb
    assert len(on_duckdb) == 16  # 2 days x 2 node lines x 4 namespaces (idle included)
    shared = "SELECT sum(BilledCost) FROM allocated_costs WHERE shared_pool = 'prod-eu'"
    assert _rows(lakes["spark"], shared) == [(NODES,)]
    # The whole bill, on Spark: allocation moves cost, it never makes or loses it.
    total = "SELECT sum(BilledCost) FROM allocated_costs"
    assert _rows(lakes["spark"], total) == _rows(lakes["spark"], total.replace("allocated_", ""))
    assert (
        _rows(lakes["spark"], total)[0][0]
        == NODES
        + Decimal(3)
        + _rows(
            lakes["spark"],
            "SELECT coalesce(sum(BilledCost), 0) FROM allocated_costs "
            "WHERE shared_pool IS DISTINCT FROM 'prod-eu' AND team IS DISTINCT FROM 'data'",
        )[0][0]
    )
