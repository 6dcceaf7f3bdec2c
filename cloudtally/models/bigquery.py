"""The one place where BigQuery's SQL differs from DuckDB's, for `cloudtally models --dialect
bigquery`. The models are DuckDB SQL (the converter's and the allocation builder's); sqlglot
writes most of it as BigQuery's, and each rewrite below is a difference it does not cover.

| DuckDB                                     | BigQuery                                           |
|--------------------------------------------|----------------------------------------------------|
| CAST(x AS DECIMAL(p, s)) rounds to s places | `ROUND(CAST(x AS BIGNUMERIC), s)` (NUMERIC keeps 9) |
| HUGEINT, `a // b` (truncating)              | BIGNUMERIC, `(a - MOD(a, b)) / b`: exact            |
| a decimal literal `0.000001`                | the literal as text, cast: BigQuery reads FLOAT64   |
| MAP(VARCHAR, VARCHAR) (Tags)                | ARRAY<STRUCT<key STRING, value STRING>>, as in      |
|                                            | Google's billing export; `map_entries(m)` is `m`   |
| `CAST(json AS MAP)`                         | entries of `JSON_KEYS(j, 1)` (a quoted key without |
|                                            | its quotes), values `JSON_VALUE(j[key])`           |
| `CAST(text AS JSON)`                        | `PARSE_JSON(text)`                                 |
| `list_filter`, `list_transform`,            | `ARRAY(SELECT .. FROM UNNEST(list) WITH OFFSET ..)`|
| `list_sort`, lambdas                        | in the list's order (BigQuery has no lambdas)      |
| `list_position(['a', 'b'], x)`              | `CASE x WHEN 'a' THEN 1 WHEN 'b' THEN 2 END`       |
| `list_contains(list, x)`                    | `x IN UNNEST(list)`                                |
| `list[i]` (1-based, NULL when absent)       | `list[SAFE_ORDINAL(i)]`                            |
| `to_json(map_from_entries(list))`           | the same JSON text, built from the entries in order |
| `concat_ws(sep, ..)` (skips NULLs)          | `ARRAY_TO_STRING([..], sep)` (skips NULLs)         |
| `a || b` with a number                      | both sides cast to STRING                          |
| `regexp_replace` first match, 'g' for all   | a first-match pattern; REGEXP_REPLACE replaces all |
| `strftime(ts, fmt)`                         | `FORMAT_TIMESTAMP(fmt, ts, 'UTC')`                 |
| `SELECT .. WHERE false` without FROM        | `FROM (SELECT 1)` added (BigQuery needs a FROM)    |
| one-value ENUM casts, `[NOT] MATERIALIZED`  | the text; the hint dropped                         |

What has no rewrite here and no BigQuery form in sqlglot is refused by name when the project
is written (`UnsupportedError`), never written differently.
"""

from __future__ import annotations

from itertools import count

from sqlglot import exp

from cloudtally.engine.dialect import bottom_up, regexp_parts, replace_every_match
from cloudtally.errors import UnsupportedError

T = exp.DataType.Type
_names = count()


def _scale(node: exp.DataType) -> int:
    """The scale of DECIMAL(p, s) (DuckDB's DECIMAL alone is DECIMAL(18, 3)); 0 for HUGEINT."""
    if node.this != T.DECIMAL:
        return 0
    params = [p.this.this for p in node.expressions if isinstance(p.this, exp.Literal)]
    return int(params[1]) if len(params) > 1 else 3


def _fits(value: exp.Expression, scale: int) -> bool:
    """NULL, or a literal with at most `scale` decimals: nothing to round."""
    if isinstance(value, exp.Null):
        return True
    if isinstance(value, exp.Literal):
        digits = value.this.split(".")
        return "e" not in value.this.lower() and (len(digits) == 1 or len(digits[1]) <= scale)
    return False


def _exact(node: exp.Cast, to: exp.DataType) -> exp.Expression:
    """CAST(x AS DECIMAL(p, s)) or HUGEINT: BIGNUMERIC (38 decimals), rounded to s places half
    away from zero as DuckDB's cast rounds. (BigQuery's NUMERIC keeps 9 decimals; a
    parameterized BIGNUMERIC(p, s) is for columns.)"""
    inner = node.this
    if isinstance(inner, exp.Literal) and not inner.is_string:
        # `0.000000000001` is a FLOAT64 in BigQuery: cast its text instead.
        inner = exp.Literal.string(inner.this)
    scale = _scale(to)
    cast = exp.Cast(this=inner, to=exp.DataType.build("BIGNUMERIC", dialect="bigquery"))
    if _fits(node.this, scale):
        return cast
    return exp.Round(this=cast, decimals=exp.Literal.number(scale))


