"""SQL building blocks shared by converters: typed casts that keep money exact, tag maps,
provider keys and FOCUS unit formatting."""

from __future__ import annotations

import re
from dataclasses import dataclass

from cloudtally.focus.canonical import DECIMAL, TAGS
from cloudtally.ingest.formats.base import literal, quote

_FLOAT_TYPES = {"float", "double", "halffloat", "float16", "float32", "float64"}


def decimal_expr(column: str, source_type: str = "") -> str:
    """An exact decimal from a source column.

    Floats go through their shortest text form first: casting the double 0.1 straight to a
    decimal would store 0.100000000000000006 and the totals would drift from the bill.
    """
    if source_type in _FLOAT_TYPES:
        return f"CAST(CAST({quote(column)} AS VARCHAR) AS {DECIMAL})"
    return f"CAST({quote(column)} AS {DECIMAL})"


def tags_expr(column: str, source_type: str = "") -> str:
    """A key -> value map from a JSON object text (CSV) or a map/struct column (Parquet)."""
    if source_type.startswith("map"):
        return f"CAST({quote(column)} AS {TAGS})"
    text = f"NULLIF(trim(CAST({quote(column)} AS VARCHAR)), '')"
    return f"CAST(CAST({text} AS JSON) AS {TAGS})"


def json_expr(column: str) -> str:
    return f"CAST(NULLIF(trim(CAST({quote(column)} AS VARCHAR)), '') AS JSON)"


# -- FOCUS allowed values ------------------------------------------------------------------


def spelling_key(value: str) -> str:
    """What tells allowed values apart once case, spaces and punctuation are set aside.

    >>> spelling_key("Usage-based"), spelling_key(" usage based ")
    ('usagebased', 'usagebased')
    """
    return re.sub(r"[^a-z0-9]+", "", value.lower())


def _spelling_key_sql(text: str) -> str:
    return f"regexp_replace(lower({text}), '[^a-z0-9]+', '', 'g')"


def allowed_value_expr(text: str, allowed: tuple[str, ...]) -> str:
    """A column with allowed values, each value spelled as the FOCUS spec spells it.

    FOCUS values are case-sensitive, and older exports differ in case or spacing (FOCUS 1.0
    samples write `Usage-based`): a value equal to an allowed one but for case, spaces and
    punctuation is rewritten to it; any other value is kept as it is (it fails the spec in the
    source too, and cloudtally does not guess). The rewrite runs only on rows whose value is
    not already allowed."""
    listed = ", ".join(literal(v) for v in allowed)
    # A CASE, not a MAP lookup: it runs only on the rare rows not already allowed, and every
    # engine and warehouse the models are written for reads a CASE the same way.
    keyed = " ".join(f"WHEN {literal(spelling_key(v))} THEN {literal(v)}" for v in allowed)
    spelled = f"CASE {_spelling_key_sql(text)} {keyed} ELSE {text} END"
    return f"CASE WHEN {text} IN ({listed}) THEN {text} ELSE {spelled} END"


def source_values_expr(columns: dict[str, tuple[str, tuple[str, ...]]]) -> str:
    """`x_SourceValues`: on a row where `allowed_value_expr` rewrote a value, the source's own
    values as a JSON object (`{"ChargeFrequency": "Usage-based"}`), else NULL.

    `columns`: column name -> (its source text, its allowed values). Rows whose values are all
    allowed (nearly all) are told apart by the same test the rewrite makes, and skip the rest."""
    unusual = " OR ".join(
        f"NOT coalesce({text} IN ({', '.join(literal(v) for v in allowed)}), true)"
        for text, allowed in columns.values()
    )
    entries = ", ".join(
        f"struct_pack(k := {literal(name)}, v := CASE WHEN "
        f"{allowed_value_expr(text, allowed)} IS DISTINCT FROM {text} THEN {text} END)"
        for name, (text, allowed) in columns.items()
    )
    rewritten = f"list_filter([{entries}], lambda e: e.v IS NOT NULL)"
    return (
        f"CASE WHEN {unusual} THEN CASE WHEN array_length({rewritten}) > 0 "
        f"THEN CAST(to_json(map_from_entries({rewritten})) AS VARCHAR) END END"
    )


# Provider names seen in exports -> the short key used in partition paths and `x_Provider`.
PROVIDER_KEYS = {
    "aws": "aws",
    "amazon web services": "aws",
    "amazon web services, inc.": "aws",
    "microsoft": "azure",
    "microsoft azure": "azure",
    "azure": "azure",
    "google cloud": "gcp",
    "google cloud platform": "gcp",
    "google": "gcp",
    "gcp": "gcp",
    "oracle": "oci",
    "oracle cloud infrastructure": "oci",
    "oci": "oci",
}


def provider_key_expr(provider_name: str) -> str:
    """`x_Provider`: a known short key, else the name slugged (`Acme Cloud` -> `acme-cloud`)."""
    cases = " ".join(f"WHEN '{name}' THEN '{key}'" for name, key in PROVIDER_KEYS.items())
    lowered = f"lower(trim({provider_name}))"
    slug = f"trim(regexp_replace({lowered}, '[^a-z0-9]+', '-', 'g'), '-')"
    return f"CASE {lowered} {cases} ELSE {slug} END"


