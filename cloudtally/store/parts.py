"""Derived datasets kept in parts, one file per lake partition (`DerivedPart`): the daily costs
cube (`query.cube`) and the commitments summary (`commitments.summary`).

A build keeps the part of every partition whose files are those it was built from (and whose
file is intact) by reference, builds the others from their partition's lines alone, and drops
the parts of partitions no longer live. Both datasets are faster paths to numbers the lake
gives too, so they are published `rebuildable` (catalog.REBUILDABLE): a damaged part leaves
the dataset's view out, its readers read the lake, and the next build replaces the part.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow.parquet as pq

from cloudtally.sqltext import literal
from cloudtally.store.catalog import REBUILDABLE, Catalog, DerivedDataset, DerivedPart, Partition
from cloudtally.store.verify import footer_problem

if TYPE_CHECKING:
    from cloudtally.store.store import Store

# The rows of a batch of partitions' parts, on a connection whose view `costs` holds those
# partitions' lines alone: one SELECT for all of them (split into one file per partition by
# the partition key columns), or a SELECT per partition, in order.
BatchSelect = Callable[[duckdb.DuckDBPyConnection, list[Partition]], str | list[str]]


def with_parts(
    store: Store,
    catalog: Catalog,
    name: str,
    stamp: Mapping[str, str],
    select: BatchSelect,
    *,
    per_query: int = 1,
    extra: Callable[[list[tuple[DerivedPart, Path]]], list[DerivedPart]] | None = None,
    parameters: Callable[[list[DerivedPart]], dict[str, str]] | None = None,
) -> Catalog:
    """`catalog` with derived dataset `name` in parts over its live files (not yet committed:
    the caller commits it with the files it sums, in one swap).

    `stamp` says what a part holds (its SQL, the tag policy...): parts of another stamp are
    all built again. Stale parts are built `per_query` partitions at a time (`write_parts`);
    `extra` may add parameters to the new parts (given with their files, still staged), and
    `parameters` gives the dataset's own from all its parts. A lake without files: no dataset.
    """
    from cloudtally.allocate.engine import lake_fingerprint

    if not catalog.live_files():
        others = {k: v for k, v in catalog.derived.items() if k != name}
        return catalog.model_copy(update={"derived": others})
    previous = catalog.derived.get(name)
    reusable: dict[tuple[object, str], DerivedPart] = {}
    if previous is not None and all(previous.parameters.get(k) == v for k, v in stamp.items()):
        reusable = {(p.key, p.sources): p for p in previous.parts if intact(store, p)}
    kept: list[DerivedPart] = []
    stale: list[Partition] = []
    for partition in catalog.partitions:
        part = reusable.get((partition.key, partition.fingerprint()))
        if part is None:
            stale.append(partition)
        else:
            kept.append(part)
    lake = lake_fingerprint(catalog)
    if (
        previous is not None
        and not stale
        and {p.file for p in kept} == set(previous.files)
        and previous.parameters.get("lake") == lake
    ):
        return catalog  # built from these very files
    folder = store.staging_for(name)
    try:
        new = write_parts(store, catalog, stale, folder, select, per_query)
        if extra is not None:
            new = list(zip(extra(new), (path for _, path in new), strict=True))
        parts = [*kept, *(part for part, _ in new)]
        return store.with_derived_parts(
            catalog,
            name,
            kept,
            new,
            parameters={
                "lake": lake,
                **stamp,
                **(parameters(parts) if parameters else {}),
                REBUILDABLE: "true",
            },
        )
    finally:
        store.remove_staged(folder)


def write_parts(
    store: Store,
    catalog: Catalog,
    partitions: list[Partition],
    folder: Path,
    select: BatchSelect,
    per_query: int = 1,
) -> list[tuple[DerivedPart, Path]]:
    """The parts of `partitions`, written into `folder`: `per_query` partitions at a time, by
    `select` over their lines (one query whose rows are split into one file per partition, the
    partition keys being columns of every derived dataset kept in parts, or one per partition).

    Each batch has a connection of its own whose view `costs` holds the batch's files alone
    and no derived dataset (a damaged one cannot stop the build). Written by DuckDB whatever
    engine the questions run on: the files are the lake's own and the SQL is DuckDB's."""
    from cloudtally.engine import DUCKDB

    built: list[tuple[DerivedPart, Path]] = []
    for start in range(0, len(partitions), per_query):
        batch = partitions[start : start + per_query]
        con = DUCKDB.lake(store, catalog.model_copy(update={"partitions": batch, "derived": {}}))
        try:
            con.execute("SET preserve_insertion_order = false")
            targets = [folder / f"{start + n:05d}.parquet" for n in range(len(batch))]
            counts = _split(con, select(con, batch), batch, targets)
        finally:
            con.close()
        for partition, target, rows in zip(batch, targets, counts, strict=True):
            part = DerivedPart(
                key=partition.key,
                sources=partition.fingerprint(),
                file="",  # where `Store.with_derived_parts` moves it
                rows=rows,
            )
            built.append((part, target))
    return built


def _split(
    con: duckdb.DuckDBPyConnection,
    select: str | list[str],
    partitions: list[Partition],
    targets: list[Path],
) -> list[int]:
    """Write the rows of `select` into one file per partition (`targets`, in order); their row
    counts."""
    if isinstance(select, list):
        return [_copy(con, one, target) for one, target in zip(select, targets, strict=True)]
    if len(partitions) == 1:
        return [_copy(con, select, targets[0])]
    con.execute(f"CREATE TEMP TABLE _parts AS {select}")
    try:
        counts = []
        for partition, target in zip(partitions, targets, strict=True):
            key = partition.key
            where = (
                f"x_Provider = {literal(key.provider)} AND BillingAccountId = "
                f"{literal(key.billing_account_id)} AND x_BillingPeriod = "
                f"{literal(key.billing_period)}"
            )
            counts.append(_copy(con, f"SELECT * FROM _parts WHERE {where}", target))
        return counts
    finally:
        con.execute("DROP TABLE IF EXISTS _parts")


def _copy(con: duckdb.DuckDBPyConnection, select: str, target: Path) -> int:
    written = con.execute(
        f"COPY ({select}) TO {literal(str(target))} (FORMAT parquet, COMPRESSION zstd)"
    ).fetchone()
    return int(written[0]) if written else 0


def intact(store: Store, part: DerivedPart) -> bool:
    """Whether a part's file is there and reads as Parquet with the rows it was written with."""
    try:
        identity = store.file_identity(part.file)
    except OSError:
        return False
    return _readable(store, part.file, part.rows, identity)