def _call(name: str, *args: exp.Expression) -> exp.Expression:
    """`NAME(args)` as written (BigQuery's function, whatever sqlglot would map it to)."""
    return exp.Anonymous(this=name, expressions=list(args))


def _string(node: exp.Expression) -> exp.Expression:
    return exp.cast(node, exp.DataType.build("STRING", dialect="bigquery"))


def _alias(prefix: str) -> str:
    return f"_{prefix}{next(_names)}"


def _unnest(array: exp.Expression, element: str, offset: str) -> exp.Unnest:
    return exp.Unnest(
        expressions=[array],
        alias=exp.TableAlias(columns=[exp.to_identifier(element)]),
        offset=exp.to_identifier(offset),
    )


def _array_of(
    projections: list[exp.Expression],
    array: exp.Expression,
    element: str,
    *,
    where: exp.Expression | None = None,
    order: list[exp.Expression] | None = None,
    struct: bool = False,
) -> exp.Array:
    """`ARRAY(SELECT [AS STRUCT] projection FROM UNNEST(array) AS element WITH OFFSET ..
    [WHERE ..] ORDER BY ..)`: without an ORDER BY BigQuery keeps no order, so the list's own
    order is kept by its offsets."""
    offset = _alias("o")
    select = exp.Select(expressions=projections).from_(_unnest(array, element, offset))
    if struct:
        select.set("kind", "STRUCT")
    if where is not None:
        select = select.where(where)
    select = select.order_by(*(order or [exp.column(offset)]))
    return exp.Array(expressions=[select])


def _rename_lambda(lam: exp.Lambda, name: str) -> exp.Expression:
    """The lambda's body with its variable named `name` (one name per subquery, so nested ones
    do not capture each other's)."""
    (variable,) = lam.expressions
    old = variable.name
    body = lam.this.copy()

    def rename(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Identifier) and node.name == old:
            parent = node.parent
            # `e` itself, or the `e` of `e.key` (a Dot or a Column's table); not a field named e
            if isinstance(parent, exp.Dot) and parent.expression is node:
                return node
            if isinstance(parent, exp.Column) and parent.this is node and parent.table:
                return node
            return exp.to_identifier(name)
        return node

    return body.transform(rename)


def _struct_fields(node: exp.Expression) -> list[str] | None:
    fields = node.meta.get("bigquery_fields")
    return list(fields) if fields else None


def _filter(node: exp.ArrayFilter) -> exp.Expression:
    lam = node.expression
    if not isinstance(lam, exp.Lambda):
        raise UnsupportedError("list_filter without a lambda cannot be written for BigQuery.")
    element = _alias("e")
    out = _array_of([exp.column(element)], node.this, element, where=_rename_lambda(lam, element))
    if (fields := _struct_fields(node.this)) is not None:
        out.meta["bigquery_fields"] = fields
    return out


def _transform(node: exp.Transform) -> exp.Expression:
    lam = node.expression
    if not isinstance(lam, exp.Lambda):
        raise UnsupportedError("list_transform without a lambda cannot be written for BigQuery.")
    element = _alias("e")
    body = _rename_lambda(lam, element)
    if isinstance(body, exp.Struct):
        projections: list[exp.Expression] = [
            exp.Alias(this=e.expression.copy(), alias=exp.to_identifier(e.this.name))
            if isinstance(e, exp.PropertyEQ)
            else e
            for e in body.expressions
        ]
        out = _array_of(projections, node.this, element, struct=True)
        out.meta["bigquery_fields"] = [p.alias_or_name for p in projections]
        return out
    return _array_of([body], node.this, element)


def _sort(node: exp.ArraySort) -> exp.Expression:
    if node.expression is not None and not (
        isinstance(node.expression, exp.Literal) and node.expression.this.upper() == "ASC"
    ):
        raise UnsupportedError("list_sort other than ascending cannot be written for BigQuery.")
    element = _alias("e")
    fields = _struct_fields(node.this)
    if fields is None:  # a list of scalars
        return _array_of([exp.column(element)], node.this, element, order=[exp.column(element)])
    # Structs compare field by field, as DuckDB's list_sort does.
    order: list[exp.Expression] = [exp.column(f, table=element) for f in fields]
    out = _array_of([exp.column(element)], node.this, element, order=order)
    out.meta["bigquery_fields"] = fields
    return out


