"""Any CSV or Parquet bill into FOCUS rows through a mapping file (`ingest --mapping FILE`).

The converter is built from a `BillMapping` (ingest/mapping.py) and one bill. Before anything
is written it checks the mapping against the bill, naming the mapping's line and the bill's
file, row and column on the first problem:

- every column the mapping names is in the bill;
- every column declared (or used as) a number, date or time parses as one, on every row;
- every FOCUS column holds its type and, where FOCUS lists allowed values, one of them
  (respelled as the focus converter does: `usage` -> `Usage`); every mandatory FOCUS column
  holds a value on every row; BillingCurrency is a three-letter code.

It also totals BilledCost and EffectiveCost per account, period and currency straight from the
bill, and the pipeline refuses the ingest when the staged files do not hold exactly those
totals (`reconcile_staged`).
"""

from __future__ import annotations

import difflib
import re
from decimal import Decimal
from functools import cached_property

import duckdb

from cloudtally.errors import IngestError, StoreError
from cloudtally.focus.canonical import (
    CANONICAL_BY_NAME,
    DECIMAL,
    DECIMAL_LIMIT,
    TAGS,
    TIMESTAMP,
)
from cloudtally.focus.spec import allowed_values
from cloudtally.ingest.formats.base import ROW_POSITION, Converter, literal, quote
from cloudtally.ingest.formats.expressions import (
    allowed_value_expr,
    lookup,
    provider_key_expr,
    spelling_key,
)
from cloudtally.ingest.mapping import (
    DEFAULTS,
    REQUIRED,
    SOURCE_TYPES,
    UNIT_COLUMNS,
    BillMapping,
)
from cloudtally.ingest.source import SourceFile
from cloudtally.store.catalog import PartitionFile, PartitionKey
from cloudtally.store.store import MEMORY_LIMIT

ALLOWED = allowed_values("1.2")
_ROW = "__cloudtally_row"
_ZONED = r"[0-9]:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?\s*(Z|UTC|[+-][0-9]{2}(:?[0-9]{2})?)$"
_FLOATS = {"float", "double", "halffloat", "float16", "float32", "float64"}


