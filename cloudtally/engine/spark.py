"""The Spark engine: a connection that runs the product's DuckDB SQL on a Spark session.

The product's code talks to one connection contract, DuckDB's (`execute(sql, params)`, then
`fetchall`/`fetchone`/`description`). `SparkConnection` keeps that contract: each statement is
parsed as DuckDB SQL, the parts that need the session are resolved here (table functions,
COPY, temp tables, `* EXCLUDE/REPLACE`, `UNION ALL BY NAME`, `?` parameters) and the rest is
transpiled by `cloudtally.engine.dialect`. Failures are raised as `SparkQueryError`, a
`duckdb.Error`, so the code that explains a failed query does so for both engines.

PySpark is optional (`pip install 'cloudtally[spark]'`) and imported only here.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import secrets
import shutil
import tempfile
import threading
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import duckdb
import pyarrow as pa
from sqlglot import exp

from cloudtally.engine.dialect import MISSING_SECONDS, SESSION_CONF, parse, spark_sql
from cloudtally.errors import StoreError, UnsupportedError
from cloudtally.sqltext import PATTERN_CHARACTERS

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

    from cloudtally.store.store import Store

INSTALL_HINT = (
    "Install the Spark extra with `pip install 'cloudtally[spark]'` (PySpark) and a Java "
    "runtime 17 or newer (Debian/Ubuntu: `apt-get install default-jre-headless`), or run "
    "without --engine spark."
)
REMOTE_SCHEMES = ("s3a://", "abfss://", "gs://", "hdfs://", "wasbs://")
# An object store's URI as fsspec names it -> as Hadoop's connectors name it.
HADOOP_SCHEMES = {"s3://": "s3a://", "gcs://": "gs://"}

# Spark leaves out files whose names start with `_` or `.` (Hadoop's hidden files), even files
# it is given by name: an export called `_cur.csv`, or a lake file written for an account
# whose id starts with `_`, would be read as if it were not there (an allocation missing that
# account's costs, conserved over what was read). A read of named files asks Spark to leave
# out nothing (this read option; a Spark without it ignores it), and `_refuse_skipped` stops
# a read that still left one out. Lake files are not given such names (ingest/pipeline.py).
READ_HIDDEN_FILES = ("ignoredPathSegmentRegex", "")
HIDDEN_NAME = ("_", ".")


# The column DuckDB's numbered readers add (ingest.formats.base.ROW_POSITION): a row's
# position in its file, from 0.
ROW_POSITION = "file_row_number"


class SparkUnavailable(UnsupportedError):
    """PySpark or Java is missing, or the session does not start."""


class SparkQueryError(duckdb.Error):
    """A statement failed on Spark (a `duckdb.Error`, so callers handle both engines alike)."""


_session_lock = threading.Lock()
_sessions: dict[str, SparkSession] = {}


def spark_session(master: str = "local[*]") -> SparkSession:
    """The process's Spark session (one per process; the first master asked for wins)."""
    with _session_lock:
        if _sessions:
            return next(iter(_sessions.values()))
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise SparkUnavailable(
                f"--engine spark needs PySpark, which is not installed. {INSTALL_HINT}"
            ) from None
        if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
            raise SparkUnavailable(
                f"--engine spark needs a Java runtime, and none was found (no `java` on PATH, "
                f"JAVA_HOME unset). {INSTALL_HINT}"
            )
        # Loopback only, and the JVM's chatter kept off the terminal.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        log4j = Path(__file__).with_name("log4j2.properties")
        builder = (
            SparkSession.builder.master(master)
            .appName("cloudtally")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{log4j}")
            .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
            # cloudtally makes no catalog tables; without this Spark leaves an empty
            # `spark-warehouse` folder wherever the command was run.
            .config("spark.sql.warehouse.dir", str(_scratch_dir() / "warehouse"))
        )
        for key, value in SESSION_CONF.items():
            builder = builder.config(key, value)
        try:
            session = builder.getOrCreate()
        except Exception as exc:  # the gateway's failures have no common base class
            raise SparkUnavailable(
                f"The Spark session did not start ({_first_line(exc)}). {INSTALL_HINT}"
            ) from None
        session.sparkContext.setLogLevel("ERROR")
        # PySpark logs every failed query's context as JSON; cloudtally reports it as a message.
        for logger in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
            logging.getLogger(logger).setLevel(logging.CRITICAL)
        _sessions[master] = session
        atexit.register(session.stop)
        return session


def _scratch_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"cloudtally-spark-{os.getuid()}"


class SparkCursor:
    """A statement's result, shaped like DuckDB's (rows as tuples, exact Decimals, UTC
    timestamps, maps as dicts)."""

    def __init__(self, table: pa.Table | None) -> None:
        self._rows: list[tuple[Any, ...]] = []
        self.description: list[tuple[str, str]] | None = None
        if table is not None:
            self.description = [(f.name, str(f.type)) for f in table.schema]
            columns = [_plain(table.column(i).to_pylist()) for i in range(table.num_columns)]
            self._rows = list(zip(*columns, strict=True)) if columns else []
        self._at = 0

    def fetchall(self) -> list[tuple[Any, ...]]:
        rows, self._at = self._rows[self._at :], len(self._rows)
        return rows

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._at >= len(self._rows):
            return None
        self._at += 1
        return self._rows[self._at - 1]


