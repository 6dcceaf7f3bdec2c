"""Are the lake's files still what was ingested? Each live file is checked against what the
catalog recorded when it went live: that it exists, reads as Parquet, holds the recorded rows
and totals per currency, and has the recorded bytes (sha256).

`cloudtally check` runs the full verification; every other command, when DuckDB cannot read a
live file, names the file, the account-period it holds and how to repair it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import duckdb

from cloudtally.errors import StoreError
from cloudtally.sqltext import identifier, literals
from cloudtally.store.catalog import REBUILDABLE, Catalog, PartitionKey
from cloudtally.store.sandbox import first_line
from cloudtally.store.sql_errors import VIEW_MAKERS

if TYPE_CHECKING:
    from cloudtally.store.store import Store

_MAGIC = b"PAR1"


@dataclass(frozen=True)
class FileProblem:
    """A live file that is not what was ingested."""

    path: str  # relative to the data dir
    key: PartitionKey | None  # None for a derived dataset's file
    problem: str  # e.g. "is missing", "has 941 rows; the catalog recorded 942"
    repair: str

    def message(self) -> str:
        holds = f" ({self.key.label()})" if self.key else ""
        return f"Lake file {self.path}{holds} {self.problem}. {self.repair}"


def verify_files(
    store: Store, catalog: Catalog, *, periods: Iterable[str] | None = None
) -> list[FileProblem]:
    """Every live file of `costs` (those of `periods` when given) checked in full: existence,
    Parquet footer, rows and totals per currency, bytes. One problem per file at most."""
    wanted = set(periods) if periods is not None else None
    files = {
        f.path: (p.key, f)
        for p in catalog.partitions
        if wanted is None or p.key.billing_period in wanted
        for f in p.files
    }
    problems: dict[str, str] = {}
    for path in files:
        problem = footer_problem(store, path)
        if problem:
            problems[path] = problem
    readable = [p for p in files if p not in problems]
    metrics = sorted({m for _, f in files.values() for t in f.totals.values() for m in t})
    found = _tallies(store, readable, metrics, problems)
    for path in readable:
        if path in problems:
            continue
        _, part = files[path]
        rows, totals = found.get(path, (0, {}))
        if rows != part.rows:
            problems[path] = f"has {rows:,} rows; the catalog recorded {part.rows:,}"
            continue
        mismatch = _totals_mismatch(part.totals, totals)
        if mismatch:
            problems[path] = mismatch
        elif part.sha256 and store.file_sha256(path) != part.sha256:
            problems[path] = "has changed since it was ingested (its bytes differ)"
    return [
        FileProblem(path, files[path][0], problem, _repair(store, files[path][1].source_sha256))
        for path, problem in sorted(problems.items())
    ]


def damaged_files(store: Store, catalog: Catalog) -> list[FileProblem]:
    """The quick look, for a command whose read failed: live files (of `costs` and of the
    derived datasets) that are missing or have no Parquet footer. A rebuildable summary's
    files are not looked at: damaged, it is left out and the next ingest builds it again."""
    problems = []
    for partition in catalog.partitions:
        for part in partition.files:
            problem = footer_problem(store, part.path)
            if problem:
                repair = _repair(store, part.source_sha256)
                problems.append(FileProblem(part.path, partition.key, problem, repair))
    for name, dataset in catalog.derived.items():
        if dataset.parameters.get(REBUILDABLE) == "true":
            continue
        for path in dataset.files:
            problem = footer_problem(store, path)
            if problem:
                maker = VIEW_MAKERS.get(name)
                repair = f"Build {name} again" + (f" with `{maker}`." if maker else ".")
                problems.append(FileProblem(path, None, problem, repair))
    return problems


def lake_file_error(store: Store, catalog: Catalog, exc: BaseException) -> StoreError | None:
    """A StoreError naming the live file an engine error is about, or None when the error
    names none (or the file named looks intact). A lake file that `catalog` (the live one) no
    longer uses and that is gone: the command read an older generation (`changed_error`)."""
    from cloudtally.engine.spark import as_given  # (Spark's errors name files its way)

    text = str(exc)
    named = {
        as_given(m.group(1), store.prefix)
        for m in re.finditer(r"['\"]([^'\"]+\.parquet)['\"]", text)
    }
    live = {store.location(path) for path in catalog.all_files()}
    gone = sorted(
        name
        for name in named - live
        if name.startswith(store.prefix + "lake/") and _gone(store, name[len(store.prefix) :])
    )
    if gone and not named & live:
        return changed_error(f"{gone[0]} is no longer one of its files")
    problems = damaged_files(store, catalog)
    for problem in problems:
        if store.location(problem.path) in named or not named:
            return damaged_error(problems, first=problem)
    for partition in catalog.partitions:
        for part in partition.files:
            if store.location(part.path) in named:
                return StoreError(
                    FileProblem(
                        part.path,
                        partition.key,
                        f"cannot be read ({first_line(exc)})",
                        _repair(store, part.source_sha256),
                    ).message()
                )
    return None


def _gone(store: Store, path: str) -> bool:
    """Whether lake file `path` (relative to the data dir) is not there any more."""
    try:
        store.file_size(path)
    except FileNotFoundError:
        return True
    return False


def changed_error(what: str) -> StoreError:
    """The lake changed under a command that read its catalog before (`Store.pinned`): the
    files it read may be gone since (a replaced generation's files are kept one more)."""
    return StoreError(
        f"The lake changed while this command ran ({what}: another ingest or allocation made "
        "newer data live meanwhile). Run the command again."
    )


def damaged_error(problems: list[FileProblem], first: FileProblem | None = None) -> StoreError:
    first = first or problems[0]
    more = len(problems) - 1
    tail = f" {more} more file(s) are damaged too; `cloudtally check` lists them." if more else ""
    return StoreError(first.message() + tail)


# -- internals ------------------------------------------------------------------------------


def footer_problem(store: Store, path: str) -> str | None:
    """What is wrong with lake file `path` at a glance (missing, no Parquet footer), or None."""
    try:
        size = store.file_size(path)
        if size < 12:
            return f"is not a Parquet file ({size} bytes)"
        with store.open_file(path) as fh:
            head = fh.read(4)
            fh.seek(-4, 2)
            tail = fh.read(4)
    except FileNotFoundError:
        return "is missing"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if head != _MAGIC or tail != _MAGIC:
        return "is not a readable Parquet file (its first or last bytes are not PAR1)"
    return None


def _tallies(
    store: Store, paths: list[str], metrics: list[str], problems: dict[str, str]
) -> dict[str, tuple[int, dict[str, dict[str, Decimal]]]]:
    """Rows and metric sums per currency of each file; a file DuckDB cannot read goes into
    `problems`."""
    if not paths:
        return {}
    sums = "".join(f", sum({identifier(m)})" for m in metrics)
    con = store.engine()

    def run(batch: list[str]) -> list[tuple[Any, ...]]:
        listed = literals(store.location(p) for p in batch)
        return con.execute(
            f"SELECT filename, BillingCurrency, count(*){sums} FROM read_parquet([{listed}], "
            "filename = true, hive_partitioning = false, union_by_name = true) GROUP BY ALL"
        ).fetchall()

    try:
        rows = run(paths)
    except duckdb.Error:
        rows = []
        for path in paths:
            try:
                rows.extend(run([path]))
            except duckdb.Error as exc:
                problems[path] = f"is not a readable Parquet file ({first_line(exc)})"
    found: dict[str, tuple[int, dict[str, dict[str, Decimal]]]] = {}
    prefix = store.prefix
    for filename, currency, count, *values in rows:
        path = str(filename).removeprefix(prefix)
        n, totals = found.get(path, (0, {}))
        totals[currency] = {m: v or Decimal(0) for m, v in zip(metrics, values, strict=True)}
        found[path] = (n + count, totals)
    return found


def _totals_mismatch(
    recorded: dict[str, dict[str, Decimal]], found: dict[str, dict[str, Decimal]]
) -> str | None:
    for currency in sorted(set(recorded) | set(found)):
        for metric in sorted(set(recorded.get(currency, {})) | set(found.get(currency, {}))):
            want = recorded.get(currency, {}).get(metric, Decimal(0))
            have = found.get(currency, {}).get(metric, Decimal(0))
            if want != have:
                return (
                    f"sums {metric} {currency} to {have.normalize():f}; the catalog recorded "
                    f"{want.normalize():f}"
                )
    return None


def _repair(store: Store, source_sha256: str) -> str:
    source = _source_path(store, source_sha256)
    if source is None:
        return "Repair it from its source file: `cloudtally ingest --repair SOURCE`."
    return (
        f"Run `cloudtally ingest --repair` to rewrite it from its source ({shlex.quote(source)})."
    )


def _source_path(store: Store, source_sha256: str) -> str | None:
    try:
        entries = store.manifest()
    except StoreError:
        return None
    paths = [e.path for e in entries if e.sha256 == source_sha256 and e.outcome != "unchanged"]
    return paths[-1] if paths else None
