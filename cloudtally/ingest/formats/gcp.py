"""The Google Cloud Billing export to BigQuery (standard and detailed usage cost tables) into the
canonical FOCUS 1.2 dataset, from the table as exported: newline-delimited JSON, Parquet, or a
CSV of a query that flattened it.

The export nests: `service{id, description}`, `credits[]`, `labels[]{key, value}`. JSON lines
and Parquet keep the nesting; a CSV names a nested field `service.description` or
`service_description` and holds repeated fields as JSON text. `read_sql` turns any of them into
one relation with flat names (`service_description`), so the mapping is written once.

Money: a row's credits (sustained use, committed use, free tier, promotions, ...) are part of
its charge, so BilledCost = cost + sum(credits.amount), as Google's own query for invoice totals
adds them; the golden totals equal the export's cost plus credits to the last digit.
Commitment fees are billed month by month for that month's usage, so there is nothing to
amortize: EffectiveCost = BilledCost.

Sources: Google Cloud, "Structure of Standard data export" and "Structure of Detailed data
export" (field list, cost_type, credits.type, adjustment_info), "Cloud Billing export to
BigQuery query examples" (invoice total = cost + credits per invoice.month).
"""

from __future__ import annotations

import difflib
from functools import cached_property

import pyarrow as pa
import pyarrow.parquet as pq

from cloudtally.errors import IngestError
from cloudtally.focus.canonical import DECIMAL, TAGS
from cloudtally.ingest.formats.base import (
    ROW_POSITION,
    Converter,
    literal,
    numbered,
    quote,
)
from cloudtally.ingest.formats.expressions import Rule, lookup, utc_timestamp
from cloudtally.ingest.formats.prescan import scan_account_periods
from cloudtally.ingest.source import SourceFile
from cloudtally.sqltext import file_literal

# -- the export's fields ----------------------------------------------------------------------

TEXT, NUMBER, TIME, LABELS, CREDITS = "text", "number", "time", "labels", "credits"

# (path, kind) of every field read, as the detailed export nests them. The standard export has
# all but `resource` and `price`; a missing field reads as NULL.
FIELDS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("billing_account_id",), TEXT),
    (("invoice", "month"), TEXT),
    (("invoice", "publisher_type"), TEXT),
    (("cost_type",), TEXT),
    (("service", "id"), TEXT),
    (("service", "description"), TEXT),
    (("sku", "id"), TEXT),
    (("sku", "description"), TEXT),
    (("usage_start_time",), TIME),
    (("usage_end_time",), TIME),
    (("project", "id"), TEXT),
    (("project", "number"), TEXT),
    (("project", "name"), TEXT),
    (("project", "labels"), LABELS),
    (("labels",), LABELS),
    (("system_labels",), LABELS),
    (("location", "location"), TEXT),
    (("location", "country"), TEXT),
    (("location", "region"), TEXT),
    (("location", "zone"), TEXT),
    (("resource", "name"), TEXT),
    (("resource", "global_name"), TEXT),
    (("cost",), NUMBER),
    (("cost_at_list",), NUMBER),
    (("currency",), TEXT),
    (("currency_conversion_rate",), NUMBER),
    (("usage", "amount"), NUMBER),
    (("usage", "unit"), TEXT),
    (("usage", "amount_in_pricing_units"), NUMBER),
    (("usage", "pricing_unit"), TEXT),
    (("price", "effective_price"), NUMBER),
    (("price", "unit"), TEXT),
    (("price", "pricing_unit_quantity"), NUMBER),
    (("credits",), CREDITS),
    (("adjustment_info", "id"), TEXT),
    (("adjustment_info", "description"), TEXT),
    (("adjustment_info", "mode"), TEXT),
    (("adjustment_info", "type"), TEXT),
    (("transaction_type",), TEXT),
    (("seller_name",), TEXT),
    (("export_time",), TEXT),
)
CREDIT_FIELDS = ("name", "amount", "full_name", "id", "type")
KIND = {path: kind for path, kind in FIELDS}
# Without these a row cannot be costed, dated or filed under an account and invoice month.
REQUIRED = (
    ("billing_account_id",),
    ("invoice", "month"),
    ("cost",),
    ("currency",),
    ("usage_start_time",),
    ("usage_end_time",),
)
SIGNATURE = ("billing_account_id", "usage_start_time", "sku")


