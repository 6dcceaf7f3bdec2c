"""Azure cost details exports (EA, MCA, pay-as-you-go; actual or amortized) into the canonical
FOCUS 1.2 dataset.

The file is first read into one relation with English field names (`azure_headers`), so the
mapping below is written once for every schema and language. The mapping follows Microsoft's
"Convert Cost Management data to FOCUS" (FinOps toolkit docs, 2025) column by column; where
cloudtally differs, the rule's comment says why.

Money: BilledCost is the export's cost (`CostInBillingCurrency`, `Cost` or `PreTaxCost`) line
for line, except on usage a reservation or savings plan covered, which the provider billed on
the purchase (in an actual export that cost is 0 already). EffectiveCost is the export's cost
except on reservation and savings plan purchases and refunds, which FOCUS amortizes into the
usage they cover (0 here). So an actual export reconciles BilledCost to the invoice to the last
digit, and an amortized export gives the amortized EffectiveCost; `x_CostView` records which
view the file is.

This module also holds `Rule` and `scan_account_periods`, which the GCP and OCI converters use.
"""

from __future__ import annotations

import difflib
import re
from functools import cached_property

from cloudtally.errors import IngestError
from cloudtally.focus.canonical import DECIMAL, TAGS
from cloudtally.ingest.formats.azure_headers import (
    ALIASES,
    DATE_FIELDS,
    LEGACY_REGIONS,
    NUMBER_FIELDS,
    REGION_NAMES,
    REQUIRED,
    SERVICE_CATEGORIES,
    SIGNATURE,
    UNIT_NAMES,
    Header,
    resolve_header,
    spelling_key,
    spellings,
)
from cloudtally.ingest.formats.base import (
    ROW_POSITION,
    Converter,
    literal,
    numbered,
    quote,
)
from cloudtally.ingest.formats.expressions import (
    Rule,
    decimal_expr,
    lookup,
    times,
    utc_day,
)
from cloudtally.ingest.formats.prescan import scan_account_periods
from cloudtally.ingest.source import SourceFile
from cloudtally.sqltext import file_literal

# -- the Azure mapping ---------------------------------------------------------------------------

# The relation's lower-cased charge type and pricing model.
CT = "lower(ChargeType)"
PM = "lower(PricingModel)"
COMMITMENT = f"coalesce({PM} IN ('reservation', 'savingsplan'), false)"
# Usage a reservation or savings plan covered: billed on the purchase, not on this row.
COVERED = f"(coalesce({CT} = 'usage', false) AND {COMMITMENT})"
UNUSED = f"coalesce({CT} IN ('unusedreservation', 'unusedsavingsplan'), false)"
# A reservation or savings plan bought (or refunded): FOCUS amortizes it into covered usage.
COMMITMENT_PURCHASE = f"(coalesce({CT} IN ('purchase', 'refund'), false) AND {COMMITMENT})"

# ChargeType -> ChargeCategory (Microsoft's mapping); any other type is an Adjustment.
CHARGE_CATEGORIES = {
    "usage": "Usage",
    "unusedreservation": "Usage",
    "unusedsavingsplan": "Usage",
    "purchase": "Purchase",
    "refund": "Purchase",
    "tax": "Tax",
    "credit": "Credit",
}
FREQUENCIES = {"onetime": "One-Time", "recurring": "Recurring", "usagebased": "Usage-Based"}
PRICING_CATEGORIES = {
    "ondemand": "Standard",
    "spot": "Dynamic",
    "reservation": "Committed",
    "savingsplan": "Committed",
}

# UnitOfMeasure: `1 Hour`, `10K`, `100 Hours`, `1 GB/Month`, `1/Month`. Cost Management's
# Quantity counts these blocks (`10K` with Quantity 0.0004 is 4 operations at UnitPrice per
# 10,000), so the block is the pricing unit and Quantity the pricing quantity, and the consumed
# quantity is Quantity times the block size, in the block's unit.
UOM_NUMBER = r"^\s*([0-9][0-9,]*(\.[0-9]+)?)"
_AFTER_NUMBER = f"regexp_replace(UnitOfMeasure, {literal(UOM_NUMBER)}, '')"
# `K` or `M` right after the number, alone (`10K`, `1M Transactions`; not `1 KB`).
_MULTIPLIER = (
    f"CASE WHEN regexp_matches({_AFTER_NUMBER}, '^[KkMm](\\s|$|/)') "
    f"THEN upper(left({_AFTER_NUMBER}, 1)) END"
)


