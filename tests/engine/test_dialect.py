"""Each difference between DuckDB and Spark that `cloudtally/engine/dialect.py` handles, as a
known answer: the same DuckDB SQL gives the same value on both engines."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import duckdb
import pytest

from cloudtally.engine import SparkEngine
from cloudtally.engine.dialect import transpile
from cloudtally.errors import UnsupportedError

# (what it pins, DuckDB SQL, the value both engines must give)
CASES: list[tuple[str, str, Any]] = [
    (
        "decimal product keeps every digit",
        "CAST('1.000000000000000001' AS DECIMAL(38,18)) * CAST(3 AS DECIMAL(38,0))",
        Decimal("3.000000000000000003"),
    ),
    (
        "price x quantity (converters' times) rounds only at the 18th place",
        "CAST(CAST('0.12345678901234' AS DECIMAL(38,14)) * CAST('3.000000000001' AS DECIMAL(38,12))"
        " AS DECIMAL(38,18))",
        Decimal("0.370370367037143457"),
    ),
    (
        "text to decimal rounds half up at 18",
        "CAST('-1.0000000000000000005' AS DECIMAL(38,18))",
        Decimal("-1.000000000000000001"),
    ),
    ("HUGEINT // truncates toward zero", "CAST(CAST(-7 AS HUGEINT) // 2 AS VARCHAR)", "-3"),
    (
        "HUGEINT // beyond LONG",
        "CAST(CAST('-1700000000000000000000000000' AS HUGEINT) // 3 AS VARCHAR)",
        "-566666666666666666666666666",
    ),
    ("one-value ENUM is its text", "CAST('aws' AS ENUM('aws'))", "aws"),
    ("MAP literal lookup", "MAP {'a': 'x', 'b': 'y'}['b']", "y"),
    ("MAP lookup of an absent key is NULL", "MAP {'a': 'x'}['q']", None),
    ("empty MAP is NULLIF'd", "NULLIF(MAP {'a': 'x'}, MAP {})", {"a": "x"}),
    ("list index is 1-based", "[10, 20, 30][2]", 20),
    ("list index out of range is NULL", "[10, 20][5]", None),
    ("computed list index", "([10, 20, 30])[1 + 2]", 30),
    ("list_position NULL when absent", "list_position(['a', 'b'], 'c')", None),
    ("list_position", "list_position(['a', 'b'], 'b')", 2),
    ("text slice", "'user_team'[6:]", "team"),
    ("text slice with an end", "'abcdef'[2:4]", "bcd"),
    ("regexp_replace replaces the first match", "regexp_replace('aXbX', 'X', 'Y')", "aYbX"),
    ("regexp_replace 'g' replaces all", "regexp_replace('aXbX', 'X', 'Y', 'g')", "aYbY"),
    (
        "regexp_replace back-references",
        "regexp_replace('Lambda-GB-Seconds', '^[A-Za-z]+-([KMGTPE]i?[Bb])-(Seconds)$', '\\1-\\2')",
        "GB-Seconds",
    ),
    (
        "regexp_replace first match with groups",
        "regexp_replace('x GB Hours y', '(GB) (Hours)', '\\1-\\2')",
        "x GB-Hours y",
    ),
    ("GLOB", "'web-01' GLOB 'web-*' AND NOT ('api-01' GLOB 'web-?')", True),
    ("ISO week", "strftime(TIMESTAMPTZ '2024-12-30 10:00:00+00', '%G-W%V')", "2025-W01"),
    ("month", "strftime(TIMESTAMPTZ '2024-12-30 10:00:00+00', '%Y-%m')", "2024-12"),
    (
        "wall time read as UTC",
        "timezone('UTC', CAST(DATE '2024-03-10' AS TIMESTAMP))",
        datetime(2024, 3, 10, tzinfo=UTC),
    ),
    (
        "one-digit month/day parse",
        "CAST(try_strptime('9/1/2023', '%m/%d/%Y') AS DATE)",
        datetime(2023, 9, 1).date(),
    ),
    ("failed parse is NULL", "try_strptime('nope', '%Y-%m-%d')", None),
    (
        "JSON object text to MAP",
        'CAST(CAST(\'{"team": "web", "n": 5}\' AS JSON) AS MAP(VARCHAR, VARCHAR))',
        {"team": "web", "n": "5"},
    ),
    (
        "from_json with DuckDB's structure",
        '(from_json(\'[{"key": "a", "value": "b"}]\', \'[{"key":"VARCHAR","value":"VARCHAR"}]\'))[1].value',
        "b",
    ),
    (
        "list_sum of money",
        "list_sum([CAST('0.1' AS DECIMAL(38,18)), NULL, CAST('0.2' AS DECIMAL(38,18))])",
        Decimal("0.300000000000000000"),
    ),
    (
        "list lambdas: the first matching tag spelling",
        "(list_sort(list_transform(list_filter(map_entries(MAP {'Team': ' web ', 'x': 'y'}), "
        "lambda e: list_contains(['team'], lower(trim(e.key)))), "
        "lambda e: {'p': list_position(['team'], lower(trim(e.key))), 'v': e.value}))[1]).v",
        " web ",
    ),
    ("FILTER clause", "(SELECT sum(v) FILTER (WHERE v > 1) FROM (VALUES (1), (2), (3)) t(v))", 5),
    (
        "ORDER BY puts NULLs last",
        "(SELECT string_agg(v, ',' ORDER BY v) FROM (VALUES ('b'), (NULL), ('a')) t(v))",
        "a,b",
    ),
    ("quote and backslash in a literal", "'o''brien\\n'", "o'brien\\n"),
]


@pytest.fixture(scope="module")
def answers(spark_engine: SparkEngine) -> dict[str, tuple[Any, Any]]:
    """Every case's value on DuckDB and on Spark (one query per engine)."""
    select = "SELECT " + ", ".join(f"{sql} AS c{n}" for n, (_, sql, _) in enumerate(CASES))
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    on_duckdb = con.execute(select).fetchone()
    from cloudtally.engine.spark import SparkConnection, spark_session

    on_spark = SparkConnection(spark_session(spark_engine.master)).execute(select).fetchone()
    assert on_duckdb is not None and on_spark is not None
    return {name: (on_duckdb[n], on_spark[n]) for n, (name, _, _) in enumerate(CASES)}


