"""The catalog: which Parquet files make up the lake now (`catalog.json`), and the manifest of
every source file ever ingested (`manifest.jsonl`).

`catalog.json` is the live state every command reads: one JSON document replaced atomically
(write beside, fsync, rename), so a reader sees either the state before an ingest or the state
after it, never a mix. Its size follows the live data, not the history.

`manifest.jsonl` is the history: one JSON line per source file an ingest saw, appended by the
writer before it swaps the catalog. The catalog records how many of its bytes are committed
(`manifest_size`); bytes past that are an interrupted ingest's and are cut off by the next
writer. No command parses the manifest to answer a question about costs."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from cloudtally.errors import StoreError

# 2: partition files live in Hive-style folders that carry x_Provider and x_BillingPeriod.
# 3: the manifest lives in manifest.jsonl, out of the catalog every reader parses.
# 4: a derived dataset may be kept in parts, one per lake partition (`DerivedPart`).
# 5: the catalog may record the files' sizes (`file_sizes`) and a manifest entry an object
#    store source's ETag (`source_etag`): fields a reader of format 4 refuses.
FORMAT_VERSION = 5
# Columns of the canonical dataset given by a partition file's folder, not stored in the file.
FOLDER_COLUMNS = ("x_Provider", "x_BillingPeriod")

# A derived dataset's parameter, "true" on a summary the lake can answer without (a faster
# path to the same numbers): a damaged file of it leaves its view out instead of failing every
# command, and the next ingest builds it again.
REBUILDABLE = "rebuildable"

# currency -> metric -> exact total
Totals = dict[str, dict[str, Decimal]]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PartitionKey(_Model):
    """The unit a restated export replaces: one provider's billing account and period."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str
    billing_account_id: str
    billing_period: str

    def label(self) -> str:
        return f"{self.provider}/{self.billing_account_id}/{self.billing_period}"

    def folder(self) -> str:
        """Where the partition's files live, relative to the data dir. Hive style, so DuckDB
        (and Spark) read x_Provider and x_BillingPeriod from the path and skip whole folders
        when a query filters on them."""
        provider, period = (quote(v, safe="") for v in (self.provider, self.billing_period))
        return f"lake/x_Provider={provider}/x_BillingPeriod={period}"


class PartitionFile(_Model):
    """One Parquet file of a partition: the rows one source file gave it."""

    path: str  # relative to the data dir
    source_sha256: str
    rows: int
    totals: Totals
    # sha256 of the Parquet file's bytes, recorded when it went live (`check` compares).
    sha256: str | None = None