def _plain(values: list[Any]) -> list[Any]:
    return [_value(v) for v in values]


def _value(value: Any) -> Any:
    if (
        isinstance(value, list)
        and value
        and all(isinstance(v, tuple) and len(v) == 2 for v in value)
    ):
        return {k: _value(v) for k, v in value}
    if isinstance(value, list):
        return [_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _value(v) for k, v in value.items()}
    return value


class SparkConnection:
    """DuckDB's connection contract over a Spark session."""

    def __init__(self, session: SparkSession, store: Store | None = None) -> None:
        self.spark = session
        # The lake it works for: where staged files really are (`Store.staged_location`).
        self.store = store
        self._views: list[str] = []
        self._counter = 0
        self._cursor = SparkCursor(None)

    # -- DuckDB's contract ---------------------------------------------------------------------

    def execute(self, sql: str, parameters: list[Any] | None = None) -> SparkConnection:
        statements = parse(sql)
        if parameters:
            if len(statements) != 1:
                raise SparkQueryError("Parameters need exactly one statement.")
            _bind(statements[0], list(parameters))
        for statement in statements:
            self._cursor = self._run(statement)
        return self

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._cursor.fetchall()

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._cursor.fetchone()

    @property
    def description(self) -> list[tuple[str, str]] | None:
        return self._cursor.description

    def query_progress(self) -> float:
        return -1

    def close(self) -> None:
        for name in self._views:
            self.spark.catalog.dropTempView(name)
        self._views.clear()

    # -- beyond DuckDB's contract: the lake ------------------------------------------------------

    def create_view(self, name: str, frame: DataFrame) -> None:
        frame.createOrReplaceTempView(name)
        self._views.append(name)

    def read_parquet(
        self,
        paths: list[str],
        *,
        base_path: str | None = None,
        filename: bool = False,
    ) -> DataFrame:
        """Parquet files as one frame: columns merged by name (DuckDB's union_by_name), folder
        columns read from `key=value` folders under `base_path` (hive_partitioning)."""
        reader = _named_files(self.spark.read.option("mergeSchema", "true"), paths)
        if base_path is not None:
            reader = reader.option("basePath", hadoop_path(self._located(base_path)))
        located = [self._located(p) for p in paths]
        frame = _refuse_skipped(reader.parquet(*(hadoop_path(p) for p in located)), located)
        if filename:
            from pyspark.sql import functions as F

            path = F.regexp_replace(F.col("_metadata.file_path"), "^file:(//)?", "")
            for given, hadoop in HADOOP_SCHEMES.items():  # the names as they were given
                if any(p.startswith(given) for p in located):
                    path = F.regexp_replace(path, f"^{hadoop}", given)
            path = F.url_decode(F.replace(path, F.lit("+"), F.lit("%2B")))
            if located != paths and self.store is not None:  # staged in the store
                staged = f"{self.store.prefix}staging/"
                local = F.concat(
                    F.lit(f"{self.store.staging_dir}/"), F.substring(path, len(staged) + 1, 1 << 30)
                )
                path = F.when(path.startswith(staged), local).otherwise(path)
            frame = frame.withColumn("filename", path)
        return frame

    def frame(self, sql: str) -> DataFrame:
        """A DuckDB SELECT as a lazy Spark frame."""
        statements = parse(sql)
        if len(statements) != 1:
            raise SparkQueryError("Give one SELECT.")
        return self.spark.sql(self._prepare(statements[0]))

    # -- statements ------------------------------------------------------------------------------

    def _run(self, statement: exp.Expression) -> SparkCursor:
        try:
            return self._dispatch(statement)
        except (SparkQueryError, UnsupportedError, StoreError):
            raise
        except Exception as exc:
            if type(exc).__module__.startswith(("pyspark", "py4j")):
                raise SparkQueryError(_first_line(exc)) from None
            raise

    def _dispatch(self, statement: exp.Expression) -> SparkCursor:
        if isinstance(statement, exp.Set | exp.Command) and _is_setting(statement):
            return SparkCursor(None)  # DuckDB settings (memory, threads, ...) mean nothing here
        if isinstance(statement, exp.Copy):
            return self._copy(statement)
        if isinstance(statement, exp.Create):
            return self._create(statement)
        if isinstance(statement, exp.Insert):
            return self._insert(statement)
        if isinstance(statement, exp.Drop):
            for table in statement.args.get("tables") or []:
                self.spark.catalog.dropTempView(table.name)
            return SparkCursor(None)
        if isinstance(statement, exp.Describe):
            frame = self.spark.sql(self._prepare(statement.this))
            rows = [(f.name, f.dataType.simpleString(), "YES") for f in frame.schema.fields]
            table = pa.table(
                {
                    "column_name": [r[0] for r in rows],
                    "column_type": [r[1] for r in rows],
                    "null": [r[2] for r in rows],
                }
            )
            return SparkCursor(table)
        if isinstance(statement, exp.Query):
            return SparkCursor(self.spark.sql(self._prepare(statement)).toArrow())
        raise UnsupportedError(
            f"{type(statement).__name__} statements do not run on Spark: "
            f"{statement.sql('duckdb')[:80]}"
        )

    def _copy(self, statement: exp.Copy) -> SparkCursor:
        files = statement.args.get("files") or []
        params = {p.this.name.upper(): p.expression for p in statement.args.get("params") or []}
        if len(files) != 1 or "PARTITION_BY" in params:
            raise UnsupportedError("COPY ... PARTITION_BY does not run on Spark.")
        fmt = params.get("FORMAT")
        if fmt is not None and fmt.name.lower() != "parquet":
            raise UnsupportedError(f"COPY to {fmt.name} does not run on Spark (Parquet only).")
        source = statement.this
        query = source.this if isinstance(source, exp.Subquery) else source
        frame = self.spark.sql(self._prepare(query))
        rows = write_parquet_file(frame, Path(files[0].name), self.store)
        return SparkCursor(pa.table({"Count": [rows]}))

    def _located(self, path: str) -> str:
        """Where the executors read `path`: a billing export fetched from an object store
        there (not the driver's copy), a staged file where the store holds it; a file whose
        name the SQL wrote with its pattern characters escaped (`file_literal`), escaped as
        Hadoop escapes them."""
        from cloudtally.ingest.remote import origin_of

        plain = _DUCKDB_ESCAPED.sub(r"\1", path)
        origin = origin_of(plain)
        if origin is not None:
            found = origin
        else:
            found = self.store.staged_location(plain) if self.store is not None else plain
        if plain != path or "\\" in path:  # (a lake's own path holds neither: store.py)
            return _HADOOP_PATTERN.sub(r"\\\g<0>", found)
        return found

    def _create(self, statement: exp.Create) -> SparkCursor:
        kind = (statement.args.get("kind") or "").upper()
        target = statement.this
        if kind not in ("TABLE", "VIEW"):
            raise UnsupportedError(f"CREATE {kind} does not run on Spark.")
        if isinstance(target, exp.Schema):  # CREATE TABLE t (col TYPE, ...): an empty table
            name = target.this.name
            columns = ", ".join(
                f"CAST(NULL AS {_spark_type(c.args['kind'])}) AS `{c.name}`"
                for c in target.expressions
            )
            frame = self.spark.sql(f"SELECT {columns} WHERE false")
        else:
            name = target.name
            frame = self.spark.sql(self._prepare(statement.expression))
        if kind == "TABLE":
            frame = frame.localCheckpoint()  # computed once, like DuckDB's temp table
        self.create_view(name, frame)
        return SparkCursor(None)

    def _insert(self, statement: exp.Insert) -> SparkCursor:
        name = statement.this.name
        existing = self.spark.table(name)
        source = statement.expression
        if isinstance(source, exp.Values):
            source = exp.select("*").from_(source.copy())
        added = self.spark.sql(self._prepare(source))
        if len(added.columns) != len(existing.columns):
            raise SparkQueryError(
                f"INSERT INTO {name}: {len(added.columns)} values for {len(existing.columns)} columns."
            )
        from pyspark.sql import functions as F

        positional = added.toDF(*(f"_c{i}" for i in range(len(added.columns))))
        typed = positional.select(
            *(
                F.col(f"_c{i}").cast(f.dataType).alias(f.name)
                for i, f in enumerate(existing.schema.fields)
            )
        )
        self.create_view(name, existing.unionAll(typed).localCheckpoint())
        return SparkCursor(None)

    # -- preparing a query ---------------------------------------------------------------------

    def _prepare(self, query: exp.Expression) -> str:
        """Spark SQL for a DuckDB query: table functions as temp views, stars and unions by
        name expanded with the columns the session resolves, the rest transpiled."""
        tree = query.copy()
        for select in list(tree.find_all(exp.Select)):
            reader = _numbered_reader(select)
            if reader is not None:
                view = self._numbered_view(reader)
                select.replace(exp.select("*").from_(exp.to_table(view)))
        for table in list(tree.find_all(exp.Table)):
            replacement = self._table_source(table)
            if replacement is not None:
                alias = table.args.get("alias")
                new = exp.to_table(replacement)
                if alias is not None:
                    new.set("alias", alias)
                table.replace(new)
        tree = self._expand_stars(tree)
        tree = self._unions_by_name(tree)
        return spark_sql(tree)

    def _new_view(self, frame: DataFrame) -> str:
        self._counter += 1
        name = f"_ct_src_{id(self):x}_{self._counter}"
        self.create_view(name, frame)
        return name

    def _table_source(self, table: exp.Table) -> str | None:
        """A temp view for a table function or a file named as a table; None for a table."""
        source = table.this
        if isinstance(source, exp.ReadParquet):
            paths, options = _function_args(source.expressions)
            hive = options.get("hive_partitioning") is True
            base = _common_hive_base(paths) if hive else None
            frame = self.read_parquet(
                paths, base_path=base, filename=options.get("filename") is True
            )
            if options.get(ROW_POSITION) is True:
                from pyspark.sql import functions as F

                # Spark's row index of a Parquet file is DuckDB's file_row_number.
                frame = frame.withColumn(ROW_POSITION, F.col("_metadata.row_index"))
            return self._new_view(frame)
        if isinstance(source, exp.ReadCSV):
            paths, options = _function_args([source.this, *source.expressions])
            return self._new_view(self._read_csv(paths, options))
        if isinstance(source, exp.Anonymous) and source.name.lower() in (
            "read_json",
            "read_json_auto",
        ):
            paths, options = _function_args(source.expressions)
            return self._new_view(self._read_json(paths, options))
        if isinstance(source, exp.Identifier) and source.quoted and _looks_like_file(source.name):
            return self._new_view(self.read_parquet([source.name]))
        return None

    def _numbered_view(self, reader: exp.Table) -> str:
        """A view of a text file read by `reader` with each row's position in the file (from
        0) as `file_row_number`, as DuckDB's `row_number() OVER () - 1` over its reader gives.

        A row's position is the rows of the file's earlier blocks (Spark reads a large file
        in blocks, one task each) plus its place in its own block (`monotonically_increasing_id`
        counts up within a task). A file read whole (a CSV: `multiLine`) is one block."""
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        marks = [
            F.col("_metadata.file_path").alias("_ct_file"),
            F.col("_metadata.file_block_start").alias("_ct_block"),
            F.monotonically_increasing_id().alias("_ct_id"),
        ]
        function = reader.this
        if isinstance(function, exp.ReadCSV):
            paths, options = _function_args([function.this, *function.expressions])
            frame = self._read_csv(paths, options, marks)
        else:
            paths, options = _function_args(function.expressions)
            frame = self._read_json(paths, options)
            frame = frame.select(*(F.col(f"`{c}`") for c in frame.columns), *marks)
        columns = [c for c in frame.columns if not c.startswith("_ct_")]
        marked = frame.localCheckpoint()  # read once: the ids below are those of these rows
        blocks = marked.groupBy("_ct_file", "_ct_block").agg(
            F.min("_ct_id").alias("_ct_first"), F.count(F.lit(1)).alias("_ct_rows")
        )
        before = F.sum("_ct_rows").over(
            Window.partitionBy("_ct_file")
            .orderBy("_ct_block")
            .rowsBetween(Window.unboundedPreceding, -1)
        )
        blocks = blocks.withColumn("_ct_before", F.coalesce(before, F.lit(0)))
        position = F.col("_ct_before") + F.col("_ct_id") - F.col("_ct_first")
        numbered = marked.join(F.broadcast(blocks), ["_ct_file", "_ct_block"]).select(
            *(F.col(f"`{c}`") for c in columns), position.alias(ROW_POSITION)
        )
        return self._new_view(numbered)

    def _read_json(self, paths: list[str], options: dict[str, Any]) -> Any:
        """Newline-delimited JSON, with DuckDB's `columns = {name: type}` as the schema (Spark
        would otherwise infer one: an object of labels as a struct, where DuckDB has a map)."""
        reader = _named_files(self.spark.read, paths)
        columns = options.get("columns")
        if isinstance(columns, dict):
            schema = ", ".join(
                f"`{name}` {_spark_type(exp.DataType.build(str(kind), dialect='duckdb'))}"
                for name, kind in columns.items()
            )
            reader = reader.schema(schema)
        located = [self._located(p) for p in paths]
        return _refuse_skipped(reader.json([hadoop_path(p) for p in located]), located)

    def _read_csv(
        self, paths: list[str], options: dict[str, Any], marks: list[Any] | None = None
    ) -> DataFrame:
        """DuckDB's read_csv with explicit columns: every field read as text, DuckDB's null
        strings made NULL, then cast to the declared types (a bad value fails the query)."""
        from pyspark.sql import functions as F
        from pyspark.sql.types import StringType, StructField, StructType

        columns: dict[str, str] = options.get("columns") or {}
        if not columns:
            raise UnsupportedError("read_csv without explicit columns does not run on Spark.")
        if options.get("compression") == "gzip" and not all(p.endswith(".gz") for p in paths):
            raise UnsupportedError(
                "Spark reads gzip CSV only from files named *.gz: rename the file and run again."
            )
        schema = StructType([StructField(name, StringType()) for name in columns])
        located = [self._located(p) for p in paths]
        frame = _named_files(self.spark.read, paths).csv(
            [hadoop_path(p) for p in located],
            schema=schema,
            header=bool(options.get("header", True)),
            sep=options.get("delim", ","),
            quote=options.get("quote", '"'),
            escape=options.get("escape", '"'),
            multiLine=True,
            mode="FAILFAST",
            nullValue="\u0000",
            emptyValue="",
            ignoreLeadingWhiteSpace=False,
            ignoreTrailingWhiteSpace=False,
            enforceSchema=True,
        )
        frame = _refuse_skipped(frame, located)
        nulls = options.get("nullstr") or [""]
        nulls = [nulls] if isinstance(nulls, str) else nulls
        projected = []
        for name, duck_type in columns.items():
            column = F.col(f"`{name}`")
            column = F.when(column.isin(*nulls), F.lit(None)).otherwise(column)
            spark_type = _spark_type(exp.DataType.build(duck_type, dialect="duckdb"))
            if spark_type.startswith("TIMESTAMP"):
                column = F.regexp_replace(column, *MISSING_SECONDS)
            if spark_type != "STRING":
                column = column.cast(spark_type)
            projected.append(column.alias(name))
        return frame.select(*projected, *(marks or []))

    def _columns(self, relation: exp.Expression, where: exp.Expression) -> list[str]:
        """The columns a FROM item gives, as the session resolves them (no data is read).
        `where` is the node the item appears in: the CTEs visible there come along."""
        probe = exp.select("*").from_(relation.copy())
        ctes = _visible_ctes(where)
        if ctes:
            probe.set("with_", exp.With(expressions=ctes))
        return list(self.spark.sql(self._prepare(probe)).columns)

    def _expand_stars(self, tree: exp.Expression) -> exp.Expression:
        for select in list(tree.find_all(exp.Select)):
            stars = [
                s
                for s in select.expressions
                if isinstance(s, exp.Star) and (s.args.get("except_") or s.args.get("replace"))
            ]
            if not stars:
                continue
            source = select.args.get("from_") or select.args.get("from")
            if source is None or select.args.get("joins"):
                raise UnsupportedError(
                    "* EXCLUDE/REPLACE over several relations does not run on Spark."
                )
            columns = self._columns(source.this, select)
            new_expressions: list[exp.Expression] = []
            for item in select.expressions:
                if item not in stars:
                    new_expressions.append(item)
                    continue
                excluded = {
                    c.name.lower()
                    for c in item.args.get("except_") or item.args.get("except") or []
                }
                replaced = {r.alias.lower(): r for r in item.args.get("replace") or []}
                for column in columns:
                    key = column.lower()
                    if key in excluded:
                        continue
                    if key in replaced:
                        new_expressions.append(replaced[key].copy())
                    else:
                        new_expressions.append(exp.column(column, quoted=True))
            select.set("expressions", new_expressions)
        return tree

    def _unions_by_name(self, tree: exp.Expression) -> exp.Expression:
        """UNION [ALL] BY NAME: each side's columns in the left side's order, a column only one
        side has as NULL on the other (DuckDB's semantics)."""

        def rewrite(node: exp.Expression) -> exp.Expression:
            if not (isinstance(node, exp.Union) and node.args.get("by_name")):
                return node
            left, right = node.left, node.right
            left_cols = self._columns(left.copy().subquery("_l"), node)
            right_cols = self._columns(right.copy().subquery("_r"), node)
            names = list(dict.fromkeys([*left_cols, *right_cols]))

            def side(query: exp.Query, have: list[str], alias: str) -> exp.Select:
                present = {c.lower() for c in have}
                projections = [
                    exp.column(c, quoted=True)
                    if c.lower() in present
                    else exp.alias_(exp.null(), c, quoted=True)
                    for c in names
                ]
                return exp.select(*projections).from_(query.copy().subquery(alias))

            return exp.Union(
                this=side(left, left_cols, "_l"),
                expression=side(right, right_cols, "_r"),
                distinct=node.args.get("distinct"),
            )

        return tree.transform(rewrite)


