"""The one place where Spark SQL differs from DuckDB's: the product's SQL is written once, in
DuckDB's dialect, and transpiled here with sqlglot. Every rewrite below is a difference the
product meets, each with a known-answer test in tests/engine/test_dialect.py that runs the
same DuckDB SQL on both engines.

| DuckDB                                   | Spark                                                 |
|------------------------------------------|-------------------------------------------------------|
| DECIMAL x DECIMAL keeps every digit       | the session runs with allowPrecisionLoss=false (see   |
|                                          | `SESSION_CONF`), so products keep their scale too      |
| HUGEINT, `a // b` (truncating)            | DECIMAL(38,0), `(a - a % b) / b`: exact, no LONG cast |
| `CAST('x' AS ENUM('x'))` (one-value ENUM) | the text itself                                       |
| `MAP {k: v}[key]`, `list[i]`, `map[key]`  | `map(k, v)`, `try_element_at` (NULL when absent, as    |
|                                          | DuckDB; Spark's `[]` fails under ANSI)                 |
| `list_position` (NULL when absent)        | `nullif(array_position(..), 0)`                        |
| `regexp_replace(s, p, r)` first match,    | a first-match pattern; `\\1` back-references as `$1`  |
| `\\1` back-references                     |                                                       |
| `timezone('UTC', ts)` (wall time -> UTC)  | `to_utc_timestamp`                                    |
| `strftime(ts, '%G-W%V')` (ISO week)       | `extract(YEAROFWEEK ..)`, `weekofyear`                |
| `x GLOB 'p*'`                             | `x RLIKE '^p.*$'`                                     |
| `error(msg)`                              | `raise_error(msg)`                                    |
| `CAST(text AS JSON)`                      | the text (Spark has no JSON type; DuckDB keeps it too) |
| `strptime` / `try_strptime`               | `to_timestamp` / `try_to_timestamp`                   |

Statements and table functions that need the session (COPY, temp tables, `read_parquet`,
`read_csv`, `* EXCLUDE/REPLACE`, `UNION ALL BY NAME`) are handled by the Spark connection
(`cloudtally/engine/spark.py`), which knows the columns of every relation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import sqlglot
from sqlglot import exp
from sqlglot.dialects.spark import Spark

from cloudtally.errors import UnsupportedError

# SQL settings every Spark session cloudtally uses has: money stays exact (DECIMAL products keep
# their scale and overflow loudly under ANSI instead of rounding to 6 places), time is UTC,
# timestamps are written as Parquet INT64 microseconds that DuckDB reads as TIMESTAMPTZ.
SESSION_CONF = {
    "spark.sql.decimalOperations.allowPrecisionLoss": "false",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.parquet.compression.codec": "zstd",
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
    "spark.sql.shuffle.partitions": "8",
    # map_concat: a key in both maps takes the later value, as in DuckDB.
    "spark.sql.mapKeyDedupPolicy": "LAST_WIN",
    # to_json keeps NULL fields, as DuckDB does.
    "spark.sql.jsonGenerator.ignoreNullFields": "false",
}


def _cast(node: exp.Expression) -> exp.Expression:
    to = node.args.get("to")
    if not isinstance(to, exp.DataType):
        return node
    if to.this == exp.DataType.Type.ENUM:
        return node.this
    if to.this == exp.DataType.Type.JSON:
        return exp.cast(node.this, "STRING")
    inner = node.this
    if (
        to.this == exp.DataType.Type.MAP
        and isinstance(inner, exp.Cast)
        and inner.args["to"].this in exp.DataType.TEXT_TYPES
    ):
        # JSON object text -> MAP: DuckDB casts (and fails on text that is not an object);
        # Spark parses with from_json, FAILFAST so bad text fails the same way.
        return exp.Anonymous(
            this="from_json",
            expressions=[
                inner,
                exp.Literal.string(to.sql("spark")),
                exp.Anonymous(
                    this="map",
                    expressions=[exp.Literal.string("mode"), exp.Literal.string("FAILFAST")],
                ),
            ],
        )
    if to.this in (exp.DataType.Type.INT128, exp.DataType.Type.UINT128):
        node.set("to", exp.DataType.build("DECIMAL(38,0)"))
    if to.this in exp.DataType.TEXT_TYPES and isinstance(inner, exp.Column | exp.Dot):
        # A column's type is known only to the session: a UTC timestamp reads as text with its
        # zone in DuckDB ('2024-05-01 09:07:00+00'), without it in Spark; typeof() is folded
        # when the query is planned.
        is_utc = exp.EQ(
            this=exp.Anonymous(this="typeof", expressions=[inner.copy()]),
            expression=exp.Literal.string("timestamp"),
        )
        zoned = exp.Concat(expressions=[node.copy(), exp.Literal.string("+00")])
        return exp.If(this=is_utc, true=zoned, false=node.copy())
    return node


def _int_div(node: exp.IntDiv) -> exp.Expression:
    """DuckDB's `//` truncates toward zero on any integer width; Spark's DIV returns a LONG and
    overflows past 9.2e18. `(a - a % b) / b` divides exactly (the remainder's sign follows `a`,
    as in DuckDB), and the dividend is exact, so rounding the quotient changes nothing."""
    a, b = node.this, node.expression
    dividend = exp.Sub(this=a.copy(), expression=exp.Paren(this=exp.Mod(this=a, expression=b)))
    divisor = exp.cast(b.copy(), "DECIMAL(20,0)")
    quotient = exp.Div(this=exp.Paren(this=dividend), expression=divisor)
    return exp.cast(quotient, "DECIMAL(38,0)")


def _map_literal(node: exp.ToMap) -> exp.Expression:
    """`MAP {'k': 'v', ...}` is parsed as ToMap(Struct); Spark writes `map('k', 'v', ...)`."""
    struct = node.this
    if isinstance(struct, exp.Bracket):  # MAP {..}[key] parses as ToMap(Bracket(Struct, key))
        inner = _map_literal(exp.ToMap(this=struct.this))
        return exp.Bracket(this=inner, expressions=struct.expressions)
    if not isinstance(struct, exp.Struct):
        return node
    args: list[exp.Expression] = []
    for pair in struct.expressions:
        if not isinstance(pair, exp.PropertyEQ):
            raise UnsupportedError(f"MAP literal entry {pair.sql('duckdb')} cannot go to Spark.")
        key = pair.this
        if isinstance(key, exp.Identifier):
            key = exp.Literal.string(key.name)
        args.extend([key, pair.expression])
    return exp.Anonymous(this="map", expressions=args)


def _bracket(node: exp.Bracket) -> exp.Expression:
    """`list[i]` (1-based) and `map[key]`: NULL when out of range or absent, like DuckDB.
    `text[a:]` / `text[a:b]`: the product slices text only (never lists), as substring."""
    if len(node.expressions) == 1 and isinstance(node.expressions[0], exp.Slice):
        bounds = node.expressions[0]
        start, end = bounds.this, bounds.expression
        if node.this.is_type(exp.DataType.Type.ARRAY) or not (
            isinstance(start, exp.Literal) and (end is None or isinstance(end, exp.Literal))
        ):
            raise UnsupportedError(f"{node.sql('duckdb')}: only text slices go to Spark.")
        # Slice bounds are kept as written (1-based, both inclusive), unlike a list index.
        first = int(start.this) if start.this != "" else 1
        args = [node.this, exp.Literal.number(first)]
        if end is not None:
            args.append(exp.Literal.number(int(end.this) - first + 1))
        return exp.Anonymous(this="substring", expressions=args)
    if len(node.expressions) != 1:
        raise UnsupportedError(f"{node.sql('duckdb')} does not go to Spark.")
    index = node.expressions[0]
    if isinstance(index, exp.Literal) and not index.is_string:
        # sqlglot stores a literal list index 0-based (DuckDB's [1] is parsed as 0); a computed
        # index or a map key is kept as written.
        index = exp.Literal.number(int(index.this) + 1)
    return exp.Anonymous(this="try_element_at", expressions=[node.this, index])


def _anonymous(node: exp.Anonymous) -> exp.Expression:
    name = node.name.lower()
    args = node.expressions
    if name == "list_position":
        position = exp.Anonymous(this="array_position", expressions=args)
        return exp.Nullif(this=position, expression=exp.Literal.number(0))
    if name == "timezone" and len(args) == 2:
        wall = exp.cast(args[1], "TIMESTAMP")
        return exp.Anonymous(this="to_utc_timestamp", expressions=[wall, args[0]])
    if name == "error":
        return exp.Anonymous(this="raise_error", expressions=args)
    if name == "map_extract_value" and len(args) == 2:
        return exp.Anonymous(this="try_element_at", expressions=args)
    if name == "list_sum" and len(args) == 1:
        return _list_sum(args[0])
    if name in ("strptime", "try_strptime") and len(args) == 2:
        fmt = args[1]
        if not isinstance(fmt, exp.Literal):
            raise UnsupportedError(f"{name} with a computed format does not go to Spark.")
        java = exp.Literal.string(_java_format(fmt.this, parsing=True))
        function = "to_timestamp" if name == "strptime" else "try_to_timestamp"
        return exp.Anonymous(this=function, expressions=[args[0], java])
    return node


def _list_sum(values: exp.Expression) -> exp.Expression:
    """list_sum: Spark has no array sum; `aggregate` needs one accumulator type, and the product
    sums money lists only, so the accumulator is the canonical DECIMAL(38,18). NULL elements are
    skipped and an empty list sums to NULL, as in DuckDB."""
    money = "DECIMAL(38,18)"
    total = exp.Anonymous(
        this="aggregate",
        expressions=[
            values.copy(),
            exp.cast(exp.Literal.number(0), money),
            exp.Lambda(
                this=exp.cast(
                    exp.Add(
                        this=exp.column("_acc"),
                        expression=exp.Coalesce(
                            this=exp.column("_x"), expressions=[exp.Literal.number(0)]
                        ),
                    ),
                    money,
                ),
                expressions=[exp.to_identifier("_acc"), exp.to_identifier("_x")],
            ),
        ],
    )
    present = exp.Anonymous(
        this="size",
        expressions=[exp.Anonymous(this="array_compact", expressions=[values.copy()])],
    )
    return exp.If(
        this=exp.GT(this=present, expression=exp.Literal.number(0)), true=total, false=exp.null()
    )


_JSON_TYPES = {
    "VARCHAR": "string",
    "DOUBLE": "double",
    "BIGINT": "bigint",
    "INTEGER": "int",
    "BOOLEAN": "boolean",
    "JSON": "string",
}


def _ddl(structure: object) -> str:
    if isinstance(structure, list) and len(structure) == 1:
        return f"array<{_ddl(structure[0])}>"
    if isinstance(structure, dict):
        fields = ", ".join(f"`{k}`: {_ddl(v)}" for k, v in structure.items())
        return f"struct<{fields}>"
    if isinstance(structure, str) and structure.upper() in _JSON_TYPES:
        return _JSON_TYPES[structure.upper()]
    if isinstance(structure, str):
        found = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", structure.strip().upper())
        if found:  # exact money from JSON numbers (GCP exports)
            return f"decimal({found.group(1)},{found.group(2)})"
    raise UnsupportedError(f"from_json structure {structure!r} does not go to Spark.")


def _from_json(text: exp.Expression, structure: str) -> exp.Expression:
    """DuckDB's from_json takes an example structure (`[{"key": "VARCHAR"}]`), Spark's a DDL
    type (`array<struct<key: string>>`); FAILFAST, as DuckDB fails on text that is not JSON."""
    try:
        parsed = json.loads(structure)
    except ValueError:
        raise UnsupportedError(f"from_json structure {structure!r} is not JSON.") from None
    return exp.Anonymous(
        this="from_json",
        expressions=[
            text,
            exp.Literal.string(_ddl(parsed)),
            exp.Anonymous(
                this="map", expressions=[exp.Literal.string("mode"), exp.Literal.string("FAILFAST")]
            ),
        ],
    )


# strftime/strptime directives -> Java DateTimeFormatter letters (Spark's patterns).
_JAVA = {
    "%Y": "yyyy",
    "%m": "MM",
    "%d": "dd",
    "%H": "HH",
    "%M": "mm",
    "%S": "ss",
    "%f": "SSSSSS",
    "%z": "XX",
    "%y": "yy",
    "%b": "MMM",
    "%B": "MMMM",
    "%j": "DDD",
    "%%": "%",
}


# Parsing: DuckDB's %m, %d, %H, ... accept one digit ("9/1/2023"); Java's one-letter patterns do
# (and two digits too), its two-letter ones do not.
_JAVA_PARSE = {**_JAVA, "%m": "M", "%d": "d", "%H": "H", "%M": "m", "%S": "s"}


def _java_format(fmt: str, parsing: bool = False) -> str:
    out = []
    tokens = [t for t in re.split(r"(%.)", fmt) if t]
    for n, token in enumerate(tokens):
        # A one-letter field is variable width: only between separators (`%Y%m` needs the
        # fixed `yyyyMM`).
        beside = [tokens[i] for i in (n - 1, n + 1) if 0 <= i < len(tokens)]
        table = _JAVA_PARSE if parsing and not any(b.startswith("%") for b in beside) else _JAVA
        if token.startswith("%") and len(token) == 2:
            if token not in table:
                raise UnsupportedError(f"The time format {token} has no Spark equivalent.")
            out.append(table[token])
        else:
            out.append(
                "'" + token.replace("'", "''") + "'" if re.search(r"[A-Za-z]", token) else token
            )
    return "".join(out)


def _strftime(node: exp.TimeToStr) -> exp.Expression:
    """strftime; ISO week-year and week (`%G`, `%V`) have no Spark pattern letter (Spark 3+
    refuses `Y` and `w`): they become extract(YEAROFWEEK) and weekofyear."""
    fmt = node.args.get("format")
    if not isinstance(fmt, exp.Literal):
        return node
    text = fmt.this
    if "%G" not in text and "%V" not in text:
        return exp.Anonymous(
            this="date_format", expressions=[node.this, exp.Literal.string(_java_format(text))]
        )
    parts: list[exp.Expression] = []
    for token in re.split(r"(%G|%V)", text):
        if not token:
            continue
        if token == "%G":
            parts.append(
                exp.cast(
                    exp.Extract(this=exp.var("YEAROFWEEK"), expression=node.this.copy()), "STRING"
                )
            )
        elif token == "%V":
            week = exp.cast(
                exp.Anonymous(this="weekofyear", expressions=[node.this.copy()]), "STRING"
            )
            parts.append(
                exp.Anonymous(
                    this="lpad", expressions=[week, exp.Literal.number(2), exp.Literal.string("0")]
                )
            )
        elif "%" in token:
            parts.append(
                exp.Anonymous(
                    this="date_format",
                    expressions=[node.this.copy(), exp.Literal.string(_java_format(token))],
                )
            )
        else:
            parts.append(exp.Literal.string(token))
    return exp.Anonymous(this="concat", expressions=parts)


def _glob_regex(pattern: str) -> str:
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "^" + "".join(out) + "$"


def _glob(node: exp.Glob) -> exp.Expression:
    pattern = node.expression
    if not isinstance(pattern, exp.Literal) or not pattern.is_string:
        raise UnsupportedError("GLOB with a computed pattern does not go to Spark.")
    return exp.RegexpLike(
        this=node.this, expression=exp.Literal.string("(?s)" + _glob_regex(pattern.this))
    )


def glob_as_regex(node: exp.Expression) -> exp.Expression:
    """`x GLOB 'p*'` as an anchored regular-expression match, for dialects without GLOB
    (BigQuery's REGEXP_CONTAINS, Snowflake's REGEXP_LIKE)."""
    if not isinstance(node, exp.Glob):
        return node
    pattern = node.expression
    if not isinstance(pattern, exp.Literal) or not pattern.is_string:
        raise UnsupportedError("GLOB with a computed pattern cannot be transpiled.")
    return exp.RegexpLike(this=node.this, expression=exp.Literal.string(_glob_regex(pattern.this)))


def replace_every_match(regex: str, replacement: str, flags: str) -> tuple[str, str]:
    """DuckDB's `regexp_replace(s, regex, replacement, flags)` as a pattern and replacement
    for a function that replaces every match (Spark's, BigQuery's), back-references still
    written `\\1`: DuckDB replaces the first match unless the 'g' option is given, so the
    pattern then consumes the shortest prefix before the match and the replacement puts it
    back; 'i' becomes an inline `(?i)`."""
    if "g" not in flags and not regex.startswith("^"):
        regex = f"(?s)^(.*?)(?:{regex})"
        replacement = "\\1" + re.sub(r"\\(\d)", lambda m: f"\\{int(m.group(1)) + 1}", replacement)
    return ("(?i)" if "i" in flags else "") + regex, replacement


def regexp_parts(node: exp.RegexpReplace, target: str) -> tuple[str, str, str]:
    """The literal pattern, replacement and flags of DuckDB's regexp_replace."""
    replacement = node.args.get("replacement")
    pattern = node.expression
    modifiers = node.args.get("modifiers")
    if not isinstance(replacement, exp.Literal) or not isinstance(pattern, exp.Literal):
        raise UnsupportedError(f"regexp_replace with a computed pattern cannot go to {target}.")
    flags = modifiers.this if isinstance(modifiers, exp.Literal) else ""
    return pattern.this, replacement.this, flags


