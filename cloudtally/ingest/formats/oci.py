"""Oracle Cloud Infrastructure cost reports into the canonical FOCUS 1.2 dataset.

A cost report is a CSV (often gzip) with `lineItem/...`, `product/...`, `usage/...`, `cost/...`
columns and one `tags/<namespace>.<key>` column per tag. BilledCost is `cost/myCost`, line for
line: the FinOps Foundation's converter read the empty `cost/myCostOverage` instead and lost
every charge. Corrections (`lineItem/isCorrection`) keep their sign and are marked
`Correction`.

Sources: Oracle Cloud Infrastructure documentation, "Cost and Usage Reports Overview" (the cost
report's columns); the FOCUS 1.2 specification for what each FOCUS column must hold.
"""

from __future__ import annotations

import difflib
import re
from functools import cached_property

from cloudtally.errors import IngestError
from cloudtally.focus.canonical import DECIMAL, TAGS
from cloudtally.ingest.formats.base import ROW_POSITION, Converter, literal, quote
from cloudtally.ingest.formats.expressions import Rule, lookup, times, utc_timestamp
from cloudtally.ingest.formats.prescan import scan_account_periods
from cloudtally.ingest.source import SourceFile

# Relation name -> the cost report's column (matched without regard to case).
COLUMNS = {
    "referenceNo": "lineItem/referenceNo",
    "tenantId": "lineItem/tenantId",
    "intervalUsageStart": "lineItem/intervalUsageStart",
    "intervalUsageEnd": "lineItem/intervalUsageEnd",
    "isCorrection": "lineItem/isCorrection",
    "backreferenceNo": "lineItem/backreferenceNo",
    "service": "product/service",
    "resource": "product/resource",
    "compartmentId": "product/compartmentId",
    "compartmentName": "product/compartmentName",
    "region": "product/region",
    "availabilityDomain": "product/availabilityDomain",
    "resourceId": "product/resourceId",
    "description": "product/Description",
    "billedQuantity": "usage/billedQuantity",
    "billedQuantityOverage": "usage/billedQuantityOverage",
    "consumedQuantity": "usage/consumedQuantity",
    "consumedQuantityUnits": "usage/consumedQuantityUnits",
    "consumedQuantityMeasure": "usage/consumedQuantityMeasure",
    "subscriptionId": "cost/subscriptionId",
    "productSku": "cost/productSku",
    "unitPrice": "cost/unitPrice",
    "unitPriceOverage": "cost/unitPriceOverage",
    "myCost": "cost/myCost",
    "myCostOverage": "cost/myCostOverage",
    "currencyCode": "cost/currencyCode",
    "billingUnitReadable": "cost/billingUnitReadable",
    "skuUnitDescription": "cost/skuUnitDescription",
    "overageFlag": "cost/overageFlag",
}
NUMBERS = {
    "billedQuantity",
    "billedQuantityOverage",
    "consumedQuantity",
    "unitPrice",
    "unitPriceOverage",
    "myCost",
    "myCostOverage",
}
TIMES = {"intervalUsageStart", "intervalUsageEnd"}
REQUIRED = ("intervalUsageStart", "intervalUsageEnd", "myCost", "currencyCode", "tenantId")
SIGNATURE = (
    "referenceNo",
    "tenantId",
    "intervalUsageStart",
    "compartmentId",
    "myCost",
    "currencyCode",
)
TAG_PREFIX = "tags/"