def write_parquet_file(frame: DataFrame, target: Path, store: Store | None = None) -> int:
    """Write a frame as ONE Parquet file at `target` (Spark writes a folder of parts: the
    single part is moved into place); the number of rows written. A file `store` stages in
    its object store is written there (`Store.stages_remotely`)."""
    import pyarrow.parquet as pq

    location = store.stage_remotely(target) if store is not None else None
    if location is not None and store is not None:
        return _write_staged_object(frame, target, location, store)
    target.parent.mkdir(parents=True, exist_ok=True)
    out = target.parent / f".{target.name}.spark-{os.getpid()}-{threading.get_ident()}"
    shutil.rmtree(out, ignore_errors=True)
    _one_file(frame).parquet(str(out))
    parts = sorted(out.glob("part-*.parquet"))
    if not parts:  # no rows: Spark may write no part at all
        pq.write_table(frame.limit(0).toArrow(), target)
        shutil.rmtree(out, ignore_errors=True)
        return 0
    if len(parts) != 1:
        raise StoreError(f"Spark wrote {len(parts)} files where one was expected.")
    os.replace(parts[0], target)
    shutil.rmtree(out, ignore_errors=True)
    return int(pq.ParquetFile(target).metadata.num_rows)


# How a one-file write into a fresh folder of its own is committed: each task's output goes
# straight to the folder (the FileOutputCommitter's algorithm 2: one rename per file, where
# algorithm 1 renames twice; a rename in an object store is a copy), with no _SUCCESS marker.
# Safe here: the folder is read only once the write returned, and removed if it failed.
ONE_FILE_COMMIT = {
    "mapreduce.fileoutputcommitter.algorithm.version": "2",
    "mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
}


