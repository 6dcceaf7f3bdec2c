"""What `cloudtally sql` lets a user's SQL do: read the lake, nothing else.

Four fences, each enough on its own for the cases it covers:

1. Statements: only SELECT (with DESCRIBE, SUMMARIZE, SHOW, PIVOT ... IN, which parse as
   SELECT) and EXPLAIN [ANALYZE] of a SELECT. EXPLAIN ANALYZE runs the statement it explains,
   so its inner statement is held to the same rule (it once let `COPY ... TO` a lake file).
2. Table functions: only those that read or compute (read_parquet, range, duckdb_columns,
   ...), found in the statement's parse tree wherever they are nested. `checkpoint()`,
   `enable_logging(...)`, `query('...')` (SQL hidden in a string) and any function this list
   does not know are refused.
3. The engine: no file outside the lake folder can be opened (`enable_external_access`
   off, `allowed_directories` the lake), no extension installed or loaded, no Python
   variable scanned, and the configuration locked so no statement can undo it.
4. Nothing is built from the user's text: it is handed to DuckDB as it is.

DuckDB has no read-only grant for a directory (an allowed directory can be written), which is
why fences 1 and 2 allow statements and functions by name rather than refuse the writing ones.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from cloudtally.errors import QueryError

READ_ONLY_HINT = "Use SELECT (or EXPLAIN SELECT); change data with `cloudtally ingest`."

# Table functions a query may call: they read (within the lake, fence 3), generate rows or
# describe the catalog. Anything else is refused by name.
READING_TABLE_FUNCTIONS = frozenset(
    {
        # files (the engine allows the lake folder only)
        "read_parquet", "parquet_scan", "parquet_metadata", "parquet_schema",
        "parquet_file_metadata", "parquet_kv_metadata", "read_csv", "read_csv_auto",
        "sniff_csv", "read_json", "read_json_auto", "read_ndjson", "read_ndjson_auto",
        "read_json_objects", "read_json_objects_auto", "read_ndjson_objects", "read_text",
        "read_blob", "glob",
        # rows computed from arguments
        "range", "generate_series", "unnest", "repeat", "repeat_row", "json_each", "json_tree",
        "summary", "histogram", "histogram_values",
        # the catalog and the engine, described
        "duckdb_columns", "duckdb_constraints", "duckdb_databases", "duckdb_dependencies",
        "duckdb_functions", "duckdb_indexes", "duckdb_keywords", "duckdb_optimizers",
        "duckdb_schemas", "duckdb_sequences", "duckdb_settings", "duckdb_tables",
        "duckdb_types", "duckdb_variables", "duckdb_views", "pragma_table_info", "table_info",
        "pragma_version", "pragma_platform", "pragma_show", "show", "show_tables",
        "pg_timezone_names", "icu_calendar_names",
    }
)  # fmt: skip

_ALLOWED = {duckdb.StatementType.SELECT}


def read_only_statements(query: str) -> list[str]:
    """The statements of `query`, each checked to only read; QueryError names the first that
    does not."""
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise QueryError(f"SQL does not parse: {first_line(exc)}") from None
    if not statements:
        raise QueryError("No SQL statement given.")
    checked = []
    for statement in statements:
        kind = _type(statement)
        if kind is None:
            # A statement the Python client cannot even name (e.g. UPDATE EXTENSIONS).
            raise QueryError(
                f"`cloudtally sql` is read-only: this statement is refused. {READ_ONLY_HINT}"
            )
        if kind == duckdb.StatementType.EXPLAIN:
            inner = _explained(statement.query)
            explained = None if inner is None else _type(inner)
            if inner is None or explained not in _ALLOWED:
                what = "this" if explained is None else _a(explained.name)
                raise QueryError(
                    f"`cloudtally sql` is read-only: EXPLAIN of {what} statement is refused "
                    "(EXPLAIN ANALYZE runs the statement it explains). EXPLAIN a SELECT."
                )
            _check_table_functions(inner.query)
        elif kind in _ALLOWED:
            _check_table_functions(statement.query)
        else:
            raise QueryError(
                f"`cloudtally sql` is read-only: {_a(kind.name)} statement is refused. "
                + READ_ONLY_HINT
            )
        checked.append(statement.query)
    return checked


def lock_down(con: duckdb.DuckDBPyConnection, *readable: Path | str) -> None:
    """Fence 3: `con` can open files under the `readable` folders only (one folder, under
    each of the names an engine may give it), load nothing, change nothing."""
    from cloudtally.sqltext import literal

    folders = ", ".join(literal(str(folder) + "/") for folder in readable)
    for setting in (
        f"SET allowed_directories = [{folders}]",
        "SET enable_external_access = false",
        "SET autoinstall_known_extensions = false",
        "SET autoload_known_extensions = false",
        "SET allow_community_extensions = false",
        "SET python_enable_replacements = false",
        "SET lock_configuration = true",
    ):
        con.execute(setting)


def _explained(text: str) -> duckdb.Statement | None:
    """The statement an EXPLAIN statement explains (None when it cannot be found)."""
    tokens = [
        (offset, kind)
        for offset, kind in duckdb.tokenize(text)
        if kind != duckdb.token_type.comment
    ]
    if not tokens or text[tokens[0][0] :][:7].upper() != "EXPLAIN":
        return None
    n = 1
    while n < len(tokens):
        offset, _ = tokens[n]
        word = text[offset : offset + 7].upper()
        if word.startswith(("ANALYZE", "ANALYSE")):
            n += 1
        elif text[offset] == "(" and tokens[n][1] == duckdb.token_type.operator:
            depth = 0
            while n < len(tokens):
                o, kind = tokens[n]
                if kind == duckdb.token_type.operator:
                    depth += text[o : o + 1] == "("
                    depth -= text[o : o + 1] == ")"
                n += 1
                if depth == 0:
                    break
        else:
            break
    if n >= len(tokens):
        return None
    try:
        inner = duckdb.extract_statements(text[tokens[n][0] :])
    except (duckdb.Error, ValueError):
        return None
    return inner[0] if len(inner) == 1 else None


def _check_table_functions(query: str) -> None:
    tree = json.loads(
        duckdb.connect().execute("SELECT json_serialize_sql(?)", [query]).fetchone()[0]  # type: ignore[index]
    )
    if tree.get("error"):
        raise QueryError(
            "`cloudtally sql` cannot check this statement: "
            f"{tree.get('error_message') or 'it does not serialize'}. {READ_ONLY_HINT}"
        )
    for name in sorted(_table_functions(tree)):
        if name.lower() not in READING_TABLE_FUNCTIONS:
            raise QueryError(
                f"`cloudtally sql` is read-only: the table function {name}() is refused "
                "(it does more than read, or is not known to only read). Query the views "
                "(`costs`, ...) or the lake's files with read_parquet."
            )


def _table_functions(node: object) -> set[str]:
    found: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("type") == "TABLE_FUNCTION":
                function = item.get("function") or {}
                found.add(str(function.get("function_name", "")))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _type(statement: duckdb.Statement) -> duckdb.StatementType | None:
    try:
        return statement.type
    except ValueError:
        return None


def _a(word: str) -> str:
    return f"{'an' if word[:1] in 'AEIOU' else 'a'} {word}"


def first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