def flat(path: tuple[str, ...]) -> str:
    return "_".join(path)


def dotted(path: tuple[str, ...]) -> str:
    return ".".join(path)


def _json_type(kind: str) -> str:
    return {
        TEXT: "VARCHAR",
        # Read straight as exact decimals: read as VARCHAR, DuckDB would give a JSON number's
        # text through a double (17 digits; a VND or IDR cost with 18 decimals has more).
        NUMBER: DECIMAL,
        TIME: "VARCHAR",
        LABELS: "STRUCT(key VARCHAR, value VARCHAR)[]",
        CREDITS: "STRUCT(" + ", ".join(f"{f} {_credit_type(f)}" for f in CREDIT_FIELDS) + ")[]",
    }[kind]


def _credit_type(field: str) -> str:
    """How a credit's field is read from JSON: the amount as an exact decimal (see NUMBER)."""
    return DECIMAL if field == "amount" else "VARCHAR"


def json_columns() -> str:
    """read_json's `columns`: the export's schema, nested as BigQuery writes it."""
    tops: dict[str, list[tuple[str, str]]] = {}
    for path, kind in FIELDS:
        tops.setdefault(path[0], [])
        if len(path) > 1:
            tops[path[0]].append((path[1], _json_type(kind)))
    columns = []
    for top, members in tops.items():
        if members:
            sql_type = "STRUCT(" + ", ".join(f"{quote(m)} {t}" for m, t in members) + ")"
        else:
            sql_type = _json_type(KIND[(top,)])
        columns.append(f"{literal(top)}: {literal(sql_type)}")
    return "{" + ", ".join(columns) + "}"


# -- JSON lines (until source.py knows the container) ----------------------------------------


def _arrow_paths(schema: pa.Schema) -> dict[str, str]:
    """Dotted path -> arrow type of every field, lists looked through (`credits.amount`)."""
    found: dict[str, str] = {}

    def walk(prefix: str, field_type: pa.DataType) -> None:
        found[prefix] = str(field_type)
        if pa.types.is_list(field_type) or pa.types.is_large_list(field_type):
            walk(prefix, field_type.value_type)
            found[prefix] = str(field_type)
        elif pa.types.is_struct(field_type):
            for child in field_type:
                walk(f"{prefix}.{child.name}", child.type)

    for field in schema:
        walk(field.name, field.type)
    return found


# -- values -> FOCUS values -------------------------------------------------------------------

