"""The converter contract and registry.

A converter mostly declares: its registry name (the CLI word for `--format`), how to recognise
its files from their header, and how each canonical column is computed from the source. The
pipeline turns that into one DuckDB query that reads the file and writes canonical Parquet.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from cloudtally.errors import IngestError, UnsupportedError
from cloudtally.focus.canonical import CANONICAL, CANONICAL_BY_NAME, LINE_NUMBER
from cloudtally.ingest.source import SourceFile
from cloudtally.sqltext import file_literal

if TYPE_CHECKING:
    import duckdb

    from cloudtally.store import Store
    from cloudtally.store.catalog import Catalog, PartitionFile, PartitionKey


def quote(name: str) -> str:
    """A SQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


# The column a numbered reader adds: the row's position in its file, from 0.
ROW_POSITION = "file_row_number"


def numbered(reader: str, container: str) -> str:
    """A table function reading a source file, with each row's position in the file (from 0)
    as the column `file_row_number`.

    Parquet gives it itself (`file_row_number = true`: exact, read in parallel). A text
    reader has no such column: `row_number() OVER ()` without an order numbers the rows in
    the order the reader gives them, which DuckDB keeps for a window (its streaming window
    runs in the scan's fixed order: the rows of one file, first to last), in one thread. The
    pipeline numbers a text file this way only when it cannot copy the file in parallel in its
    order (`pipeline._copy_in_file_order`).

    >>> numbered("read_parquet('a.parquet')", "parquet")
    "read_parquet('a.parquet', file_row_number = true)"
    """
    if container == "parquet":
        assert reader.startswith("read_parquet(") and reader.endswith(")"), reader
        return f"{reader[:-1]}, {ROW_POSITION} = true)"
    return f"(SELECT *, row_number() OVER () - 1 AS {ROW_POSITION} FROM {reader})"