# product/service -> (ServiceCategory, ServiceSubcategory); any other is `Other`.
SERVICE_CATEGORIES: dict[str, tuple[str, str]] = {
    "ANALYTICS": ("Analytics", "Business Intelligence"),
    "API_GATEWAY": ("Integration", "API Management"),
    "ARCHIVE_STORAGE": ("Storage", "Backup Storage"),
    "AUTONOMOUS_DATABASE": ("Databases", "Relational Databases"),
    "BASTION": ("Networking", "Network Security"),
    "BLOCK_STORAGE": ("Storage", "Block Storage"),
    "CLOUD_GUARD": ("Security", "Security Posture Management"),
    "COMPUTE": ("Compute", "Virtual Machines"),
    "CONTAINER_ENGINE": ("Compute", "Containers"),
    "DATA_SCIENCE": ("AI and Machine Learning", "AI Platforms"),
    "DATABASE": ("Databases", "Relational Databases"),
    "DNS": ("Networking", "Network Routing"),
    "FASTCONNECT": ("Networking", "Network Connectivity"),
    "FILE_STORAGE": ("Storage", "File Storage"),
    "FUNCTIONS": ("Compute", "Serverless Compute"),
    "INTEGRATION": ("Integration", "Other (Integration)"),
    "KEY_MANAGEMENT": ("Security", "Secret Management"),
    "LOAD_BALANCER": ("Networking", "Application Networking"),
    "LOGGING": ("Management and Governance", "Observability"),
    "MONITORING": ("Management and Governance", "Observability"),
    "MYSQL": ("Databases", "Relational Databases"),
    "NETWORK": ("Networking", "Network Infrastructure"),
    "NOSQL": ("Databases", "NoSQL Databases"),
    "NOTIFICATIONS": ("Integration", "Messaging"),
    "OBJECTSTORE": ("Storage", "Object Storage"),
    "ORACLE_STREAMING_SERVICE": ("Integration", "Messaging"),
    "TELEMETRY": ("Management and Governance", "Observability"),
    "VAULT": ("Security", "Secret Management"),
    "WAF": ("Networking", "Network Security"),
}
TIME_UNITS = {
    "SECONDS": "Seconds",
    "MINUTES": "Minutes",
    "HOURS": "Hours",
    "DAYS": "Days",
    "MONTHS": "Months",
    "YEARS": "Years",
}

# cost/billingUnitReadable is `<multiplier> <size unit> <time unit> <measure>`, each NONE when
# absent: `1 GiB MONTHS STORAGE_SIZE`, `1 NONE HOURS INSTANCE`, `1000000 NONE NONE DATAPOINTS`.
_UNIT = r"^([0-9]+) (\S+) (\S+) (\S+)$"


def _part(n: int) -> str:
    return f"regexp_extract(billingUnitReadable, {literal(_UNIT)}, {n})"


_SIZE = f"NULLIF({_part(2)}, 'NONE')"
_TIME = f"NULLIF({_part(3)}, 'NONE')"
_MEASURE = f"replace(lower({_part(4)}), '_', ' ')"
_BASE_UNIT = (
    f"CASE WHEN {_SIZE} IS NOT NULL AND {_TIME} IS NOT NULL "
    f"THEN {_SIZE} || '-' || {lookup(TIME_UNITS, _TIME, _TIME)} "
    f"WHEN {_SIZE} IS NOT NULL THEN {_SIZE} "
    f"WHEN {_TIME} IS NOT NULL THEN {lookup(TIME_UNITS, _TIME, _TIME)} "
    f"ELSE upper(left({_MEASURE}, 1)) || substr({_MEASURE}, 2) END"
)
PRICING_UNIT = (
    f"CASE WHEN NOT regexp_matches(coalesce(billingUnitReadable, ''), {literal(_UNIT)}) "
    "THEN skuUnitDescription "
    f"WHEN {_part(1)} = '1' THEN {_BASE_UNIT} ELSE {_part(1)} || ' ' || {_BASE_UNIT} END"
)
IS_USAGE = "ChargeCategory = 'Usage'"