def _one_file(frame: DataFrame) -> Any:
    """A writer of `frame` as one part file into a folder that must not exist yet."""
    return frame.coalesce(1).write.mode("errorifexists").options(**ONE_FILE_COMMIT)


def _write_staged_object(frame: DataFrame, target: Path, location: str, store: Store) -> int:
    """`write_parquet_file` for a file staged in the object store (at `location`): Spark's
    executors write the part there, which is then moved (copied in the store) to its name."""
    import pyarrow.parquet as pq

    objects = store.objects
    assert objects is not None
    key = location.removeprefix(store.prefix)
    folder, name = key.rsplit("/", 1)
    out_key = f"{folder}/.{name}.spark-{os.getpid()}-{threading.get_ident()}"
    objects.remove_tree(out_key)
    _one_file(frame).parquet(hadoop_path(store.location(out_key)))
    parts = [f for f in objects.files(out_key) if f.rsplit("/", 1)[-1].startswith("part-")]
    if len(parts) > 1:
        raise StoreError(f"Spark wrote {len(parts)} files where one was expected.")
    if parts:
        objects.move(parts[0], key)
    else:  # no rows: Spark may write no part at all
        empty = store.tmp_dir / f"{secrets.token_hex(8)}.parquet"
        empty.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(frame.limit(0).toArrow(), empty)
        objects.upload(empty, key)
    objects.remove_tree(out_key)
    return store.staged_file_rows(target)