def _regexp_replace(node: exp.RegexpReplace) -> exp.Expression:
    """Spark replaces every match and writes back-references `$1`."""
    regex, text = replace_every_match(*regexp_parts(node, "Spark"))
    text = re.sub(r"\$", r"\\$", text)
    text = re.sub(r"\\(\d)", r"$\1", text)
    return exp.Anonymous(
        this="regexp_replace",
        expressions=[node.this, exp.Literal.string(regex), exp.Literal.string(text)],
    )


def _empty_map(node: exp.Expression | None) -> bool:
    """MAP {} (already rewritten bottom-up into `map()`)."""
    return isinstance(node, exp.Anonymous) and node.name.lower() == "map" and not node.expressions


def _nullif(node: exp.Nullif) -> exp.Expression:
    """NULLIF(m, MAP {}): Spark cannot compare maps; an empty map is one of no entries."""
    if not _empty_map(node.expression):
        return node
    empty = exp.EQ(
        this=exp.Anonymous(this="cardinality", expressions=[node.this.copy()]),
        expression=exp.Literal.number(0),
    )
    return exp.If(this=empty, true=exp.null(), false=node.this.copy())


# `10:00Z`: DuckDB reads a time without seconds before a zone; Spark's cast needs the seconds.
MISSING_SECONDS = (r"([T ][0-9]{1,2}:[0-9]{2})(?=[^:0-9]|$)", "$1:00")


