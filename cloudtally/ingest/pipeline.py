"""The ingest pipeline: read each new file once into canonical Parquet in a staging folder,
check it, move it into the lake and swap the catalog in one atomic step.

A billing period of one provider's billing account is the unit a delivery replaces: the files
given to one `ingest` call make up the new contents of every account-period they touch.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
from rich.progress import TaskID

from cloudtally.commitments.summary import with_commitments_cube
from cloudtally.errors import CloudtallyError, IngestError, OtherDatasetError, StoreError
from cloudtally.focus.canonical import (
    DECIMAL_LIMIT,
    LINE_NUMBER,
    LINES_PER_FILE,
    MONEY_CONTEXT,
    RECONCILED_COSTS,
)
from cloudtally.ingest.formats import Converter, find_converter
from cloudtally.ingest.formats.base import ROW_POSITION, key_names, literal, one_value, quote
from cloudtally.ingest.remote import RemoteSources, is_remote, remote_sources
from cloudtally.ingest.source import (
    Discovery,
    SourceFile,
    discover,
    inspect,
    parquet_column_stats,
)
from cloudtally.progress import Reporter
from cloudtally.query.cube import with_costs_cube
from cloudtally.query.ownership import tag_policy
from cloudtally.sqltext import file_pattern
from cloudtally.store import Store
from cloudtally.store.catalog import (
    Catalog,
    ManifestEntry,
    Partition,
    PartitionFile,
    PartitionKey,
    Totals,
)
from cloudtally.store.faults import crash_point
from cloudtally.store.verify import FileProblem, damaged_files, verify_files

if TYPE_CHECKING:
    from cloudtally.ingest.mapping import BillMapping


@dataclass
class StagedFile:
    source: SourceFile
    converter: Converter
    rows: int
    parts: dict[PartitionKey, PartitionFile]  # path still in staging


@dataclass
class IngestReport:
    ingest_id: str
    # Files as given: a Path, or the URI of an object-store source (ingest/remote.py).
    stored: list[Path | str] = field(default_factory=list)
    unchanged: list[Path | str] = field(default_factory=list)
    skipped: list[tuple[Path | str, str]] = field(
        default_factory=list
    )  # found in a folder, not cost data
    formats: dict[str, int] = field(default_factory=dict)
    partitions: list[PartitionKey] = field(default_factory=list)
    replaced: list[PartitionKey] = field(default_factory=list)
    # Account-periods whose damaged or missing files were rewritten from their source.
    repaired: list[PartitionKey] = field(default_factory=list)
    # Account-periods ingested before lines had keys (x_LineNo), read again to number them.
    numbered: list[PartitionKey] = field(default_factory=list)
    # With --repair: the live files found damaged (all of them are rewritten, or none).
    repair: bool = False
    damaged: list[FileProblem] = field(default_factory=list)
    # Account-periods fed by several files that no delivery manifest ties together.
    several: list[tuple[PartitionKey, list[Path | str]]] = field(default_factory=list)
    rows: int = 0
    totals: Totals = field(default_factory=dict)
    # Datasets beside the costs this ingest rewrote, with their rows after it.
    datasets: dict[str, int] = field(default_factory=dict)


def new_ingest_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def ingest(
    store: Store,
    paths: list[Path],
    *,
    forced_format: str | None = None,
    reporter: Reporter | None = None,
    repair: bool = False,
    follow_symlinks: bool = False,
    mapping: BillMapping | None = None,
) -> IngestReport:
    """Ingest billing files and folders into the store; all or nothing.

    A file already ingested is read again when a live file made from it is missing or is not
    Parquet any more: its files are rewritten and the rest of their account-periods kept. With
    `repair`, every live file is verified in full first (as `check` does) and the source of
    each damaged one is read again, from `paths` or from where the manifest says it was.
    Symbolic links in a folder that lead out of it are skipped unless `follow_symlinks`.
    With a `mapping` (a bill mapping file, ingest/mapping.py), every file is read through it.
    A path may be an object store's URI (`s3://bucket/cur/`): see ingest/remote.py.
    """
    reporter = reporter or Reporter(enabled=False)
    with remote_sources() as sources, reporter.session():
        given = sources.local(paths, reporter, engine=store.query_engine.name)
        discovery = discover(given, follow_symlinks=follow_symlinks)
        report = _ingest(store, given, discovery, sources, forced_format, reporter, repair, mapping)
        report.skipped[:0] = sources.skipped
        return _named(report, sources)


def _ingest(
    store: Store,
    paths: list[Path],
    discovery: Discovery,
    sources: RemoteSources,
    forced_format: str | None,
    reporter: Reporter,
    repair: bool,
    mapping: BillMapping | None,
) -> IngestReport:
    named = {p.resolve() for p in paths if p.is_file()}
    with store.writing() as catalog:
        ingest_id = new_ingest_id()
        try:
            problems = verify_files(store, catalog) if repair else damaged_files(store, catalog)
            if repair and problems:
                discovery = _with_sources_of(store, catalog, problems, paths, sources, reporter)
            report = _ingest_files(
                store,
                catalog,
                discovery,
                named,
                ingest_id,
                forced_format,
                reporter,
                {sha for p in problems if (sha := _source_of(catalog, p.path))},
                sources,
                mapping,
            )
            report.skipped[:0] = discovery.skipped
            report.repair, report.damaged = repair, problems if repair else []
            return report
        finally:
            store.remove_staged(store.staging_dir / ingest_id)


def _named(report: IngestReport, sources: RemoteSources) -> IngestReport:
    """The report with each fetched copy named by its object's URI."""
    if not sources.origins:
        return report

    def name(path: Path | str) -> Path | str:
        return sources.named(str(path)) if sources.origins.get(str(path)) else path

    report.stored = [name(p) for p in report.stored]
    report.unchanged = [name(p) for p in report.unchanged]
    report.skipped = [(name(p), sources.named(why)) for p, why in report.skipped]
    report.several = [(key, [name(p) for p in paths]) for key, paths in report.several]
    return report


