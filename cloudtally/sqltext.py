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


def literals(values: Iterable[str]) -> str:
    """A comma-separated list of literals, for `IN (...)` and list constructors."""
    return ", ".join(literal(v) for v in values)


def identifier(name: str) -> str:
    """A quoted SQL identifier (column, view or alias) holding exactly `name`."""
    if "\x00" in name:
        raise QueryError(f"{name!r} cannot be a name: it holds a NUL character.")
    return '"' + name.replace('"', '""') + '"'
