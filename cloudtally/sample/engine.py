"""The generator's private DuckDB: bounded memory, a scratch file for the resources table,
the random-stream macros, and two small helpers to run a statement and load a table."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from cloudtally.ingest.formats.base import literal

MEMORY_LIMIT = os.environ.get("CLOUDTALLY_MEMORY_LIMIT", "1GB")
RESOURCES = "sample_work.main.sample_resources"  # in the scratch file: see `connect`


def connect(work: Path) -> duckdb.DuckDBPyConnection:
    """A private DuckDB for generating: bounded memory, spilling and working tables in `work`.

    Not `Store`: the generator writes billing exports, not the lake. The resources table
    lives in a scratch database file because only file databases take a ROW_GROUP_SIZE (the
    small tables stay in memory: every commit to a file costs an fsync). Small row groups
    matter twice: DuckDB scans a table in parallel by row groups (the resources table
    is small in rows but expands 31-fold), and the ordered Parquet writer holds each finished
    batch until its turn, so 2,048 resources (~63k rows) a batch keep it within 1 GB, where
    122,880 (the default) stalls it on memory.
    """
    con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "temp_directory": str(work)})
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # the CLI prints its own summary
    # Same arguments, same bytes: the big query has no join (a join makes DuckDB write
    # Parquet in thread order) and keeps insertion order; the small ones are sorted.
    con.execute("SET preserve_insertion_order = true")
    scratch = literal(str(work / "sample.duckdb"))
    con.execute(f"ATTACH {scratch} AS sample_work (STORAGE_VERSION 'v1.2.0', ROW_GROUP_SIZE 2048)")
    # Random streams: `sample_hash(hash(seed, thing), salt)`. DuckDB's multi-argument hash
    # mixes its arguments cheaply, so hash(s, r, 1) and hash(s, r, 2) share most bits (their
    # uniforms correlate at 0.97); hashing the combined key again with the salt makes them
    # independent.
    con.execute("CREATE MACRO sample_hash(key, salt) AS hash(xor(key, CAST(salt AS UBIGINT)))")
    # A uniform in (0, 1) from 21 bits of a 64-bit hash: k = 0, 1, 2 gives three per hash.
    con.execute(
        "CREATE MACRO sample_u(h, k) AS "
        "(CAST((h >> (21 * k)) & 2097151 AS DOUBLE) + 0.5) / 2097152.0"
    )
    return con


def one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    """The single row a statement returns (fetched to the end, as DuckDB 2 wants)."""
    rows = con.execute(sql).fetchall()
    assert len(rows) == 1, sql
    return tuple(rows[0])


def table(con: duckdb.DuckDBPyConnection, name: str, rows: list[dict[str, Any]]) -> None:
    con.register(f"{name}_arrow", pa.Table.from_pylist(rows))
    con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_arrow")
    con.unregister(f"{name}_arrow")
