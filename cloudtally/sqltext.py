r'''The one place SQL text is made from values: every identifier and literal that comes from a
user, a rules file or the data goes through `literal` or `identifier` (or a bound parameter).

>>> literal("o'brien"), identifier('my "col"')
("'o''brien'", '"my ""col"""')
>>> literal("a\x00b")
"('a' || chr(0) || 'b')"
'''

from __future__ import annotations

from collections.abc import Iterable

from cloudtally.errors import QueryError


def literal(value: str) -> str:
    """A SQL string literal holding exactly `value` (quotes doubled; NUL via chr(0), which a
    quoted literal cannot carry)."""
    text = str(value)
    if "\x00" not in text:
        return "'" + text.replace("'", "''") + "'"
    parts = ["'" + part.replace("'", "''") + "'" for part in text.split("\x00")]
    return "(" + " || chr(0) || ".join(parts) + ")"


# What DuckDB's file readers take as a pattern in a path (`*`, `?`, `[`) and Spark's too (`{`,
# `}`, and `\` as its escape): a file called `cur[1].csv` would be read as `cur1.csv` beside
# it. In a file's path DuckDB's are written as one-character classes (`cur[[]1].csv`), which it
# reads as the file itself; engine/spark.py turns them into Hadoop's escapes.
PATTERN_CHARACTERS = "[*?{}"


def file_pattern(path: object) -> str:
    """A file's path as DuckDB's readers take it for that file alone (a bound parameter).

    >>> file_pattern("/exports/cur[1].csv"), file_pattern("/exports/cur.csv")
    ('/exports/cur[[]1].csv', '/exports/cur.csv')
    """
    return "".join(f"[{c}]" if c in PATTERN_CHARACTERS else c for c in str(path))


def file_literal(path: object) -> str:
    """`file_pattern` as a SQL string literal."""
    return literal(file_pattern(path))


def literals(values: Iterable[str]) -> str:
    """A comma-separated list of literals, for `IN (...)` and list constructors."""
    return ", ".join(literal(v) for v in values)


def identifier(name: str) -> str:
    """A quoted SQL identifier (column, view or alias) holding exactly `name`."""
    if "\x00" in name:
        raise QueryError(f"{name!r} cannot be a name: it holds a NUL character.")
    return '"' + name.replace('"', '""') + '"'