class Partition(_Model):
    key: PartitionKey
    ingest_id: str
    files: list[PartitionFile]

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    def fingerprint(self) -> str:
        """Which files the partition holds (a file is never changed in place: a restatement or
        a repair writes new ones), to tell whether what was made from it is still current."""
        listed = "\n".join(sorted(f.path for f in self.files))
        return hashlib.sha256(listed.encode()).hexdigest()[:16]

    def ingested_at(self) -> datetime | None:
        """When the ingest that wrote it ran (an ingest id starts with that UTC time)."""
        try:
            return datetime.strptime(self.ingest_id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            return None


class ManifestEntry(_Model):
    """One source file as an ingest saw it."""

    ingest_id: str
    path: str
    sha256: str
    size: int
    source_format: str
    rows: int
    totals: Totals
    partitions: list[PartitionKey]
    ingested_at: datetime
    outcome: str  # stored | unchanged
    # An object-store source's ETag (or generation) when read (ingest/remote.py); written
    # only then.
    source_etag: str | None = None

    def line(self) -> bytes:
        """The entry as a line of manifest.jsonl."""
        return self.model_dump_json(exclude_none=True).encode() + b"\n"


class DerivedPart(_Model):
    """One file of a derived dataset kept in parts: what one lake partition's files gave
    (`sources`: the partition's `fingerprint` then). A later commit keeps the file, by
    reference, while the partition holds the same files."""

    key: PartitionKey
    sources: str
    file: str  # relative to the data dir; one of the dataset's `files`
    rows: int
    parameters: dict[str, str] = Field(default_factory=dict)


class DerivedDataset(_Model):
    """A dataset computed from the costs (e.g. `allocated_costs`), published as a view."""

    name: str
    files: list[str]
    rows: int
    built_at: datetime
    source_generation: int  # the catalog generation of the costs it was computed from
    parameters: dict[str, str] = Field(default_factory=dict)
    # For a dataset kept in parts (`Store.with_derived_parts`), one per lake partition: `files`
    # are their files, in the same order. Empty for a dataset written whole.
    parts: list[DerivedPart] = Field(default_factory=list)


class Catalog(_Model):
    format_version: int = FORMAT_VERSION
    generation: int = 0
    partitions: list[Partition] = Field(default_factory=list)
    # Entries this change adds to the manifest: `Store.commit` appends them to manifest.jsonl
    # (a catalog read back has none; format 2 catalogs held the whole history here).
    manifest: list[ManifestEntry] = Field(default_factory=list, exclude=True)
    # Bytes of manifest.jsonl that are committed.
    manifest_size: int = 0
    # How many entries those bytes hold (None: not recorded yet, count them).
    manifest_entries: int | None = None
    derived: dict[str, DerivedDataset] = Field(default_factory=dict)
    # Files the previous generation used: kept until the next commit for readers mid-query.
    retired_files: list[str] = Field(default_factory=list)
    # Sizes in bytes of the files the catalog uses, in an object store's lake (readers open
    # them without asking the store first; a file never changes once written). Empty, and not
    # written, for a local lake.
    file_sizes: dict[str, int] = Field(default_factory=dict)

    def live_files(self) -> list[str]:
        """The Parquet files of the `costs` dataset."""
        return [f.path for p in self.partitions for f in p.files]

    def all_files(self) -> list[str]:
        """Every file the catalog uses: costs and derived datasets."""
        return self.live_files() + [f for d in self.derived.values() for f in d.files]

    def live_sources(self) -> set[str]:
        return {f.source_sha256 for p in self.partitions for f in p.files}

    def partition(self, key: PartitionKey) -> Partition | None:
        return next((p for p in self.partitions if p.key == key), None)


def read_catalog(path: Path) -> Catalog:
    return parse_catalog(path.read_bytes() if path.exists() else None, str(path))


def parse_catalog(data: bytes | None, path: str) -> Catalog:
    """The catalog in `data` (read from `path`; None: there is none yet, an empty lake)."""
    if data is None:
        return Catalog()
    try:  # (the format first: a newer one may hold fields this version does not know)
        written = json.loads(data).get("format_version")
    except (ValueError, AttributeError):
        written = None
    if isinstance(written, int) and written > FORMAT_VERSION:
        raise StoreError(
            f"{path} was written by a newer cloudtally (store format {written}; "
            f"this one reads up to {FORMAT_VERSION}). Upgrade cloudtally and run again."
        )
    try:
        catalog = Catalog.model_validate_json(data)
    except ValueError as exc:
        raise StoreError(
            f"{path}: the catalog is unreadable ({str(exc).splitlines()[0]}). "
            "Restore it from a backup or re-ingest into a new --data-dir."
        ) from None
    return catalog


def write_catalog(path: Path, catalog: Catalog) -> None:
    """Replace the catalog atomically: a crash leaves the old one or the new one."""
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    data = catalog_bytes(catalog)
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def catalog_bytes(catalog: Catalog) -> bytes:
    unused = None if catalog.file_sizes else {"file_sizes"}
    return catalog.model_dump_json(indent=1, exclude=unused).encode()


def file_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return stream_sha256(fh)


def stream_sha256(fh: BinaryIO) -> str:
    """sha256 of what is left to read of `fh`, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    while chunk := fh.read(1 << 20):
        digest.update(chunk)
    return digest.hexdigest()


def totals_to_json(totals: Totals) -> str:
    return json.dumps({c: {m: str(v) for m, v in t.items()} for c, t in totals.items()})


def append_manifest(path: Path, committed: int, entries: list[ManifestEntry]) -> int:
    """Cut manifest.jsonl back to its `committed` bytes (dropping what an interrupted ingest
    appended), append `entries` and make them durable; the file's new size. The entries count
    once the catalog recording that size is swapped in."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    with os.fdopen(fd, "r+b") as fh:
        end = fh.seek(0, os.SEEK_END)
        if end > committed:
            fh.truncate(committed)
            end = fh.seek(committed)
        for entry in entries:
            fh.write(entry.line())
        fh.flush()
        os.fsync(fh.fileno())
        return fh.tell()


@dataclass(frozen=True)
class ManifestFile:
    """Where manifest.jsonl is (`name`, as messages show it) and how to open it for reading."""

    name: str
    open: Callable[[], BinaryIO]


def read_manifest(
    path: ManifestFile, committed: int, *, last: int | None = None
) -> list[ManifestEntry]:
    """The committed entries of manifest.jsonl, oldest first; with `last`, only the newest
    `last` of them (read from the end of the file, however long the history)."""
    if committed == 0 or last == 0:
        return []
    try:
        with path.open() as fh:
            if last is None:
                data, first = fh.read(committed), 1
            else:
                data = _tail(fh, committed, last)
                first = 0  # line numbers are not known from the end
    except OSError as exc:
        raise StoreError(
            f"{path.name}: the manifest (history of ingested files) is unreadable "
            f"({exc.strerror or exc}). "
            "The lake itself is intact; restore the manifest from a backup to see its history."
        ) from None
    entries = []
    for number, line in enumerate(data.splitlines(), start=first):
        try:
            entries.append(ManifestEntry.model_validate_json(line))
        except ValueError as exc:
            where = f"line {number}" if number else "near its end"
            raise StoreError(
                f"{path.name}, {where}: the manifest entry is unreadable "
                f"({str(exc).splitlines()[0]}). The lake itself is intact; restore the manifest "
                "from a backup to see its history."
            ) from None
    return entries


def count_manifest(path: ManifestFile, committed: int) -> int:
    """How many entries the committed part of manifest.jsonl holds (counted, not parsed)."""
    count = 0
    with path.open() as fh:
        left = committed
        while left > 0 and (chunk := fh.read(min(left, 1 << 20))):
            count += chunk.count(b"\n")
            left -= len(chunk)
    return count


def _tail(fh: BinaryIO, committed: int, last: int) -> bytes:
    """The last `last` lines of the first `committed` bytes of `fh`."""
    end = committed
    data = b""
    while end > 0 and data.count(b"\n") <= last:
        start = max(0, end - (1 << 16))
        fh.seek(start)
        data = fh.read(end - start) + data
        end = start
    lines = data.splitlines()
    return b"\n".join(lines[-last:])
