"""FOCUS Cost and Usage exports, versions 1.0 to 1.3, into the canonical FOCUS 1.2 dataset.

Columns 1.2 has but an older export lacks are added (empty, or derived where the spec allows);
columns 1.3 added, and any the spec does not know, are kept as `x_` extension columns.
"""

from __future__ import annotations

from cloudtally.errors import IngestError
from cloudtally.focus.canonical import CANONICAL_BY_NAME, CANONICAL_VERSION, DECIMAL, TIMESTAMP
from cloudtally.focus.spec import allowed_values, columns, detect_version
from cloudtally.ingest.formats.base import Converter, extension_name, quote
from cloudtally.ingest.formats.expressions import (
    allowed_value_expr,
    decimal_expr,
    json_expr,
    provider_key_expr,
    source_values_expr,
    tags_expr,
    unit_expr,
)
from cloudtally.ingest.source import SourceFile

UNIT_COLUMNS = ("PricingUnit", "ConsumedUnit", "CommitmentDiscountUnit")


class FocusConverter(Converter):
    """FOCUS Cost and Usage exports of any version from 1.0 to 1.3. The version is detected from
    the columns each version added; the canonical dataset is FOCUS 1.2, so older exports gain
    the newer columns (empty unless the spec allows a derived value) and 1.3's additions are
    kept as `x_` columns."""

    name = "focus"
    description = "FOCUS Cost and Usage export, versions 1.0-1.3 (CSV, gzip CSV, Parquet)"
    header_only = True

    @classmethod
    def matches(cls, source: SourceFile) -> bool:
        present = set(source.columns)
        mandatory_1_0 = {c for c, col in columns("1.0").items() if col.mandatory}
        return len(present & mandatory_1_0) * 2 >= len(mandatory_1_0)

    @property
    def version(self) -> str:
        return detect_version(self.source.columns)

    @property
    def source_format(self) -> str:
        return f"focus-{self.version}"

    def validate(self) -> None:
        present = set(self.source.columns)
        duplicated = sorted({c for c in self.source.columns if self.source.columns.count(c) > 1})
        if duplicated:
            raise IngestError(
                f"{self.source.label}: column {duplicated[0]!r} appears more than once in the "
                "header. Remove the duplicate and run again."
            )
        spec = columns(self.version)
        missing = [c for c, col in spec.items() if col.mandatory and c not in present]
        if missing:
            raise IngestError(
                f"{self.source.label}: a FOCUS {self.version} export must have the mandatory "
                f"column{'s' if len(missing) > 1 else ''} {', '.join(missing)}, which "
                f"{'are' if len(missing) > 1 else 'is'} missing. Export the full FOCUS dataset "
                "(or add the columns) and run again."
            )

    def reader_types(self) -> dict[str, str]:
        # Money and time parsed by the CSV reader itself, so a bad value is reported with
        # its line and column.
        return {
            c: CANONICAL_BY_NAME[c].sql_type
            for c in self.source.columns
            if c in CANONICAL_BY_NAME and CANONICAL_BY_NAME[c].sql_type in (DECIMAL, TIMESTAMP)
        }

    def expressions(self) -> dict[str, str]:
        present = set(self.source.columns)
        types = self.source.column_types
        exprs: dict[str, str] = {}
        for name in present & set(columns(CANONICAL_VERSION)):
            col = CANONICAL_BY_NAME[name]
            if name == "Tags":
                exprs[name] = tags_expr(name, types.get(name, ""))
            elif col.sql_type == DECIMAL:
                exprs[name] = decimal_expr(name, types.get(name, ""))
            elif col.focus_type == "JSON":
                exprs[name] = json_expr(name)
            elif name in UNIT_COLUMNS:
                exprs[name] = unit_expr(name)
            elif name in ALLOWED:
                exprs[name] = allowed_value_expr(_text(name), ALLOWED[name])
            else:
                exprs[name] = quote(name)
        # 1.1 made ServiceSubcategory recommended and not null; its allowed values include an
        # "Other (<ServiceCategory>)" for every category, the honest value for an older export.
        if "ServiceSubcategory" not in present:
            exprs["ServiceSubcategory"] = f"'Other (' || {exprs['ServiceCategory']} || ')'"
        exprs["x_Provider"] = provider_key_expr(quote("ProviderName"))
        exprs["x_BillingPeriod"] = "strftime(CAST(\"BillingPeriodStart\" AS TIMESTAMPTZ), '%Y-%m')"
        return exprs

    def key_source_columns(self) -> list[str]:
        return ["ProviderName", "BillingAccountId", "BillingPeriodStart"]

    def lookups(self) -> dict[str, tuple[str, str]]:
        # A few thousand distinct tag sets stand behind millions of rows: parse each once.
        # (Doing the same for the unit columns measured no gain.)
        if self.source.column_types.get("Tags", "") in ("string", "large_string"):
            return {"Tags": ("Tags", tags_expr("_raw"))}
        return {}

    @classmethod
    def mapping(cls) -> list[tuple[str, str]]:
        rows = []
        for name in columns(CANONICAL_VERSION):
            since = next(v for v in ("1.0", "1.1", "1.2") if name in columns(v))
            note = f"same column (FOCUS {since}+)"
            if name == "Tags":
                note += "; JSON object text or map -> MAP(VARCHAR, VARCHAR)"
            elif CANONICAL_BY_NAME[name].sql_type == DECIMAL:
                note += "; exact DECIMAL(38,18) (floats via their shortest text)"
            elif CANONICAL_BY_NAME[name].sql_type == TIMESTAMP:
                note += "; ISO 8601 or `YYYY-MM-DD HH:MM:SS` (1.0), read as UTC"
            elif name in UNIT_COLUMNS:
                note += "; spelling rewritten to the FOCUS unit format (`GB Hours` -> `GB-Hours`)"
            elif name in ALLOWED:
                note += (
                    "; a value equal to an allowed value but for case, spaces or punctuation is "
                    "spelled as the spec does (`Usage-based` -> `Usage-Based`), see x_SourceValues"
                )
            if name == "ServiceSubcategory":
                note += "; before 1.1: `Other (<ServiceCategory>)`"
            rows.append((name, note))
        rows.append(("x_Provider", "short key of ProviderName (aws, azure, gcp, oci, ...)"))
        rows.append(("x_BillingPeriod", "YYYY-MM of BillingPeriodStart"))
        rows.append(
            (
                SOURCE_VALUES,
                "on a row where an allowed value was respelled, the source's own values as a "
                'JSON object (`{"ChargeFrequency": "Usage-based"}`); else empty',
            )
        )
        rows.append(("x_<column>", "any other source column, e.g. 1.3's ServiceProviderName"))
        return rows

    def extra_columns(self) -> dict[str, str]:
        known = set(columns(CANONICAL_VERSION))
        extra = {extension_name(c): quote(c) for c in self.source.columns if c not in known}
        respelled = {c: (_text(c), ALLOWED[c]) for c in self.source.columns if c in ALLOWED}
        if respelled:
            extra[SOURCE_VALUES] = source_values_expr(respelled)
        return extra


# Columns with allowed values in the canonical version, and those values (case-sensitive).
ALLOWED = allowed_values(CANONICAL_VERSION)
# Provenance of rewritten allowed values: the source's own spelling, per row (JSON or NULL).
SOURCE_VALUES = "x_SourceValues"


def _text(column: str) -> str:
    return f"CAST({quote(column)} AS VARCHAR)"
