"""Finding billing files and looking inside them before conversion: container (CSV, gzip CSV,
Parquet), header, content hash. Every problem found here names the file and what to do."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from cloudtally.errors import IngestError

_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_MAGIC = b"PAR1"
_BOM = "\ufeff"
_DELIMITERS = (",", ";", "\t", "|")
_SKIPPED_NAMES = {"manifest.json"}
DATA_SUFFIXES = (".csv", ".gz", ".parquet", ".txt", ".json", ".jsonl", ".ndjson")


@dataclass
class SourceFile:
    """A billing file as found on disk, with what its first bytes say."""

    path: Path
    size: int
    container: str  # csv | parquet | jsonl | json (one document: an API response)
    compression: str  # none | gzip
    columns: list[str]
    delimiter: str = ","
    # For Parquet: column name -> arrow type string; for CSV every column is text.
    column_types: dict[str, str] = field(default_factory=dict)
    sha256: str = ""
    # The object-store URI a local copy was fetched from (ingest/remote.py), else "", and the
    # object's ETag (or generation) then.
    origin: str = ""
    etag: str = ""
    # The format the lake recorded for it, for a source known without being read.
    recorded_format: str = ""

    @property
    def label(self) -> str:
        """How messages and the lake name the file: where the user has it."""
        return self.origin or str(self.path)


@dataclass
class Discovery:
    files: list[Path]
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    # Files a delivery manifest names: parts of one delivery by the provider's own word.
    manifested: set[Path] = field(default_factory=set)


def discover(paths: list[Path], *, follow_symlinks: bool = False) -> Discovery:
    """Expand files, folders and delivery manifests into the billing files to read.

    A folder holding report manifests (AWS CUR, Data Exports) is read through them: a data file
    a manifest does not name, next to ones it does, belongs to an older delivery and is skipped.

    A symbolic link inside a folder (or next to a manifest) that leads out of it is not followed
    unless `follow_symlinks`: a folder of exports must not make cloudtally read, or quote in a
    message, a file elsewhere on the machine. A path given by name is read wherever it leads.
    """
    from cloudtally.ingest.formats.aws_manifest import is_manifest, read_manifest

    found: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    manifested: set[Path] = set()
    for path in paths:
        if not path.exists():
            raise IngestError(f"{path}: no such file or folder. Check the path and run again.")
        if path.is_file() and is_manifest(path):
            named = read_manifest(path).files
            if not follow_symlinks:
                scope = _manifest_scope(path)
                for file in named:
                    if not _inside(file, scope):
                        raise IngestError(
                            f"{file}: the manifest {path} names it, and it is a symbolic link "
                            f"out of {scope}; not followed. Copy the file there, or pass "
                            "--follow-symlinks to read it."
                        )
            found.extend(named)
            manifested.update(f.resolve() for f in named)
        elif path.is_dir():
            children, outside = _walk(path, follow_symlinks)
            manifests = [read_manifest(p) for p in children if is_manifest(p)]
            latest: dict[tuple[str, object], object] = {}
            for manifest in sorted(manifests, key=lambda m: (len(m.path.parts), m.path)):
                # The shallowest manifest of a report's period is the current delivery (AWS
                # also leaves one inside each assembly folder).
                latest.setdefault((manifest.path.name, manifest.billing_period), manifest)
            listed = {f.resolve() for m in latest.values() for f in m.files}  # type: ignore[attr-defined]
            manifested.update(listed)
            scopes = {f.parent.parent for f in listed}
            for link in outside:
                if link.resolve() in listed:
                    raise IngestError(
                        f"{link}: a report manifest in {path} names it, and it is a symbolic "
                        "link out of the folder; not followed. Copy the file into the folder, "
                        "or pass --follow-symlinks to read it."
                    )
                skipped.append((link, f"{link}: {_NOT_FOLLOWED.format(folder=path)}"))
            data = [
                p for p in children if p.name.lower().endswith(DATA_SUFFIXES) and not is_manifest(p)
            ]
            for child in data:
                resolved = child.resolve()
                if listed and resolved not in listed and any(s in resolved.parents for s in scopes):
                    skipped.append((child, "not in the latest delivery its report manifest names"))
                else:
                    found.append(child)
            if not data:
                links = (
                    f" ({len(outside)} symbolic link(s) out of it not followed; pass "
                    "--follow-symlinks to read them)"
                    if outside
                    else ""
                )
                raise IngestError(
                    f"{path}: the folder holds no billing files (.csv, .csv.gz, .parquet){links}."
                )
        else:
            found.append(path)
    unique: dict[Path, None] = {}
    for p in found:
        unique.setdefault(p.resolve(), None)
    return Discovery(list(unique), skipped, manifested)


_NOT_FOLLOWED = (
    "a symbolic link out of {folder}; not followed (pass --follow-symlinks to read what it "
    "points to)"
)


def _walk(folder: Path, follow_symlinks: bool) -> tuple[list[Path], list[Path]]:
    """The files under a folder (hidden names left out), sorted, and the symbolic links that
    lead out of it (not followed unless `follow_symlinks`). Each real folder is read once, so
    links that loop end."""
    root = folder.resolve()
    files: list[Path] = []
    outside: list[Path] = []
    seen = {root}
    pending = [folder]
    while pending:
        current = pending.pop()
        with os.scandir(current) as entries:
            listed = sorted(entries, key=lambda e: e.name)
        for entry in listed:
            path = Path(entry.path)
            if entry.is_symlink() and not follow_symlinks and not _inside(path, root):
                if not entry.name.startswith("."):
                    outside.append(path)
                continue
            if entry.is_dir():
                real = path.resolve()
                if real not in seen:
                    seen.add(real)
                    pending.append(path)
            elif (
                entry.is_file()
                and not entry.name.startswith(".")
                and entry.name not in _SKIPPED_NAMES
            ):
                files.append(path)
    return sorted(files), sorted(outside)


def _inside(path: Path, root: Path) -> bool:
    """Whether a path, every link on the way resolved, stays under `root` (resolved)."""
    real = path.resolve()
    return real == root or root in real.parents


def _manifest_scope(manifest: Path) -> Path:
    """The folder a manifest's data files are looked for in (see aws_manifest._locate)."""
    from cloudtally.ingest.formats.aws_manifest import PARENT_LEVELS

    folder = manifest.resolve().parent
    return ([folder, *folder.parents][: PARENT_LEVELS + 1])[-1]