def _lines_numbered(store: Store, catalog: Catalog, sha256: str) -> bool:
    """Whether the live files made from a source have line keys (x_LineNo): all files an
    ingest writes since keys exist have them, so one file's schema tells."""
    for partition in catalog.partitions:
        for part in partition.files:
            if part.source_sha256 == sha256:
                try:
                    return "x_LineNo" in store.file_schema(part.path).names
                except (OSError, ValueError):
                    return True  # missing or damaged: found and rewritten as such
    return True


def _source_of(catalog: Catalog, path: str) -> str | None:
    """The sha256 of the source a live file was made from."""
    for partition in catalog.partitions:
        for part in partition.files:
            if part.path == path:
                return part.source_sha256
    return None


def _with_sources_of(
    store: Store,
    catalog: Catalog,
    problems: list[FileProblem],
    paths: list[Path],
    sources: RemoteSources,
    reporter: Reporter,
) -> Discovery:
    """The files to read for a repair: `paths` and, for each damaged file whose source is not
    among them, the source file where the manifest recorded it (if it still has those bytes;
    fetched again when it was an object store's)."""
    files = discover(paths).files if paths else []
    sources.fetch(files, reporter)
    given = {inspect(p).sha256 for p in files}
    wanted = {_source_of(catalog, p.path) for p in problems} - given - {None}
    entries = store.manifest()
    found: list[Path] = []
    missing: list[str] = []

    def readable(recorded: str) -> Path | None:
        if not is_remote(recorded):
            return Path(recorded) if Path(recorded).is_file() else None
        # (an object that is gone is no file here; a store that cannot be reached is said so)
        [local] = sources.local([Path(recorded)], reporter, engine=store.query_engine.name)
        sources.fetch([local], reporter)
        return local if local.is_file() else None

    for sha in sorted(s for s in wanted if s):
        recorded = [e.path for e in entries if e.sha256 == sha and e.outcome != "unchanged"]
        source = next(
            (p for r in reversed(recorded) if (p := readable(r)) and _sha(p) == sha),
            None,
        )
        if source is None:
            lake_files = ", ".join(p.path for p in problems if _source_of(catalog, p.path) == sha)
            where = f" (last seen at {recorded[-1]})" if recorded else ""
            missing.append(f"{lake_files}: its source{where} is gone or has changed")
        else:
            found.append(source)
    if missing:
        raise IngestError(
            "Cannot repair "
            + "; ".join(missing)
            + ". Give the source file: `cloudtally ingest --repair PATH`. Nothing was changed."
        )
    return discover([*paths, *found])


def _sha(path: Path) -> str:
    return inspect(path).sha256


def _ingest_files(
    store: Store,
    catalog: Catalog,
    discovery: Discovery,
    named: set[Path],
    ingest_id: str,
    forced_format: str | None,
    reporter: Reporter,
    damaged: set[str],
    sources: RemoteSources,
    mapping: BillMapping | None = None,
) -> IngestReport:
    report = IngestReport(ingest_id=ingest_id)
    # A source whose live files are damaged is read again, as if new.
    live = catalog.live_sources() - damaged
    staged: list[StagedFile] = []
    # Files of datasets beside the costs (e.g. FOCUS Contract Commitment), by converter.
    beside: dict[type[Converter], list[tuple[SourceFile, Path]]] = {}
    unchanged: list[SourceFile] = []
    con = store.engine()
    con.execute("SET preserve_insertion_order = false")
    first_with: dict[str, Path] = {}  # content hash -> the file of this call that had it first
    # Sources stored before lines had keys: given again, they are read again to number them.
    to_number: set[str] = set()
    # Objects in a store this lake read before, by the manifest (not through a mapping: its
    # sources' ids are the mapping's too).
    history = sources.history(store.manifest()) if sources.origins and not mapping else {}
    known = {
        path: source
        for path in discovery.files
        if (source := sources.recorded(path, history))
        and source.sha256 in live
        and _lines_numbered(store, catalog, source.sha256)
    }
    hashed = (
        _hashed_where_they_are(
            store, sources, [p for p in discovery.files if p not in known], forced_format, reporter
        )
        if mapping is None
        else {}
    )
    for index, path in enumerate(discovery.files):
        source = known.get(path) or hashed.get(path)
        if source is None:
            sources.fetch([path], reporter)
            source = inspect(path)
        if mapping is not None:
            from cloudtally.ingest.mapping import mapped_source_id

            source.sha256 = mapped_source_id(source.sha256, mapping)
            source.etag = ""  # (what it was through a mapping is not what the object is)
        if source.sha256 in live:
            if _lines_numbered(store, catalog, source.sha256):
                unchanged.append(source)
                report.unchanged.append(path)
                continue
            to_number.add(source.sha256)
        if source.sha256 in first_with:
            # A copy of a file given in the same call: reading both would count its cost twice.
            report.skipped.append((path, f"{path}: same content as {first_with[source.sha256]}"))
            continue
        first_with[source.sha256] = path
        try:
            converter = _converter_for(
                source,
                forced_format,
                mapping,
                check=True,
                con=con if store.query_engine.reads_in_place else None,
            )
        except OtherDatasetError as exc:
            if path in named:
                raise
            report.skipped.append((path, str(exc)))
            continue
        if converter.dataset != "costs":
            beside.setdefault(type(converter), []).append(
                (source, _stage_beside(store, con, source, converter, ingest_id, index))
            )
            report.stored.append(path)
            report.formats[converter.source_format] = (
                report.formats.get(converter.source_format, 0) + 1
            )
            continue
        # x_LineNo: the file's ordinal in this run, then the row's position in the file.
        converter.first_line_number = index * LINES_PER_FILE + 1
        task = reporter.task(f"ingest {path.name}")
        staged.append(_stage(store, con, source, converter, ingest_id, index, reporter, task))
        report.stored.append(path)
        report.formats[converter.source_format] = report.formats.get(converter.source_format, 0) + 1
    if not staged and not beside:
        return report
    if store.query_engine.reads_in_place:
        sources.refuse_changed(
            [s.source.path for s in staged] + [s.path for f in beside.values() for s, _ in f]
        )
    new_catalog = catalog
    if staged:
        _refuse_mixed_cost_views(con, staged)
        _refuse_versions_of_one_export(catalog, staged, unchanged, forced_format, mapping)
        report.several = _fed_by_several(staged, discovery.manifested)
        crash_point("after-stage")
        new_catalog = _next_catalog(store, catalog, staged, unchanged, ingest_id, report)
        numbered = {k for item in staged if item.source.sha256 in to_number for k in item.parts}
        report.numbered = [k for k in report.repaired if k in numbered]
        report.repaired = [k for k in report.repaired if k not in numbered]
        crash_point("after-move")
        _reconcile(store, new_catalog, staged)
    for kind, files in beside.items():
        new_catalog, rows = kind.publish_beside(store, new_catalog, files, ingest_id)
        report.datasets[kind.dataset] = rows
    if staged:
        # The daily cube of the costs swaps with the files it sums, in the same commit.
        new_catalog = with_costs_cube(store, new_catalog, tag_policy(store))
        new_catalog = with_commitments_cube(store, new_catalog)
        crash_point("after-cube")
    store.commit(new_catalog)
    return report