# An executor hashing a file holds it whole in memory, about twice (Spark's binaryFile source
# reads it into one value, which refuses over 2 GiB), once per core at a time: bigger files
# are hashed by the driver, streaming. Executors with memory for more take a larger limit
# from the Spark setting HASH_LIMIT_SETTING (`--conf spark.cloudtally.executorHashLimit=1g`).
EXECUTOR_HASH_LIMIT = 128 << 20
HASH_LIMIT_SETTING = "spark.cloudtally.executorHashLimit"
_BINARY_FILE_LIMIT = (1 << 31) - 1
_SIZE = re.compile(r"(\d+)\s*([kmg]?)b?", re.IGNORECASE)


def hash_limit(master: str) -> int:
    """The largest file the executors hash: HASH_LIMIT_SETTING (bytes, or a size such as
    `512m`; at most binaryFile's 2 GiB) or EXECUTOR_HASH_LIMIT."""
    given = spark_session(master).conf.get(HASH_LIMIT_SETTING, None)
    if given is None:
        return EXECUTOR_HASH_LIMIT
    found = _SIZE.fullmatch(given.strip())
    if found is None:
        raise UnsupportedError(
            f"{HASH_LIMIT_SETTING} = {given!r}: give the largest file Spark's executors may "
            "hash (each held whole in an executor's memory) in bytes, or with k, m or g (512m)."
        )
    number, unit = found.groups()
    return min(int(number) << {"": 0, "k": 10, "m": 20, "g": 30}[unit.lower()], _BINARY_FILE_LIMIT)