def _position(array: exp.Expression, value: exp.Expression) -> exp.Expression:
    """DuckDB's list_position: the first 1-based position of `value`, NULL when absent (of a
    list written out, a CASE: its first matching WHEN wins)."""
    if isinstance(array, exp.Array) and all(isinstance(e, exp.Literal) for e in array.expressions):
        return exp.Case(
            this=value,
            ifs=[
                exp.If(this=e.copy(), true=exp.Literal.number(i))
                for i, e in enumerate(array.expressions, start=1)
            ],
        )
    element, offset = _alias("e"), _alias("o")
    select = (
        exp.Select(expressions=[exp.Min(this=exp.column(offset)) + exp.Literal.number(1)])
        .from_(_unnest(array, element, offset))
        .where(exp.EQ(this=exp.column(element), expression=value))
    )
    return exp.Subquery(this=select)


def _source_values(entries: exp.Expression) -> exp.Expression:
    """to_json(map_from_entries(list of {k, v})) as DuckDB writes it: `{"k":"v",...}` in the
    list's order (a NULL value is kept as null); no entries give `{}`."""
    element, offset = _alias("e"), _alias("o")
    fields = _struct_fields(entries) or ["k", "v"]
    key, value = (exp.column(f, table=element) for f in fields[:2])
    pair = _call(
        "CONCAT",
        _call("TO_JSON_STRING", key),
        exp.Literal.string(":"),
        _call("TO_JSON_STRING", value),
    )
    joined = exp.GroupConcat(
        this=exp.Order(
            this=pair, expressions=[exp.Ordered(this=exp.column(offset), nulls_first=True)]
        ),
        separator=exp.Literal.string(","),
    )
    text = _call(
        "CONCAT",
        exp.Literal.string("{"),
        _call("COALESCE", joined, exp.Literal.string("")),
        exp.Literal.string("}"),
    )
    select = exp.Select(expressions=[text]).from_(_unnest(entries, element, offset))
    return exp.Subquery(this=select)


def _json_to_entries(json: exp.Expression) -> exp.Expression:
    """A JSON object as ARRAY<STRUCT<key, value>>: a scalar value as its text (a number as
    BigQuery writes it: `1.50` may come back `1.5`, where DuckDB keeps the document's text), an
    object or array as its JSON text, JSON null as NULL. JSON_KEYS gives the keys
    sorted and writes a key that is not a plain identifier (`owner-team`) in double quotes,
    which are taken off; the entries' order does not matter to any lookup (DuckDB's map keeps
    the document's order)."""
    doc, raw, key, offset = _alias("j"), _alias("r"), _alias("k"), _alias("o")
    item = exp.Bracket(this=exp.column(doc), expressions=[exp.column(key)])
    value = exp.If(
        this=exp.In(
            this=_call("JSON_TYPE", item.copy()),
            expressions=[exp.Literal.string("object"), exp.Literal.string("array")],
        ),
        true=_call("TO_JSON_STRING", item.copy()),
        false=_call("JSON_VALUE", item.copy()),
    )
    unquoted = exp.If(
        this=_call("STARTS_WITH", exp.column(raw), exp.Literal.string('"')),
        true=_call("JSON_VALUE", _call("PARSE_JSON", exp.column(raw))),
        false=exp.column(raw),
    )
    keys = exp.Anonymous(this="JSON_KEYS", expressions=[exp.column(doc), exp.Literal.number(1)])
    entries = (
        exp.Select(
            expressions=[exp.alias_(exp.column(key), "key"), exp.alias_(value, "value")],
            kind="STRUCT",
        )
        .from_(
            exp.Unnest(
                expressions=[exp.Array(expressions=[json])],
                alias=exp.TableAlias(columns=[exp.to_identifier(doc)]),
            )
        )
        .join(_unnest(keys, raw, offset))
        .join(
            exp.Unnest(
                expressions=[exp.Array(expressions=[unquoted])],
                alias=exp.TableAlias(columns=[exp.to_identifier(key)]),
            )
        )
        .order_by(exp.column(offset))
    )
    return exp.Array(expressions=[entries])


def _cast(node: exp.Cast) -> exp.Expression:
    to = node.args.get("to")
    if not isinstance(to, exp.DataType):
        return node
    inner = node.this
    if to.this == T.ENUM:
        return inner
    if to.this == T.JSON:
        if inner.meta.get("bigquery_json"):
            return inner
        out = _call("PARSE_JSON", inner)
        out.meta["bigquery_json"] = True
        return out
    if to.this == T.MAP:
        if inner.meta.get("bigquery_tags"):
            return inner
        if not inner.meta.get("bigquery_json"):
            raise UnsupportedError("Only JSON text becomes a map (Tags) on BigQuery.")
        out = _json_to_entries(inner)
        out.meta["bigquery_tags"] = True
        return out
    if to.this in (T.DECIMAL, T.INT128, T.UINT128):
        return _exact(node, to)
    return node