def _uom_block_size() -> str:
    number = (
        f"NULLIF(replace(regexp_extract(UnitOfMeasure, {literal(UOM_NUMBER)}, 1), ',', ''), '')"
    )
    scale = f"CASE {_MULTIPLIER} WHEN 'K' THEN 1000 WHEN 'M' THEN 1000000 ELSE 1 END"
    return f"(coalesce(CAST({number} AS DECIMAL(38,6)), 1) * {scale})"


def _uom_unit() -> str:
    rest = (
        f"trim(CASE WHEN {_MULTIPLIER} IS NULL THEN {_AFTER_NUMBER} "
        f"ELSE substr({_AFTER_NUMBER}, 2) END)"
    )
    return lookup(UNIT_NAMES, f"lower({rest})", rest)


BLOCK = "_BlockSize"  # relation columns derived once from UnitOfMeasure
UNIT = "_Unit"
IS_PRICED = "ChargeCategory IN ('Usage', 'Purchase')"

BILLING_ACCOUNT_IS_PROFILE = (
    "(BillingProfileId IS NOT NULL AND BillingAccountId IS NOT NULL "
    "AND BillingProfileId <> BillingAccountId)"
)
SUB_ACCOUNT = (
    "CASE WHEN SubscriptionId LIKE '/subscriptions/%' THEN SubscriptionId "
    "ELSE '/subscriptions/' || SubscriptionId END"
)
COMMITMENT_ID = "coalesce(BenefitId, ReservationId)"
COMMITMENT_KIND = (
    f"CASE WHEN {COMMITMENT_ID} IS NULL THEN NULL "
    f"WHEN lower({COMMITMENT_ID}) LIKE '%/microsoft.billingbenefits/%' THEN 'spend' "
    f"WHEN lower({COMMITMENT_ID}) LIKE '%/microsoft.capacity/%' THEN 'usage' "
    f"WHEN {PM} = 'savingsplan' THEN 'spend' WHEN {PM} = 'reservation' THEN 'usage' END"
)
RATE = "coalesce(ExchangeRatePricingToBilling, 1)"
LIST_UNIT_PRICE = (
    f"CASE WHEN PayGPrice <> 0 OR coalesce(UnitPrice, 0) = 0 THEN {times('PayGPrice', RATE)} END"
)
CONTRACTED_COST = (
    f"CASE WHEN UnitPrice IS NOT NULL AND Quantity IS NOT NULL "
    f"THEN {times(times('UnitPrice', RATE), 'Quantity')} END"
)
SERVICE_NAME = (
    "coalesce(MeterCategory, ServiceName, ConsumedService, "
    "CASE WHEN lower(ChargeType) = 'tax' THEN 'Tax' END, 'Microsoft Azure')"
)