def _hashed_where_they_are(
    store: Store,
    sources: RemoteSources,
    files: list[Path],
    forced_format: str | None,
    reporter: Reporter,
) -> dict[Path, SourceFile]:
    """On an engine that reads exports where they are (Spark's executors), the objects among
    `files` whose converter needs no more than their header here: each inspected from a copy
    of its ends, its sha256 computed by the executors, so that its bytes never pass through
    this machine. The others are left to be fetched whole (as is any whose inspection fails:
    its message is then the whole file's)."""
    if not store.query_engine.reads_in_place or not sources.origins:
        return {}
    inspected: dict[Path, SourceFile] = {}
    for path in sources.fetch_ends(files):
        try:
            source = inspect(path, content_hash=False)
            if find_converter(source, forced_format).header_only:
                inspected[path] = source
        except CloudtallyError:
            continue
    if not inspected:
        return {}
    task = reporter.task(f"hash {len(inspected)} files where they are", total=len(inspected))
    digests = store.query_engine.object_sha256s({s.origin: s.size for s in inspected.values()})
    reporter.update(task, len(inspected))
    for path, source in inspected.items():
        source.sha256 = digests.get(source.origin, "")
        if source.sha256:  # (the executors read it after its listing: is it still that one?)
            sources.forget_if_changed(path)
            source.etag = sources.etags[str(path)]
    return {path: source for path, source in inspected.items() if source.sha256}


def _converter_for(
    source: SourceFile,
    forced_format: str | None,
    mapping: BillMapping | None,
    *,
    check: bool,
    con: duckdb.DuckDBPyConnection | None = None,
) -> Converter:
    """The converter of a file: through the mapping when one is given, else the forced
    format, else the one its header says; checked (`validate`) when `check`. With `con` (an
    engine that reads files where they are: Spark), its reads of the whole file run there."""
    if mapping is not None:
        from cloudtally.ingest.formats.mapped import MappingConverter

        converter: Converter = MappingConverter(source, mapping)
    else:
        converter = find_converter(source, forced_format)
    converter.connection = con
    if check:
        try:
            converter.validate()
        except duckdb.Error as exc:  # (its pre-scan, on `con`)
            if con is None:
                raise
            raise _explain(exc, source, converter, con) from None
    return converter


def _stage_beside(
    store: Store,
    con: duckdb.DuckDBPyConnection,
    source: SourceFile,
    converter: Converter,
    ingest_id: str,
    index: int,
) -> Path:
    """Read a file of a dataset beside the costs into one staged Parquet file."""
    out_dir = store.staging_dir / ingest_id / f"{index:05d}"
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{converter.dataset}.parquet"
    try:
        converter.stage_beside(con, target, ingest_id)
    except duckdb.Error as exc:
        raise _explain(exc, source, converter, con) from None
    return target


def _stage(
    store: Store,
    con: duckdb.DuckDBPyConnection,
    source: SourceFile,
    converter: Converter,
    ingest_id: str,
    index: int,
    reporter: Reporter,
    task: TaskID | None,
) -> StagedFile:
    """Read the source once into one canonical Parquet file; split it only if it spans
    several account-periods (rare: most exports hold one account's period)."""
    out_dir = store.staging_dir / ingest_id / f"{index:05d}"
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = converter.lookup_tables()
    constants = converter.constants(ingest_id)
    try:
        for _, table, _, lookup in tables:
            con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {lookup}")
        if source.container == "parquet" and (keys := _keys_of(con, converter)):
            # Parquet reads a few columns almost for free: find the account-periods first and
            # write each once, instead of writing the whole file and then splitting it.
            select = converter.select_sql(
                ingest_id, lookups_in="tables", also=converter.key_source_columns()
            )
            rows, stats = reporter.run_query(
                con,
                lambda: _stage_by_key(con, select, converter, keys, constants, out_dir),
                task,
            )
        else:
            select = converter.select_sql(ingest_id, lookups_in="tables")
            # A text file has no row positions of its own: written in its order, its lines are
            # numbered from the staged file's (see `_stage_whole`).
            in_order = (
                None
                if source.container == "parquet"
                else (
                    converter.select_sql(ingest_id, lookups_in="tables", line_numbers=False),
                    converter.first_line_number,
                )
            )
            rows, stats = reporter.run_query(
                con,
                lambda: _stage_whole(store, con, select, constants, out_dir, source, in_order),
                task,
            )
    except duckdb.Error as exc:
        raise _explain(exc, source, converter, con) from None
    finally:
        for _, table, _, _ in tables:
            con.execute(f"DROP TABLE IF EXISTS {table}")
    parts: dict[PartitionKey, PartitionFile] = {}
    for key, filename, (currency, n, billed, effective) in stats:
        part = parts.setdefault(
            key, PartitionFile(path=filename, source_sha256=source.sha256, rows=0, totals={})
        )
        part.rows += n
        part.totals[currency] = {"BilledCost": billed, "EffectiveCost": effective}
    if sum(p.rows for p in parts.values()) != rows:
        raise StoreError(f"{source.label}: staged row count differs from rows read; not stored.")
    converter.reconcile_staged(parts)
    return StagedFile(source=source, converter=converter, rows=rows, parts=parts)