# A pattern character of a file's name as `file_literal` escapes it for DuckDB (`[[]`), and the
# characters Hadoop's paths take as a pattern (escaped with a backslash).
_DUCKDB_ESCAPED = re.compile(rf"\[([{re.escape(PATTERN_CHARACTERS)}])\]")
_HADOOP_PATTERN = re.compile(r"[\[\]*?{}\\]")
_HADOOP_ESCAPE = re.compile(r"\\(.)")


def executor_sha256s(
    master: str, store: Store, paths: list[str], sizes: dict[str, int]
) -> dict[str, str]:
    """The sha256 of lake files `paths` (relative to the lake), computed by Spark's executors
    in one job where the files are: the files of `hash_limit` bytes or fewer, by `sizes` (the
    others, and every file when the job fails, are left to the caller)."""
    limit = hash_limit(master)
    wanted = {
        store.location(path): path for path in paths if path in sizes and sizes[path] <= limit
    }
    return _hashed_by_executors(master, wanted, store.prefix)


def object_sha256s(master: str, sizes: dict[str, int]) -> dict[str, str]:
    """The sha256 of the objects whose URIs are keys of `sizes` (`s3://...`), as
    `executor_sha256s` computes them (one job per scheme)."""
    found: dict[str, str] = {}
    limit = hash_limit(master)
    schemes = {uri.split("://", 1)[0] for uri in sizes}
    for scheme in sorted(schemes):
        wanted = {
            uri: uri
            for uri, size in sizes.items()
            if uri.startswith(f"{scheme}://") and size <= limit
        }
        found.update(_hashed_by_executors(master, wanted, f"{scheme}://"))
    return found


def _hashed_by_executors(master: str, wanted: dict[str, str], prefix: str) -> dict[str, str]:
    """Key -> sha256 of the files `wanted` (location -> key), hashed by the executors; those
    whose names start with `prefix` as given back by Spark (`as_given`)."""
    from pyspark.sql import functions as F

    if not wanted:
        return {}
    session = spark_session(master)
    try:
        rows = (
            session.read.format("binaryFile")
            .option(*READ_HIDDEN_FILES)  # (files named: a `_` name is hashed here too)
            .option("recursiveFileLookup", "true")  # (no folder columns: the files only)
            .load([hadoop_path(_HADOOP_PATTERN.sub(r"\\\g<0>", path)) for path in wanted])
            .select("path", F.sha2("content", 256))
            .collect()
        )
    except Exception:  # (the gateway's failures have no common base class)
        return {}
    found: dict[str, str] = {}
    for uri, digest in rows:
        # (the names as given, or percent-encoded: Spark's sources differ)
        given = as_given(uri, prefix)
        path = wanted.get(given) or wanted.get(unquote(given))
        if path is not None:
            found[path] = digest
    return found


# -- helpers ---------------------------------------------------------------------------------


def _numbered_reader(select: exp.Select) -> exp.Table | None:
    """The text reader of `SELECT *, row_number() OVER () - 1 AS file_row_number FROM reader`
    (what `ingest.formats.base.numbered` writes for a CSV or JSON file), else None."""
    items = select.expressions
    source = select.args.get("from_") or select.args.get("from")
    if len(items) != 2 or not isinstance(items[0], exp.Star) or source is None:
        return None
    if select.args.get("joins") or select.args.get("where"):
        return None
    alias = items[1]
    if not (isinstance(alias, exp.Alias) and alias.alias == ROW_POSITION):
        return None
    value = alias.this
    if not (isinstance(value, exp.Sub) and isinstance(value.this, exp.Window)):
        return None
    window = value.this
    if not isinstance(window.this, exp.RowNumber) or window.args.get("partition_by"):
        return None
    if window.args.get("order"):
        return None
    table = source.this
    if not isinstance(table, exp.Table):
        return None
    reader = table.this
    is_text = isinstance(reader, exp.ReadCSV) or (
        isinstance(reader, exp.Anonymous) and reader.name.lower() in ("read_json", "read_json_auto")
    )
    return table if is_text else None