MAPPING: dict[str, Rule] = {
    "ProviderName": Rule("'Oracle'", "`Oracle`"),
    "PublisherName": Rule("'Oracle'", "`Oracle`"),
    "InvoiceIssuerName": Rule("'Oracle'", "`Oracle`"),
    # A subscription is what Oracle invoices; the tenancy consumes under it.
    "BillingAccountId": Rule(
        "coalesce(subscriptionId, tenantId)", "cost/subscriptionId, else lineItem/tenantId"
    ),
    "BillingAccountType": Rule(
        "CASE WHEN subscriptionId IS NOT NULL THEN 'Subscription' ELSE 'Tenancy' END",
        "`Subscription` (`Tenancy` without cost/subscriptionId)",
    ),
    "SubAccountId": Rule("tenantId", "lineItem/tenantId (the tenancy OCID)"),
    "SubAccountType": Rule("'Tenancy'", "`Tenancy`"),
    "BillingPeriodStart": Rule(
        "_PeriodStart", "first day of lineItem/intervalUsageStart's month, 00:00 UTC"
    ),
    "BillingPeriodEnd": Rule("_PeriodStart + INTERVAL 1 MONTH", "a month after the start"),
    "ChargePeriodStart": Rule("intervalUsageStart", "lineItem/intervalUsageStart"),
    "ChargePeriodEnd": Rule("intervalUsageEnd", "lineItem/intervalUsageEnd"),
    "ChargeCategory": Rule(
        "ChargeCategory",
        "`Usage`; `Credit` for a negative cost/myCost that corrects nothing",
    ),
    "ChargeClass": Rule(
        "CASE WHEN _Correction THEN 'Correction' END",
        "`Correction` when lineItem/isCorrection is true (lineItem/backreferenceNo is the line "
        "it corrects)",
    ),
    "ChargeDescription": Rule("description", "product/Description"),
    "ChargeFrequency": Rule(
        "CASE WHEN ChargeCategory = 'Credit' THEN 'One-Time' ELSE 'Usage-Based' END",
        "`Usage-Based` (`One-Time` for credits)",
    ),
    "BilledCost": Rule("myCost", "cost/myCost, exact"),
    "EffectiveCost": Rule(
        "myCost", "cost/myCost (the report has no upfront purchases to amortize)"
    ),
    "ListCost": Rule("myCost", "cost/myCost (the report has no list prices)"),
    "ContractedCost": Rule(
        f"CASE WHEN {IS_USAGE} THEN coalesce({times('unitPrice', 'billedQuantity')}, myCost) "
        "ELSE myCost END",
        "cost/unitPrice x usage/billedQuantity on usage, else cost/myCost",
    ),
    "ContractedUnitPrice": Rule(
        f"CASE WHEN {IS_USAGE} THEN unitPrice END", "cost/unitPrice (usage rows)"
    ),
    "PricingCategory": Rule(f"CASE WHEN {IS_USAGE} THEN 'Standard' END", "`Standard` (usage)"),
    "PricingQuantity": Rule(
        f"CASE WHEN {IS_USAGE} THEN billedQuantity END", "usage/billedQuantity (usage rows)"
    ),
    "PricingUnit": Rule(
        f"CASE WHEN {IS_USAGE} THEN {PRICING_UNIT} END",
        "cost/billingUnitReadable in the FOCUS unit format (`1 GiB MONTHS STORAGE_SIZE` -> "
        "`GiB-Months`, `1000000 NONE NONE DATAPOINTS` -> `1000000 Datapoints`), else "
        "cost/skuUnitDescription",
    ),
    "BillingCurrency": Rule("currencyCode", "cost/currencyCode"),
    "ConsumedQuantity": Rule(
        f"CASE WHEN {IS_USAGE} AND NOT _Correction "
        "THEN coalesce(consumedQuantity, billedQuantity) END",
        "usage/consumedQuantity, else usage/billedQuantity (usage rows)",
    ),
    "ConsumedUnit": Rule(
        f"CASE WHEN {IS_USAGE} AND NOT _Correction THEN CASE WHEN consumedQuantity IS NOT NULL "
        f"THEN consumedQuantityUnits ELSE {PRICING_UNIT} END END",
        "usage/consumedQuantityUnits, else the pricing unit",
    ),
    "ServiceName": Rule("coalesce(service, 'Oracle Cloud')", "product/service"),
    "ServiceCategory": Rule(
        lookup({k: v[0] for k, v in SERVICE_CATEGORIES.items()}, "service", "'Other'"),
        "from product/service by cloudtally's table (oci.py), else `Other`",
    ),
    "ServiceSubcategory": Rule(
        lookup({k: v[1] for k, v in SERVICE_CATEGORIES.items()}, "service", "'Other (Other)'"),
        "from product/service by the same table, else `Other (Other)`",
    ),
    "SkuId": Rule("productSku", "cost/productSku"),
    "ResourceId": Rule("resourceId", "product/resourceId"),
    "ResourceType": Rule(
        "coalesce(resource, NULLIF(regexp_extract(resourceId, '^ocid[0-9]+\\.([a-z0-9_]+)\\.', 1), ''))",
        "product/resource, else the resource type in the OCID (`ocid1.instance...` -> `instance`)",
    ),
    "RegionId": Rule("region", "product/region"),
    "RegionName": Rule("region", "product/region (the report has no display name)"),
    "AvailabilityZone": Rule("availabilityDomain", "product/availabilityDomain"),
    "Tags": Rule(
        "_Tags", "the non-empty `tags/<key>` columns, key `<key>` (`Oracle-Tags.CreatedBy`)"
    ),
    "x_Provider": Rule("'oci'", "`oci`"),
    "x_BillingPeriod": Rule("strftime(_PeriodMonth, '%Y-%m')", "YYYY-MM of BillingPeriodStart"),
}
EXTRA_COLUMNS: dict[str, Rule] = {
    "x_ReferenceNo": Rule("referenceNo", "lineItem/referenceNo"),
    "x_BackreferenceNo": Rule("backreferenceNo", "lineItem/backreferenceNo"),
    "x_IsCorrection": Rule("isCorrection", "lineItem/isCorrection"),
    "x_CompartmentId": Rule("compartmentId", "product/compartmentId"),
    "x_CompartmentName": Rule("compartmentName", "product/compartmentName"),
    "x_OverageFlag": Rule("overageFlag", "cost/overageFlag"),
    "x_MyCostOverage": Rule("myCostOverage", "cost/myCostOverage"),
    "x_BilledQuantityOverage": Rule("billedQuantityOverage", "usage/billedQuantityOverage"),
    "x_UnitPriceOverage": Rule("unitPriceOverage", "cost/unitPriceOverage"),
    "x_BillingUnitReadable": Rule("billingUnitReadable", "cost/billingUnitReadable"),
}
NOT_MAPPED = (
    "InvoiceId, BillingAccountName, SubAccountName, ResourceName, ListUnitPrice, SkuMeter, "
    "SkuPriceId, SkuPriceDetails, "
    "the PricingCurrency, CommitmentDiscount and CapacityReservation columns are empty: the "
    "cost report has no source for them"
)