class Converter:
    """Turns one billing file into canonical FOCUS rows.

    Subclasses set `name` and implement `matches` and `expressions`; they register themselves.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    registry: ClassVar[dict[str, type[Converter]]] = {}
    # Where the rows go: the `costs`, or a dataset of their own beside them (a supporting
    # FOCUS dataset), written by `stage_beside` and `publish_beside`.
    dataset: ClassVar[str] = "costs"
    # Whether it needs nothing of the file here but the header (a Parquet file's footer), all
    # else read by the engine's reader (its pre-scan, `prescan.py`, too): on Spark, an export in
    # an object store is then read by the executors alone (pipeline `_hashed_where_they_are`).
    header_only: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            Converter.registry[cls.name] = cls

    def __init__(self, source: SourceFile) -> None:
        self.source = source
        # The engine's connection a read of the whole file before conversion runs on
        # (`prescan.py`); None: an embedded DuckDB of its own.
        self.connection: Any = None
        # x_LineNo of the file's rows: this plus the row's position (canonical.LINES_PER_FILE).
        self.first_line_number = 1

    @classmethod
    def matches(cls, source: SourceFile) -> bool:
        raise NotImplementedError

    @property
    def source_format(self) -> str:
        """What the rows came from, stored in `x_SourceFormat` (e.g. `focus-1.0`)."""
        return self.name

    def validate(self) -> None:
        """Refuse, with a clear message, a file this converter cannot convert."""

    def reader_types(self) -> dict[str, str]:
        """DuckDB types the CSV reader parses columns as (others are read as text)."""
        return {}

    def expressions(self) -> dict[str, str]:
        """Canonical column name -> SQL expression over the source relation `src`."""
        raise NotImplementedError

    def extra_columns(self) -> dict[str, str]:
        """Source columns kept as `x_` extension columns: output name -> expression."""
        return {}

    @classmethod
    def mapping(cls) -> list[tuple[str, str]]:
        """(canonical column, how the source gives it): the converter's documented mapping."""
        return []

    def reconcile_staged(self, parts: dict[PartitionKey, PartitionFile]) -> None:
        """Refuse (StoreError) staged files whose rows or totals differ from what the converter
        knows of its source; by default the pipeline's own checks are all."""

    def stage_beside(self, con: duckdb.DuckDBPyConnection, target: Path, ingest_id: str) -> int:
        """For a dataset beside the costs: read the file into `target`; the rows written."""
        raise UnsupportedError(f"{self.name} converts cost rows; it has no dataset of its own.")

    @classmethod
    def publish_beside(
        cls,
        store: Store,
        catalog: Catalog,
        staged: list[tuple[SourceFile, Path]],
        ingest_id: str,
    ) -> tuple[Catalog, int]:
        """For a dataset beside the costs: `catalog` with the staged files made its new
        contents (not yet committed), and the dataset's rows."""
        raise UnsupportedError(f"{cls.name} converts cost rows; it has no dataset of its own.")

    # -- shared by every converter ------------------------------------------------------------

    def read_sql(self, numbered_rows: bool = False) -> str:
        """The relation that reads the source file; with `numbered_rows`, with each row's
        position in the file as the column `file_row_number` (see `numbered`). A converter
        that reads through a projection of its own passes that column on."""
        reader = self.reader_sql()
        return numbered(reader, self.source.container) if numbered_rows else reader

    def reader_sql(self) -> str:
        """The table function that reads the source file."""
        path = file_literal(self.source.path)
        if self.source.container == "parquet":
            return f"read_parquet({path})"
        if self.source.container == "jsonl":
            return f"read_json({path}, format = 'newline_delimited')"
        types = self.reader_types()
        columns = ", ".join(
            f"{literal(c)}: {literal(types.get(c, 'VARCHAR'))}" for c in self.source.columns
        )
        compression = "gzip" if self.source.compression == "gzip" else "none"
        return (
            f"read_csv({path}, columns = {{{columns}}}, header = true, auto_detect = false, "
            f"delim = {literal(self.source.delimiter)}, quote = '\"', escape = '\"', "
            f"nullstr = ['', 'NULL'], strict_mode = true, compression = {literal(compression)})"
        )

    def key_source_columns(self) -> list[str]:
        """The source columns that x_Provider, BillingAccountId and x_BillingPeriod are computed
        from, when those three read nothing else (lets the pipeline find a file's account-periods
        from its distinct values, or from Parquet statistics). Empty: unknown."""
        return []

    def lookups(self) -> dict[str, tuple[str, str]]:
        """Canonical column -> (source column, SQL over `_raw`) worth computing once per distinct
        value, e.g. parsing tag JSON: a few thousand distinct tag sets stand behind millions of
        rows. Used for Parquet sources (see `lookup_tables`)."""
        return {}

    def lookup_tables(self) -> list[tuple[str, str, str, str]]:
        """(canonical column, temp table name, source column, SELECT computing the table): each
        lookup of `lookups()` as a table of distinct source values and their canonical value.
        Parquet only: there reading one column twice is cheap."""
        if self.source.container != "parquet":
            return []
        tables = []
        for n, (name, (source_column, expr_over_raw)) in enumerate(self.lookups().items()):
            raw = quote(source_column)
            tables.append(
                (
                    name,
                    f"_lookup{n}",
                    source_column,
                    f"SELECT _raw, {expr_over_raw} AS _value FROM (SELECT DISTINCT {raw} AS _raw "
                    f"FROM {self.read_sql()} WHERE {raw} IS NOT NULL)",
                )
            )
        return tables

    def constants(self, ingest_id: str) -> dict[str, str]:
        """The columns with one value for the whole file, as SQL literals."""
        return {
            "x_SourceFormat": literal(self.source_format),
            "x_SourceFile": literal(self.source.label),
            "x_IngestId": literal(ingest_id),
        }

    def select_sql(
        self,
        ingest_id: str,
        *,
        lookups_in: Literal["cte", "tables", "none"] = "cte",
        columns: list[str] | None = None,
        from_sql: str | None = None,
        also: list[str] | None = None,
        line_numbers: bool = True,
    ) -> str:
        """SELECT the canonical columns (in order) plus extras from the source.

        `lookups_in`: "cte" computes the lookups inside the query; "tables" joins the temp
        tables of `lookup_tables()`, created beforehand so that several queries over one file
        compute them once; "none" leaves the looked-up columns out (NULL), for queries that do
        not read them. `columns` limits the SELECT to those output columns; `from_sql` reads
        another relation than the source file (one with the columns the expressions use);
        `also` appends those source columns as they are, named `_key0`, `_key1`, ...

        x_LineNo is the row's position in the file plus `first_line_number`, when the select
        reads the file itself (not `from_sql`) and `line_numbers` (else NULL: the pipeline
        numbers a text file's rows from the staged file, see `pipeline._stage_in_order`)."""
        exprs = self.expressions()
        numbering = line_numbers and from_sql is None and (columns is None or "x_LineNo" in columns)
        exprs["x_LineNo"] = (
            f"src.{ROW_POSITION} + CAST({self.first_line_number} AS {LINE_NUMBER})"
            if numbering
            else "NULL"
        )
        ctes: list[str] = []
        joins: list[str] = []
        for name, alias, source_column, select in self.lookup_tables():
            if lookups_in == "none":
                exprs[name] = "NULL"
                continue
            if lookups_in == "cte":
                ctes.append(f"{alias} AS ({select})")
            raw = quote(source_column)
            joins.append(f"LEFT JOIN {alias} ON src.{raw} = {alias}._raw")
            exprs[name] = f"{alias}._value"
        fixed = self.constants(ingest_id)
        parts = []
        for column in CANONICAL:
            if columns is not None and column.name not in columns:
                continue
            expr = fixed.get(column.name) or exprs.get(column.name) or "NULL"
            if column.sql_type == "VARCHAR" and _STRING_LITERAL.fullmatch(expr):
                parts.append(f"{one_value(expr)} AS {quote(column.name)}")
                continue
            expr = f"CAST({expr} AS {column.sql_type})"
            parts.append(f"{expr} AS {quote(column.name)}")
        if columns is None:
            for name, expr in self.extra_columns().items():
                parts.append(f"{expr} AS {quote(name)}")
        for name, source_column in zip(key_names(also or []), also or [], strict=True):
            parts.append(f"src.{quote(source_column)} AS {name}")
        with_clause = f"WITH {', '.join(ctes)}\n" if ctes else ""
        return (
            with_clause
            + "SELECT "
            + ",\n  ".join(parts)
            + f"\nFROM {from_sql or self.read_sql(numbering)} AS src {' '.join(joins)}"
        )