def _stage_whole(
    store: Store,
    con: duckdb.DuckDBPyConnection,
    select: str,
    constants: dict[str, str],
    out_dir: Path,
    source: SourceFile,
    in_order: tuple[str, int] | None = None,
) -> tuple[int, list[tuple[PartitionKey, str, tuple[str, int, Decimal, Decimal]]]]:
    """One COPY of the whole file; split afterwards if it spans several account-periods.

    `in_order` (a text file): the select without line numbers, and the number of the file's
    first line. Written in parallel in the file's order when DuckDB keeps that order for the
    query (`_copy_in_file_order`), the lines get their numbers from the staged file's row
    index as it is split, or rewritten, into one file per account-period. Otherwise `select`
    numbers them itself (`row_number() OVER ()`, one thread)."""
    staged = out_dir / "all.parquet"
    first_line = None
    rows = _copy_in_file_order(con, in_order[0], staged) if in_order is not None else None
    if rows is not None and in_order is not None:
        first_line = in_order[1]
    else:
        # No ORDER BY: sorting measured 2.6x slower on ingest for no gain in the queries we run.
        written = con.execute(
            f"COPY ({select}) TO {literal(str(staged))} (FORMAT parquet, COMPRESSION zstd)"
        ).fetchone()
        rows = int(written[0]) if written else 0
    if rows == 0:
        raise IngestError(
            f"{source.label}: the file has a header but no rows. Re-download the export."
        )
    stats = _partition_stats(con, staged, source)
    keys = sorted({key for key, _, _ in stats}, key=lambda k: k.label())
    if len(keys) > 1 or first_line is not None:
        stats = _split(store, con, staged, keys, constants, out_dir, source, first_line)
    return rows, stats


# DuckDB plans `x IN (five or more constants)` as a join against the list (its `in_clause`
# optimizer), and a join does not keep its input's order: the COPY is then planned unordered
# (COPY_TO_FILE, not BATCH_COPY_TO_FILE) and the rows of a 1M-line CSV came out of order past
# its first ~10k lines. Evaluated as an expression, the IN keeps the plan ordered; the
# conversion measured no slower (tests/store/test_engine_canary.py pins both).
_ORDER_BREAKING_OPTIMIZERS = ("in_clause",)


def _copy_in_file_order(con: duckdb.DuckDBPyConnection, select: str, target: Path) -> int | None:
    """COPY `select` to `target` in parallel, its rows in the order the reader gives them
    (DuckDB's insertion order); the rows written, or None (nothing written) when DuckDB's plan
    for it does not keep that order (an operator that reorders, a reader without batches), or
    the engine is not DuckDB (Spark numbers a text file's rows in its reader)."""
    if not isinstance(con, duckdb.DuckDBPyConnection):
        return None
    # The file is read once more and rewritten (`_split`): compressed fast, not small (lz4
    # measured ~10% less CPU for the copy and the rewrite together than zstd).
    copy = f"COPY ({select}) TO {literal(str(target))} (FORMAT parquet, COMPRESSION lz4_raw)"
    found = con.execute("SELECT current_setting('disabled_optimizers')").fetchone()
    before = str(found[0]) if found and found[0] else ""
    known = {name for (name,) in con.execute("SELECT name FROM duckdb_optimizers()").fetchall()}
    off = [n for n in before.split(",") if n] + [
        n for n in _ORDER_BREAKING_OPTIMIZERS if n in known and n not in before.split(",")
    ]
    con.execute("SET preserve_insertion_order = true")
    con.execute(f"SET disabled_optimizers = {literal(','.join(off))}")
    try:
        plan = json.loads(con.execute(f"EXPLAIN (FORMAT json) {copy}").fetchall()[0][1])
        if plan[0]["name"] != "BATCH_COPY_TO_FILE":
            return None
        written = con.execute(copy).fetchone()
        return int(written[0]) if written else 0
    finally:
        con.execute("SET preserve_insertion_order = false")
        con.execute(f"SET disabled_optimizers = {literal(before)}")


_KEY_COLUMNS = ["x_Provider", "BillingAccountId", "x_BillingPeriod"]


@dataclass
class _SourceKey:
    """An account-period of a source and, when the converter names the source columns it comes
    from, the distinct values of those columns that make it (to filter on them directly)."""

    key: PartitionKey
    raw: list[tuple[object, ...]] | None
    whole: bool = False  # the file holds only this account-period


