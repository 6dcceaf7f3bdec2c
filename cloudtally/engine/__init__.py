"""Engines the lake's SQL runs on: DuckDB (embedded, the default) and Spark.

The product's SQL (converters, allocation, the daily series, the query layer) is written once,
in DuckDB's dialect. On Spark it is transpiled (`dialect.py`: every difference between the two,
in one place) and run through a connection that keeps DuckDB's contract (`spark.py`). Both
engines read and write the same lake: Hive-style Parquet folders and `catalog.json`, written by
the same Python code (`cloudtally.store`), so one lake can be worked on by either.

>>> engine_for("spark", "local[2]").name, engine_for("duckdb").name
('spark', 'duckdb')
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from cloudtally.errors import UnsupportedError

if TYPE_CHECKING:  # pragma: no cover
    from cloudtally.store.catalog import Catalog
    from cloudtally.store.store import Store

ENGINES = ("duckdb", "spark")
DEFAULT_SPARK_MASTER = "local[*]"
# The commands that run on Spark; the others need the embedded engine (state database,
# numeric series, documents) and say so.
SPARK_COMMANDS = ("ingest", "allocate", "costs", "showback", "chargeback", "movers")


@dataclass(frozen=True)
class Engine:
    """Where the lake's queries run. `connection` is a plain connection for work on files;
    `lake` one with the views `costs` and the derived datasets over a catalog's files."""

    name: ClassVar[str] = "duckdb"
    dialect: ClassVar[str] = "duckdb"
    # Whether an export in an object store is read where it is (by Spark's executors), not
    # from this machine's copy of it (ingest/remote.py).
    reads_in_place: ClassVar[bool] = False

    def connection(self, store: Store) -> Any:
        return store._duckdb_connection()

    def lake(self, store: Store, catalog: Catalog) -> Any:
        return store._duckdb_lake(catalog)

    def file_sha256s(self, store: Store, paths: list[str], sizes: dict[str, int]) -> dict[str, str]:
        """The sha256 of each lake file in `paths` (relative to the lake, its size in
        `sizes` when known), read here."""
        return {path: store.file_sha256(path) for path in paths}

    def object_sha256s(self, sizes: dict[str, int]) -> dict[str, str]:
        """The sha256 of objects in a store (URI -> size) where they are, without reading
        them here; none on an engine that reads its sources here."""
        return {}


@dataclass(frozen=True)
class SparkEngine(Engine):
    """A Spark session (`master`: `local[*]`, `spark://host:7077`, `yarn`, ...)."""

    name: ClassVar[str] = "spark"
    dialect: ClassVar[str] = "spark"
    reads_in_place: ClassVar[bool] = True
    master: str = DEFAULT_SPARK_MASTER

    def connection(self, store: Store) -> Any:
        from cloudtally.engine.spark import SparkConnection, spark_session

        return SparkConnection(spark_session(self.master), store)

    def lake(self, store: Store, catalog: Catalog) -> Any:
        from cloudtally.engine.spark import lake_connection

        return lake_connection(self, store, catalog)

    def file_sha256s(self, store: Store, paths: list[str], sizes: dict[str, int]) -> dict[str, str]:
        """In an object store's lake, the files are hashed by Spark's executors, where they
        are (their bytes do not pass through this machine); the ones they leave (too big for
        one executor's memory, or all of them when the job fails) and a local lake's, here."""
        if store.objects is None:
            return super().file_sha256s(store, paths, sizes)
        from cloudtally.engine.spark import executor_sha256s

        hashed = executor_sha256s(self.master, store, paths, sizes)
        rest = [path for path in paths if path not in hashed]
        return {**hashed, **super().file_sha256s(store, rest, sizes)}

    def object_sha256s(self, sizes: dict[str, int]) -> dict[str, str]:
        """Hashed by the executors (up to `spark.hash_limit` bytes each)."""
        from cloudtally.engine.spark import object_sha256s

        return object_sha256s(self.master, sizes)


DUCKDB = Engine()


def engine_for(name: str, spark_master: str = DEFAULT_SPARK_MASTER) -> Engine:
    """The engine a CLI word names; an unknown word fails with a suggestion."""
    if name == "duckdb":
        return DUCKDB
    if name == "spark":
        return SparkEngine(spark_master)
    close = difflib.get_close_matches(name, ENGINES, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise UnsupportedError(f"Unknown engine {name!r}.{hint} Known engines: {', '.join(ENGINES)}.")