_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")


def one_value(text_literal: str) -> str:
    """A text that is the same on every row of a file, as a one-value ENUM: DuckDB's Parquet
    writer stores it without hashing every row's string into the page dictionary (~0.15 s per
    column per 10M rows); read back, it is plain VARCHAR."""
    return f"CAST({text_literal} AS ENUM({text_literal}))"


def key_names(source_columns: list[str]) -> list[str]:
    """The names `select_sql(also=...)` gives those source columns: `_key0`, `_key1`, ..."""
    return [f"_key{n}" for n in range(len(source_columns))]


def extension_name(source_column: str) -> str:
    """The `x_` name a source column is kept under.

    >>> extension_name("Id"), extension_name("x_Custom"), extension_name("x_Provider")
    ('x_Id', 'x_Custom', 'x_Source_x_Provider')
    """
    name = source_column if source_column.startswith("x_") else f"x_{source_column}"
    return f"x_Source_{name}" if name in CANONICAL_BY_NAME else name


def get_converter(name: str) -> type[Converter]:
    """The converter registered under `name`, or an error suggesting the closest names."""
    try:
        return Converter.registry[name]
    except KeyError:
        close = difflib.get_close_matches(name, Converter.registry, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        known = ", ".join(sorted(Converter.registry))
        raise UnsupportedError(f"Unknown format {name!r}.{hint} Known formats: {known}.") from None


def detect_converter(source: SourceFile, forced: str | None = None) -> Converter:
    """The converter for a file, checked (`validate`): the forced one, or the one whose
    signature the header has."""
    converter = find_converter(source, forced)
    converter.validate()
    return converter


def find_converter(source: SourceFile, forced: str | None = None) -> Converter:
    """The converter for a file from its header alone, without reading further (no
    `validate`): the forced one, or the one whose signature the header has."""
    if forced:
        return get_converter(forced)(source)
    found = [cls for cls in Converter.registry.values() if cls.matches(source)]
    if not found:
        raise IngestError(
            f"{source.label}: not a billing format cloudtally knows ({_header_hint(source)})."
            f" Supported: {', '.join(sorted(Converter.registry))}; force one with "
            "--format NAME."
        )
    return found[0](source)


# What a column name looks like. The first line of a file that is not an export may hold
# anything (a password file, a key): it is quoted only when it reads as a header.
_COLUMN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9 _./()\[\]-]{0,63}")


def _header_hint(source: SourceFile) -> str:
    """The first column names of an unrecognised file, when they look like column names."""
    first = source.columns[:8]
    if first and all(_COLUMN_NAME.fullmatch(c) for c in first):
        return f"its columns start {', '.join(first)}"
    return f"its first line, {len(source.columns)} fields, does not read as a billing header"