def _keys_of(con: duckdb.DuckDBPyConnection, converter: Converter) -> list[_SourceKey]:
    """The account-periods of a Parquet source, when it can be written one account-period at a
    time (few of them, none incomplete); else [] (written whole, then split)."""
    raw = converter.key_source_columns()
    read = converter.read_sql()
    wanted = ", ".join(_KEY_COLUMNS)
    whole = False
    # account-period -> the distinct source values making it (None: not known, filter on it)
    found: dict[tuple[str, str, str], list[tuple[object, ...]] | None] = {}
    if raw:
        listed = ", ".join(quote(c) for c in raw)
        whole = _one_value_each(converter.source, raw)
        distinct = f"{listed} FROM {read} LIMIT 1" if whole else f"DISTINCT {listed} FROM {read}"
        select = converter.select_sql(
            "", lookups_in="none", columns=_KEY_COLUMNS, from_sql=f"(SELECT {distinct})", also=raw
        )
        hidden = ", ".join(key_names(raw))
        by_key: dict[tuple[str, str, str], list[tuple[object, ...]]] = defaultdict(list)
        for row in con.execute(f"SELECT {wanted}, {hidden} FROM ({select})").fetchall():
            by_key[(row[0], row[1], row[2])].append(tuple(row[3:]))
        found.update(by_key)
    else:
        select = converter.select_sql("", lookups_in="none", columns=_KEY_COLUMNS)
        for row in con.execute(f"SELECT DISTINCT {wanted} FROM ({select})").fetchall():
            found[(row[0], row[1], row[2])] = None
    if not 0 < len(found) <= _SPLIT_BY_FILTER_MAX or any(None in k for k in found):
        return []
    return [
        _SourceKey(PartitionKey(provider=p, billing_account_id=a, billing_period=b), rows, whole)
        for (p, a, b), rows in sorted(found.items())
    ]


def _one_value_each(source: SourceFile, columns: list[str]) -> bool:
    """Whether the Parquet statistics show one non-null value in each column, in every row
    group: then the file holds one account-period and no scan is needed to know it."""
    for column in columns:
        stats = parquet_column_stats(source.path, column)
        if stats is None or not stats.single or stats.nulls != 0:
            return False
    return True


def _key_filter(source_key: _SourceKey, names: list[str]) -> tuple[str, list[object]]:
    """WHERE clause selecting an account-period's rows, and its parameters: on the source
    values (`names`: the columns holding them, beside the select) when known, else on the
    computed key columns."""
    if source_key.whole:
        return "true", []
    if source_key.raw is None:
        key = source_key.key
        return (
            "x_Provider = ? AND BillingAccountId = ? AND x_BillingPeriod = ?",
            [key.provider, key.billing_account_id, key.billing_period],
        )
    # On the source columns themselves: Parquet row groups of other accounts are skipped, and
    # the key expressions are not computed on every row.
    alternatives, params = [], []
    for values in source_key.raw:
        tests = []
        for name, value in zip(names, values, strict=True):
            if value is None:
                tests.append(f"{name} IS NULL")
            else:
                tests.append(f"{name} = ?")
                params.append(value)
        alternatives.append("(" + " AND ".join(tests) + ")")
    return " OR ".join(alternatives), params


def _stage_by_key(
    con: duckdb.DuckDBPyConnection,
    select: str,
    converter: Converter,
    keys: list[_SourceKey],
    constants: dict[str, str],
    out_dir: Path,
) -> tuple[int, list[tuple[PartitionKey, str, tuple[str, int, Decimal, Decimal]]]]:
    """One COPY per account-period, straight from the source."""
    source = converter.source
    hidden = key_names(converter.key_source_columns())
    pieces = [(k.key, *_key_filter(k, hidden)) for k in keys]
    rows, stats = _write_each(con, f"({select})", pieces, hidden, constants, out_dir, source)
    # Lookups are joined on distinct values, so the select has exactly the source's rows.
    total = con.execute(f"SELECT count(*) FROM {converter.read_sql()}").fetchall()[0][0]
    if total != rows:
        raise StoreError(f"{source.label}: rows split by account-period differ from rows read.")
    return rows, stats


def _write_each(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    pieces: list[tuple[PartitionKey, str, list[object]]],
    hidden: list[str],
    constants: dict[str, str],
    out_dir: Path,
    source: SourceFile,
) -> tuple[int, list[tuple[PartitionKey, str, tuple[str, int, Decimal, Decimal]]]]:
    """One file per account-period (`pieces`: the account-period, and the WHERE clause and its
    parameters that select its rows of `relation`), with their rows and totals.

    The files leave out x_Provider and x_BillingPeriod, which the lake's folders carry (see
    `PartitionKey.folder`), and the `hidden` helper columns; the file's constants and the
    account are written as one-value ENUMs."""
    split_dir = out_dir / "split"
    split_dir.mkdir()
    dropped = ", ".join(["x_Provider", "x_BillingPeriod", *hidden])
    rows = 0
    files: dict[str, PartitionKey] = {}
    for n, (key, where, params) in enumerate(pieces):
        target = split_dir / f"{n:05d}.parquet"
        fixed = {**constants, "BillingAccountId": literal(key.billing_account_id)}
        replaced = ", ".join(f"{one_value(v)} AS {c}" for c, v in fixed.items())
        written = con.execute(
            f"""
            COPY (SELECT * EXCLUDE ({dropped}) REPLACE ({replaced})
                  FROM {relation} WHERE {where})
            TO {literal(str(target))} (FORMAT parquet, COMPRESSION zstd)
            """,
            params,
        ).fetchone()
        rows += int(written[0]) if written else 0
        files[str(target)] = key
    return rows, _partition_stats(con, split_dir / "*.parquet", source, files)


# Up to this many account-periods in one file, one filtered copy per account-period beats
# DuckDB's PARTITION_BY writer (measured 3.1 s vs 17 s for 2 keys x 2M rows).
_SPLIT_BY_FILTER_MAX = 8