# service.description -> (ServiceCategory, ServiceSubcategory); any other is `Other`.
SERVICE_CATEGORIES: dict[str, tuple[str, str]] = {
    "App Engine": ("Web", "Application Platforms"),
    "Artifact Registry": ("Developer Tools", "Source Code Management"),
    "BigQuery": ("Databases", "Data Warehouses"),
    "BigQuery Reservation API": ("Databases", "Data Warehouses"),
    "BigQuery Storage API": ("Databases", "Data Warehouses"),
    "Bigtable": ("Databases", "NoSQL Databases"),
    "Cloud Build": ("Developer Tools", "Continuous Integration and Deployment"),
    "Cloud DNS": ("Networking", "Network Routing"),
    "Cloud Dataflow": ("Analytics", "Data Processing"),
    "Cloud Dataproc": ("Analytics", "Data Processing"),
    "Cloud Functions": ("Compute", "Serverless Compute"),
    "Cloud Key Management Service (KMS)": ("Security", "Secret Management"),
    "Cloud Logging": ("Management and Governance", "Observability"),
    "Cloud Memorystore for Redis": ("Databases", "Caching"),
    "Cloud Monitoring": ("Management and Governance", "Observability"),
    "Cloud Pub/Sub": ("Integration", "Messaging"),
    "Cloud Run": ("Compute", "Serverless Compute"),
    "Cloud SQL": ("Databases", "Relational Databases"),
    "Cloud Spanner": ("Databases", "Relational Databases"),
    "Cloud Storage": ("Storage", "Object Storage"),
    "Compute Engine": ("Compute", "Virtual Machines"),
    "Firestore": ("Databases", "NoSQL Databases"),
    "Kubernetes Engine": ("Compute", "Containers"),
    "Google Kubernetes Engine": ("Compute", "Containers"),
    "Looker Studio": ("Analytics", "Business Intelligence"),
    "Networking": ("Networking", "Network Infrastructure"),
    "Secret Manager": ("Security", "Secret Management"),
    "Support": ("Management and Governance", "Support"),
    "Vertex AI": ("AI and Machine Learning", "AI Platforms"),
}
# usage.unit and usage.pricing_unit spellings -> the FOCUS unit format.
UNITS: dict[str, str] = {
    "byte-seconds": "Byte-Seconds", "bytes": "Bytes", "count": "Count", "day": "Days",
    "gibibyte": "GiB", "gibibyte hour": "GiB-Hours", "gibibyte month": "GiB-Months",
    "gibibyte second": "GiB-Seconds", "hour": "Hours", "hours": "Hours",
    "mebibyte": "MiB", "month": "Months", "request": "Requests", "requests": "Requests",
    "second": "Seconds", "seconds": "Seconds", "tebibyte": "TiB", "tebibyte month": "TiB-Months",
}  # fmt: skip
# adjustment_info.type values that grant money back rather than correct a charge.
GRANTS = ("GOODWILL", "SALES_BASED_GOODWILL", "SLA_VIOLATION")
# Resource-based (`Commitment v1: ...`) and spend-based (`Commitment - dollar based v1: ...`)
# commitment fees: billed monthly, as purchases.
COMMITMENT_FEE = "coalesce(sku_description ILIKE 'Commitment%', false)"
CUD_CREDIT = "(list_filter(credits, lambda c: c.type LIKE 'COMMITTED_USAGE_DISCOUNT%')[1])"
IS_PRICED = "ChargeCategory IN ('Usage', 'Purchase')"