class MappingConverter(Converter):
    """A bill read through a mapping file. Not registered: `--mapping FILE` chooses it."""

    description = "any CSV or Parquet bill, through a mapping file (`ingest --mapping FILE`)"

    def __init__(self, source: SourceFile, mapping: BillMapping) -> None:
        super().__init__(source)
        self.bill_mapping = mapping
        self._totals: dict[tuple[PartitionKey, str], tuple[int, Decimal, Decimal]] = {}

    @property
    def source_format(self) -> str:
        return f"mapping:{self.bill_mapping.name}"

    # -- the bill's columns ---------------------------------------------------------------

    @cached_property
    def _resolve(self) -> dict[str, str]:
        """Each column name the mapping writes -> the bill's own spelling (an exact match, else
        the one column equal but for case)."""
        resolved: dict[str, str] = {}
        by_lower: dict[str, list[str]] = {}
        for column in self.source.columns:
            by_lower.setdefault(column.lower(), []).append(column)
        for name in self.bill_mapping.source_columns():
            if name in self.source.columns:
                resolved[name] = name
            elif len(by_lower.get(name.lower(), [])) == 1:
                resolved[name] = by_lower[name.lower()][0]
        return resolved

    @cached_property
    def _kinds(self) -> dict[str, str]:
        """The bill's column -> how it is read (`SOURCE_TYPES`): declared under `types`, else
        from a FOCUS column it alone gives (`BilledCost: amount` reads amount as a decimal),
        else text."""
        kinds: dict[str, str] = {}
        for name, kind in self.bill_mapping.model.types.items():
            if name in self._resolve:
                kinds[self._resolve[name]] = kind
        for focus, expression in self.bill_mapping.expressions.items():
            column = CANONICAL_BY_NAME.get(focus)
            if column is None or not expression.is_column:
                continue
            if expression.columns[0] not in self._resolve:
                continue
            source = self._resolve[expression.columns[0]]
            if column.sql_type == DECIMAL:
                kinds.setdefault(source, "decimal")
            elif column.sql_type == TIMESTAMP:
                kinds.setdefault(source, "timestamp")
        return kinds

    def _typed(self, column: str, *, attempt: bool = False) -> str:
        """SQL reading one bill column as its kind (`attempt`: NULL instead of an error)."""
        kind = self._kinds.get(column, "text")
        raw = quote(column)
        arrow = self.source.column_types.get(column, "string")
        cast = "TRY_CAST" if attempt else "CAST"
        is_text = self.source.container == "csv" or arrow in ("string", "large_string")
        if kind == "text":
            return raw if is_text else f"CAST({raw} AS VARCHAR)"
        if not is_text and arrow not in _FLOATS:
            if kind == "timestamp" and arrow.startswith("timestamp") and "tz=" not in arrow:
                return f"timezone('UTC', {raw})"
            return f"{cast}({raw} AS {SOURCE_TYPES[kind]})"
        # Text (or a float, through its shortest text: the double 0.1 must stay 0.1).
        text = f"trim(CAST({raw} AS VARCHAR))"
        if kind == "timestamp":
            return (
                f"CASE WHEN regexp_matches({text}, {literal(_ZONED)}) "
                f"THEN {cast}({text} AS TIMESTAMPTZ) "
                f"ELSE timezone('UTC', {cast}({text} AS TIMESTAMP)) END"
            )
        return f"{cast}({text} AS {SOURCE_TYPES[kind]})"

    def read_sql(self, numbered_rows: bool = False) -> str:
        """The bill as one relation: its columns by their own names, each read as its kind."""
        fields = [f"{self._typed(c)} AS {quote(c)}" for c in dict.fromkeys(self.source.columns)]
        if numbered_rows:
            fields.append(f"raw.{ROW_POSITION}")
        return f"(SELECT {', '.join(fields)} FROM {super().read_sql(numbered_rows)} AS raw)"

    # -- FOCUS columns ----------------------------------------------------------------------

    def _given(self, column: str) -> str | None:
        """SQL for a FOCUS (or x_) column as the mapping gives it, before any respelling."""
        mapping = self.bill_mapping
        if column in mapping.constants:
            return literal(mapping.constants[column])
        if column in mapping.expressions:
            return mapping.expressions[column].sql(self._resolve)
        if column in DEFAULTS:
            return self._given(DEFAULTS[column])
        return None

    @cached_property
    def _focus(self) -> dict[str, str]:
        """FOCUS column -> its final SQL (units mapped, allowed values respelled)."""
        exprs: dict[str, str] = {}
        for name in CANONICAL_BY_NAME:
            if name.startswith("x_") or name == "Tags":
                continue
            given = self._given(name)
            if given is None:
                continue
            if name in UNIT_COLUMNS and self.bill_mapping.model.units:
                text = f"CAST({given} AS VARCHAR)"
                given = lookup(self.bill_mapping.model.units, text, text)
            if name in ALLOWED and name in self.bill_mapping.constants:
                # A constant is respelled once, here, not on every row.
                value = self.bill_mapping.constants[name]
                spelled = {spelling_key(v): v for v in ALLOWED[name]}
                given = literal(
                    value if value in ALLOWED[name] else spelled.get(spelling_key(value), value)
                )
            elif name in ALLOWED:
                given = allowed_value_expr(f"CAST({given} AS VARCHAR)", ALLOWED[name])
            exprs[name] = given
        if "ServiceSubcategory" not in exprs and "ServiceCategory" in exprs:
            # FOCUS 1.2 lists an "Other (<ServiceCategory>)" for every category.
            exprs["ServiceSubcategory"] = f"'Other (' || {exprs['ServiceCategory']} || ')'"
        if self.bill_mapping.tags:
            entries = ", ".join(
                f"struct_pack(k := {literal(key)}, v := CAST({e.sql(self._resolve)} AS VARCHAR))"
                for key, e in self.bill_mapping.tags.items()
            )
            kept = f"list_filter([{entries}], lambda e: coalesce(e.v, '') <> '')"
            exprs["Tags"] = f"NULLIF(map_from_entries({kept}), MAP {{}})"
        return exprs

    def expressions(self) -> dict[str, str]:
        exprs = dict(self._focus)
        exprs["x_Provider"] = provider_key_expr(f"CAST({exprs['ProviderName']} AS VARCHAR)")
        exprs["x_BillingPeriod"] = (
            f"strftime(CAST({exprs['BillingPeriodStart']} AS TIMESTAMPTZ), '%Y-%m')"
        )
        return exprs

    def extra_columns(self) -> dict[str, str]:
        """x_ columns the mapping gives, then the bill's columns kept as they are (`keep`,
        by default every column)."""
        extra = {
            name: self._given(name) or "NULL"
            for name in self.bill_mapping.expressions | self.bill_mapping.constants
            if name.startswith("x_")
        }
        keep = self.bill_mapping.model.keep
        kept = [self._resolve[c] for c in keep] if keep is not None else self.source.columns
        taken = {n.lower() for n in (*CANONICAL_BY_NAME, *extra)}
        for column in dict.fromkeys(kept):
            name = "x_" + re.sub(r"[^0-9A-Za-z]+", "_", column).strip("_")
            while name.lower() in taken:
                name += "_"
            taken.add(name.lower())
            extra[name] = quote(column)
        return extra

    @classmethod
    def mapping(cls) -> list[tuple[str, str]]:
        return [("(any)", "as the mapping file says: docs/mappings.md")]

    # -- checks before anything is written ---------------------------------------------------

    def validate(self) -> None:
        self._check_columns()
        con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT})
        try:
            con.execute("SET TimeZone = 'UTC'")
            self._check_kinds(con)
            self._check_focus(con)
            self._totals = self._source_totals(con)
        finally:
            con.close()

    def _check_columns(self) -> None:
        mapping = self.bill_mapping
        missing = []
        for name, location in mapping.source_columns().items():
            if name in self._resolve:
                continue
            close = difflib.get_close_matches(name, self.source.columns, n=1, cutoff=0.6)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            missing.append(
                f"{mapping.where(*location)} column {name!r} is not in {self.source.label}.{hint}"
            )
        if missing:
            shown = ", ".join(self.source.columns[:20])
            more = ", ..." if len(self.source.columns) > 20 else ""
            raise IngestError(
                "\n".join(missing)
                + f"\nThe bill's columns: {shown}{more}. Fix the mapping (or the bill) and run "
                "again."
            )

    def _row_label(self, row: int) -> str:
        line = f" (line {row + 1})" if self.source.container == "csv" else ""
        return f"{self.source.label}: data row {row}{line}"

    def _check_kinds(self, con: duckdb.DuckDBPyConnection) -> None:
        """Every column read as a number, date or time parses as one on every row."""
        typed = [c for c, k in self._kinds.items() if k != "text"]
        if not typed:
            return
        raw = super().read_sql()
        tests = [
            f"CASE WHEN {quote(c)} IS NOT NULL AND {self._typed(c, attempt=True)} IS NULL "
            f"THEN CAST({quote(c)} AS VARCHAR) END"
            for c in typed
        ]
        failing = " OR ".join(f"({t}) IS NOT NULL" for t in tests)
        found = con.execute(
            f"SELECT {_ROW}, {', '.join(tests)} FROM (SELECT row_number() OVER () AS {_ROW}, * "
            f"FROM {raw} AS raw) WHERE {failing} ORDER BY {_ROW} LIMIT 1"
        ).fetchall()
        if not found:
            return
        row, *values = found[0]
        column, value = next((c, v) for c, v in zip(typed, values, strict=True) if v is not None)
        kind = self._kinds[column]
        what = {
            "decimal": "a number",
            "integer": "a whole number",
            "date": "a date (YYYY-MM-DD)",
            "timestamp": "a date-time (ISO 8601)",
        }[kind]
        if kind == "decimal" and _too_large(value):
            what = "a number below 10^20 (exact money, DECIMAL(38,18))"
        raise IngestError(
            f"{self._row_label(row)}, column {column}: {value[:60]!r} is not {what}, as mapping "
            f"{self.bill_mapping.path} reads it. Fix the value (or the mapping's `types`) and "
            "run again."
        )

    def _focus_test(self, name: str, sql: str) -> str:
        """SQL giving, for one row, NULL when the column's value is fine, else a problem code
        and the value: `empty:`, `type:<value>`, `value:<value>`, `currency:<value>`."""
        column = CANONICAL_BY_NAME[name]
        text = f"CAST({sql} AS VARCHAR)"
        cases = []
        if name in REQUIRED:
            blank = f" OR trim({text}) = ''" if column.sql_type == "VARCHAR" else ""
            cases.append(f"WHEN {sql} IS NULL{blank} THEN 'empty:'")
        cases.append(f"WHEN {sql} IS NULL THEN NULL")
        if column.sql_type != TAGS:
            cases.append(
                f"WHEN TRY_CAST({sql} AS {column.sql_type}) IS NULL THEN 'type:' || {text}"
            )
        if name in ALLOWED:
            listed = ", ".join(literal(v) for v in ALLOWED[name])
            cases.append(f"WHEN {text} NOT IN ({listed}) THEN 'value:' || {text}")
        if name == "BillingCurrency":
            cases.append(
                f"WHEN NOT regexp_full_match({text}, '[A-Z]{{3}}') THEN 'currency:' || {text}"
            )
        return f"CASE {' '.join(cases)} END"

    def _check_focus(self, con: duckdb.DuckDBPyConnection) -> None:
        names = list(self._focus)
        tests = {name: self._focus_test(name, self._focus[name]) for name in names}
        relation = f"(SELECT row_number() OVER () AS {_ROW}, * FROM {self.read_sql()} AS src)"
        try:
            found = self._first_problem(con, relation, tests)
        except duckdb.Error as exc:
            raise self._failing_expression(con, relation, tests, exc) from None
        if found is None:
            return
        row, name, problem = found
        code, _, value = problem.partition(":")
        where = self._given_where(name)
        shown = repr(value[:60])
        if code == "empty":
            detail = (
                f"is empty; FOCUS requires {name} on every row. Give it a value on that row, or "
                f"change {where}"
            )
        elif code == "type":
            kind = {DECIMAL: "a number below 10^20", TIMESTAMP: "a date-time"}.get(
                CANONICAL_BY_NAME[name].sql_type, "valid"
            )
            detail = f"{shown} is not {kind}. Fix the value, or {where}"
        elif code == "currency":
            detail = (
                f"{shown} is not a three-letter currency code (ISO 4217, e.g. USD). Fix {where}"
            )
        else:
            allowed = ", ".join(ALLOWED[name])
            detail = f"{shown} is not one of FOCUS's values ({allowed}). Fix {where}"
        raise IngestError(f"{self._row_label(row)}, column {name}: {detail}; then run again.")

    def _first_problem(
        self, con: duckdb.DuckDBPyConnection, relation: str, tests: dict[str, str]
    ) -> tuple[int, str, str] | None:
        names = list(tests)
        if not names:
            return None
        failing = " OR ".join(f"({t}) IS NOT NULL" for t in tests.values())
        found = con.execute(
            f"SELECT {_ROW}, {', '.join(tests.values())} FROM {relation} AS src "
            f"WHERE {failing} ORDER BY {_ROW} LIMIT 1"
        ).fetchall()
        if not found:
            return None
        row, *problems = found[0]
        name, problem = next((n, p) for n, p in zip(names, problems, strict=True) if p)
        return int(row), name, str(problem)

    def _failing_expression(
        self,
        con: duckdb.DuckDBPyConnection,
        relation: str,
        tests: dict[str, str],
        exc: duckdb.Error,
    ) -> IngestError:
        """The message for an expression DuckDB cannot evaluate on this bill."""
        for name, test in tests.items():
            try:
                con.execute(f"SELECT count({test}) FROM {relation} AS src").fetchall()
            except duckdb.Error as one:
                return IngestError(
                    f"{self._given_where(name)} cannot be computed on {self.source.label}: "
                    f"{_first_line(one).rstrip('.')}. Check it against the types the bill's "
                    "columns are read as (`types:`; a column that alone gives a cost or a time "
                    "is read as one), fix it and run again."
                )
        return IngestError(f"{self.source.label}: cannot be read: {_first_line(exc)}")

    def _given_where(self, name: str) -> str:
        """Where the mapping gives a FOCUS column, for messages."""
        mapping = self.bill_mapping
        if name in mapping.expressions:
            return f"{mapping.where('columns', name)} `{mapping.expressions[name].text}`"
        if name == "BillingCurrency" and mapping.model.currency is not None:
            return f"{mapping.where('currency')}"
        if name in mapping.constants:
            return f"{mapping.where('constants', name)}"
        if name in DEFAULTS:
            return self._given_where(DEFAULTS[name])
        return f"the mapping {mapping.path}"

    # -- reconciliation -------------------------------------------------------------------------

    def _source_totals(
        self, con: duckdb.DuckDBPyConnection
    ) -> dict[tuple[PartitionKey, str], tuple[int, Decimal, Decimal]]:
        """Rows, BilledCost and EffectiveCost per account-period and currency, straight from the
        bill (no staging, no Parquet)."""
        exprs = self.expressions()
        sql = (
            f"SELECT {exprs['x_Provider']}, CAST({exprs['BillingAccountId']} AS VARCHAR), "
            f"{exprs['x_BillingPeriod']}, CAST({exprs['BillingCurrency']} AS VARCHAR), count(*), "
            f"sum(CAST({exprs['BilledCost']} AS {DECIMAL})), "
            f"sum(CAST({exprs['EffectiveCost']} AS {DECIMAL})) "
            f"FROM {self.read_sql()} AS src GROUP BY ALL"
        )
        totals = {}
        try:
            rows = con.execute(sql).fetchall()
        except duckdb.OutOfRangeException:
            return {}  # the staging reports the overflow with its own message
        for provider, account, period, currency, n, billed, effective in rows:
            key = PartitionKey(provider=provider, billing_account_id=account, billing_period=period)
            totals[(key, currency)] = (int(n), billed, effective)
        return totals

    def reconcile_staged(self, parts: dict[PartitionKey, PartitionFile]) -> None:
        """The staged files hold exactly the bill's rows and totals (exact decimals)."""
        if not self._totals:
            return
        staged_rows = {key: part.rows for key, part in parts.items()}
        staged = {
            (key, currency): (metrics["BilledCost"], metrics["EffectiveCost"])
            for key, part in parts.items()
            for currency, metrics in part.totals.items()
        }
        bill_rows: dict[PartitionKey, int] = {}
        for (key, _), (n, _, _) in self._totals.items():
            bill_rows[key] = bill_rows.get(key, 0) + n
        bill = {k: (billed, effective) for k, (_, billed, effective) in self._totals.items()}
        if staged != bill or staged_rows != bill_rows:
            raise StoreError(
                f"{self.source.label}: the converted rows' totals differ from the bill's totals "
                "through the mapping, so nothing was stored. Please report this with the bill "
                "and the mapping."
            )


def _too_large(value: str) -> bool:
    try:
        return Decimal(value.strip()).copy_abs() >= DECIMAL_LIMIT
    except (ArithmeticError, ValueError):
        return False


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "unknown error"