# FOCUS column -> rule over the relation's English field names. Every field of `ALIASES` is a
# column of the relation (NULL when the file lacks it); so are the derived `ChargeCategory`,
# `_BlockSize` and `_Unit` (see `AzureConverter.read_sql`).
MAPPING: dict[str, Rule] = {
    "ProviderName": Rule("'Microsoft'", "`Microsoft`"),
    "PublisherName": Rule(
        "coalesce(PublisherName, 'Microsoft')",
        "PublisherName (the Marketplace publisher), else `Microsoft`",
    ),
    "InvoiceIssuerName": Rule(
        "coalesce(PartnerName, 'Microsoft')", "PartnerName (CSP partner), else `Microsoft`"
    ),
    "InvoiceId": Rule("InvoiceId", "InvoiceId (MCA)"),
    # The account that receives the invoice: the billing profile in an MCA (its id differs
    # from the billing account's), the enrollment in an EA; a pay-as-you-go export names
    # neither, and there the subscription is what is invoiced.
    "BillingAccountId": Rule(
        f"CASE WHEN {BILLING_ACCOUNT_IS_PROFILE} THEN BillingProfileId "
        f"ELSE coalesce(BillingAccountId, BillingProfileId, {SUB_ACCOUNT}) END",
        "MCA: BillingProfileId; EA: BillingAccountId (the enrollment number); without either "
        "(pay-as-you-go): the subscription, as SubAccountId",
    ),
    "BillingAccountName": Rule(
        f"CASE WHEN {BILLING_ACCOUNT_IS_PROFILE} THEN BillingProfileName "
        "WHEN BillingAccountId IS NOT NULL THEN BillingAccountName "
        "WHEN BillingProfileId IS NOT NULL THEN BillingProfileName ELSE SubscriptionName END",
        "BillingProfileName (MCA), BillingAccountName (EA), SubscriptionName (pay-as-you-go)",
    ),
    "BillingAccountType": Rule(
        f"CASE WHEN {BILLING_ACCOUNT_IS_PROFILE} THEN 'Billing Profile' "
        "WHEN BillingAccountId IS NOT NULL THEN 'Billing Account' "
        "WHEN BillingProfileId IS NOT NULL THEN 'Billing Profile' ELSE 'Subscription' END",
        "`Billing Profile` (MCA), `Billing Account` (EA), `Subscription` (pay-as-you-go)",
    ),
    # Microsoft's FOCUS export writes the subscription's resource id; so do we, so that
    # native and FOCUS exports of one subscription group together.
    "SubAccountId": Rule(SUB_ACCOUNT, "`/subscriptions/` + SubscriptionId (GUID)"),
    "SubAccountName": Rule("SubscriptionName", "SubscriptionName"),
    "SubAccountType": Rule("'Subscription'", "`Subscription`"),
    "BillingPeriodStart": Rule(
        utc_day("_PeriodStart"),
        "BillingPeriodStartDate, 00:00 UTC; without it the first day of Date's month",
    ),
    "BillingPeriodEnd": Rule(
        utc_day("coalesce(BillingPeriodEndDate + 1, _PeriodStart + INTERVAL 1 MONTH)"),
        "BillingPeriodEndDate + 1 day (exclusive end); without it a month after the start",
    ),
    # Azure's Date is the day of the charge (MM/DD/YYYY or YYYY-MM-DD, never with a zone): the
    # day starts at 00:00 UTC. (The FinOps Foundation converter read it in local time and
    # shifted charges by a day.)
    "ChargePeriodStart": Rule(utc_day("Date"), "Date, 00:00 UTC (MM/DD/YYYY or YYYY-MM-DD)"),
    "ChargePeriodEnd": Rule(utc_day("Date + 1"), "Date + 1 day, 00:00 UTC"),
    "ChargeCategory": Rule(
        "ChargeCategory",
        "ChargeType: Usage, UnusedReservation, UnusedSavingsPlan -> `Usage`; Purchase, Refund -> "
        "`Purchase`; Tax -> `Tax`; Credit -> `Credit`; any other -> `Adjustment`; no ChargeType "
        "column (pay-as-you-go) -> `Usage`",
    ),
    "ChargeClass": Rule(
        f"CASE WHEN {CT} = 'refund' THEN 'Correction' END", "`Correction` when ChargeType is Refund"
    ),
    "ChargeDescription": Rule(
        "coalesce(ProductName, NULLIF(concat_ws(' - ', MeterCategory, MeterSubCategory, "
        "MeterName), ''))",
        "ProductName, else MeterCategory - MeterSubCategory - MeterName",
    ),
    "ChargeFrequency": Rule(
        lookup(
            FREQUENCIES,
            "lower(Frequency)",
            "CASE WHEN ChargeCategory = 'Purchase' THEN 'One-Time' ELSE 'Usage-Based' END",
        ),
        "Frequency: OneTime -> `One-Time`, Recurring -> `Recurring`, UsageBased -> `Usage-Based`; "
        "without it `One-Time` for purchases, else `Usage-Based`",
    ),
    "BilledCost": Rule(
        f"CASE WHEN {COVERED} OR {UNUSED} THEN 0 ELSE Cost END",
        "the cost column (CostInBillingCurrency, Cost or PreTaxCost) exactly; 0 on usage covered "
        "by a reservation or savings plan and on unused commitment (billed on the purchase; an "
        "actual export already has 0 there)",
    ),
    "EffectiveCost": Rule(
        f"CASE WHEN {COMMITMENT_PURCHASE} THEN 0 ELSE Cost END",
        "the cost column; 0 on reservation and savings plan purchases and refunds (FOCUS "
        "amortizes them into the usage they cover: an amortized export carries that share)",
    ),
    "ListCost": Rule(
        f"coalesce(PaygCostInBillingCurrency, CASE WHEN {IS_PRICED} THEN "
        f"{times(LIST_UNIT_PRICE, 'Quantity')} END, {CONTRACTED_COST}, "
        f"CASE WHEN {COVERED} OR {UNUSED} THEN 0 ELSE Cost END)",
        "PaygCostInBillingCurrency (MCA), else ListUnitPrice x Quantity, else ContractedCost",
    ),
    "ContractedCost": Rule(
        f"coalesce({CONTRACTED_COST}, CASE WHEN {COVERED} OR {UNUSED} THEN 0 ELSE Cost END)",
        "UnitPrice x ExchangeRatePricingToBilling x Quantity, else BilledCost",
    ),
    "ListUnitPrice": Rule(
        f"CASE WHEN {IS_PRICED} THEN {LIST_UNIT_PRICE} END",
        "PayGPrice x ExchangeRatePricingToBilling (1 without it) on usage and purchases; empty "
        "where PayGPrice is 0 but UnitPrice is not (Azure leaves it 0 on commitments)",
    ),
    "ContractedUnitPrice": Rule(
        f"CASE WHEN {IS_PRICED} THEN {times('UnitPrice', RATE)} END",
        "UnitPrice x ExchangeRatePricingToBilling on usage and purchases",
    ),
    "PricingCategory": Rule(
        f"CASE WHEN {IS_PRICED} THEN {lookup(PRICING_CATEGORIES, PM, literal('Standard'))} END",
        "PricingModel: OnDemand -> `Standard`, Spot -> `Dynamic`, Reservation, SavingsPlan -> "
        "`Committed`; `Standard` without it (usage and purchases only)",
    ),
    "PricingQuantity": Rule(
        f"CASE WHEN {IS_PRICED} THEN Quantity END",
        "Quantity (counted in UnitOfMeasure blocks), usage and purchases",
    ),
    "PricingUnit": Rule(
        f"CASE WHEN {IS_PRICED} AND UnitOfMeasure IS NOT NULL THEN CASE WHEN {BLOCK} = 1 "
        f"THEN {UNIT} ELSE CAST(CAST({BLOCK} AS BIGINT) AS VARCHAR) || ' ' || {UNIT} END END",
        "UnitOfMeasure in the FOCUS unit format: `1 Hour` -> `Hours`, `10K` -> `10000 Units`, "
        "`100 Hours` -> `100 Hours`, `1/Month` -> `Units/Month`",
    ),
    # Only an MCA export prices in another currency than it bills (EA: one currency).
    "PricingCurrency": Rule("PricingCurrency", "PricingCurrency (MCA)"),
    "PricingCurrencyContractedUnitPrice": Rule(
        f"CASE WHEN {IS_PRICED} AND PricingCurrency IS NOT NULL THEN UnitPrice END",
        "UnitPrice (MCA, in PricingCurrency)",
    ),
    "PricingCurrencyEffectiveCost": Rule(
        f"CASE WHEN PricingCurrency IS NULL THEN NULL WHEN {COMMITMENT_PURCHASE} THEN 0 "
        "ELSE CostInPricingCurrency END",
        "CostInPricingCurrency (MCA); 0 on commitment purchases",
    ),
    "PricingCurrencyListUnitPrice": Rule(
        f"CASE WHEN {IS_PRICED} AND PricingCurrency IS NOT NULL THEN PayGPrice END",
        "PayGPrice (MCA, in PricingCurrency)",
    ),
    "BillingCurrency": Rule(
        "BillingCurrency", "BillingCurrencyCode, BillingCurrency or Currency (by schema)"
    ),
    "ConsumedQuantity": Rule(
        f"CASE WHEN ChargeCategory = 'Usage' AND NOT {UNUSED} THEN "
        f"{times(BLOCK, 'Quantity', 6, 18)} END",
        "Quantity x the UnitOfMeasure block size (`10K`: 10000), usage rows",
    ),
    "ConsumedUnit": Rule(
        f"CASE WHEN ChargeCategory = 'Usage' AND NOT {UNUSED} AND UnitOfMeasure IS NOT NULL "
        f"THEN {UNIT} END",
        "the UnitOfMeasure unit without its block size (`10K` -> `Units`), usage rows",
    ),
    "ServiceName": Rule(
        "ServiceName_", "MeterCategory, else ServiceName, else ConsumedService, else `Tax` on taxes"
    ),
    "ServiceCategory": Rule(
        lookup({k: v[0] for k, v in SERVICE_CATEGORIES.items()}, "lower(ServiceName_)", "'Other'"),
        "from ServiceName by cloudtally's table of Azure meter categories (azure_headers.py), "
        "else `Other`",
    ),
    "ServiceSubcategory": Rule(
        lookup(
            {k: v[1] for k, v in SERVICE_CATEGORIES.items()},
            "lower(ServiceName_)",
            "'Other (Other)'",
        ),
        "from ServiceName by the same table, else `Other (Other)`",
    ),
    "SkuId": Rule("coalesce(ProductId, MeterId)", "ProductId (MCA), else MeterId"),
    "SkuMeter": Rule("MeterName", "MeterName"),
    "ResourceId": Rule("ResourceId", "ResourceId (InstanceId, InstanceName in older schemas)"),
    "ResourceName": Rule(
        "coalesce(ResourceName, NULLIF(regexp_extract(ResourceId, '[^/]+$'), ''))",
        "ResourceName, else the last segment of ResourceId",
    ),
    "ResourceType": Rule(
        "coalesce(ResourceType, NULLIF(regexp_extract(ResourceId, "
        "'/providers/([^/]+/[^/]+)/[^/]+$', 1), ''))",
        "ResourceType, else the provider type in ResourceId (`Microsoft.Compute/virtualMachines`)",
    ),
    "RegionId": Rule(
        "_RegionId",
        "ResourceLocation, lower case without spaces (`EastUS2` -> "
        "`eastus2`; legacy `US East` -> `eastus`)",
    ),
    "RegionName": Rule(
        f"coalesce(Location, {lookup(REGION_NAMES, '_RegionId', 'ResourceLocation')})",
        "Location (MCA), else the region's display name, else ResourceLocation",
    ),
    "AvailabilityZone": Rule("AvailabilityZone", "AvailabilityZone"),
    "CommitmentDiscountId": Rule(COMMITMENT_ID, "BenefitId, else ReservationId"),
    "CommitmentDiscountName": Rule(
        "coalesce(BenefitName, ReservationName)", "BenefitName, else ReservationName"
    ),
    "CommitmentDiscountCategory": Rule(
        f"CASE {COMMITMENT_KIND} WHEN 'spend' THEN 'Spend' WHEN 'usage' THEN 'Usage' END",
        "`Spend` for savings plans (`/microsoft.billingbenefits/`), `Usage` for reservations "
        "(`/microsoft.capacity/`)",
    ),
    "CommitmentDiscountType": Rule(
        f"CASE {COMMITMENT_KIND} WHEN 'spend' THEN 'Savings Plan' "
        "WHEN 'usage' THEN 'Reservation' END",
        "`Savings Plan` or `Reservation`, as CommitmentDiscountCategory",
    ),
    "CommitmentDiscountStatus": Rule(
        f"CASE WHEN {COMMITMENT_ID} IS NULL THEN NULL WHEN {UNUSED} THEN 'Unused' "
        f"WHEN {COVERED} THEN 'Used' END",
        "`Unused` on UnusedReservation and UnusedSavingsPlan, `Used` on covered usage",
    ),
    # Microsoft's mapping: the VM capacity reservation named in AdditionalInfo; the
    # reservation's own (unused capacity) rows have the capacity reservation as their resource.
    "CapacityReservationId": Rule(
        "_CapacityReservationId", "AdditionalInfo's VMCapacityReservationId"
    ),
    "CapacityReservationStatus": Rule(
        "CASE WHEN _CapacityReservationId IS NULL THEN NULL "
        "WHEN lower(ResourceId) LIKE '%/capacityreservationgroups/%/capacityreservations/%' "
        "THEN 'Unused' ELSE 'Used' END",
        "`Unused` on the capacity reservation's own rows, else `Used`",
    ),
    "Tags": Rule("_Tags", 'Tags, with or without its braces (`"k": "v",...`)'),
    "x_Provider": Rule("'azure'", "`azure`"),
    "x_BillingPeriod": Rule("strftime(_PeriodStart, '%Y-%m')", "YYYY-MM of BillingPeriodStart"),
}

