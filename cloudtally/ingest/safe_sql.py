"""Column expressions of a bill mapping: a small, closed subset of SQL.

A mapping file comes from a user, a vendor or a colleague, and its expressions become part of
the query that reads a bill. So they are parsed (sqlglot, DuckDB dialect), every node of the
tree is checked against a whitelist (column references, literals, operators and a list of pure
functions) and the SQL that runs is generated from the checked tree, never from the text: a
comment, a second statement, a subquery, a table function (`read_csv`), a setting or an
unknown function is refused with the expression and what to write instead.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

MAX_LENGTH = 1000

# Operators and plain values.
_STRUCTURE: tuple[type[exp.Expr], ...] = (
    exp.Column,
    exp.Identifier,
    exp.Literal,
    exp.Null,
    exp.Boolean,
    exp.Paren,
    exp.Neg,
    exp.Not,
    exp.And,
    exp.Or,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Mod,
    exp.DPipe,
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.Is,
    exp.In,
    exp.Between,
    exp.Like,
    exp.ILike,
    exp.Case,
    exp.If,
    exp.Interval,
    exp.Cast,
    exp.TryCast,
    exp.DataType,
    exp.DataTypeParam,
)

# Pure functions, by the name users write them with (sqlglot's class in brackets is what
# the name parses to).
FUNCTIONS: dict[str, type[exp.Expr]] = {
    "abs": exp.Abs,
    "ceil": exp.Ceil,
    "coalesce": exp.Coalesce,
    "concat": exp.Concat,
    "concat_ws": exp.ConcatWs,
    "date_trunc": exp.TimestampTrunc,
    "floor": exp.Floor,
    "greatest": exp.Greatest,
    "last_day": exp.LastDay,
    "least": exp.Least,
    "left": exp.Left,
    "length": exp.Length,
    "lower": exp.Lower,
    "make_date": exp.DateFromParts,
    "nullif": exp.Nullif,
    "regexp_extract": exp.RegexpExtract,
    "regexp_replace": exp.RegexpReplace,
    "replace": exp.Replace,
    "right": exp.Right,
    "round": exp.Round,
    "split_part": exp.SplitPart,
    "strftime": exp.TimeToStr,
    "strptime": exp.StrToTime,
    "substring": exp.Substring,
    "trim": exp.Trim,
    "upper": exp.Upper,
}
# Functions sqlglot does not model (parsed as `Anonymous`), allowed by name.
_ANONYMOUS = {"try_strptime", "ltrim", "rtrim"}
_ALLOWED = (*_STRUCTURE, *FUNCTIONS.values(), exp.DateTrunc)
# Types a CAST may name: no floats (money stays exact), nothing nested.
_CAST_TYPES = {
    exp.DataType.Type.DECIMAL,
    exp.DataType.Type.VARCHAR,
    exp.DataType.Type.TEXT,
    exp.DataType.Type.DATE,
    exp.DataType.Type.TIMESTAMP,
    exp.DataType.Type.TIMESTAMPTZ,
    exp.DataType.Type.INT,
    exp.DataType.Type.BIGINT,
}


class ExpressionError(ValueError):
    """An expression outside the allowed subset; the message says what to write instead."""


@dataclass(frozen=True)
class Expression:
    """A checked expression: its text as written and its tree."""

    text: str
    tree: exp.Expr

    @property
    def columns(self) -> list[str]:
        """The column names the expression reads, as written, in order of appearance."""
        seen: dict[str, None] = {}
        for column in self.tree.find_all(exp.Column):
            seen.setdefault(column.name, None)
        return list(seen)

    @property
    def is_column(self) -> bool:
        """Whether the expression is one column, as it is."""
        return isinstance(self.tree, exp.Column)

    def sql(self, resolve: dict[str, str], relation: str = "") -> str:
        """DuckDB SQL for the expression, each column name replaced by `resolve[name]` (the
        source's own spelling) and quoted; comments dropped. `relation` qualifies columns."""
        tree = self.tree.copy()
        for column in list(tree.find_all(exp.Column)):
            name = resolve[column.name]
            replacement = exp.column(exp.to_identifier(name, quoted=True))
            if relation:
                replacement = exp.column(
                    exp.to_identifier(name, quoted=True), table=exp.to_identifier(relation)
                )
            column.replace(replacement)
        return "(" + tree.sql(dialect="duckdb", comments=False) + ")"


def parse_expression(text: str) -> Expression:
    """Parse and check one expression.

    >>> parse_expression("round(amount * 1.2, 2)").columns
    ['amount']
    >>> parse_expression("read_csv('/etc/passwd')")
    Traceback (most recent call last):
    ...
    cloudtally.ingest.safe_sql.ExpressionError: `read_csv(...)` is not an allowed function ...
    """
    if not text.strip():
        raise ExpressionError("the expression is empty")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    bare = _outside_strings(text)
    if "--" in bare or "/*" in bare or ";" in bare:
        raise ExpressionError(
            "comments and `;` are not allowed in an expression; write one expression"
        )
    try:
        trees = sqlglot.parse(text, read="duckdb")
    except (SqlglotError, RecursionError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "cannot be parsed"
        raise ExpressionError(f"not a valid expression ({first[:120]})") from None
    if len(trees) != 1 or trees[0] is None:
        raise ExpressionError("write exactly one expression")
    tree = trees[0]
    for node in tree.walk():
        _check(node)
    return Expression(text=text, tree=tree)


def _outside_strings(text: str) -> str:
    """The text with its '...' strings and "..." names removed."""
    out, quote = [], ""
    for char in text:
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        else:
            out.append(char)
    return "".join(out)


def _check(node: exp.Expr) -> None:
    if isinstance(node, exp.Var):
        # A bare word is allowed only as a date part (`date_trunc('month', d)`,
        # `INTERVAL 1 DAY`).
        if isinstance(node.parent, exp.Interval | exp.TimestampTrunc | exp.DateTrunc):
            return
        raise ExpressionError(f"`{node.sql()}` is not allowed here")
    if isinstance(node, exp.Anonymous):
        name = str(node.this).lower()
        if name in _ANONYMOUS:
            return
        raise ExpressionError(_unknown_function(name))
    if isinstance(node, exp.Column):
        if node.table or node.args.get("db") or node.args.get("catalog"):
            raise ExpressionError(f"`{node.sql()}`: name a column of the bill alone (no `table.`)")
        return
    if isinstance(node, exp.DataType):
        if node.this not in _CAST_TYPES:
            raise ExpressionError(
                f"cannot cast to {node.sql()}; allowed: DECIMAL, VARCHAR, DATE, TIMESTAMP, "
                "TIMESTAMPTZ, INTEGER, BIGINT"
            )
        return
    if isinstance(node, exp.Literal | exp.DataTypeParam):
        return
    if not isinstance(node, _ALLOWED):
        if isinstance(node, exp.Func):
            name = node.sql_name().lower() if hasattr(node, "sql_name") else type(node).__name__
            raise ExpressionError(_unknown_function(name))
        if isinstance(node, exp.Query | exp.Subquery):
            raise ExpressionError("subqueries are not allowed; use the bill's columns")
        raise ExpressionError(f"`{node.sql()}` is not allowed in a mapping expression")


def _unknown_function(name: str) -> str:
    close = difflib.get_close_matches(name, [*FUNCTIONS, *_ANONYMOUS], n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"`{name}(...)` is not an allowed function.{hint} Allowed: " + ", ".join(
        sorted([*FUNCTIONS, *_ANONYMOUS])
    )