def _try_cast(node: exp.TryCast) -> exp.Expression:
    """TRY_CAST(text AS TIMESTAMP[TZ]): the product parses date-time text this way."""
    to = node.args.get("to")
    if isinstance(to, exp.DataType) and to.this in (
        exp.DataType.Type.TIMESTAMPTZ,
        exp.DataType.Type.TIMESTAMP,
    ):
        pattern, replacement = MISSING_SECONDS
        text = exp.Anonymous(
            this="regexp_replace",
            expressions=[
                exp.cast(node.this, "STRING"),
                exp.Literal.string(pattern),
                exp.Literal.string(replacement),
            ],
        )
        node.set("this", text)
    return node


def _rewrite(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.CTE) and node.args.get("materialized") is not None:
        node.set("materialized", None)  # DuckDB's [NOT] MATERIALIZED hint: Spark plans CTEs itself
        return node
    if isinstance(node, exp.TryCast):
        node = _try_cast(node)
    if isinstance(node, exp.Nullif):
        return _nullif(node)
    if isinstance(node, exp.Cast | exp.TryCast):
        return _cast(node)
    if isinstance(node, exp.IntDiv):
        return _int_div(node)
    if isinstance(node, exp.ToMap):
        return _map_literal(node)
    if isinstance(node, exp.Anonymous):
        return _anonymous(node)
    if isinstance(node, exp.FromJson) and isinstance(node.expression, exp.Literal):
        return _from_json(node.this, node.expression.this)
    if isinstance(node, exp.TimeToStr):
        return _strftime(node)
    if isinstance(node, exp.Glob):
        return _glob(node)
    if isinstance(node, exp.RegexpReplace):
        return _regexp_replace(node)
    return node