# FOCUS "Unit Format": counts are plural units, products join with '-' (GB-Hours) and rates
# use '/' with a singular time unit (GB/Hour). Exports often write "GB Hours", "OCPU Per Hour"
# or AWS's "Hrs"; these rewrite only the spelling, never the quantity.
_TIME_UNITS = "Seconds|Minutes|Hours|Days|Weeks|Months|Years"
_UNIT_REWRITES = (
    (r"^Hrs$", "Hours"),
    # AWS prefixes some units with the service ("Lambda-GB-Seconds"): the unit is GB-Seconds.
    (rf"^[A-Za-z]+-([KMGTPE]i?[Bb])-({_TIME_UNITS})$", r"\1-\2"),
    (r"\bGigabytes?\b", "GB"),
    (r"^(.*\S)\s+[Pp]er\s+(Second|Minute|Hour|Day|Week|Month|Year)s?$", r"\1/\2"),
    (rf"^(\S+)\s+({_TIME_UNITS})$", r"\1-\2"),
)


# What a unit needs to match for any rewrite above to change it (or for trim to).
_UNIT_NEEDS_REWRITE = r"^Hrs$|Gigabyte|\s|-.*-"


def unit_rewrites(column: str) -> str:
    """The rewrites above, applied in turn to a unit column."""
    expr = f"trim({quote(column)})"
    for pattern, replacement in _UNIT_REWRITES:
        expr = f"regexp_replace({expr}, '{pattern}', '{replacement}')"
    return expr


def unit_expr(column: str) -> str:
    """A unit in the FOCUS format. Most units already are: one scan for what would trigger a
    rewrite keeps the five regular expressions off those rows (they cost 7 s of a 10M-row CSV
    ingest; Parquet hides it, DuckDB evaluating dictionary-encoded strings once per value)."""
    needs = f"regexp_matches({quote(column)}, '{_UNIT_NEEDS_REWRITE}')"
    return f"CASE WHEN {needs} THEN {unit_rewrites(column)} ELSE {quote(column)} END"


# -- building blocks of the native converters (azure, gcp, oci) -----------------------------


@dataclass(frozen=True)
class Rule:
    """One FOCUS column: `sql` over the converter's relation, and `doc`, the same in words."""

    sql: str
    doc: str


def times(unit_price: str, quantity: str, price_scale: int = 14, quantity_scale: int = 12) -> str:
    """An exact product of a unit price and a quantity, rounded once to the canonical decimal.

    Two DECIMAL(38,18) factors would need 36 decimal places and overflow at 100; the price
    keeps 14 places and the quantity 12. Multiplied as they are, their 26 places would leave 12
    integer digits, which a VND or IDR line overflows. So each factor is split into its integer
    part and its fraction (both with the factor's sign) and the four partial products are
    added: only fraction x fraction (below 1) has more places than the canonical 18 and is
    rounded, the others are exact, so the sum is the exact product rounded once, at any
    magnitude DECIMAL(38,18) holds.
    """
    price = f"CAST({unit_price} AS DECIMAL(38,{price_scale}))"
    amount = f"CAST({quantity} AS DECIMAL(38,{quantity_scale}))"
    price_whole, amount_whole = (f"CAST(trunc({x}) AS DECIMAL(38,0))" for x in (price, amount))
    price_part, amount_part = f"({price} - {price_whole})", f"({amount} - {amount_whole})"
    products = (
        f"{price_whole} * {amount_whole}",
        f"{price_whole} * {amount_part}",
        f"{price_part} * {amount_whole}",
        f"{price_part} * {amount_part}",
    )
    return "(" + " + ".join(f"CAST({p} AS {DECIMAL})" for p in products) + ")"


def lookup(table: dict[str, str], key: str, default: str) -> str:
    """A value from a fixed table by key (a MAP lookup: a CASE per key measured 10x slower)."""
    pairs = ", ".join(f"{literal(k)}: {literal(v)}" for k, v in table.items())
    return f"coalesce(MAP {{{pairs}}}[{key}], {default})"


def utc_day(date_sql: str) -> str:
    """Midnight UTC of a DATE as TIMESTAMPTZ, whatever the session's time zone (casting a
    TIMESTAMP to TIMESTAMPTZ would read it in the session zone and could shift the day)."""
    return f"timezone('UTC', CAST({date_sql} AS TIMESTAMP))"


def utc_timestamp(text: str, field: str) -> str:
    """A TIMESTAMPTZ from ISO 8601 or BigQuery text (`2024-05-01 07:00:00 UTC`): a zone the text
    names is honoured, a text without one is UTC (never the session's zone); any other text
    fails the file with the field and value named."""
    text = f"NULLIF(trim(CAST({text} AS VARCHAR)), '')"
    zone = r"[0-9]:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?\s*(Z|UTC|[+-][0-9]{2}(:?[0-9]{2})?)$"
    zoned = f"regexp_matches({text}, {literal(zone)})"
    parsed = (
        f"CASE WHEN {zoned} THEN TRY_CAST({text} AS TIMESTAMPTZ) "
        f"ELSE timezone('UTC', TRY_CAST({text} AS TIMESTAMP)) END"
    )
    message = (
        literal(f"{field}: ")
        + f" || {text} || "
        + literal(" is not a date-time; fix it and run again")
    )
    return f"CASE WHEN {text} IS NULL THEN NULL ELSE coalesce({parsed}, error({message})) END"