def _split(
    store: Store,
    con: duckdb.DuckDBPyConnection,
    staged: Path,
    keys: list[PartitionKey],
    constants: dict[str, str],
    out_dir: Path,
    source: SourceFile,
    first_line: int | None = None,
) -> list[tuple[PartitionKey, str, tuple[str, int, Decimal, Decimal]]]:
    """Split a staged file that spans several account-periods into one file per account-period;
    with `first_line`, its lines numbered from it by their row in the staged file (written in
    the source's order, see `_copy_in_file_order`)."""
    relation = f"read_parquet({literal(str(staged))})"
    hidden: list[str] = []
    if first_line is not None:
        relation = (
            f"(SELECT * REPLACE ({ROW_POSITION} + CAST({first_line} AS {LINE_NUMBER}) "
            f"AS x_LineNo) FROM read_parquet({literal(str(staged))}, {ROW_POSITION} = true))"
        )
        hidden = [ROW_POSITION]
    if len(keys) <= _SPLIT_BY_FILTER_MAX:
        pieces: list[tuple[PartitionKey, str, list[object]]] = [
            (key, *_key_filter(_SourceKey(key, None), [])) if len(keys) > 1 else (key, "true", [])
            for key in keys
        ]
        _, stats = _write_each(con, relation, pieces, hidden, constants, out_dir, source)
        store.remove_staged(staged)
        return stats
    split_dir = out_dir / "split"
    no_position = f" EXCLUDE ({ROW_POSITION})" if hidden else ""
    con.execute(
        f"""
        COPY (SELECT *{no_position},
                     concat_ws('|', x_Provider, x_BillingPeriod, md5(BillingAccountId)) AS _part
              FROM {relation})
        TO {literal(str(split_dir))}
        (FORMAT parquet, PARTITION_BY (_part), WRITE_PARTITION_COLUMNS false,
         COMPRESSION zstd)
        """
    )
    store.remove_staged(staged)
    return _partition_stats(con, split_dir / "**" / "*.parquet", source)


def _partition_stats(
    con: duckdb.DuckDBPyConnection,
    files: Path,
    source: SourceFile,
    keys: dict[str, PartitionKey] | None = None,
) -> list[tuple[PartitionKey, str, tuple[str, int, Decimal, Decimal]]]:
    """Rows and totals per account-period, currency and staged file. The account-period comes
    from the files' columns, or from `keys` (path -> account-period) for files written one
    account-period each, without the folder columns."""
    key_columns = "x_Provider, BillingAccountId, x_BillingPeriod" if keys is None else "1, 1, 1"
    found = con.execute(
        f"""
        SELECT {key_columns}, filename, BillingCurrency,
               count(*), coalesce(sum(BilledCost), 0), coalesce(sum(EffectiveCost), 0)
        FROM read_parquet({literal(str(files))}, filename = true, hive_partitioning = false)
        GROUP BY ALL
        """
    ).fetchall()
    stats = []
    for provider, account, period, filename, currency, n, billed, effective in found:
        if provider is None or account is None or period is None or currency is None:
            column = _first_null(
                [
                    ("ProviderName", provider),
                    ("BillingAccountId", account),
                    ("BillingPeriodStart", period),
                    ("BillingCurrency", currency),
                ]
            )
            raise IngestError(
                f"{source.label}: column {column} is empty on some rows; cloudtally needs it on "
                "every row to file the cost under its account and period. Fix the export."
            )
        key = (
            keys[filename]
            if keys is not None
            else PartitionKey(provider=provider, billing_account_id=account, billing_period=period)
        )
        stats.append((key, filename, (currency, n, billed, effective)))
    return stats


def _refuse_mixed_cost_views(con: duckdb.DuckDBPyConnection, staged: list[StagedFile]) -> None:
    """An actual and an amortized export of the same account-period, given together, would
    count on-demand usage twice: refuse (a later delivery of either view replaces the other)."""
    by_key: dict[PartitionKey, list[StagedFile]] = defaultdict(list)
    for item in staged:
        for key in item.parts:
            by_key[key].append(item)
    for key, items in by_key.items():
        if len(items) < 2:
            continue
        views: dict[str, Path] = {}
        for item in items:
            path = item.parts[key].path
            columns = {
                r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {literal(path)}").fetchall()
            }
            if "x_CostView" not in columns:
                continue
            for (view,) in con.execute(
                f"SELECT DISTINCT x_CostView FROM {literal(path)} WHERE x_CostView IS NOT NULL"
            ).fetchall():
                views.setdefault(view, item.source.path)
        if len(views) > 1:
            shown = " and ".join(f"{path} ({view})" for view, path in sorted(views.items()))
            raise IngestError(
                f"{shown} are different cost views of {key.label()}: ingesting both would count "
                "the same usage twice. Ingest one view (amortized for showback, actual to match "
                "the invoice)."
            )


def _refuse_versions_of_one_export(
    catalog: Catalog,
    staged: list[StagedFile],
    unchanged: list[SourceFile],
    forced_format: str | None,
    mapping: BillMapping | None = None,
) -> None:
    """Files of different formats (or FOCUS versions) that hold the same account-period are
    versions of one export, not parts of one delivery (an export is written in one format):
    summing them would count the cost twice. Refuse, naming them; ingested one after the other,
    the later replaces the earlier, as any restatement does.

    A file given unchanged in the same call counts too: it stays part of what it fed."""
    holding: dict[PartitionKey, dict[str, list[Path]]] = defaultdict(lambda: defaultdict(list))
    for item in staged:
        for key in item.parts:
            holding[key][item.converter.source_format].append(item.source.path)
    fed: dict[str, list[PartitionKey]] = defaultdict(list)
    for partition in catalog.partitions:
        for part in partition.files:
            fed[part.source_sha256].append(partition.key)
    staged_keys = set(holding)
    for source in unchanged:
        keys = [k for k in fed.get(source.sha256, []) if k in staged_keys]
        if keys:
            try:
                source_format = (
                    source.recorded_format  # (known by the manifest, not read: remote.py)
                    or _converter_for(source, forced_format, mapping, check=False).source_format
                )
            except CloudtallyError:  # recognised when ingested; not by this version
                continue
            for key in keys:
                holding[key][source_format].append(source.path)
    # Files -> the account-periods they all hold, for each set of versions found together.
    clashes: dict[tuple[tuple[str, Path], ...], list[PartitionKey]] = defaultdict(list)
    for key, by_format in holding.items():
        if len(by_format) > 1:
            files = tuple(sorted((f, p) for f, paths in by_format.items() for p in paths))
            clashes[files].append(key)
    if not clashes:
        return
    lines = []
    for files, keys in sorted(clashes.items()):
        named = [f"{path} ({source_format})" for source_format, path in files]
        listed = ", ".join(k.label() for k in sorted(keys, key=lambda k: k.label()))
        lines.append(f"  {', '.join(named[:-1])} and {named[-1]} hold {listed}")
    raise IngestError(
        "Files in different formats hold the same account-periods: they are versions of one "
        "export, and ingesting them together would count that cost twice.\n"
        + "\n".join(lines)
        + "\nIngest one version; ingesting another later replaces it, as a restated export "
        "does."
    )


