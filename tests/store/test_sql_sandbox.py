"""`cloudtally sql` only reads. A corpus of escape attempts, each refused with a message that
says why, and the data dir's bytes unchanged (every file hashed before and after), no file
written in the lake, beside it, or in the working directory."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudtally.errors import QueryError
from cloudtally.ingest.pipeline import ingest
from cloudtally.store import Store
from tests.conftest import FOCUS_10


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Store:
    store = Store(tmp_path_factory.mktemp("sandbox") / "data")
    ingest(store, [FOCUS_10])
    return store


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file under `folder` with the sha256 of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


@pytest.fixture
def untouched(lake: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Asserts after the test that nothing in the data dir changed and nothing was written
    outside it (a folder beside it, the working directory)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    monkeypatch.chdir(outside)
    before = fingerprint(lake.data_dir)
    assert before  # the lake's files are there to be protected
    yield outside
    assert fingerprint(lake.data_dir) == before
    assert list(outside.iterdir()) == []


def live_file(lake: Store) -> str:
    return str(lake.data_dir / lake.catalog().live_files()[0])


def a(kind: str) -> str:
    return ("an " if kind[0] in "AEIOU" else "a ") + kind


def statement(kind: str) -> str:
    return (
        f"`cloudtally sql` is read-only: {a(kind)} statement is refused. Use SELECT (or EXPLAIN "
        "SELECT); change data with `cloudtally ingest`."
    )


def explained(kind: str) -> str:
    return (
        f"`cloudtally sql` is read-only: EXPLAIN of {a(kind)} statement is refused (EXPLAIN "
        "ANALYZE runs the statement it explains). EXPLAIN a SELECT."
    )


def table_function(name: str) -> str:
    return (
        f"`cloudtally sql` is read-only: the table function {name}() is refused (it does more "
        "than read, or is not known to only read). Query the views (`costs`, ...) or the "
        "lake's files with read_parquet."
    )


def outside_file(lake: Store, path: str) -> str:
    return (
        f"`cloudtally sql` reads only the lake's files (under {lake.lake_dir}): {path} is "
        "refused. Query the views (`costs`, ...) instead."
    )


# (attempt, expected message); {live} is a live partition file, {lake} the lake folder,
# {data} the data dir, {out} a folder outside it.
ATTEMPTS = {
    # COPY, bare and in every wrapper
    "copy to the lake": ("COPY (SELECT 1) TO '{lake}/x.csv'", statement("COPY")),
    "copy over a live file": ("COPY (SELECT 1 AS a) TO '{live}' (FORMAT parquet)", statement("COPY")),
    "copy the view out": ("COPY costs TO '{out}/costs.parquet'", statement("COPY")),
    "copy into the view": ("COPY costs FROM '{live}'", statement("COPY")),
    "explain copy": ("EXPLAIN COPY (SELECT 1) TO '{lake}/x.csv'", explained("COPY")),
    "explain analyze copy over a live file": (
        "EXPLAIN ANALYZE COPY (SELECT 1 AS a) TO '{live}' (FORMAT parquet)", explained("COPY")),
    "explain analyse copy": ("EXPLAIN ANALYSE COPY (SELECT 1) TO '{lake}/x.csv'", explained("COPY")),
    "lower case": ("explain analyze copy (select 1) to '{lake}/x.csv'", explained("COPY")),
    "explain (analyze) copy": ("EXPLAIN (ANALYZE) COPY (SELECT 1) TO '{lake}/x.csv'", explained("COPY")),
    "explain (analyze, format json) copy": (
        "EXPLAIN (ANALYZE, FORMAT JSON) COPY (SELECT 1) TO '{lake}/x.csv'", explained("COPY")),
    "explain analyze (format json) copy": (
        "EXPLAIN ANALYZE (FORMAT JSON) COPY (SELECT 1) TO '{lake}/x.csv'", explained("COPY")),
    "comments between the words": (
        "/* a */ EXPLAIN /* b */ ANALYZE -- c\n COPY (SELECT 1) TO '{lake}/x.csv'", explained("COPY")),
    "explain analyze create": (
        "EXPLAIN ANALYZE CREATE TABLE t AS SELECT * FROM costs", explained("CREATE")),
    "explain analyze insert": ("EXPLAIN ANALYZE INSERT INTO costs (BilledCost) VALUES (1)",
                               explained("INSERT")),
    "export database": ("EXPORT DATABASE '{out}/db'", statement("EXPORT")),
    "copy from database": ("COPY FROM DATABASE memory TO memory", statement("PRAGMA")),
    "copy hidden in query()": ("SELECT * FROM query('COPY (SELECT 1) TO ''{lake}/x.csv''')",
                               table_function("query")),
    "prepared copy": ("PREPARE p AS COPY (SELECT 1) TO '{lake}/x.csv'", statement("PREPARE")),
    # several statements
    "select then copy": ("SELECT 1; COPY (SELECT 1) TO '{lake}/x.csv'", statement("COPY")),
    "select then explain analyze copy": (
        "SELECT 1; EXPLAIN ANALYZE COPY (SELECT 1) TO '{live}'", explained("COPY")),
    "unlock then copy": ("SET lock_configuration = false; COPY (SELECT 1) TO '{out}/x.csv'",
                         statement("SET")),
    "copy after a comment that ends a line": ("SELECT 1 -- ;\n; COPY (SELECT 1) TO '{out}/x.csv'",
                                              statement("COPY")),
    # attach, install, load
    "attach a new database in the lake": ("ATTACH '{lake}/evil.duckdb' AS evil", statement("ATTACH")),
    "attach in memory": ("ATTACH ':memory:' AS m", statement("ATTACH")),
    "detach": ("DETACH memory", statement("DETACH")),
    "install": ("INSTALL httpfs", statement("LOAD")),
    "force install": ("FORCE INSTALL httpfs", statement("LOAD")),
    "load": ("LOAD httpfs", statement("LOAD")),
    "load a file": ("LOAD '{lake}/x.duckdb_extension'", statement("LOAD")),
    "update extensions": ("UPDATE EXTENSIONS", "`cloudtally sql` is read-only: this statement is "
                          "refused. Use SELECT (or EXPLAIN SELECT); change data with "
                          "`cloudtally ingest`."),
    # settings
    "set external access": ("SET enable_external_access = true", statement("SET")),
    "reset allowed directories": ("RESET allowed_directories", statement("SET")),
    "set profiling output": ("SET profiling_output = '{lake}/profile.json'", statement("SET")),
    "set global": ("SET GLOBAL threads = 1", statement("SET")),
    "set variable": ("SET VARIABLE x = 1", statement("SET")),
    "use": ("USE memory", statement("SET")),
    # pragma and call
    "pragma profiling": ("PRAGMA enable_profiling", statement("PRAGMA")),
    "pragma profile output": ("PRAGMA profile_output = '{lake}/p.json'", statement("SET")),
    "call checkpoint": ("CALL checkpoint()", statement("CALL")),
    "checkpoint": ("CHECKPOINT", statement("CALL")),
    "call enable_logging": (
        "CALL enable_logging(storage = 'file', storage_path = '{lake}/log')", statement("CALL")),
    # changing the catalog
    "replace the view": ("CREATE OR REPLACE VIEW costs AS SELECT 1 AS BilledCost", statement("CREATE")),
    "create table": ("CREATE TABLE t AS SELECT * FROM costs", statement("CREATE")),
    "create secret": ("CREATE SECRET s (TYPE s3, KEY_ID 'a', SECRET 'b')", statement("CREATE")),
    "drop the view": ("DROP VIEW costs", statement("DROP")),
    "insert": ("INSERT INTO costs (BilledCost) VALUES (1)", statement("INSERT")),
    "delete": ("DELETE FROM costs", statement("DELETE")),
    "update": ("UPDATE costs SET BilledCost = 0", statement("UPDATE")),
    "alter": ("ALTER VIEW costs RENAME TO old", statement("ALTER")),
    "vacuum": ("VACUUM", statement("VACUUM")),
    "transaction": ("BEGIN", statement("TRANSACTION")),
    "pivot without values (creates types)": (
        "PIVOT costs ON x_Provider USING sum(BilledCost)", statement("MULTI")),
    # table functions that write, change state or hide SQL
    "enable_logging to a file": (
        "SELECT * FROM enable_logging(storage = 'file', storage_path = '{lake}/log')",
        table_function("enable_logging")),
    "checkpoint()": ("SELECT * FROM checkpoint()", table_function("checkpoint")),
    "checkpoint() nested in a subquery": (
        "SELECT (SELECT count(*) FROM force_checkpoint()) AS n", table_function("force_checkpoint")),
    "checkpoint() in a CTE": (
        "WITH c AS (SELECT * FROM checkpoint()) SELECT * FROM costs, c", table_function("checkpoint")),
    "summarize of checkpoint()": ("SUMMARIZE SELECT * FROM checkpoint()", table_function("checkpoint")),
    "explain analyze of enable_logging": (
        "EXPLAIN ANALYZE SELECT * FROM enable_logging(storage = 'file', storage_path = '{lake}/l')",
        table_function("enable_logging")),
    "serialized sql": (
        "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('SELECT 1'))",
        table_function("json_execute_serialized_sql")),
    "truncate logs": ("SELECT * FROM truncate_duckdb_logs()", table_function("truncate_duckdb_logs")),
    "read a duckdb file": ("SELECT * FROM read_duckdb('{data}/state.duckdb')",
                           table_function("read_duckdb")),
    # table functions that read files outside the lake
    "read /etc/passwd": ("SELECT * FROM read_text('/etc/passwd')", "outside:/etc/passwd"),
    "read the catalog": ("SELECT * FROM read_json('{data}/catalog.json')", "outside:{data}/catalog.json"),
    "read the catalog through ..": (
        "SELECT * FROM read_text('{lake}/../catalog.json')", "outside:{lake}/../catalog.json"),
    "read the catalog by its name": ("SELECT * FROM '{data}/catalog.json'", "outside:{data}/catalog.json"),
    "read a blob outside": ("SELECT * FROM read_blob('{out}/../x')", "outside:{out}/../x"),
    "list the root": ("SELECT * FROM glob('/*')", "outside:/*"),
    "read a csv outside": ("SELECT * FROM read_csv('/etc/hostname')", "outside:/etc/hostname"),
    "read over http": ("SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')",
                       "outside:http://127.0.0.1:9/x.csv"),
}  # fmt: skip


@pytest.mark.parametrize("attempt", ATTEMPTS)
def test_escape_attempts_are_refused(lake: Store, untouched: Path, attempt: str) -> None:
    query, message = ATTEMPTS[attempt]
    values = {
        "live": live_file(lake),
        "lake": str(lake.lake_dir),
        "data": str(lake.data_dir),
        "out": str(untouched),
    }
    query = query.format(**values)
    message = message.format(**values)
    if message.startswith("outside:"):
        message = outside_file(lake, message.removeprefix("outside:"))
    with pytest.raises(QueryError) as refused:
        lake.sql(query)
    assert str(refused.value) == message
    assert not (lake.lake_dir / "x.csv").exists()


READS = {
    "a string that looks like a second statement": (
        "SELECT ';COPY (SELECT 1) TO ''x.csv''' AS s",
        [(";COPY (SELECT 1) TO 'x.csv'",)],
    ),
    "several selects: the last one's rows": ("SELECT 1; SELECT count(*) FROM costs", [(1000,)]),
    "describe": ("SELECT count(*) FROM (DESCRIBE costs) WHERE column_name = 'BilledCost'", [(1,)]),
    "pivot with its values": (
        "PIVOT (SELECT x_Provider FROM costs) ON x_Provider IN ('aws') USING count(*)",
        [(942,)],
    ),
    "the lake's files read directly": (
        "SELECT count(*) FROM read_parquet('{lake}/x_Provider=*/**/*.parquet', union_by_name = true)",
        [(1000,)],
    ),
    "a settings lookup": (
        "SELECT value FROM duckdb_settings() WHERE name = 'enable_external_access'",
        [("false",)],
    ),
}


@pytest.mark.parametrize("read", READS)
def test_reading_still_works(lake: Store, untouched: Path, read: str) -> None:
    query, expected = READS[read]
    assert lake.sql(query.format(lake=lake.lake_dir)).rows == expected


def test_explain_and_explain_analyze_of_a_select(lake: Store, untouched: Path) -> None:
    for query in (
        "EXPLAIN SELECT sum(BilledCost) FROM costs",
        "EXPLAIN ANALYZE SELECT sum(BilledCost) FROM costs",
        "/* x */ EXPLAIN (ANALYZE, FORMAT JSON) SELECT sum(BilledCost) FROM costs",
    ):
        result = lake.sql(query)
        assert result.columns == ["explain_key", "explain_value"]
        assert "costs" not in result.rows[0][0]  # a plan, not a refusal


def test_the_sandbox_cannot_be_undone_by_a_query(lake: Store, untouched: Path) -> None:
    assert lake.sql(
        "SELECT name, value FROM duckdb_settings() WHERE name IN ('lock_configuration', "
        "'autoload_known_extensions', 'autoinstall_known_extensions', "
        "'python_enable_replacements', 'disabled_optimizers') ORDER BY name"
    ).rows == [
        ("autoinstall_known_extensions", "false"),
        ("autoload_known_extensions", "false"),
        ("disabled_optimizers", "window_self_join"),
        ("lock_configuration", "true"),
        ("python_enable_replacements", "false"),
    ]