MAPPING: dict[str, Rule] = {
    "ProviderName": Rule("'Google Cloud'", "`Google Cloud`"),
    "PublisherName": Rule(
        "CASE WHEN transaction_type LIKE 'THIRD_PARTY%' "
        "THEN coalesce(seller_name, 'Google Cloud') ELSE 'Google Cloud' END",
        "seller_name on Marketplace rows (transaction_type THIRD_PARTY_*), else `Google Cloud`",
    ),
    "InvoiceIssuerName": Rule("'Google Cloud'", "`Google Cloud`"),
    "BillingAccountId": Rule("billing_account_id", "billing_account_id"),
    "BillingAccountType": Rule("'Billing Account'", "`Billing Account`"),
    "SubAccountId": Rule("project_id", "project.id"),
    "SubAccountName": Rule("project_name", "project.name"),
    "SubAccountType": Rule("CASE WHEN project_id IS NOT NULL THEN 'Project' END", "`Project`"),
    # The invoice month, not the usage time: usage at a month's end can be on the next invoice.
    "BillingPeriodStart": Rule("_PeriodStart", "invoice.month (YYYYMM), first day 00:00 UTC"),
    "BillingPeriodEnd": Rule("_PeriodStart + INTERVAL 1 MONTH", "a month after the start"),
    "ChargePeriodStart": Rule("usage_start_time", "usage_start_time"),
    "ChargePeriodEnd": Rule("usage_end_time", "usage_end_time"),
    "ChargeCategory": Rule(
        "ChargeCategory",
        "cost_type: regular -> `Usage` (`Purchase` for commitment fees, sku.description "
        "`Commitment...`); tax -> `Tax`; adjustment -> `Credit` for goodwill and SLA credits "
        f"(adjustment_info.type {', '.join(GRANTS)}), else `Adjustment`; rounding_error -> "
        "`Adjustment`",
    ),
    "ChargeClass": Rule(
        "CASE WHEN cost_type = 'adjustment' AND adjustment_info_type LIKE '%CORRECTION' "
        "THEN 'Correction' END",
        "`Correction` on adjustments of type USAGE_, PRICE_ or METADATA_CORRECTION",
    ),
    "ChargeDescription": Rule(
        "coalesce(sku_description, adjustment_info_description)",
        "sku.description, else adjustment_info.description",
    ),
    "ChargeFrequency": Rule(
        f"CASE WHEN {COMMITMENT_FEE} THEN 'Recurring' WHEN ChargeCategory = 'Usage' "
        "THEN 'Usage-Based' ELSE 'One-Time' END",
        "`Recurring` for commitment fees, `Usage-Based` for usage, else `One-Time`",
    ),
    "BilledCost": Rule("cost + _Credits", "cost + sum(credits.amount), exact"),
    "EffectiveCost": Rule(
        "cost + _Credits",
        "cost + sum(credits.amount): commitment fees are billed monthly for the month's usage, "
        "with nothing to amortize",
    ),
    "ListCost": Rule("coalesce(cost_at_list, cost)", "cost_at_list, else cost"),
    "ContractedCost": Rule("cost", "cost (before credits, at the account's contracted prices)"),
    "ContractedUnitPrice": Rule(
        f"CASE WHEN {IS_PRICED} THEN price_effective_price END",
        "price.effective_price (detailed export)",
    ),
    "PricingCategory": Rule(
        f"CASE WHEN NOT {IS_PRICED} THEN NULL WHEN {CUD_CREDIT} IS NOT NULL THEN 'Committed' "
        "WHEN sku_description ILIKE '%preemptible%' OR sku_description ILIKE '%spot %' "
        "THEN 'Dynamic' ELSE 'Standard' END",
        "`Committed` with a committed use discount credit, `Dynamic` for Spot and preemptible "
        "SKUs, else `Standard`",
    ),
    "PricingQuantity": Rule(
        f"CASE WHEN {IS_PRICED} THEN usage_amount_in_pricing_units END",
        "usage.amount_in_pricing_units",
    ),
    "PricingUnit": Rule(
        f"CASE WHEN {IS_PRICED} THEN "
        f"{lookup(UNITS, 'lower(usage_pricing_unit)', 'usage_pricing_unit')} END",
        "usage.pricing_unit in the FOCUS unit format (`gibibyte month` -> `GiB-Months`)",
    ),
    "BillingCurrency": Rule("currency", "currency"),
    "ConsumedQuantity": Rule(
        "CASE WHEN ChargeCategory = 'Usage' THEN usage_amount END", "usage.amount, usage rows"
    ),
    "ConsumedUnit": Rule(
        "CASE WHEN ChargeCategory = 'Usage' AND usage_amount IS NOT NULL THEN "
        f"{lookup(UNITS, 'lower(usage_unit)', 'usage_unit')} END",
        "usage.unit in the FOCUS unit format (`byte-seconds` -> `Byte-Seconds`), usage rows",
    ),
    "ServiceName": Rule(
        "coalesce(service_description, CASE WHEN cost_type = 'tax' THEN 'Tax' END, 'Google Cloud')",
        "service.description",
    ),
    "ServiceCategory": Rule(
        lookup({k: v[0] for k, v in SERVICE_CATEGORIES.items()}, "service_description", "'Other'"),
        "from service.description by cloudtally's table (gcp.py), else `Other`",
    ),
    "ServiceSubcategory": Rule(
        lookup(
            {k: v[1] for k, v in SERVICE_CATEGORIES.items()},
            "service_description",
            "'Other (Other)'",
        ),
        "from service.description by the same table, else `Other (Other)`",
    ),
    "SkuId": Rule("sku_id", "sku.id"),
    "SkuMeter": Rule("sku_description", "sku.description"),
    "ResourceId": Rule("resource_global_name", "resource.global_name (detailed export)"),
    "ResourceName": Rule("resource_name", "resource.name (detailed export)"),
    "ResourceType": Rule(
        "NULLIF(regexp_extract(resource_global_name, '/([A-Za-z]+)/[^/]+$', 1), '')",
        "the collection in resource.global_name (`.../instances/123` -> `instances`)",
    ),
    "RegionId": Rule("location_region", "location.region"),
    "RegionName": Rule("location_region", "location.region (the export has no display name)"),
    "AvailabilityZone": Rule("location_zone", "location.zone"),
    "CommitmentDiscountId": Rule(f"{CUD_CREDIT}.id", "id of the row's committed use credit"),
    "CommitmentDiscountName": Rule(
        f"coalesce({CUD_CREDIT}.full_name, {CUD_CREDIT}.name)",
        "full_name (else name) of the row's committed use credit",
    ),
    "CommitmentDiscountCategory": Rule(
        f"CASE WHEN {CUD_CREDIT}.type = 'COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE' THEN 'Spend' "
        f"WHEN {CUD_CREDIT} IS NOT NULL THEN 'Usage' END",
        "`Spend` (COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE credit) or `Usage` "
        "(COMMITTED_USAGE_DISCOUNT)",
    ),
    "CommitmentDiscountType": Rule(
        f"CASE WHEN {CUD_CREDIT} IS NOT NULL THEN 'Committed Use Discount' END",
        "`Committed Use Discount`",
    ),
    "CommitmentDiscountStatus": Rule(
        f"CASE WHEN {CUD_CREDIT} IS NOT NULL AND ChargeCategory = 'Usage' THEN 'Used' END",
        "`Used` on usage with a committed use credit",
    ),
    "Tags": Rule(
        "NULLIF(map_concat(coalesce(system_labels, MAP {}), coalesce(labels, MAP {})), MAP {})",
        "labels, with system_labels (`goog-...`, provider-prefixed already); project labels "
        "are kept in x_ProjectLabels",
    ),
    "x_Provider": Rule("'gcp'", "`gcp`"),
    "x_BillingPeriod": Rule("strftime(_PeriodMonth, '%Y-%m')", "invoice.month as YYYY-MM"),
}
EXTRA_COLUMNS: dict[str, Rule] = {
    "x_Cost": Rule("cost", "cost (before credits)"),
    "x_CreditsAmount": Rule("_Credits", "sum(credits.amount)"),
    "x_Credits": Rule("NULLIF(CAST(to_json(credits) AS VARCHAR), '[]')", "credits as JSON text"),
    "x_CostType": Rule("cost_type", "cost_type"),
    "x_InvoiceMonth": Rule("invoice_month", "invoice.month"),
    "x_ServiceId": Rule("service_id", "service.id"),
    "x_ProjectNumber": Rule("project_number", "project.number"),
    "x_ProjectLabels": Rule("project_labels", "project.labels as a map"),
    "x_Location": Rule("location_location", "location.location"),
    "x_Country": Rule("location_country", "location.country"),
    "x_CurrencyConversionRate": Rule("currency_conversion_rate", "currency_conversion_rate"),
    "x_AdjustmentId": Rule("adjustment_info_id", "adjustment_info.id"),
    "x_AdjustmentType": Rule("adjustment_info_type", "adjustment_info.type"),
    "x_AdjustmentMode": Rule("adjustment_info_mode", "adjustment_info.mode"),
    "x_TransactionType": Rule("transaction_type", "transaction_type"),
    "x_ExportTime": Rule("export_time", "export_time"),
}
NOT_MAPPED = (
    "InvoiceId, BillingAccountName, ListUnitPrice, SkuPriceId, SkuPriceDetails, the "
    "PricingCurrency, CommitmentDiscountQuantity/Unit and CapacityReservation columns are "
    "empty: the export has no source for them"
)