def inspect(path: Path, *, content_hash: bool = True) -> SourceFile:
    """Open a file just enough to know its container, header and (unless not
    `content_hash`: the sha256 is then "") content hash."""
    from cloudtally.ingest.remote import etag_of, origin_of

    source = _inspect(path, content_hash)
    source.origin, source.etag = origin_of(path) or "", etag_of(path)
    return source


def _inspect(path: Path, content_hash: bool) -> SourceFile:
    size = path.stat().st_size
    if size == 0:
        raise IngestError(f"{path}: the file is empty. Re-download the export and run again.")
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head == _PARQUET_MAGIC:
        source = _inspect_parquet(path, size)
    elif is_json_lines(path):
        return inspect_json_lines(path, content_hash)
    elif head[:2] == _GZIP_MAGIC:
        source = _inspect_csv(path, size, compression="gzip")
    else:
        source = _inspect_csv(path, size, compression="none")
    source.sha256 = file_sha256(path) if content_hash else ""
    return source


def is_json_lines(path: Path) -> bool:
    """Whether a file (plain or gzip) starts with a JSON object: BigQuery's JSON export."""
    with open(path, "rb") as fh:
        head = fh.read(2)
    opener = gzip.open if head == b"\x1f\x8b" else open
    try:
        with opener(path, "rb") as fh:
            start = fh.read(64).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError:
        return False
    return start.startswith(b"{")


def inspect_json_lines(path: Path, content_hash: bool = True) -> SourceFile:
    """A SourceFile for newline-delimited JSON: container `jsonl`, the first object's keys as
    columns."""
    with open(path, "rb") as fh:
        gzipped = fh.read(2) == b"\x1f\x8b"
    opener = gzip.open if gzipped else open
    with opener(path, "rt", encoding="utf-8-sig") as fh:
        first = fh.readline()
    try:
        keys = list(json.loads(first))
    except (json.JSONDecodeError, TypeError):
        if _one_json_document(path, gzipped):
            # An API response saved whole (OpenCost's allocation API): one JSON document over
            # many lines. Its converter reads it; it has no header of columns.
            return SourceFile(
                path=path,
                size=path.stat().st_size,
                container="json",
                compression="gzip" if gzipped else "none",
                columns=[],
                sha256=file_sha256(path) if content_hash else "",
            )
        raise IngestError(
            f"{path}: line 1 is not a JSON object; JSON billing exports (e.g. BigQuery's) have "
            "one object per line. Re-export as newline-delimited JSON and run again."
        ) from None
    return SourceFile(
        path=path,
        size=path.stat().st_size,
        container="jsonl",
        compression="gzip" if gzipped else "none",
        columns=keys,
        sha256=file_sha256(path) if content_hash else "",
    )