NOT_MAPPED = (
    "SkuPriceId, SkuPriceDetails (AdditionalInfo is kept as x_AdditionalInfo), "
    "CommitmentDiscountQuantity and CommitmentDiscountUnit are empty: the cost details export "
    "has no source for them"
)


class AzureConverter(Converter):
    """Azure cost details exports: Enterprise Agreement, Microsoft Customer Agreement and
    pay-as-you-go schemas, actual or amortized cost, with PascalCase, camelCase or German
    headers (and a byte-order mark or not). Columns are matched by name through cloudtally's
    alias table, whatever their order. BilledCost of an actual-cost export is the cost column
    line for line; EffectiveCost follows FOCUS (commitment purchases 0, amortized usage at its
    share). Every source column is kept as `x_<English name>`; `x_CostView` says whether the file
    is the actual or the amortized view."""

    name = "azure"
    header_only = True
    description = (
        "Azure cost details export: EA, MCA, pay-as-you-go; actual or amortized (CSV, Parquet)"
    )

    @classmethod
    def matches(cls, source: SourceFile) -> bool:
        header = resolve_header(source.columns)
        found = sum(1 for field in SIGNATURE if header.column(field))
        return found >= 2 and "BilledCost" not in source.columns

    @cached_property
    def header(self) -> Header:
        return resolve_header(self.source.columns)

    def validate(self) -> None:
        missing = [field for field in REQUIRED if not self.header.column(field)]
        if missing:
            field = missing[0]
            others = {spelling_key(c): c for c in self.header.others}
            renamed = [
                others[match]
                for spelling in ALIASES[field]
                for match in difflib.get_close_matches(spelling_key(spelling), others, 1, 0.8)
            ]
            hint = f" Column {renamed[0]!r} looks like it, renamed." if renamed else ""
            raise IngestError(
                f"{self.source.label}: an Azure cost export needs column {field} (spelled "
                f"{spellings(field)}), which is missing.{hint} Export the cost details with all "
                "columns (or restore the column's name) and run again."
            )
        self.cost_view  # noqa: B018 - scan the file now, so its problems surface before staging

    # -- reading -------------------------------------------------------------------------------

    def reader_types(self) -> dict[str, str]:
        # Money and quantities parsed by the CSV reader itself: exact decimals (Azure writes
        # numbers like 5.64902E-05), and a bad value is reported with its line and column.
        return {self.header.fields[f]: DECIMAL for f in NUMBER_FIELDS if f in self.header.fields}

    def _read_names(self) -> list[str]:
        """The header made unique without regard to case (DuckDB names are case-insensitive)."""
        seen: set[str] = set()
        names = []
        for index, column in enumerate(self.source.columns):
            name = column if column.lower() not in seen else f"{column}#{index + 1}"
            seen.add(name.lower())
            names.append(name)
        return names

    def _raw_sql(self) -> str:
        if self.source.container == "parquet":
            return f"read_parquet({file_literal(self.source.path)})"
        path = file_literal(self.source.path)
        types = self.reader_types()
        columns = ", ".join(
            f"{literal(n)}: {literal(types.get(c, 'VARCHAR'))}"
            for c, n in zip(self.source.columns, self._read_names(), strict=True)
        )
        compression = "gzip" if self.source.compression == "gzip" else "none"
        return (
            f"read_csv({path}, columns = {{{columns}}}, header = true, auto_detect = false, "
            f"delim = {literal(self.source.delimiter)}, quote = '\"', escape = '\"', "
            f"nullstr = ['', 'NULL'], strict_mode = true, compression = {literal(compression)})"
        )

    def _raw(self, column: str) -> str:
        """A file column as the reader names it."""
        return quote(self._read_names()[self.source.columns.index(column)])

    def _field(self, field: str) -> str:
        """A field as SQL of its kind: exact decimal, DATE, or text ('' read as NULL)."""
        column = self.header.column(field)
        if column is None:
            kind = (
                DECIMAL if field in NUMBER_FIELDS else "DATE" if field in DATE_FIELDS else "VARCHAR"
            )
            return f"CAST(NULL AS {kind})"
        raw = self._raw(column)
        column_type = self.source.column_types.get(column, "string")
        if field in NUMBER_FIELDS:
            if self.source.container == "csv":
                return raw  # typed by the reader
            if column_type in ("string", "large_string"):
                return f"CAST(NULLIF(trim({raw}), '') AS {DECIMAL})"
            return decimal_expr(self._read_names()[self.source.columns.index(column)], column_type)
        if field in DATE_FIELDS:
            if column_type.startswith(("timestamp", "date")):
                return f"CAST({raw} AS DATE)"
            return _date_sql(raw, column)
        if column_type not in ("string", "large_string"):
            raw = f"CAST({raw} AS VARCHAR)"
        return f"NULLIF(trim({raw}), '')"

    def _others(self) -> dict[str, str]:
        """`x_<name>` -> the file's column, for the columns no field claimed."""
        others: dict[str, str] = {}
        taken = {f"x_{field}".lower() for field in ALIASES} | {"x_costview"}
        names = self._read_names()
        for column in self.header.others:
            base = "x_" + (re.sub(r"[^0-9A-Za-z_]+", "", column) or "Column")
            name, n = base, 2
            while name.lower() in taken:
                name, n = f"{base}_{n}", n + 1
            taken.add(name.lower())
            others[name] = names[self.source.columns.index(column)]
        return others

    def read_sql(self, numbered_rows: bool = False) -> str:
        """The file as one relation with English field names, dates parsed, and the values
        several rules share computed once."""
        columns = [f"{self._field(f)} AS {quote(f)}" for f in ALIASES]
        columns += [f"{self._raw(c)} AS {quote(n)}" for n, c in self._others().items()]
        raw = self._raw_sql()
        if numbered_rows:
            columns.append(f"raw.{ROW_POSITION}")
            raw = numbered(raw, self.source.container)
        base = "SELECT " + ",\n    ".join(columns) + f"\n  FROM {raw} AS raw"
        region = "lower(regexp_replace(ResourceLocation, '[^A-Za-z0-9]', '', 'g'))"
        other_type = "CASE WHEN ChargeType IS NULL THEN 'Usage' ELSE 'Adjustment' END"
        tags_text, tags_map = _tags_sql(self.header.column("Tags") or "Tags")
        derived = (
            f"{lookup(CHARGE_CATEGORIES, CT, other_type)} AS ChargeCategory, "
            "coalesce(BillingPeriodStartDate, CAST(date_trunc('month', Date) AS DATE)) "
            f"AS _PeriodStart, {_uom_block_size()} AS {BLOCK}, {_uom_unit()} AS {UNIT}, "
            f"NULLIF({lookup(LEGACY_REGIONS, region, region)}, '') AS _RegionId, "
            f"{SERVICE_NAME} AS ServiceName_, "
            "NULLIF(json_extract_string(TRY_CAST(AdditionalInfo AS JSON), "
            "'$.VMCapacityReservationId'), '') AS _CapacityReservationId, "
            f"{tags_map} AS _Tags"
        )
        # Tags as a JSON object's text: what the pipeline's error report checks a Tags column for.
        return f"(SELECT * REPLACE ({tags_text} AS Tags), {derived}\n  FROM ({base}))"

    def expressions(self) -> dict[str, str]:
        return {column: rule.sql for column, rule in MAPPING.items()}

    def extra_columns(self) -> dict[str, str]:
        kept = {f"x_{f}": quote(f) for f in ALIASES if self.header.column(f)}
        kept |= {name: quote(name) for name in self._others()}
        kept["x_CostView"] = literal(self.cost_view)
        return kept

    # -- actual or amortized ---------------------------------------------------------------------

    @cached_property
    def cost_view(self) -> str:
        """`actual` or `amortized`, from the rows only one view has (Microsoft: the actual view
        has commitment purchases and bills covered usage at 0; the amortized view has no
        purchases, prices covered usage at its share and adds unused commitment rows). Without
        commitment rows the two views are the same rows: `actual`."""
        rows = scan_account_periods(
            self,
            self.header.column("BillingCurrency") or "BillingCurrency",
            {
                "amortized": f"bool_or({UNUSED} OR ({COVERED} AND Cost <> 0))",
                "actual": f"bool_or({COMMITMENT_PURCHASE} AND Cost <> 0)",
            },
        )
        amortized = any(r["amortized"] for r in rows)
        if amortized and any(r["actual"] for r in rows):
            raise IngestError(
                f"{self.source.label}: the file has rows of both the actual view (reservation or "
                "savings plan purchases with a cost) and the amortized view (covered usage with a "
                "cost, or unused commitment). Export one view per file and run again."
            )
        return "amortized" if amortized else "actual"

    @classmethod
    def mapping(cls) -> list[tuple[str, str]]:
        rows = [(column, rule.doc) for column, rule in MAPPING.items()]
        rows.append(("x_CostView", "`actual` or `amortized`: the view the file holds"))
        rows.append(
            ("x_<field>", "every source column, under its English name (`x_ResourceGroup`)")
        )
        rows.append(("(not mapped)", NOT_MAPPED))
        return rows


