"""What the server holds between requests: the store (one DuckDB connection per catalog
generation, a fresh cursor per request), the rules folder, the sign-in limiter.

A new ingest or allocation commits a new catalog generation; the next request sees it and
builds a new connection, so the server picks up new data without a restart and never mixes
two generations in one answer.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from cloudtally.store import Store
from cloudtally.store.catalog import Catalog
from cloudtally.web.security import SignInLimiter

# Speed: every answer is computed from the lake or allocated_costs per request (one connection
# per catalog generation saves rebuilding the views). Pages that aggregate the whole lake per
# request (tags, KPIs, a scoped viewer's owner lens without a current allocation) want a daily
# cube per dimension set, published by the allocation through Store.publish so it swaps with
# the data it summarises; not built yet.


class ServingStore(Store):
    """A Store whose `connect` hands out cursors of one connection per catalog generation
    (building the views over thousands of files once, not per request)."""

    def __init__(self, data_dir: Path | str) -> None:
        super().__init__(data_dir)
        self._lock = threading.Lock()
        self._key: tuple[int, int, int] | None = None
        self._con: duckdb.DuckDBPyConnection | None = None

    def _catalog_key(self, catalog: Catalog) -> tuple[int, int, int]:
        try:
            stat = os.stat(self.catalog_path)
            return (catalog.generation, stat.st_ino, stat.st_mtime_ns)
        except FileNotFoundError:
            return (catalog.generation, 0, 0)

    def connect(self, catalog: Catalog | None = None) -> duckdb.DuckDBPyConnection:
        catalog = catalog if catalog is not None else self.catalog()
        key = self._catalog_key(catalog)
        with self._lock:
            if self._con is None or self._key != key:
                self._con = super().connect(catalog)
                self._key = key
            return self._con.cursor()


@dataclass
class Serving:
    store: ServingStore
    rules_dir: Path | None = None
    secure_cookies: bool = False
    limiter: SignInLimiter = field(default_factory=SignInLimiter)