def _brackets(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.Bracket):
        return _bracket(node)
    return node


def bottom_up(
    tree: exp.Expression, rewrite: Callable[[exp.Expression], exp.Expression]
) -> exp.Expression:
    """Apply `rewrite` to every node, children before their parent (so a rewrite sees, and may
    copy, children that are already rewritten)."""
    for node in reversed(list(tree.walk(bfs=False))):
        if not isinstance(node, exp.Expression):  # pragma: no cover - every node is one
            continue
        new = rewrite(node)
        if new is not node:
            if node is tree:
                tree = new
            else:
                node.replace(new)
    return tree


def to_spark_tree(tree: exp.Expression) -> exp.Expression:
    """A DuckDB expression tree rewritten into one Spark generates correctly."""
    tree = bottom_up(tree, _rewrite)
    # Brackets last: the MAP literal rewrite above builds some.
    return bottom_up(tree, _brackets)


def parse(sql: str) -> list[exp.Expression]:
    """DuckDB SQL text as sqlglot trees (statements in order)."""
    return [s for s in sqlglot.parse(sql, read="duckdb") if isinstance(s, exp.Expression)]


def spark_sql(tree: exp.Expression) -> str:
    return to_spark_tree(tree.copy()).sql(dialect=Spark, unsupported_level=sqlglot.ErrorLevel.RAISE)