def _one_json_document(path: Path, gzipped: bool) -> bool:
    """Whether a file that starts with `{` is one JSON document with a `data` member (an API
    response), judged from its first 64 KiB."""
    if gzipped:
        return False
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    return b'"data"' in head


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class ColumnStats:
    """What the row-group statistics of a Parquet file say about one column (a leaf path such
    as `resource_tags.key_value.value` for a map's values)."""

    complete: bool  # every row group has a min and a max
    minimum: object
    maximum: object
    single: bool  # complete, and every row group's min and max are one and the same value
    nulls: int | None  # None when a row group does not say


def parquet_column_stats(path: Path, column: str) -> ColumnStats | None:
    """The statistics of `column` over all row groups; None when the file has no such column
    or no row groups."""
    metadata = pq.ParquetFile(path).metadata
    chunks = [
        chunk
        for n in range(metadata.num_row_groups)
        for chunk in (metadata.row_group(n).column(j) for j in range(metadata.num_columns))
        if chunk.path_in_schema == column
    ]
    if not chunks:
        return None
    stats = [c.statistics for c in chunks]
    complete = all(s is not None and s.has_min_max for s in stats)
    bounds = {(s.min, s.max) for s in stats if s is not None and s.has_min_max}
    null_counts = [s.null_count if s is not None and s.has_null_count else None for s in stats]
    return ColumnStats(
        complete=complete,
        minimum=min(lo for lo, _ in bounds) if complete else None,
        maximum=max(hi for _, hi in bounds) if complete else None,
        single=complete and len(bounds) == 1 and next(iter(bounds))[0] == next(iter(bounds))[1],
        nulls=None if None in null_counts else sum(n for n in null_counts if n is not None),
    )


def _inspect_parquet(path: Path, size: int) -> SourceFile:
    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # pyarrow raises several types for broken files
        raise IngestError(
            f"{path}: not a readable Parquet file ({exc}). Re-download the export."
        ) from None
    return SourceFile(
        path=path,
        size=size,
        container="parquet",
        compression="none",
        columns=list(schema.names),
        column_types={f.name: str(f.type) for f in schema},
    )


def _inspect_csv(path: Path, size: int, compression: str) -> SourceFile:
    first_line = _read_first_line(path, compression)
    if first_line.startswith(_BOM):
        first_line = first_line[len(_BOM) :]
    if not first_line.strip():
        raise IngestError(f"{path}: the file has no header line. Re-download the export.")
    delimiter = max(_DELIMITERS, key=first_line.count)
    if first_line.count(delimiter) == 0:
        # Nothing of the line is quoted: a file that is not an export may hold anything.
        raise IngestError(
            f"{path}: the first line has no delimiter (, ; tab or |), so this is not a CSV "
            "billing export."
        )
    header = next(csv.reader([first_line], delimiter=delimiter))
    columns = [c.strip() for c in header]
    return SourceFile(
        path=path,
        size=size,
        container="csv",
        compression=compression,
        columns=columns,
        delimiter=delimiter,
    )


def _read_first_line(path: Path, compression: str) -> str:
    try:
        if compression == "gzip":
            with gzip.open(path, "rb") as gz:
                raw = gz.readline(1 << 20)
        else:
            with open(path, "rb") as fh:
                raw = fh.readline(1 << 20)
    except (OSError, EOFError, zlib.error) as exc:
        raise IngestError(
            f"{path}: the gzip data is damaged ({exc}). Re-download the export."
        ) from None
    try:
        return io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8").read().rstrip("\r\n")
    except UnicodeDecodeError:
        raise IngestError(
            f"{path}: line 1 is not UTF-8 text. Billing exports are UTF-8: re-export, or convert "
            "the file with `iconv -f <encoding> -t utf-8`."
        ) from None