class OciCostReportConverter(Converter):
    """Oracle Cloud Infrastructure cost reports (CSV or gzip CSV): `lineItem/...`,
    `product/...`, `usage/...`, `cost/...` columns and one `tags/...` column per tag key.
    BilledCost is `cost/myCost` line for line; the billing account is the subscription, the
    sub account the tenancy; tags come from the `tags/...` columns."""

    name = "oci"
    header_only = True
    description = "Oracle Cloud Infrastructure cost report (CSV, gzip CSV)"

    @classmethod
    def matches(cls, source: SourceFile) -> bool:
        present = {c.lower() for c in source.columns}
        return sum(1 for f in SIGNATURE if COLUMNS[f].lower() in present) >= 2

    @cached_property
    def _columns(self) -> dict[str, str]:
        """Relation name -> the file's column."""
        by_lower = {c.lower(): c for c in self.source.columns}
        return {name: by_lower[c.lower()] for name, c in COLUMNS.items() if c.lower() in by_lower}

    def validate(self) -> None:
        missing = [name for name in REQUIRED if name not in self._columns]
        if missing:
            column = COLUMNS[missing[0]]
            close = difflib.get_close_matches(column, self.source.columns, n=1, cutoff=0.75)
            hint = f" Column {close[0]!r} looks like it, renamed." if close else ""
            raise IngestError(
                f"{self.source.label}: an OCI cost report needs column {column}, which is "
                f"missing.{hint} Download the report again (or restore the column's name) and "
                "run again."
            )
        scan_account_periods(self, self._columns["currencyCode"])

    def reader_types(self) -> dict[str, str]:
        # Money and quantities parsed by the CSV reader: exact decimals (OCI writes numbers
        # like 2.323760000E-9), and a bad value is reported with its line and column.
        return {self._columns[n]: DECIMAL for n in NUMBERS if n in self._columns}

    def _tags(self) -> str:
        pairs = [
            (c[len(TAG_PREFIX) :], quote(c))
            for c in self.source.columns
            if c.lower().startswith(TAG_PREFIX) and len(c) > len(TAG_PREFIX)
        ]
        if not pairs:
            return f"CAST(NULL AS {TAGS})"
        entries = ", ".join(f"struct_pack(k := {literal(k)}, v := {v})" for k, v in pairs)
        kept = f"list_filter([{entries}], lambda e: coalesce(e.v, '') <> '')"
        return f"NULLIF(map_from_entries({kept}), MAP {{}})"

    def _others(self) -> dict[str, str]:
        """`x_<name>` -> file column, for the columns neither mapped nor tags."""
        used = {c.lower() for c in self._columns.values()}
        taken = {n.lower() for n in EXTRA_COLUMNS}
        others = {}
        for column in self.source.columns:
            if column.lower() in used or column.lower().startswith(TAG_PREFIX):
                continue
            name = "x_" + re.sub(r"[^0-9A-Za-z]+", "_", column).strip("_")
            while name.lower() in taken:
                name += "_"
            taken.add(name.lower())
            others[name] = column
        return others

    def read_sql(self, numbered_rows: bool = False) -> str:
        """The report as one relation with short names (`myCost`), times as UTC."""
        fields = []
        for name in COLUMNS:
            column = self._columns.get(name)
            if column is None:
                kind = DECIMAL if name in NUMBERS else "TIMESTAMPTZ" if name in TIMES else "VARCHAR"
                fields.append(f"CAST(NULL AS {kind}) AS {quote(name)}")
            elif name in NUMBERS:
                fields.append(f"{quote(column)} AS {quote(name)}")
            elif name in TIMES:
                fields.append(
                    f"{utc_timestamp(quote(column), f'column {column}')} AS {quote(name)}"
                )
            else:
                fields.append(f"NULLIF(trim({quote(column)}), '') AS {quote(name)}")
        fields += [f"{quote(c)} AS {quote(n)}" for n, c in self._others().items()]
        fields.append(f"{self._tags()} AS _Tags")
        if numbered_rows:
            fields.append(f"raw.{ROW_POSITION}")
        raw = super().read_sql(numbered_rows)
        base = "SELECT " + ",\n    ".join(fields) + f"\n  FROM {raw} AS raw"
        derived = (
            "coalesce(lower(isCorrection) = 'true', false) AS _Correction, "
            "CAST(date_trunc('month', timezone('UTC', intervalUsageStart)) AS DATE) AS _PeriodMonth"
        )
        category = (
            "CASE WHEN myCost < 0 AND NOT _Correction THEN 'Credit' ELSE 'Usage' END "
            "AS ChargeCategory, timezone('UTC', CAST(_PeriodMonth AS TIMESTAMP)) AS _PeriodStart"
        )
        return f"(SELECT *, {category} FROM (SELECT *, {derived} FROM ({base})))"

    def expressions(self) -> dict[str, str]:
        return {column: rule.sql for column, rule in MAPPING.items()}

    def extra_columns(self) -> dict[str, str]:
        kept = {column: rule.sql for column, rule in EXTRA_COLUMNS.items()}
        return kept | {name: quote(name) for name in self._others()}

    @classmethod
    def mapping(cls) -> list[tuple[str, str]]:
        rows = [(column, rule.doc) for column, rule in MAPPING.items()]
        rows += [(column, rule.doc) for column, rule in EXTRA_COLUMNS.items()]
        rows.append(("x_<column>", "any other cost report column (`x_lineItem_foo`)"))
        rows.append(("(not mapped)", NOT_MAPPED))
        return rows