def transpile(sql: str, dialect: str = "spark") -> str:
    """One DuckDB SELECT as `dialect`'s SQL (Spark: with the rewrites above).

    >>> transpile("SELECT CAST(a AS HUGEINT) // 2 AS h, Tags['team'] AS t FROM costs")
    'SELECT CAST((CAST(a AS DECIMAL(38, 0)) - (CAST(a AS DECIMAL(38, 0)) % 2)) / CAST(2 AS DECIMAL(20, 0)) AS DECIMAL(38, 0)) AS h, TRY_ELEMENT_AT(Tags, \\'team\\') AS t FROM costs'
    """
    statements = parse(sql)
    if len(statements) != 1:
        raise UnsupportedError("Give one SQL statement to transpile.")
    if dialect == "spark":
        return spark_sql(statements[0])
    return statements[0].sql(dialect=dialect, unsupported_level=sqlglot.ErrorLevel.RAISE)


def union_by_name(tree: exp.Expression) -> exp.Expression:
    """`UNION [ALL] BY NAME` of SELECTs whose columns are named (no `*`) as a positional UNION:
    the right side's columns in the left side's order, a column one side lacks as NULL. (The
    Spark connection resolves the columns of `*` with the session instead.)"""

    def rewrite(node: exp.Expression) -> exp.Expression:
        if not (isinstance(node, exp.Union) and node.args.get("by_name")):
            return node
        left, right = node.this, node.expression
        if not all(
            isinstance(s, exp.Select)
            and not any(
                isinstance(e, exp.Star)
                or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star))
                for e in s.expressions
            )
            for s in (left, right)
        ):
            return node
        names = list(dict.fromkeys([*left.named_selects, *right.named_selects]))

        def ordered(select: exp.Select) -> exp.Select:
            by_name = dict(zip(select.named_selects, select.expressions, strict=True))
            out = select.copy()
            out.set(
                "expressions",
                [by_name[n].copy() if n in by_name else exp.alias_(exp.null(), n) for n in names],
            )
            return out

        return exp.Union(
            this=ordered(left), expression=ordered(right), distinct=node.args.get("distinct")
        )

    return tree.transform(rewrite)