def readable(store: Store, dataset: DerivedDataset) -> bool:
    """Whether every file of a derived dataset can be read: each part `intact` (a dataset
    written whole: each file has its Parquet footer). Cheap when asked again: a file already
    read is looked at again only if it changed (its inode, size or time)."""
    if dataset.parts:
        return all(intact(store, part) for part in dataset.parts)
    return all(footer_problem(store, f) is None for f in dataset.files)


# (where a file is, its identity) -> the rows its footer records (None: not readable). The
# identity is in the key: a file changed since, by hand or by damage, is read again.
_FOOTER_ROWS: dict[tuple[str, tuple[object, ...]], int | None] = {}


def _readable(store: Store, path: str, rows: int, identity: tuple[object, ...]) -> bool:
    key = (store.location(path), identity)
    if key not in _FOOTER_ROWS:
        if len(_FOOTER_ROWS) >= 4096:
            _FOOTER_ROWS.clear()
        _FOOTER_ROWS[key] = _footer_rows(store, path)
    return _FOOTER_ROWS[key] == rows


def _footer_rows(store: Store, path: str) -> int | None:
    if footer_problem(store, path) is not None:
        return None
    try:
        with store.open_file(path) as fh:
            return int(pq.read_metadata(fh).num_rows)
    except (OSError, ValueError):
        return None