def _int_div(node: exp.IntDiv) -> exp.Expression:
    """`a // b` on exact integers: the dividend less its remainder is a multiple of `b`, so the
    division is exact (MOD's sign follows `a`, as DuckDB's truncation does)."""
    a, b = node.this, node.expression
    dividend = exp.Sub(this=a.copy(), expression=_call("MOD", a, b.copy()))
    return exp.Div(this=exp.Paren(this=dividend), expression=b)


def _regexp_replace(node: exp.RegexpReplace) -> exp.Expression:
    """BigQuery replaces every match; back-references are `\\1` as in DuckDB."""
    regex, text = replace_every_match(*regexp_parts(node, "BigQuery"))
    return exp.RegexpReplace(
        this=node.this, expression=exp.Literal.string(regex), replacement=exp.Literal.string(text)
    )


def _anonymous(node: exp.Anonymous) -> exp.Expression:
    name = node.name.lower()
    args = node.expressions
    if name == "map_entries" and len(args) == 1:
        if not args[0].meta.get("bigquery_tags") and not isinstance(args[0], exp.Column | exp.Dot):
            raise UnsupportedError("map_entries of a computed map cannot go to BigQuery.")
        return args[0]  # a map is already its entries
    if name == "list_position" and len(args) == 2:
        return _position(args[0], args[1])
    if name == "to_json" and len(args) == 1 and isinstance(args[0], exp.MapFromEntries):
        return _source_values(args[0].this)
    return node


def _bracket(node: exp.Bracket) -> exp.Expression:
    """`list[i]`: sqlglot reads DuckDB's literal indexes as 0-based already and leaves a
    computed one 1-based; either gives NULL past the list's end, as DuckDB does."""
    if node.args.get("offset") is not None or len(node.expressions) != 1:
        return node
    (index,) = node.expressions
    if isinstance(index, exp.Slice):
        raise UnsupportedError("A list slice cannot go to BigQuery.")
    literal = isinstance(index, exp.Literal) and index.is_int
    node.set("offset", 0 if literal else 1)  # SAFE_OFFSET(0-based) or SAFE_ORDINAL(1-based)
    node.set("safe", True)
    return node


def _concat(node: exp.DPipe) -> exp.Expression:
    """DuckDB's `||` casts a number to text; BigQuery's takes only STRING (or BYTES)."""
    for side in ("this", "expression"):
        operand = node.args[side]
        if not (isinstance(operand, exp.Literal) and operand.is_string) and not isinstance(
            operand, exp.DPipe
        ):
            node.set(side, _string(operand))
    return node


def _rewrite(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.CTE) and node.args.get("materialized") is not None:
        node.set("materialized", None)
        return node
    if isinstance(node, exp.Select) and node.args.get("where") and not node.args.get("from_"):
        return node.from_(exp.Subquery(this=exp.select(exp.Literal.number(1))))
    if isinstance(node, exp.Cast):  # TryCast too
        return _cast(node)
    if isinstance(node, exp.IntDiv):
        return _int_div(node)
    if isinstance(node, exp.ArrayFilter):
        return _filter(node)
    if isinstance(node, exp.Transform):
        return _transform(node)
    if isinstance(node, exp.ArraySort):
        return _sort(node)
    if isinstance(node, exp.ArrayContains):
        return exp.In(this=node.expression, unnest=exp.Unnest(expressions=[node.this]))
    if isinstance(node, exp.Anonymous):
        return _anonymous(node)
    if isinstance(node, exp.Struct):
        names = [e.alias_or_name for e in node.expressions]
        node.meta["bigquery_fields"] = names
        return node
    if isinstance(node, exp.Array):
        fields = {tuple(_struct_fields(e) or ()) for e in node.expressions}
        if len(fields) == 1 and (only := fields.pop()):
            node.meta["bigquery_fields"] = list(only)
        return node
    if isinstance(node, exp.ConcatWs):
        separator, *parts = node.expressions
        return _call("ARRAY_TO_STRING", exp.Array(expressions=parts), separator)
    if isinstance(node, exp.DPipe):
        return _concat(node)
    if isinstance(node, exp.TimeToStr):
        fmt = node.args.get("format")
        if not isinstance(fmt, exp.Expression):
            raise UnsupportedError("strftime without a format cannot go to BigQuery.")
        return _call("FORMAT_TIMESTAMP", fmt, node.this, exp.Literal.string("UTC"))
    if isinstance(node, exp.RegexpReplace):
        return _regexp_replace(node)
    if isinstance(node, exp.Bracket):
        return _bracket(node)
    return node


def to_bigquery_tree(tree: exp.Expression) -> exp.Expression:
    """A DuckDB expression tree rewritten into one sqlglot writes as correct BigQuery SQL."""
    global _names
    _names = count()  # the subqueries' names are numbered per model: the same SQL every run
    return bottom_up(tree, _rewrite)