def _visible_ctes(node: exp.Expression) -> list[exp.CTE]:
    """Copies of the CTEs a node can name: those of every enclosing WITH, but in a WITH the
    node is part of, only the ones before its own CTE (a CTE sees only earlier ones)."""
    path: list[exp.Expr] = []
    at: exp.Expr | None = node
    while at is not None:
        path.append(at)
        at = at.parent
    found: dict[str, exp.CTE] = {}
    for ancestor in reversed(path):  # outermost first: an inner WITH shadows an outer one
        with_ = ancestor.args.get("with_") if isinstance(ancestor, exp.Query) else None
        if not isinstance(with_, exp.With):
            continue
        for cte in with_.expressions:
            if any(cte is p for p in path):
                break
            found[cte.alias_or_name] = cte.copy()
    return list(found.values())


def _is_setting(statement: exp.Expression) -> bool:
    text = statement.sql("duckdb").strip().upper()
    return text.startswith(("SET ", "PRAGMA ", "RESET "))


def _literal_value(node: exp.Expression) -> Any:
    if isinstance(node, exp.Boolean):
        return node.this
    if isinstance(node, exp.Literal):
        return node.this if node.is_string else Decimal(node.this)
    if isinstance(node, exp.Array):
        return [_literal_value(e) for e in node.expressions]
    if isinstance(node, exp.Struct):
        found = {}
        for pair in node.expressions:
            key = (
                pair.this.name
                if isinstance(pair.this, exp.Identifier | exp.Literal)
                else str(pair.this)
            )
            value = pair.expression
            found[key] = value.this if isinstance(value, exp.Literal) else value.sql("duckdb")
        return found
    if isinstance(node, exp.Null):
        return None
    return node.sql("duckdb")


def _function_args(args: list[exp.Expression]) -> tuple[list[str], dict[str, Any]]:
    paths: list[str] = []
    options: dict[str, Any] = {}
    for arg in args:
        if isinstance(arg, exp.EQ | exp.PropertyEQ):
            options[arg.this.name.lower()] = _literal_value(arg.expression)
        else:
            value = _literal_value(arg)
            paths.extend(value if isinstance(value, list) else [value])
    return [str(p) for p in paths], options


def _common_hive_base(paths: list[str]) -> str | None:
    """The folder above the first `key=value` folder of the paths (Spark's basePath)."""
    bases = set()
    for path in paths:
        parts = path.split("/")
        cut = next((i for i, p in enumerate(parts) if "=" in p), None)
        if cut is None:
            return None
        bases.add("/".join(parts[:cut]))
    return bases.pop() if len(bases) == 1 else None


def _named_files(reader: Any, paths: list[str]) -> Any:
    """`reader` told to leave out no file of `paths`, when they name files (not folders or
    patterns, in which Hadoop's hidden files are left out as they should be)."""
    named = all(  # (a file's own pattern characters are escaped: `file_pattern`)
        p.lower().endswith(_FILE_SUFFIXES)
        and not any(c in _DUCKDB_ESCAPED.sub("", p) for c in PATTERN_CHARACTERS)
        for p in paths
    )
    return reader.option(*READ_HIDDEN_FILES) if paths and named else reader


# What a file's name ends with (a folder's does not: see write_parquet_file).
_FILE_SUFFIXES = (".parquet", ".pq", ".csv", ".gz", ".json", ".jsonl", ".ndjson", ".txt")


def _refuse_skipped(frame: DataFrame, located: list[str]) -> DataFrame:
    """`frame`, unless Spark left out one of the named files whose names start with `_` or
    `.` (a Spark without the read option of READ_HIDDEN_FILES does)."""
    hidden = {
        name: p
        for p in located  # (a pattern character's escape is not part of the name)
        if (name := _HADOOP_ESCAPE.sub(r"\1", p.rsplit("/", 1)[-1])).startswith(HIDDEN_NAME)
        and name.lower().endswith(_FILE_SUFFIXES)
    }
    if not hidden:
        return frame
    read: set[str] = set()
    for uri in frame.inputFiles():  # (URIs, the names percent-encoded or not)
        name = uri.rsplit("/", 1)[-1]
        read |= {name, unquote(name)}
    left_out = sorted(name for name in hidden if name not in read)
    if left_out:
        shown = _HADOOP_ESCAPE.sub(r"\1", hidden[left_out[0]])
        raise UnsupportedError(
            f"{shown}: this Spark leaves out files whose names start "
            "with '_' or '.', even when named (it has no read option "
            f"{READ_HIDDEN_FILES[0]}), so it would read as if the file were not there. Run "
            "this command with the default engine, or on a newer Spark."
        )
    return frame


def _looks_like_file(name: str) -> bool:
    return "/" in name or name.lower().endswith((".parquet", ".pq"))