class GcpBillingExportConverter(Converter):
    """Google Cloud Billing export to BigQuery, standard or detailed (resource-level) usage cost
    table, as exported: newline-delimited JSON or Parquet with the nested schema, or a CSV of a
    query that flattened it (`service.description` or `service_description`, repeated fields
    such as labels and credits as JSON text). BilledCost is cost plus the row's credits, so the
    totals per invoice month equal the invoice; the billing period is `invoice.month`."""

    name = "gcp"
    header_only = True
    description = (
        "Google Cloud Billing export to BigQuery, standard or detailed (JSONL, Parquet, CSV)"
    )

    @classmethod
    def matches(cls, source: SourceFile) -> bool:
        names = {c.lower().replace(".", "_") for c in source.columns}
        tops = {n.split("_")[0] for n in names} | names
        return all(s in tops for s in SIGNATURE)

    # -- where each field is --------------------------------------------------------------------

    @cached_property
    def _parquet_paths(self) -> dict[str, str]:
        return _arrow_paths(pq.read_schema(self.source.path))

    @cached_property
    def _csv_columns(self) -> dict[str, str]:
        """Dotted path -> the CSV column holding it (`service.description` or `_description`)."""
        by_name = {c.lower(): c for c in self.source.columns}
        found = {}
        for path, _ in FIELDS:
            for spelling in (dotted(path), flat(path)):
                if spelling in by_name:
                    found[dotted(path)] = by_name[spelling]
                    break
        return found

    def _has(self, path: tuple[str, ...]) -> bool:
        if self.source.container == "jsonl":
            return path[0] in self.source.columns
        if self.source.container == "parquet":
            return dotted(path) in self._parquet_paths
        return dotted(path) in self._csv_columns

    def validate(self) -> None:
        missing = [path for path in REQUIRED if not self._has(path)]
        if missing:
            path = dotted(missing[0])
            present = list(self.source.columns)
            close = difflib.get_close_matches(path, present, n=1, cutoff=0.75)
            close = close or difflib.get_close_matches(flat(missing[0]), present, n=1, cutoff=0.75)
            hint = f" Column {close[0]!r} looks like it, renamed." if close else ""
            raise IngestError(
                f"{self.source.label}: a Cloud Billing export needs the field {path}, which is "
                f"missing.{hint} Export the billing table with all its fields (a CSV names "
                f"nested fields {path} or {flat(missing[0])}) and run again."
            )
        currency = self._csv_columns.get("currency", "currency")
        scan_account_periods(self, currency)

    # -- reading ----------------------------------------------------------------------------------

    def reader_types(self) -> dict[str, str]:
        # Numbers parsed by the CSV reader: exact decimals, bad values reported by line.
        return {
            column: DECIMAL
            for path, column in self._csv_columns.items()
            if KIND.get(tuple(path.split("."))) == NUMBER
        }

    def _raw_sql(self) -> str:
        path = file_literal(self.source.path)
        if self.source.container == "jsonl":
            return (
                f"read_json({path}, format = 'newline_delimited', columns = {json_columns()}, "
                "maximum_object_size = 16777216)"
            )
        if self.source.container == "parquet":
            return f"read_parquet({path})"
        return Converter.reader_sql(self)

    def _value(self, path: tuple[str, ...]) -> str:
        """A field as the raw file holds it, or NULL."""
        if not self._has(path):
            return "NULL"
        if self.source.container == "csv":
            return quote(self._csv_columns[dotted(path)])
        return "raw." + ".".join(quote(p) for p in path)

    def _field(self, path: tuple[str, ...], kind: str) -> str:
        value = self._value(path)
        arrow = (
            self._parquet_paths.get(dotted(path), "") if self.source.container == "parquet" else ""
        )
        if kind == NUMBER:
            if value == "NULL":
                return f"CAST(NULL AS {DECIMAL})"
            if self.source.container == "csv":
                return value
            return _number(value, arrow)
        if kind == TIME:
            if value == "NULL":
                return "CAST(NULL AS TIMESTAMPTZ)"
            if arrow.startswith("timestamp"):
                return value if "tz=" in arrow else f"timezone('UTC', {value})"
            return utc_timestamp(value, f"field {dotted(path)}")
        if kind == LABELS:
            return self._labels(value)
        if kind == CREDITS:
            return self._credits(value)
        if value == "NULL":
            return "CAST(NULL AS VARCHAR)"
        return f"NULLIF(CAST({value} AS VARCHAR), '')"

    def _labels(self, value: str) -> str:
        if value == "NULL":
            return f"CAST(NULL AS {TAGS})"
        if self.source.container == "csv":
            # JSON text: a list of {"key", "value"} (BigQuery's TO_JSON_STRING) or an object.
            text = f"NULLIF(trim({value}), '')"
            pairs = f'from_json({text}, \'[{{"key":"VARCHAR","value":"VARCHAR"}}]\')'
            return (
                f"CASE WHEN starts_with({text}, '[') THEN map_from_entries({pairs}) "
                f"ELSE CAST(CAST({text} AS JSON) AS {TAGS}) END"
            )
        entries = (
            f"list_transform({value}, lambda e: struct_pack(k := CAST(e.key AS VARCHAR), "
            "v := CAST(e.value AS VARCHAR)))"
        )
        return f"map_from_entries({entries})"

    def _credits(self, value: str) -> str:
        empty = (
            "CAST([] AS STRUCT("
            + ", ".join(f"{f} {DECIMAL if f == 'amount' else 'VARCHAR'}" for f in CREDIT_FIELDS)
            + ")[])"
        )
        if value == "NULL":
            return empty
        if self.source.container == "csv":
            schema = "[{" + ", ".join(f'"{f}":"{_credit_type(f)}"' for f in CREDIT_FIELDS) + "}]"
            value = f"from_json(NULLIF(trim({value}), ''), {literal(schema)})"
            present = set(CREDIT_FIELDS)
        elif self.source.container == "parquet":
            present = {f for f in CREDIT_FIELDS if f"credits.{f}" in self._parquet_paths}
        else:
            present = set(CREDIT_FIELDS)
        members = []
        for f in CREDIT_FIELDS:
            member = f"c.{quote(f)}" if f in present else "NULL"
            if f == "amount":
                arrow = (
                    self._parquet_paths.get("credits.amount", "")
                    if self.source.container == "parquet"
                    else ""
                )
                member = _number(member, arrow)
            else:
                member = f"CAST({member} AS VARCHAR)"
            members.append(f"{f} := {member}")
        return f"coalesce(list_transform({value}, lambda c: struct_pack({', '.join(members)})), {empty})"

    def read_sql(self, numbered_rows: bool = False) -> str:
        """The file as one relation with flat field names (`service_description`), numbers as
        exact decimals, times as UTC, labels as maps and credits as a list of structs."""
        fields = ",\n    ".join(f"{self._field(p, k)} AS {quote(flat(p))}" for p, k in FIELDS)
        raw = self._raw_sql()
        if numbered_rows:
            fields += f",\n    raw.{ROW_POSITION}"
            raw = numbered(raw, self.source.container)
        base = f"SELECT {fields}\n  FROM {raw} AS raw"
        other = (
            "CASE cost_type WHEN 'tax' THEN 'Tax' WHEN 'rounding_error' THEN 'Adjustment' "
            f"WHEN 'adjustment' THEN CASE WHEN adjustment_info_type IN "
            f"({', '.join(literal(g) for g in GRANTS)}) THEN 'Credit' ELSE 'Adjustment' END "
            f"ELSE CASE WHEN {COMMITMENT_FEE} THEN 'Purchase' ELSE 'Usage' END END"
        )
        month = (
            "CASE WHEN invoice_month IS NULL THEN NULL ELSE coalesce("
            "CAST(try_strptime(invoice_month, '%Y%m') AS DATE), error('field invoice.month: ' || "
            "invoice_month || ' is not a month (YYYYMM); fix the value and run again')) END"
        )
        derived = (
            f"{other} AS ChargeCategory, "
            "coalesce(list_sum(list_transform(credits, lambda c: c.amount)), 0) AS _Credits, "
            f"{month} AS _PeriodMonth"
        )
        return (
            f"(SELECT *, timezone('UTC', CAST(_PeriodMonth AS TIMESTAMP)) AS _PeriodStart "
            f"FROM (SELECT *, {derived}\n  FROM ({base})))"
        )

    def expressions(self) -> dict[str, str]:
        return {column: rule.sql for column, rule in MAPPING.items()}

    def extra_columns(self) -> dict[str, str]:
        return {column: rule.sql for column, rule in EXTRA_COLUMNS.items()}

    @classmethod
    def mapping(cls) -> list[tuple[str, str]]:
        rows = [(column, rule.doc) for column, rule in MAPPING.items()]
        rows += [(column, rule.doc) for column, rule in EXTRA_COLUMNS.items()]
        rows.append(("(not mapped)", NOT_MAPPED))
        return rows


def _number(value: str, arrow_type: str) -> str:
    """An exact decimal: from text as written, from a double through its shortest text (so
    0.1 stays 0.1, not 0.1000000000000000055)."""
    if value == "NULL":
        return f"CAST(NULL AS {DECIMAL})"
    if arrow_type.startswith(("double", "float", "halffloat")):
        return f"CAST(CAST({value} AS VARCHAR) AS {DECIMAL})"
    if arrow_type.startswith(("decimal", "int", "uint")):
        return f"CAST({value} AS {DECIMAL})"
    return f"CAST(NULLIF(trim(CAST({value} AS VARCHAR)), '') AS {DECIMAL})"