def _date_sql(column: str, header_name: str) -> str:
    """A DATE from Azure's `MM/DD/YYYY`, `YYYY-MM-DD` (maybe with a time) or `DD.MM.YYYY`; any
    other text fails the file with the value and column named."""
    day = f"split_part(split_part(trim({column}), ' ', 1), 'T', 1)"
    message = (
        literal(f"column {header_name}: ")
        + f" || {column} || "
        + literal(" is not a date (MM/DD/YYYY or YYYY-MM-DD); fix the value and run again")
    )
    return (
        f"CASE WHEN NULLIF(trim({column}), '') IS NULL THEN NULL ELSE coalesce("
        f"CAST(try_strptime({day}, '%m/%d/%Y') AS DATE), "
        f"CAST(try_strptime({day}, '%Y-%m-%d') AS DATE), "
        f"CAST(try_strptime({day}, '%d.%m.%Y') AS DATE), "
        f"error({message})) END"
    )


def _tags_sql(header_name: str) -> tuple[str, str]:
    """Azure's Tags: a JSON object, or its members without the braces (`"k": "v","k2": "v2"`,
    as the EA export writes them). Returns the JSON object text and the map; a value that is
    not a tag list fails the file with the column named."""
    text = "NULLIF(trim(Tags), '')"
    wrapped = f"CASE WHEN starts_with({text}, '{{') THEN {text} ELSE '{{' || {text} || '}}' END"
    parsed = f"TRY_CAST(TRY_CAST({wrapped} AS JSON) AS {TAGS})"
    message = (
        literal(f"column {header_name}: ")
        + " || left(Tags, 60) || "
        + literal(' is not a tag list like "key": "value"; fix the value and run again')
    )
    tags_map = f"CASE WHEN {text} IS NULL THEN NULL ELSE coalesce({parsed}, error({message})) END"
    return wrapped, tags_map