def _fed_by_several(
    staged: list[StagedFile], manifested: set[Path]
) -> list[tuple[PartitionKey, list[Path | str]]]:
    """The account-periods that several staged files feed, unless a delivery manifest names
    them all (then they are parts of one delivery by the provider's own word)."""
    feeding: dict[PartitionKey, list[Path]] = defaultdict(list)
    for item in staged:
        for key in item.parts:
            feeding[key].append(item.source.path)
    return [
        (key, list[Path | str](paths))
        for key, paths in sorted(feeding.items(), key=lambda kv: kv[0].label())
        if len(paths) > 1 and not all(p.resolve() in manifested for p in paths)
    ]


def _first_null(pairs: list[tuple[str, object]]) -> str:
    return next(name for name, value in pairs if value is None)


def _next_catalog(
    store: Store,
    catalog: Catalog,
    staged: list[StagedFile],
    unchanged: list[SourceFile],
    ingest_id: str,
    report: IngestReport,
) -> Catalog:
    """Move staged files into the lake and build the catalog that makes them live."""
    now = datetime.now(UTC)
    new_files: dict[PartitionKey, list[PartitionFile]] = defaultdict(list)
    # Sources read again to rewrite their damaged files: a repair, not a new delivery.
    repaired = {item.source.sha256 for item in staged} & catalog.live_sources()
    manifest: list[ManifestEntry] = []
    for n, item in enumerate(staged):
        file_totals: Totals = {}
        for key, part in item.parts.items():
            target = (
                f"{key.folder()}/{_file_name(key.billing_account_id)}-{ingest_id}-{n:05d}.parquet"
            )
            new_files[key].append(
                part.model_copy(update={"path": store.into_lake(Path(part.path), target)})
            )
            _add_totals(file_totals, part.totals)
        manifest.append(
            ManifestEntry(
                ingest_id=ingest_id,
                path=item.source.label,
                sha256=item.source.sha256,
                size=item.source.size,
                source_format=item.converter.source_format,
                rows=item.rows,
                totals=file_totals,
                partitions=sorted(item.parts, key=lambda k: k.label()),
                ingested_at=now,
                outcome="repaired" if item.source.sha256 in repaired else "stored",
                source_etag=item.source.etag or None,
            )
        )
        report.rows += item.rows
        _add_totals(report.totals, file_totals)
    # A file given again unchanged in the same call stays part of the partitions it fed.
    kept = {s.sha256 for s in unchanged}
    partitions: list[Partition] = []
    for old in catalog.partitions:
        if old.key in new_files:
            fresh = {f.source_sha256 for f in new_files[old.key]}
            if fresh <= repaired:
                new_files[old.key].extend(f for f in old.files if f.source_sha256 not in fresh)
                report.repaired.append(old.key)
            else:
                new_files[old.key].extend(f for f in old.files if f.source_sha256 in kept)
                report.replaced.append(old.key)
        else:
            partitions.append(old)
    for key, files in new_files.items():
        partitions.append(Partition(key=key, ingest_id=ingest_id, files=files))
    partitions.sort(key=lambda p: (p.key.provider, p.key.billing_period, p.key.billing_account_id))
    report.partitions = sorted(new_files, key=lambda k: k.label())
    for source in unchanged:
        manifest.append(
            ManifestEntry(
                ingest_id=ingest_id,
                path=source.label,
                sha256=source.sha256,
                size=source.size,
                source_format="",
                rows=0,
                totals={},
                partitions=[],
                ingested_at=now,
                outcome="unchanged",
                source_etag=source.etag or None,
            )
        )
    return catalog.model_copy(
        update={"partitions": partitions, "manifest": catalog.manifest + manifest}
    )


def _file_name(account: str) -> str:
    """The account's part of a lake file's name: the id itself when it is a plain name;
    otherwise what is left of it plainly written (never `_` or `.` first: Spark leaves such
    files out, engine/spark.py), then a hash of the id, so no two accounts of a folder share
    a name (`#1` and `_1`, two long ids with the same end)."""
    plain = re.sub(r"[^A-Za-z0-9_.-]+", "_", account)[-40:].lstrip("._")
    if plain == account:
        return plain
    digest = hashlib.sha256(account.encode()).hexdigest()[:8]
    return f"{plain}-{digest}" if plain else digest


def _add_totals(into: Totals, more: Totals) -> None:
    for currency, metrics in more.items():
        slot = into.setdefault(currency, {})
        for metric, value in metrics.items():
            slot[metric] = MONEY_CONTEXT.add(slot.get(metric, Decimal(0)), value)