def _spark_type(data_type: exp.DataType) -> str:
    from cloudtally.engine.dialect import to_spark_tree

    cast = to_spark_tree(exp.Cast(this=exp.null(), to=data_type.copy()))
    if isinstance(cast, exp.Cast):
        return cast.args["to"].sql("spark")
    return "STRING"


def _bind(statement: exp.Expression, parameters: list[Any]) -> None:
    placeholders = list(statement.find_all(exp.Placeholder, bfs=False))
    if len(placeholders) != len(parameters):
        raise SparkQueryError(f"{len(parameters)} parameters for {len(placeholders)} placeholders.")
    for node, value in zip(placeholders, parameters, strict=True):
        node.replace(_to_literal(value))


def _to_literal(value: Any) -> exp.Expression:
    if value is None:
        return exp.null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    if isinstance(value, Decimal):
        _sign, digits, exponent = value.as_tuple()
        scale = max(0, -int(exponent))
        precision = max(len(digits), scale + 1)
        return exp.cast(exp.Literal.string(str(value)), f"DECIMAL({min(precision, 38)},{scale})")
    if isinstance(value, datetime):
        return exp.cast(exp.Literal.string(value.isoformat()), "TIMESTAMPTZ")
    if isinstance(value, date):
        return exp.cast(exp.Literal.string(value.isoformat()), "DATE")
    return exp.Literal.string(str(value))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def hadoop_path(path: str) -> str:
    """`path` as Spark's filesystems name it (`s3://bucket/x` is `s3a://bucket/x` to Hadoop's
    S3A connector)."""
    for given, hadoop in HADOOP_SCHEMES.items():
        if path.startswith(given):
            return hadoop + path[len(given) :]
    return path


def as_given(uri: str, prefix: str) -> str:
    """A file's name as Spark gives it back (`file:/...` for a local file, `s3a://...` for a
    file of an `s3://` lake) as the lake names it (`prefix`: `Store.prefix`); not decoded."""
    if uri.startswith("file:"):
        return "/" + uri[5:].lstrip("/")
    for given, hadoop in HADOOP_SCHEMES.items():
        if prefix.startswith(given) and uri.startswith(hadoop):
            return given + uri[len(hadoop) :]
    return uri


def local_path(uri: str) -> str:
    """A `file:` URI Spark reports as a plain path."""
    if uri.startswith("file:"):
        uri = uri[5:]
        while uri.startswith("//"):
            uri = uri[1:]
    return unquote(uri)


def lake_connection(engine: Any, store: Any, catalog: Any) -> SparkConnection:
    """A Spark connection with the view `costs` over the catalog's live files (Hive folders
    under the lake give x_Provider and x_BillingPeriod, as DuckDB reads them) and a view per
    derived dataset: the same views `Store.connect` gives on DuckDB."""
    from cloudtally.focus.canonical import CANONICAL, empty_select
    from cloudtally.store.catalog import REBUILDABLE
    from cloudtally.store.verify import footer_problem

    con = SparkConnection(spark_session(engine.master), store)
    files = [store.location(path) for path in catalog.live_files()]
    try:
        if not files:
            con.execute(f"CREATE VIEW costs AS {empty_select()}")
        else:
            hive = catalog.format_version >= 2
            frame = con.read_parquet(files, base_path=store.location("lake") if hive else None)
            canonical = [c.name for c in CANONICAL]
            if "x_LineNo" not in frame.columns:  # a lake ingested before x_LineNo
                from pyspark.sql import functions as F

                frame = frame.withColumn("x_LineNo", F.lit(None).cast("bigint"))
            extra = [c for c in frame.columns if c not in canonical]
            con.create_view("costs", frame.select(*(f"`{c}`" for c in [*canonical, *extra])))
        for name, dataset in catalog.derived.items():
            paths = [store.location(f) for f in dataset.files]
            if dataset.parameters.get(REBUILDABLE) == "true" and any(
                footer_problem(store, f) for f in dataset.files
            ):
                continue  # a damaged summary: no view, its readers read the lake
            con.create_view(name, con.read_parquet(paths))
    except Exception as exc:
        if not type(exc).__module__.startswith(("pyspark", "py4j")):
            raise
        from cloudtally.store.store import Store
        from cloudtally.store.verify import damaged_error, damaged_files

        changed = store.changed_since(catalog)
        if changed is not None:
            raise changed from None
        # A live file missing or damaged: the same message as on DuckDB (checked by DuckDB).
        problems = damaged_files(Store(store.where), catalog)
        if problems:
            raise damaged_error(problems) from None
        if store.objects:
            raise StoreError(
                f"Spark cannot read the lake at {store.where} ({_first_line(exc)}). Spark reads "
                f"{hadoop_path(store.where).split(':')[0]}:// through its Hadoop connector: give "
                "the session the connector's jar and the store's credentials (spark-defaults."
                "conf, PYSPARK_SUBMIT_ARGS or the platform's settings; docs/scale.md)."
            ) from None
        raise StoreError(
            f"Spark cannot read the lake at {store.data_dir} ({_first_line(exc)}). The lake's "
            f"folder must be readable at the same path by the Spark driver and every executor "
            f"(with --spark-master {engine.master}: a shared or mounted filesystem); if files "
            "were removed by hand, re-ingest the affected exports with the default engine."
        ) from None
    return con
