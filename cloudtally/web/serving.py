"""What the server holds between requests: the store (one DuckDB connection per catalog
generation, a fresh cursor per request), the rules folder, the sign-in limiter.

A new ingest or allocation commits a new catalog generation; the next request sees it and
builds a new connection, so the server picks up new data without a restart and never mixes
two generations in one answer. `cloudtally serve` also runs a `Warmer`: it notices the new
generation within a second, loads the cubes into memory and computes the answers pages keep
per generation (tag compliance, the KPI scorecard's lake work) for the admin's default view,
so the first person to look after an ingest does not wait for them.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from cloudtally.query.cube import ALLOCATED_CUBE, COSTS_CUBE, TAGS_CUBE
from cloudtally.query.ownership import EVERYTHING, Scope
from cloudtally.store import Store
from cloudtally.store.catalog import Catalog
from cloudtally.web.security import SignInLimiter

# Speed: questions that fit a daily cube (query/cube.py) read it instead of the lines, and the
# server holds the cubes of the live generation in memory (a few hundred thousand rows each
# for a 10M-line lake): a query then scans no Parquet. Anything else reads the lake's files.
IN_MEMORY = (COSTS_CUBE, ALLOCATED_CUBE, TAGS_CUBE)
# Answers kept per generation (`ServingStore.remembered`): tag compliance, which groups every
# usage line of a period by resource, is the same for every view of a page until new data.
REMEMBERED = 256
# How often the warmer looks for a new generation (a stat of the catalog file; in an object
# store a HEAD of catalog.json, a request billed by the store, so less often), and for how
# many distinct viewer scopes (teams and products of users) it warms, besides everything.
WARM_EVERY_SECONDS = 1.0
WARM_OBJECT_STORE_EVERY_SECONDS = 5.0
WARM_SCOPES = 16
T = TypeVar("T")
log = logging.getLogger(__name__)


class OneGeneration:
    """ASGI middleware: a request reads the lake's catalog once (`Store.pinned`), so its
    answer comes from one generation whatever is committed meanwhile, and a lake in an object
    store is asked for its catalog once per request."""

    def __init__(self, app: Any, store: Store) -> None:
        self.app = app
        self.store = store

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with self.store.pinned():
            await self.app(scope, receive, send)


class ServingStore(Store):
    """A Store whose `connect` hands out cursors of one connection per catalog generation
    (building the views over thousands of files once, not per request)."""

    def __init__(self, data_dir: Path | str) -> None:
        super().__init__(data_dir)
        self._lock = threading.Lock()
        self._key: tuple[object, ...] | None = None
        self._con: duckdb.DuckDBPyConnection | None = None
        self._answers: OrderedDict[Hashable, Any] = OrderedDict()
        self._answers_key: tuple[object, ...] | None = None

    def remembered(self, question: Hashable, answer: Callable[[], T]) -> T:
        """`answer()` for `question`, computed once per catalog generation (the last
        REMEMBERED questions are kept). Only for answers that depend on the lake and the
        question alone: a new ingest or allocation is a new generation, which starts afresh;
        what the state database holds (anomalies, users) can change within one."""
        key = self._catalog_key(self.catalog())
        with self._lock:
            kept = self._answers_key
            if kept == key and question in self._answers:
                self._answers.move_to_end(question)
                return self._answers[question]
        if kept != key and kept is not None and not self._is_live(key):
            return answer()  # a request still on a replaced generation: answered, not kept
        with self._lock:
            if self._answers_key != key:
                self._answers.clear()
                self._answers_key = key
        found = answer()
        with self._lock:
            if self._answers_key == key:
                self._answers[question] = found
                while len(self._answers) > REMEMBERED:
                    self._answers.popitem(last=False)
        return found

    def generation_key(self) -> tuple[object, ...]:
        """What identifies the live generation (catalog generation and file identity)."""
        return self._catalog_key(self.catalog())

    def _catalog_key(self, catalog: Catalog) -> tuple[object, ...]:
        if self.objects:
            # No inode or time to tell a lake made again from scratch to the same generation:
            # what the generation's files were written by tells (an ingest id, a build time).
            return (
                catalog.generation,
                *sorted({p.ingest_id for p in catalog.partitions}),
                *sorted(str(d.built_at) for d in catalog.derived.values()),
            )
        try:
            stat = os.stat(self.catalog_path)
            return (catalog.generation, stat.st_ino, stat.st_mtime_ns)
        except FileNotFoundError:
            return (catalog.generation, 0, 0)

    def _is_live(self, key: tuple[object, ...]) -> bool:
        """Whether `key` is the live generation's (a request pinned to an older one is not:
        it must not replace what the server keeps for the newer one)."""
        return self._catalog_key(self._read_catalog()) == key

    def connect(self, catalog: Catalog | None = None) -> duckdb.DuckDBPyConnection:
        catalog = catalog if catalog is not None else self.catalog()
        key = self._catalog_key(catalog)
        with self._lock:
            if self._con is not None and self._key == key:
                return self._con.cursor()
            kept = self._key
        if kept is not None and not self._is_live(key):
            return super().connect(catalog)  # a replaced generation's request: not kept
        with self._lock:
            if self._con is None or self._key != key:
                self._con = self._in_memory(super().connect(catalog), catalog)
                self._key = key
            return self._con.cursor()

    def _in_memory(
        self, con: duckdb.DuckDBPyConnection, catalog: Catalog
    ) -> duckdb.DuckDBPyConnection:
        """`con` with the cubes' views replaced by tables of the same rows."""
        if not isinstance(con, duckdb.DuckDBPyConnection):
            return con  # another engine's connection: it reads the files
        # (A rebuildable cube with a damaged file has no view: its questions read the lake.)
        views = {v for (v,) in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
        for name in IN_MEMORY:
            if name in catalog.derived and name in views:
                con.execute(f"CREATE TABLE {name}_rows AS SELECT * FROM {name}")
                con.execute(f"DROP VIEW {name}")
                con.execute(f"ALTER TABLE {name}_rows RENAME TO {name}")
        return con


@dataclass
class Serving:
    store: ServingStore
    rules_dir: Path | None = None
    secure_cookies: bool = False
    limiter: SignInLimiter = field(default_factory=SignInLimiter)


@dataclass
class WarmView:
    """The view a warmer computes answers for: everything (the admin's and finops' default
    view), with the server's rules folder; shaped like a request's viewer for the pages'
    query functions."""

    store: ServingStore
    rules_dir: Path | None
    scope: Scope = EVERYTHING

    def remembered(self, question: Hashable, answer: Callable[[], T]) -> T:
        return self.store.remembered(question, answer)


class Warmer:
    """A thread that keeps the live generation warm: when the catalog changes (an ingest or
    an allocation committed), it builds the in-memory cubes and runs every task (the pages'
    `warm` functions) once for that generation: for everything, then for each scope
    `scopes()` gives (the users' teams and products; at most WARM_SCOPES). A task that fails
    is logged and skipped: the page shows the error when someone asks."""

    def __init__(
        self,
        store: ServingStore,
        rules_dir: Path | None,
        tasks: list[Callable[[WarmView], object]],
        scopes: Callable[[], list[Scope]] = list,
        every: float | None = None,
    ) -> None:
        self.store = store
        self.rules_dir = rules_dir
        self.tasks = tasks
        self.scopes = scopes
        if every is None:
            every = WARM_OBJECT_STORE_EVERY_SECONDS if store.objects else WARM_EVERY_SECONDS
        self.every = every
        self.warmed: tuple[object, ...] | None = None  # the generation last warmed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def warm_once(self) -> bool:
        """Warm the live generation unless done already; whether it did."""
        with self.store.pinned():  # (one generation throughout, read once)
            return self._warm_once()

    def _warm_once(self) -> bool:
        if not self.store.exists():
            return False
        key = self.store.generation_key()
        if key == self.warmed:
            return False
        self.store.connect().close()  # the cubes of this generation, into memory
        try:
            scoped = [s for s in dict.fromkeys(self.scopes()) if not s.unrestricted]
        except Exception:  # the state database busy or damaged: warm the default view only
            log.warning("reading the users' scopes failed", exc_info=True)
            scoped = []
        for scope in [EVERYTHING, *scoped[:WARM_SCOPES]]:
            view = WarmView(self.store, self.rules_dir, scope)
            for task in self.tasks:
                if self._stop.is_set():
                    return False
                try:
                    task(view)
                except Exception:  # a page reports its own errors when asked
                    log.warning("warming %s failed", getattr(task, "__name__", task), exc_info=True)
        self.warmed = key
        return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="cloudtally-warmer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        seen: tuple[object, ...] | None = None  # the catalog's version at the last pass
        while not self._stop.is_set():
            try:
                # One look at the catalog (a stat, or a HEAD) while nothing changes; the
                # catalog itself is read only for a new one.
                version = self.store.catalog_version()
                if version is not None and (version != seen or self.warmed is None):
                    self.warm_once()
                    seen = version
            except Exception:  # a lake mid-swap or unreadable: try again later
                log.warning("warming the lake failed", exc_info=True)
            self._stop.wait(self.every)