def _reconcile(store: Store, catalog: Catalog, staged: list[StagedFile]) -> None:
    """Before the swap: the lake as it would be must hold exactly the staged totals."""
    touched = {key for item in staged for key in item.parts}
    expected: dict[tuple[str, str, str, str], dict[str, Decimal]] = {}
    for partition in catalog.partitions:
        if partition.key not in touched:
            continue
        for f in partition.files:
            for currency, metrics in f.totals.items():
                k = (*_key_tuple(partition.key), currency)
                slot = expected.setdefault(k, {m: Decimal(0) for m in RECONCILED_COSTS})
                for metric in RECONCILED_COSTS:
                    slot[metric] = MONEY_CONTEXT.add(slot[metric], metrics.get(metric, Decimal(0)))
    # (The lines alone: no derived dataset, a damaged one say, can stop an ingest.)
    con = store.connect(catalog.model_copy(update={"derived": {}}))
    keys = ", ".join(
        f"({literal(k.provider)}, {literal(k.billing_account_id)}, {literal(k.billing_period)})"
        for k in touched
    )
    try:
        rows = con.execute(
            f"""
            SELECT x_Provider, BillingAccountId, x_BillingPeriod, BillingCurrency,
                   coalesce(sum(BilledCost), 0), coalesce(sum(EffectiveCost), 0)
            FROM costs
            WHERE (x_Provider, BillingAccountId, x_BillingPeriod) IN ({keys})
            GROUP BY ALL
            """
        ).fetchall()
    except duckdb.OutOfRangeException:
        labels = ", ".join(sorted(k.label() for k in touched))
        raise IngestError(
            f"The files given for {labels} add up to 10^20 or more in one currency, more than "
            "exact money (DECIMAL(38,18)) holds. Check them for a value off by orders of "
            "magnitude, and run again."
        ) from None
    actual = {tuple(r[:4]): {"BilledCost": r[4], "EffectiveCost": r[5]} for r in rows}
    if actual != expected:
        raise StoreError(
            "Reconciliation failed: the lake's totals would differ from the source files' "
            "totals, so nothing was stored. Please report this with the files involved."
        )


def _key_tuple(key: PartitionKey) -> tuple[str, str, str]:
    return (key.provider, key.billing_account_id, key.billing_period)


_CSV_LINE = re.compile(r"CSV Error on Line: (\d+)")
_CONVERT = re.compile(
    r'Error when converting column "([^"]+)"\. Could not convert string "([^"]*)"'
)
_COLUMNS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")
_JSON_NUMBER = re.compile(r"in line (\d+): Failed to cast value to decimal: (.*)")


def _explain(
    exc: duckdb.Error, source: SourceFile, converter: Converter, con: duckdb.DuckDBPyConnection
) -> CloudtallyError:
    """Turn a DuckDB failure while reading a file into a message a user can act on."""
    text = str(exc)
    line = _CSV_LINE.search(text)
    where = f"line {line.group(1)}" if line else None
    if "gzip" in text.lower() or "decompress" in text.lower() or "zlib" in text.lower():
        return IngestError(
            f"{source.label}: the gzip data is truncated or damaged ({_first(text)}). "
            "Re-download the export and run again."
        )
    if "unicode" in text.lower() or "utf-8" in text.lower() or "utf8" in text.lower():
        return IngestError(
            f"{source.label}: {where or 'a line'} is not UTF-8 text. Billing exports are "
            "UTF-8: re-export, or convert the file with `iconv -f <encoding> -t utf-8`."
        )
    if match := _CONVERT.search(text):
        column, value = match.groups()
        if "DECIMAL" in text and _too_large(value):
            return IngestError(
                f"{source.label}: {where}, column {column}: {value!r} is too large for exact "
                f"money (DECIMAL(38,18) holds below 10^20). Check the value (a misplaced "
                "decimal separator?) and run again."
            )
        kind = "a number" if "DECIMAL" in text else "a date-time" if "TIME" in text else "valid"
        return IngestError(
            f"{source.label}: {where}, column {column}: {value!r} is not {kind}. "
            "Fix or remove the value and run again."
        )
    if match := _JSON_NUMBER.search(text):
        json_line, raw = match.groups()
        value = raw.strip().splitlines()[0][:40]
        kind = (
            "too large for exact money (DECIMAL(38,18) holds below 10^20)"
            if _too_large(value)
            else "not a number"
        )
        return IngestError(
            f"{source.label}: line {json_line}: a number field holds {value}, which is {kind}. Fix "
            "the value and run again."
        )
    if "Overflow in" in text:
        return IngestError(
            f"{source.label}: a total or product of its costs reaches 10^20, more than exact "
            "money (DECIMAL(38,18)) holds. Check the file for a value off by orders of "
            "magnitude, or split the file by billing account, and run again."
        )
    if match := _COLUMNS.search(text):
        expected, found = match.groups()
        return IngestError(
            f"{source.label}: {where} has {found} fields but the header has {expected}. "
            "The file is cut short or has an unquoted delimiter: re-download or fix that line."
        )
    bad = _find_bad_json(source, converter, con)
    if bad:
        return bad
    shown = _first(text).replace(file_pattern(source.path), source.label)
    return IngestError(f"{source.label}: cannot be read: {shown}")


def _too_large(value: str) -> bool:
    """Whether a text is a number too large for DECIMAL(38,18)."""
    try:
        return Decimal(value.strip()).copy_abs() >= DECIMAL_LIMIT
    except (ArithmeticError, ValueError):
        return False


def _find_bad_json(
    source: SourceFile, converter: Converter, con: duckdb.DuckDBPyConnection
) -> IngestError | None:
    """Find the first row whose JSON column (Tags, SkuPriceDetails, ...) does not parse."""
    json_columns = [c for c in ("Tags", "SkuPriceDetails") if c in source.columns]
    for column in json_columns:
        if source.column_types.get(column, "string") not in ("string", "large_string"):
            continue
        try:
            found = con.execute(
                f"""
                SELECT n, value FROM (
                    SELECT row_number() OVER () AS n, CAST("{column}" AS VARCHAR) AS value
                    FROM {converter.read_sql()})
                WHERE value IS NOT NULL AND trim(value) <> '' AND json_valid(value) IS NOT TRUE
                   OR (value IS NOT NULL AND trim(value) <> '' AND json_type(value) <> 'OBJECT'
                       AND '{column}' = 'Tags')
                ORDER BY n LIMIT 1
                """
            ).fetchone()
        except duckdb.Error:
            continue
        if found:
            n, value = found
            return IngestError(
                f"{source.label}: data row {n}, column {column}: {value[:60]!r} is not a JSON "
                'object. Fix the value (for example {"team": "web"}) and run again.'
            )
    return None


def _first(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown error"
