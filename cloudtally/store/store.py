"""`Store`: the one object through which the CLI, queries and reports reach the lake.

Layout of a data dir::

    catalog.json                       which files are live (atomic swaps)
    manifest.jsonl                     every source file ingested, appended per ingest
    lake/x_Provider=<p>/x_BillingPeriod=<YYYY-MM>/*.parquet
                                       canonical FOCUS rows, one file per source x partition
                                       (the folder names give those two columns)
    lake/_derived/<dataset>/*.parquet  datasets computed from the costs (allocated_costs, the
                                       daily cubes); costs_cube is one file per partition
    staging/<ingest id>/               an ingest's new files before they go live
                                       (in the local work folder; see `stages_remotely`)
    tmp/<pid>-<token>/                 DuckDB spill space, one folder per process (store.spill)
    .lock                              held by the one process writing

The data dir may be an object store's URI (`s3://bucket/lake`, see `store.objects`): the same
layout under it; staging, spill space and the state database's copy are then in a local work
folder (`data_dir`).

Readers never take the lock: they read the catalog (a complete document, swapped atomically) and
open the files it names, which are never changed in place, only added and later removed.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, BinaryIO

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from cloudtally.engine import DUCKDB, Engine
from cloudtally.errors import QueryError, StoreError, UnsupportedError
from cloudtally.focus.canonical import CANONICAL, empty_select
from cloudtally.sqltext import PATTERN_CHARACTERS, identifier, literal, literals
from cloudtally.store.catalog import (
    FOLDER_COLUMNS,
    FORMAT_VERSION,
    REBUILDABLE,
    Catalog,
    DerivedDataset,
    DerivedPart,
    ManifestEntry,
    ManifestFile,
    Partition,
    append_manifest,
    catalog_bytes,
    count_manifest,
    file_sha256,
    parse_catalog,
    read_catalog,
    read_manifest,
    stream_sha256,
    write_catalog,
)
from cloudtally.store.faults import crash_point, interruptible, mark_committed, uninterrupted
from cloudtally.store.objects import ObjectLake, cache_root, lake_uri
from cloudtally.store.sandbox import first_line, lock_down, read_only_statements
from cloudtally.store.spill import remove_stale, spill_folder
from cloudtally.store.sql_errors import explain_sql_error
from cloudtally.store.verify import changed_error, damaged_error, damaged_files

DEFAULT_DATA_DIR = Path(".cloudtally")
MEMORY_LIMIT = os.environ.get("CLOUDTALLY_MEMORY_LIMIT", "1200MB")

# Optimizers that give wrong answers on the lake's query shapes: off in every connection the
# store makes (and `cloudtally sql` cannot turn them back on). DuckDB 2.0's window_self_join
# rewrites `agg(x) OVER (PARTITION BY k)` into an aggregate joined back to its input; over
# read_parquet(hive_partitioning = true) the aggregate's copy of the scan loses a filter on a
# folder column, so `sum(BilledCost) OVER (PARTITION BY BillingCurrency) ... WHERE
# x_BillingPeriod = '2024-10'` summed the whole lake. tests/store/test_engine_canary.py
# pins this shape and the others the product relies on, so an upgrade that breaks one fails.
WRONG_OPTIMIZERS = ("window_self_join",)


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None


# What an engine's file readers take as a pattern in a path (DuckDB's `[ * ?`; Hadoop's
# also `{ }` and its escape `\`): a lake's files under such a path could not be read as
# themselves (sqltext.file_pattern escapes them in a source's name, not in the lake's globs).
_LAKE_PATTERNS = {"duckdb": "[*?", "spark": PATTERN_CHARACTERS + "\\"}


def _refuse_patterns(what: str, path: str, engine: Engine) -> None:
    characters = _LAKE_PATTERNS.get(engine.name, _LAKE_PATTERNS["spark"])
    if found := sorted({c for c in path if c in characters}):
        reader = "DuckDB's" if engine.name == "duckdb" else "Spark's"
        raise StoreError(
            f"{what}: the path holds {' '.join(found)}, which {reader} file readers take as a "
            "pattern, so the lake's files could not be read as themselves. Choose a path "
            f"without {' '.join(characters)}."
        )


class Store:
    """A cost lake in a data dir (created on first use)."""

    def __init__(self, data_dir: Path | str = DEFAULT_DATA_DIR, engine: Engine = DUCKDB) -> None:
        self.query_engine = engine  # where queries run (cloudtally.engine); the lake is the same
        uri = lake_uri(str(data_dir))
        where = uri[1] if uri is not None else str(Path(data_dir).resolve())
        _refuse_patterns(f"--data-dir {data_dir}", where, engine)
        # An object store's lake (None: a local or mounted folder); `data_dir` is then the
        # local work folder (staging, spill space, the state database's copy).
        self.objects: ObjectLake | None = None
        if uri is not None:
            if engine.name != "duckdb" and uri[0] in ("az", "abfs"):
                raise UnsupportedError(
                    f"--data-dir {uri[1]}: on --engine {engine.name} give the container as "
                    "Hadoop names it: abfss://CONTAINER@ACCOUNT.dfs.core.windows.net/FOLDER."
                )
            self.objects = ObjectLake(*uri)
            self.data_dir = self.objects.work_dir
        else:
            self.data_dir = Path(data_dir).resolve()
            if self.data_dir.exists() and not self.data_dir.is_dir():
                raise StoreError(f"--data-dir {data_dir} exists and is not a directory.")
        self.catalog_path = self.data_dir / "catalog.json"
        self.manifest_path = self.data_dir / "manifest.jsonl"
        self.lake_dir = self.data_dir / "lake"
        self.staging_dir = self.data_dir / "staging"
        self.tmp_dir = self.data_dir / "tmp"
        # Staged files that are in the object store (`stages_remotely`), by their local names.
        self._remote_staged: set[str] = set()
        self._staging_lock = threading.Lock()  # (a query runs in a worker thread)
        # The live catalog while this Store holds the write lock (`writing`), else None.
        self._held: Catalog | None = None
        # Inside `pinned()`: the catalog its first `catalog()` read (empty until then).
        self._pin: ContextVar[list[Catalog] | None] = ContextVar("catalog_pin", default=None)

        if self.objects is not None:
            _refuse_patterns(
                f"The cache folder {cache_root()} (CLOUDTALLY_CACHE_DIR)",
                str(self.data_dir),
                engine,
            )

    @property
    def where(self) -> str:
        """The lake as the user named it: its folder or its URI."""
        return self.objects.uri if self.objects else str(self.data_dir)

    def location(self, path: str) -> str:
        """Where an engine opens a lake file (`path` relative to the data dir, as the catalog
        records it)."""
        return self.objects.location(path) if self.objects else str(self.data_dir / path)

    @property
    def prefix(self) -> str:
        """What comes before a file's path (relative to the data dir) in its `location`."""
        return f"{self.objects.uri}/" if self.objects else f"{self.data_dir}/"

    def exists(self) -> bool:
        """Whether there is a lake here (its catalog)."""
        return self.objects.exists("catalog.json") if self.objects else self.catalog_path.exists()

    def catalog_version(self) -> tuple[object, ...] | None:
        """What changes whenever the catalog is replaced, for one look (a stat; in an object
        store one HEAD, not the catalog's GET); None when there is no lake."""
        if self.objects:
            etag = self.objects.version("catalog.json")
            return None if etag is None else (etag,)
        try:
            stat = os.stat(self.catalog_path)
        except FileNotFoundError:
            return None
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def has_state(self) -> bool:
        """Whether the state database exists (nothing was recorded in it otherwise)."""
        if self.objects:
            return self.objects.exists("state.duckdb")
        return (self.data_dir / "state.duckdb").exists()

    @contextmanager
    def reading_state(self) -> Iterator[Path | None]:
        """The state database's file for a read-only connection (in an object store, a copy
        taken now, this block's own, removed after it), or None when there is none."""
        if self.objects is None:
            path = self.data_dir / "state.duckdb"
            yield path if path.exists() else None
            return
        with self.objects.state_snapshot(self.data_dir) as copy:
            yield copy

    def open_file(self, path: str) -> BinaryIO:
        """A lake file's bytes (FileNotFoundError when it is not there)."""
        return self.objects.open(path) if self.objects else open(self.data_dir / path, "rb")

    def file_size(self, path: str) -> int:
        """A lake file's size (FileNotFoundError when it is not there)."""
        return self.objects.size(path) if self.objects else (self.data_dir / path).stat().st_size

    def file_identity(self, path: str) -> tuple[Any, ...]:
        """What changes when a lake file is replaced (OSError when it is not there)."""
        if self.objects:
            return self.objects.identity(path)
        stat = (self.data_dir / path).stat()
        return (stat.st_ino, stat.st_size, stat.st_mtime_ns)

    def file_schema(self, path: str) -> pa.Schema:
        """A lake file's columns, from its footer."""
        if self.objects is None:
            return pq.read_schema(self.data_dir / path)
        with self.objects.open(path) as fh:
            return pq.read_schema(fh)

    def file_sha256(self, path: str) -> str:
        if self.objects is None:
            return file_sha256(self.data_dir / path)
        with self.objects.open(path) as fh:
            return stream_sha256(fh)

    # -- staging ---------------------------------------------------------------------------

    @property
    def stages_remotely(self) -> bool:
        """Whether the files Spark writes are staged in the object store (`staging/` under
        the lake's URI) rather than in the local work folder: Spark's executors (on other
        machines) write them, and cannot reach the driver's disk. Staged paths keep their
        local names (`staging_dir / ...`); `staged_location` says where a file really is.
        Files DuckDB writes on the driver (the summaries' parts) stay local."""
        return self.objects is not None and self.query_engine.name != "duckdb"

    def _staged_key(self, path: Path | str) -> str | None:
        """The object-store path of a staged file or folder (None: not under staging/)."""
        if not self.stages_remotely:
            return None
        relative = os.path.relpath(path, self.data_dir)
        if relative != "staging" and not relative.startswith("staging/"):
            return None
        return relative

    def stage_remotely(self, path: Path) -> str | None:
        """Where Spark writes staged file `path` (its URI in the store, which is where it is
        from then on), or None when it is written locally."""
        key = self._staged_key(path)
        if key is None:
            return None
        with self._staging_lock:
            self._remote_staged.add(str(path))
        return self.location(key)

    def _staged_remotely(self, path: Path | str) -> bool:
        """Whether `path` (a staged file, a folder, or a glob of files in one folder) names
        files staged in the store."""
        name = str(path)
        folder = name.split("*", 1)[0] if "*" in name else f"{name}/"
        with self._staging_lock:
            return name in self._remote_staged or any(
                f.startswith(folder) for f in self._remote_staged
            )

    def staged_location(self, path: Path | str) -> str:
        """Where Spark reads a staged file (or glob) `path`; other paths as they are. A file
        staged on this machine (a source flattened by Python) is put in the store first, where
        executors on other machines read it (it stays here too)."""
        key = self._staged_key(path)
        if key is None:
            return str(path)
        if not self._staged_remotely(path):
            if "*" in str(path) or not Path(path).is_file():
                return str(path)
            assert self.objects is not None
            self.objects.put(Path(path), key)
            with self._staging_lock:
                self._remote_staged.add(str(path))
        return self.location(key)

    def staged_file_rows(self, path: Path) -> int:
        """The rows of a staged Parquet file, from its footer."""
        key = self._staged_key(path)
        if key is None or not self._staged_remotely(path):
            return int(pq.ParquetFile(path).metadata.num_rows)
        with self.open_file(key) as fh:
            return int(pq.read_metadata(fh).num_rows)

    def remove_staged(self, path: Path) -> None:
        """Remove a staged file or folder, wherever it is staged. Its copies in the store are
        removed as far as the store answers: what is left is removed by the next writer
        (`recover`), so a failing store does not turn a committed run into a failed one."""
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        key = self._staged_key(path)
        with self._staging_lock:
            inside = {f for f in self._remote_staged if f == str(path) or f.startswith(f"{path}/")}
            self._remote_staged -= inside
        if key is None or not inside or self.objects is None:
            return
        try:
            if str(path) in inside:
                self.objects.remove(key)
            else:
                self.objects.remove_tree(key)
        except StoreError:
            pass

    # -- reading ---------------------------------------------------------------------------

    def catalog(self) -> Catalog:
        """The live catalog; inside `pinned()`, the one first read there."""
        pin = self._pin.get()
        if pin:
            return pin[0]
        catalog = self._read_catalog()
        if pin is None:
            return catalog
        pin.append(catalog)  # (threads sharing the pin that read it too: the first one holds)
        return pin[0]

    @contextmanager
    def pinned(self) -> Iterator[None]:
        """Within the block (in this context, and in threads run in a copy of it), every
        `catalog()` is the catalog first read in it: a command's answers all come from one
        generation, and an object store's catalog is fetched once, not once per question.
        `writing()` still reads the live catalog (under the lock), and a commit moves the pin
        to the catalog it made live. Not for a server: each request pins its own."""
        if self._pin.get() is not None:
            yield
            return
        token = self._pin.set([])
        try:
            yield
        finally:
            self._pin.reset(token)

    def changed_since(self, catalog: Catalog) -> StoreError | None:
        """The error for a command whose files failed to read because `catalog`, the one it
        read, is no longer the live one (its files may be gone); None when it still is."""
        live = self._read_catalog()
        if live.generation == catalog.generation:
            return None
        return changed_error(
            f"it read generation {catalog.generation}; generation {live.generation} is live now"
        )

    def _repin(self, catalog: Catalog) -> Catalog:
        pin = self._pin.get()
        if pin is not None:
            pin[:] = [catalog]
        return catalog

    def _read_catalog(self) -> Catalog:
        if self.objects:
            catalog = parse_catalog(
                self.objects.read("catalog.json"), self.objects.location("catalog.json")
            )
            self.objects.know_sizes(catalog.file_sizes)
            return catalog
        return read_catalog(self.catalog_path)

    def manifest(self, *, last: int | None = None) -> list[ManifestEntry]:
        """Every source file an ingest saw, oldest first (the history; no query needs it);
        with `last`, the newest `last` entries only."""
        catalog = self.catalog()
        if catalog.format_version < 3:
            return catalog.manifest if last is None else catalog.manifest[-last:] if last else []
        return read_manifest(self._manifest_file(), catalog.manifest_size, last=last)

    def manifest_count(self) -> int:
        """How many entries the history holds."""
        catalog = self.catalog()
        if catalog.format_version < 3:
            return len(catalog.manifest)
        if catalog.manifest_size == 0:
            return 0
        if catalog.manifest_entries is not None:
            return catalog.manifest_entries
        return count_manifest(self._manifest_file(), catalog.manifest_size)

    def _manifest_file(self) -> ManifestFile:
        if self.objects:
            objects = self.objects
            return ManifestFile(
                objects.location("manifest.jsonl"), lambda: objects.open("manifest.jsonl")
            )
        path = self.manifest_path
        return ManifestFile(str(path), lambda: open(path, "rb"))

    def connect(self, catalog: Catalog | None = None) -> duckdb.DuckDBPyConnection:
        """A connection of the store's engine with the view `costs` over the live files (and a
        view per derived dataset)."""
        catalog = catalog if catalog is not None else self.catalog()
        return self.query_engine.lake(self, catalog)

    def _duckdb_lake(self, catalog: Catalog) -> duckdb.DuckDBPyConnection:
        con = self._duckdb_connection()
        try:
            con.execute(f"CREATE VIEW costs AS {self.costs_select(catalog)}")
            for name, dataset in catalog.derived.items():
                listed = literals(self.location(f) for f in dataset.files)
                view = (
                    f"CREATE VIEW {identifier(name)} AS "
                    f"SELECT * FROM read_parquet([{listed}], union_by_name = true)"
                )
                if dataset.parameters.get(REBUILDABLE) != "true":
                    con.execute(view)
                    continue
                try:
                    con.execute(view)
                except duckdb.Error:
                    continue  # a damaged summary: no view, its readers read the lake
        except duckdb.Error:
            changed = self.changed_since(catalog)
            if changed is not None:
                raise changed from None
            # A live file missing or damaged: say which, and how to repair it.
            problems = damaged_files(self, catalog)
            if problems:
                raise damaged_error(problems) from None
            raise
        return con

    def costs_select(self, catalog: Catalog) -> str:
        """The SELECT behind the view `costs`: every live file, canonical columns first.

        The files are read as Hive partitions, so a filter on x_Provider or x_BillingPeriod
        skips whole folders. (Reading each folder on its own with its values as constants
        avoids Hive reads, but a lake of three years and three providers then plans 108
        branches and `costs --by service` took 2.5x as long.)
        """
        files = [self.location(path) for path in catalog.live_files()]
        if not files:
            return empty_select()
        listed = literals(files)
        numbered = has_line_numbers(self, catalog)
        if catalog.format_version < 2:
            no_key = "" if numbered else ", CAST(NULL AS BIGINT) AS x_LineNo"
            return f"SELECT *{no_key} FROM read_parquet([{listed}], union_by_name = true)"
        # Canonical columns first, in order (the folder columns come last from the reader),
        # then the extension columns of the sources. A `key=value` folder above the data dir
        # would read as a column too: it is left out.
        # A lake ingested before x_LineNo has no key for its lines (re-ingest to number them).
        canonical = [c.name for c in CANONICAL if numbered or c.name != "x_LineNo"]
        folders = self.objects.root.split("/") if self.objects else self.data_dir.parts
        above = [p.split("=", 1)[0] for p in folders if "=" in p]
        names = ", ".join(
            identifier(c.name)
            if numbered or c.name != "x_LineNo"
            else f"CAST(NULL AS BIGINT) AS {identifier(c.name)}"
            for c in CANONICAL
        )
        dropped = ", ".join(identifier(c) for c in dict.fromkeys([*canonical, *above]))
        types = ", ".join(f"{literal(c)}: VARCHAR" for c in FOLDER_COLUMNS)
        return (
            f"SELECT {names}, * EXCLUDE ({dropped}) FROM read_parquet([{listed}], "
            f"union_by_name = true, hive_partitioning = true, hive_types = {{{types}}})"
        )

    def sql(
        self, query: str, prepare: Callable[[duckdb.DuckDBPyConnection], None] | None = None
    ) -> QueryResult:
        """Run a user's query against the lake. It may only read: see `store.sandbox`.

        `prepare` adds views of data the command has read itself (business metrics) before
        the connection is locked down."""
        statements = read_only_statements(query)
        con = self.connect()
        if prepare is not None:
            prepare(con)
        lock_down(con, *(self.objects.names("lake") if self.objects else [self.location("lake")]))
        try:
            for statement in statements[:-1]:
                con.execute(statement)
            cursor = con.execute(statements[-1])
            columns = [d[0] for d in cursor.description or []]
            return QueryResult(columns, cursor.fetchall())
        except duckdb.Error as exc:
            raise QueryError(explain_sql_error(exc, con, self.location("lake"))) from None

    # -- writing ---------------------------------------------------------------------------

    def engine(self) -> duckdb.DuckDBPyConnection:
        """A plain connection with the store's settings, for work on files (ingest, export)."""
        return self._engine()

    @contextmanager
    def writing(self) -> Iterator[Catalog]:
        """Hold the write lock, recover from any interrupted run, and yield the catalog."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.objects:
            with self.objects.lock():
                try:
                    yield self._take_over()
                finally:
                    self._held = None
            return
        lock = open(self.data_dir / ".lock", "a+")  # noqa: SIM115 - held for the block
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StoreError(
                    f"{self.data_dir} is being written by another cloudtally process; "
                    "wait for it to finish and run again."
                ) from None
            yield self._take_over()
        finally:
            self._held = None
            lock.close()

    def _take_over(self) -> Catalog:
        """Under the write lock: the live catalog, read once (`commit` knows it from then on:
        nobody else commits while the lock is held), after recovering from any interrupted
        run; in the current format."""
        catalog = self._read_catalog()
        self.recover(catalog)
        self._held = self._repin(catalog)
        return self._upgraded(catalog)

    def recover(self, catalog: Catalog) -> None:
        """Undo what an interrupted run left: staged files, temp catalogs, files `catalog` (the
        live one) does not use."""
        shutil.rmtree(self.staging_dir, ignore_errors=True)
        if self.objects is not None:  # (staged there by an earlier run on Spark)
            self.objects.remove_tree("staging")
            with self._staging_lock:
                self._remote_staged.clear()
        remove_stale(self.tmp_dir)
        for stray in self.data_dir.glob("catalog.tmp-*"):
            stray.unlink(missing_ok=True)
        self.collect_garbage(catalog)

    def _upgraded(self, catalog: Catalog) -> Catalog:
        """The catalog in the current store format, committed if it was older.

        Format 1 kept partition files in lake/<provider>/<period>/ with x_Provider and
        x_BillingPeriod inside them; format 2 keeps them in Hive-style folders. Files are
        hard-linked (same bytes, no copy) into their new folders, then the catalog swaps; a
        crash before the swap leaves the old catalog and files, and unreferenced links are
        collected by the next run. Format 3 moves the manifest out of the catalog into
        manifest.jsonl (the commit appends the history the older catalog held)."""
        if catalog.format_version >= FORMAT_VERSION:
            return catalog
        partitions = catalog.partitions
        if catalog.format_version < 2:
            partitions = [self._in_hive_folders(p) for p in catalog.partitions]
        upgraded = catalog.model_copy(
            update={"format_version": FORMAT_VERSION, "partitions": partitions}
        )
        return self.commit(upgraded)

    def _in_hive_folders(self, partition: Partition) -> Partition:
        if self.objects:  # (no object-store lake was ever in the first format)
            raise StoreError(f"{self.where}: a format-1 catalog in an object store.")
        folder = self.data_dir / partition.key.folder()
        folder.mkdir(parents=True, exist_ok=True)
        files = []
        for part in partition.files:
            old = self.data_dir / part.path
            new = folder / old.name
            if not new.exists():
                try:
                    os.link(old, new)
                except OSError:
                    shutil.copy2(old, new)
            files.append(part.model_copy(update={"path": str(new.relative_to(self.data_dir))}))
        return partition.model_copy(update={"files": files})

    def commit(self, catalog: Catalog) -> Catalog:
        """Make `catalog` the live state (one atomic rename), then drop files no longer used.

        Its new manifest entries are appended to manifest.jsonl first; the catalog records
        the manifest's committed size, so entries of a commit that never swapped are ignored.
        New live files get their sha256 recorded (`check` compares it). Files the previous
        state used are kept one generation longer ("retired"), so a query that started
        before the swap can still read them.
        """
        previous = self._held if self._held is not None else self._read_catalog()
        retired = sorted(set(previous.all_files()) - set(catalog.all_files()))
        committed = previous.manifest_size if previous.format_version >= 3 else 0
        entries = (
            0
            if committed == 0
            else previous.manifest_entries
            if previous.manifest_entries is not None
            else count_manifest(self._manifest_file(), committed)
        ) + len(catalog.manifest)
        catalog = catalog.model_copy(
            update={
                "format_version": FORMAT_VERSION,
                "generation": catalog.generation + 1,
                "retired_files": retired,
            }
        )
        sizes = self._sizes(catalog) if self.objects else {}
        catalog = catalog.model_copy(
            update={"partitions": self._hashed(catalog.partitions, sizes), "file_sizes": sizes}
        )
        with uninterrupted():
            size = self._append_manifest(committed, catalog.manifest)
            catalog = catalog.model_copy(
                update={"manifest": [], "manifest_size": size, "manifest_entries": entries}
            )
            if self.objects:
                self.objects.write_catalog(catalog_bytes(catalog))
            else:
                write_catalog(self.catalog_path, catalog)
            mark_committed()
            if self.objects:
                self.objects.know_sizes(catalog.file_sizes)
            self._repin(catalog)
            if self._held is not None:
                self._held = catalog
            crash_point("after-catalog")
            self.collect_garbage(catalog)
            crash_point("after-gc")
        return catalog

    def _append_manifest(self, committed: int, entries: list[ManifestEntry]) -> int:
        """manifest.jsonl cut to its `committed` bytes, then `entries`; its new size."""
        if self.objects is None:
            return append_manifest(self.manifest_path, committed, entries)
        kept = (self.objects.read("manifest.jsonl") or b"")[:committed] if committed else b""
        data = kept + b"".join(e.line() for e in entries)
        if entries or len(kept) != committed:
            self.objects.write("manifest.jsonl", data)
        return len(data)

    def _sizes(self, catalog: Catalog) -> dict[str, int]:
        """The sizes of the files `catalog` uses (an object store's lake): known ones kept,
        uploaded ones as they were uploaded, others (moved in the store) asked for."""
        assert self.objects is not None
        known, uploaded = catalog.file_sizes, self.objects.uploaded
        return {
            path: known[path]
            if path in known
            else uploaded[path][1]
            if path in uploaded
            else self.objects.size(path)
            for path in catalog.all_files()
        }

    def _hashed(self, partitions: list[Partition], sizes: dict[str, int]) -> list[Partition]:
        """`partitions` with the sha256 of each new file recorded: an uploaded file's as it
        was uploaded, the others' from the engine (Spark hashes an object store's files where
        they are)."""
        uploaded = self.objects.uploaded if self.objects else {}
        new = [f.path for p in partitions for f in p.files if not f.sha256]
        known = {path: uploaded[path][0] for path in new if path in uploaded}
        unknown = [path for path in new if path not in known]
        if unknown:
            known |= self.query_engine.file_sha256s(self, unknown, sizes)
        return [
            p
            if all(f.sha256 for f in p.files)
            else p.model_copy(
                update={
                    "files": [
                        f if f.sha256 else f.model_copy(update={"sha256": known[f.path]})
                        for f in p.files
                    ]
                }
            )
            for p in partitions
        ]

    def collect_garbage(self, catalog: Catalog) -> None:
        if self.objects:
            keep = {*catalog.all_files(), *catalog.retired_files}
            for name in self.objects.parquet_files("lake"):
                if name not in keep:
                    self.objects.remove(name)
            return
        if not self.lake_dir.exists():
            return
        keep = {str(self.data_dir / p) for p in [*catalog.all_files(), *catalog.retired_files]}
        for path in self.lake_dir.rglob("*.parquet"):
            if str(path) not in keep:
                path.unlink(missing_ok=True)
        for folder in sorted(self.lake_dir.rglob("*"), reverse=True):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()

    def staging_for(self, name: str) -> Path:
        """A fresh folder for a writer to put a derived dataset's files in before `publish`."""
        folder = self.staging_dir / f"{name}-{secrets.token_hex(4)}"
        folder.mkdir(parents=True)
        return folder

    def publish(
        self,
        catalog: Catalog,
        name: str,
        files: list[Path],
        *,
        rows: int,
        parameters: dict[str, str] | None = None,
    ) -> Catalog:
        """Replace derived dataset `name` (a view of that name) with `files`, atomically.

        Call inside `writing()`, with the catalog it yielded; files come from `staging_for`.
        """
        return self.commit(
            self.with_derived(catalog, name, files, rows=rows, parameters=parameters)
        )

    def with_derived(
        self,
        catalog: Catalog,
        name: str,
        files: list[Path],
        *,
        rows: int,
        parameters: dict[str, str] | None = None,
    ) -> Catalog:
        """`catalog` with derived dataset `name` replaced by `files`, moved into the lake but
        not yet live: `commit` the result (ingest commits it with the costs, in one swap)."""
        dataset = DerivedDataset(
            name=name,
            files=self._into_lake(name, files),
            rows=rows,
            built_at=datetime.now(UTC),
            source_generation=catalog.generation,
            parameters=parameters or {},
        )
        return catalog.model_copy(update={"derived": {**catalog.derived, name: dataset}})

    def with_derived_parts(
        self,
        catalog: Catalog,
        name: str,
        kept: list[DerivedPart],
        new: list[tuple[DerivedPart, Path]],
        *,
        parameters: dict[str, str] | None = None,
    ) -> Catalog:
        """`catalog` with derived dataset `name` made of parts, one per lake partition, not yet
        live (`commit` it): `kept` are parts of the live generation whose files stay as they
        are (referenced, not copied), `new` staged files (from `staging_for`) moved into the
        lake, each becoming the part it comes with. Its rows are the parts' rows."""
        moved = self._into_lake(name, [path for _, path in new])
        fresh = [
            part.model_copy(update={"file": f}) for (part, _), f in zip(new, moved, strict=True)
        ]
        parts = sorted(
            [*kept, *fresh],
            key=lambda p: (p.key.provider, p.key.billing_period, p.key.billing_account_id),
        )
        dataset = DerivedDataset(
            name=name,
            files=[p.file for p in parts],
            rows=sum(p.rows for p in parts),
            built_at=datetime.now(UTC),
            source_generation=catalog.generation,
            parameters=parameters or {},
            parts=parts,
        )
        return catalog.model_copy(update={"derived": {**catalog.derived, name: dataset}})

    def _into_lake(self, name: str, files: list[Path]) -> list[str]:
        """Move staged files of derived dataset `name` into the lake (not yet live); their
        paths relative to the data dir."""
        if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or name == "costs":
            raise StoreError(f"{name!r} is not a valid dataset name.")
        token = secrets.token_hex(4)
        return [
            self.into_lake(path, f"lake/_derived/{name}/{token}-{n:05d}.parquet")
            for n, path in enumerate(files)
        ]

    def into_lake(self, staged: Path, path: str) -> str:
        """Move a staged file to `path` in the lake (relative to the data dir; not live until a
        catalog naming it is committed); `path`."""
        key = self._staged_key(staged)
        if key is not None and self.objects is not None and self._staged_remotely(staged):
            self.objects.move(key, path)
            with self._staging_lock:
                self._remote_staged.discard(str(staged))
            return path
        if self.objects:
            self.objects.upload(staged, path)
            return path
        destination = self.data_dir / path
        if destination.exists():  # (names are new with each ingest: never a file replaced)
            raise StoreError(f"{destination}: a lake file of that name exists; nothing was stored.")
        destination.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, destination)
        return path

    @contextmanager
    def state(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The durable, writable state database (`state.duckdb`): anomalies, feedback, ...

        In an object store it is copied down, used, and put back if it changed."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.objects:
            # This run's own copy (another process on this machine may hold one too); one
            # writer of the state at a time in this process (a served dashboard writes it from
            # several threads: each would put back a copy without the others' rows).
            local = self.data_dir / f"state-{os.getpid()}-{secrets.token_hex(4)}.duckdb"
            with (
                self.objects.state_lock,
                self.objects.state_copy(local),
                self._local_state(local) as con,
            ):
                yield con
            return
        with self._local_state(self.data_dir / "state.duckdb") as con:
            yield con

    @contextmanager
    def _local_state(self, path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
        try:
            con = duckdb.connect(str(path))
        except duckdb.IOException as exc:
            raise StoreError(f"{path} is in use by another process ({first_line(exc)}).") from None
        try:
            con.execute("SET TimeZone = 'UTC'")
            yield con
        finally:
            con.close()

    # -- internals -------------------------------------------------------------------------

    def _engine(self) -> duckdb.DuckDBPyConnection:
        return self.query_engine.connection(self)

    def _duckdb_connection(self) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT})
        interruptible(con)
        con.execute("SET TimeZone = 'UTC'")
        disabled = [name for name in WRONG_OPTIMIZERS if name in _engine_optimizers()]
        if disabled:
            con.execute(f"SET disabled_optimizers = {literal(','.join(disabled))}")
        if self.data_dir.exists() or self.objects:
            con.execute(f"SET temp_directory = {literal(str(spill_folder(self.data_dir)))}")
        if self.objects:
            con.register_filesystem(self.objects.fs)
        return con


@cache
def _engine_optimizers() -> frozenset[str]:
    """The optimizers this DuckDB has (older versions lack some of WRONG_OPTIMIZERS)."""
    names = duckdb.connect().execute("SELECT name FROM duckdb_optimizers()").fetchall()
    return frozenset(name for (name,) in names)


def has_line_numbers(store: Store, catalog: Catalog) -> bool:
    """Whether any live file of the lake has x_LineNo (every file an ingest writes since it
    was added does). Files are looked at newest ingest first, so on such a lake one footer
    is read; only a lake ingested before has all its footers read."""
    partitions = sorted(catalog.partitions, key=lambda p: p.ingest_id, reverse=True)
    for partition in partitions:
        for part in partition.files:
            try:
                if "x_LineNo" in store.file_schema(part.path).names:
                    return True
            except (OSError, ValueError):
                continue  # a missing or damaged file: the view's reader says which
    return False