@pytest.mark.spark
@pytest.mark.parametrize(
    ("name", "expected"), [(c[0], c[2]) for c in CASES], ids=[c[0] for c in CASES]
)
def test_both_engines_give_the_known_answer(
    answers: dict[str, tuple[Any, Any]], name: str, expected: Any
) -> None:
    on_duckdb, on_spark = answers[name]
    assert on_duckdb == expected
    assert on_spark == expected


def test_transpiled_text_has_no_duckdb_only_syntax() -> None:
    sql = transpile(
        "SELECT CAST(x AS HUGEINT) // 2 AS h, CAST('a' AS ENUM('a')) AS e, Tags['team'] AS t "
        "FROM costs GROUP BY ALL"
    )
    assert sql == (
        "SELECT CAST((CAST(x AS DECIMAL(38, 0)) - (CAST(x AS DECIMAL(38, 0)) % 2)) / "
        "CAST(2 AS DECIMAL(20, 0)) AS DECIMAL(38, 0)) AS h, 'a' AS e, "
        "TRY_ELEMENT_AT(Tags, 'team') AS t FROM costs GROUP BY ALL"
    )


def test_what_cannot_go_to_spark_is_refused_by_name() -> None:
    with pytest.raises(UnsupportedError, match="only text slices go to Spark"):
        transpile("SELECT [1, 2, 3][2:]")
    with pytest.raises(UnsupportedError, match="GLOB with a computed pattern"):
        transpile("SELECT a GLOB b FROM t")
