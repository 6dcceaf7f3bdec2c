"""AWS Cost and Usage Reports into the canonical FOCUS 1.2 dataset: the mapping both generations
share, and the legacy CUR converter (`aws-cur`). CUR 2.0 (Data Exports) is in `aws_cur2.py`.

The mapping is one table, `MAPPING`: for each FOCUS column, a DuckDB expression over CUR columns
written as `{cur_column}` placeholders in CUR 2.0's snake case, and the same in words for the
generated docs page. A converter only says how a placeholder reads its file: legacy CUR's CSV
header spells `line_item_unblended_cost` as `lineItem/UnblendedCost`, legacy CUR in Parquet
(the Athena integration) spells it as CUR 2.0 does, and CUR 2.0 keeps product attributes in a
`product` map. A column a file lacks reads as NULL.

Sources: the AWS CUR data dictionary (legacy) and the Data Exports table dictionary (CUR 2.0)
for what each column holds; the FOCUS 1.2 specification for what each FOCUS column must hold;
AWS's own FOCUS export (the anonymized FOCUS 1.0 sample in samples/focus/1.0) for the naming
choices it makes (PublisherName = seller of record, SkuPriceId = rate code, tag keys without
`user:`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cached_property

from cloudtally.errors import IngestError
from cloudtally.focus.canonical import DECIMAL, TAGS, TIMESTAMP
from cloudtally.ingest.formats.aws_services import service_sql
from cloudtally.ingest.formats.base import Converter, literal, quote
from cloudtally.ingest.formats.expressions import decimal_expr
from cloudtally.ingest.source import SourceFile

# -- the CUR columns the mapping reads ------------------------------------------------------------

# As legacy CUR's CSV header spells them; `snake_case` gives the CUR 2.0 / Parquet spelling.
NUMBER_COLUMNS = (
    "lineItem/UnblendedCost",
    "lineItem/UnblendedRate",
    "lineItem/UsageAmount",
    "pricing/publicOnDemandCost",
    "pricing/publicOnDemandRate",
    "reservation/EffectiveCost",
    "reservation/UnusedAmortizedUpfrontFeeForBillingPeriod",
    "reservation/UnusedRecurringFee",
    "savingsPlan/SavingsPlanEffectiveCost",
    "savingsPlan/TotalCommitmentToDate",
    "savingsPlan/UsedCommitment",
)
TIME_COLUMNS = (
    "bill/BillingPeriodStartDate",
    "bill/BillingPeriodEndDate",
    "lineItem/UsageStartDate",
    "lineItem/UsageEndDate",
)
TEXT_COLUMNS = (
    "bill/BillType",
    "bill/BillingEntity",
    "bill/InvoiceId",
    "bill/InvoicingEntity",
    "bill/PayerAccountId",
    "bill/PayerAccountName",
    "lineItem/AvailabilityZone",
    "lineItem/CurrencyCode",
    "lineItem/LegalEntity",
    "lineItem/LineItemDescription",
    "lineItem/LineItemType",
    "lineItem/Operation",
    "lineItem/ProductCode",
    "lineItem/ResourceId",
    "lineItem/TaxType",
    "lineItem/UsageAccountId",
    "lineItem/UsageAccountName",
    "lineItem/UsageType",
    "pricing/RateCode",
    "pricing/term",
    "pricing/unit",
    "product/ProductName",
    "product/fromLocation",
    "product/fromRegionCode",
    "product/location",
    "product/productFamily",
    "product/regionCode",
    "product/sku",
    "reservation/ReservationARN",
    "savingsPlan/SavingsPlanARN",
)
# Columns only CUR 2.0 has (legacy CUR has no account names).
CUR2_ONLY = {"bill/PayerAccountName", "lineItem/UsageAccountName"}
# Without these a file cannot be filed under an account and period, or reconciled.
REQUIRED = (
    "bill/PayerAccountId",
    "bill/BillingPeriodStartDate",
    "bill/BillingPeriodEndDate",
    "lineItem/LineItemType",
    "lineItem/UsageStartDate",
    "lineItem/UsageEndDate",
    "lineItem/CurrencyCode",
    "lineItem/UnblendedCost",
)
ACCOUNT_ID_COLUMNS = {"bill_payer_account_id", "line_item_usage_account_id"}
# Columns only CUR 2.0 (Data Exports) has: its maps and the account names.
CUR2_MARKERS = {
    "product",
    "resource_tags",
    "cost_category",
    "discount",
    "bill_payer_account_name",
    "line_item_usage_account_name",
}


def snake_case(column: str) -> str:
    """CUR 2.0's name for a legacy CUR column (AWS converts each capital to `_` + lower case).

    >>> snake_case("lineItem/UnblendedCost"), snake_case("reservation/ReservationARN")
    ('line_item_unblended_cost', 'reservation_reservation_a_r_n')
    >>> snake_case("pricing/publicOnDemandCost"), snake_case("line_item_usage_amount")
    ('pricing_public_on_demand_cost', 'line_item_usage_amount')
    """
    parts = (re.sub(r"([A-Z])", r"_\1", part).lower().strip("_") for part in column.split("/"))
    return "_".join(parts)


LEGACY_NAME = {snake_case(c): c for c in (*NUMBER_COLUMNS, *TIME_COLUMNS, *TEXT_COLUMNS)}
NUMBERS = {snake_case(c) for c in NUMBER_COLUMNS}
TIMES = {snake_case(c) for c in TIME_COLUMNS}

# -- line item types ------------------------------------------------------------------------------

# lineItem/LineItemType values, from the CUR data dictionary.
USAGE = ("Usage", "DiscountedUsage", "SavingsPlanCoveredUsage", "SavingsPlanNegation")
PURCHASE = ("Fee", "RIFee", "SavingsPlanRecurringFee", "SavingsPlanUpfrontFee")
DISCOUNT = (
    "BundledDiscount",
    "Discount",
    "DistributorDiscount",
    "EdpDiscount",
    "PrivateRateDiscount",
    "SppDiscount",
)
SAVINGS_PLAN = (
    "SavingsPlanCoveredUsage",
    "SavingsPlanNegation",
    "SavingsPlanRecurringFee",
    "SavingsPlanUpfrontFee",
)
# A `Fee` line with a reservation ARN is an RI's upfront fee; other fees are not commitments.
RESERVATION = ("DiscountedUsage", "RIFee", "Fee")
COMMITMENT_USED = ("DiscountedUsage", "SavingsPlanCoveredUsage", "SavingsPlanNegation")


def _in(values: tuple[str, ...]) -> str:
    return "IN (" + ", ".join(literal(v) for v in values) + ")"


# -- units ----------------------------------------------------------------------------------------

# pricing/unit spellings -> the FOCUS unit format. AWS abbreviates time units ("Hrs", "GB-Mo"),
# uses singular time units after '-' ("Obj-Month") and prefixes some with the service
# ("Lambda-GB-Second"); the rewrites change the spelling, never the quantity.
_TIME = "Second|Minute|Hour|Day|Week|Month|Year"
UNIT_REWRITES = (
    (r"^Hrs?$", "Hours"),
    (r"-Hrs?$", "-Hours"),
    (r"-Mo$", "-Months"),
    (rf"-({_TIME})$", r"-\1s"),
    (rf"^[A-Za-z]+-([KMGTPE]i?[Bb])-({_TIME})s$", r"\1-\2s"),
)
# Units common enough to be looked up rather than rewritten on every row.
COMMON_UNITS = (
    "API Request", "API Requests", "Count", "Dashboards", "Events", "GB", "GB-Hours", "GB-Mo",
    "Hours", "Hrs", "IOs", "Keys", "LCU-Hrs", "Lambda-GB-Second", "Metrics", "Obj-Month",
    "Operations", "Quantity", "Queries", "Request", "Requests", "Tag-Mo", "vCPU-Hours",
)  # fmt: skip


def focus_unit(unit: str) -> str:
    """A pricing/unit value in the FOCUS unit format.

    >>> [focus_unit(u) for u in ("Hrs", "GB-Mo", "Obj-Month", "Lambda-GB-Second", "Requests")]
    ['Hours', 'GB-Months', 'Obj-Months', 'GB-Seconds', 'Requests']
    """
    for pattern, replacement in UNIT_REWRITES:
        unit = re.sub(pattern, replacement, unit)
    return unit


def unit_sql(unit: str) -> str:
    """`focus_unit` in SQL: a lookup for common units, the rewrites for the rest."""
    common = ", ".join(f"{literal(u)}: {literal(focus_unit(u))}" for u in COMMON_UNITS)
    rewritten = f"trim({unit})"
    for pattern, replacement in UNIT_REWRITES:
        rewritten = f"regexp_replace({rewritten}, {literal(pattern)}, {literal(replacement)})"
    return f"coalesce(MAP {{{common}}}[{unit}], {rewritten})"


# -- the mapping ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One FOCUS column: `sql` over `{cur_column}` placeholders, and `doc`, the same in words."""

    sql: str
    doc: str


L = "{line_item_line_item_type}"
UNBLENDED = "{line_item_unblended_cost}"
PRICED = USAGE + PURCHASE
SP_ID = f"CASE WHEN {L} {_in(SAVINGS_PLAN)} THEN {{savings_plan_savings_plan_a_r_n}} END"
RI_ID = f"CASE WHEN {L} {_in(RESERVATION)} THEN {{reservation_reservation_a_r_n}} END"

MAPPING: dict[str, Rule] = {
    "ProviderName": Rule("'AWS'", "`AWS`"),
    # The seller of record: AWS's legal entity, or the AWS Marketplace seller (AWS's own FOCUS
    # export does the same).
    "PublisherName": Rule(
        "coalesce({line_item_legal_entity}, {bill_invoicing_entity}, 'AWS')",
        "{line_item_legal_entity} (seller of record), else {bill_invoicing_entity}",
    ),
    "InvoiceIssuerName": Rule(
        "coalesce({bill_invoicing_entity}, 'AWS')", "{bill_invoicing_entity}, else `AWS`"
    ),
    "InvoiceId": Rule("{bill_invoice_id}", "{bill_invoice_id} (empty until the bill is final)"),
    "BillingAccountId": Rule(
        "{bill_payer_account_id}", "{bill_payer_account_id} as text (leading zeros kept)"
    ),
    "BillingAccountName": Rule("{bill_payer_account_name}", "{bill_payer_account_name}"),
    "SubAccountId": Rule("{line_item_usage_account_id}", "{line_item_usage_account_id} as text"),
    "SubAccountName": Rule("{line_item_usage_account_name}", "{line_item_usage_account_name}"),
    "BillingPeriodStart": Rule(
        "{bill_billing_period_start_date}", "{bill_billing_period_start_date}, UTC"
    ),
    "BillingPeriodEnd": Rule("{bill_billing_period_end_date}", "{bill_billing_period_end_date}"),
    "ChargePeriodStart": Rule("{line_item_usage_start_date}", "{line_item_usage_start_date}"),
    "ChargePeriodEnd": Rule("{line_item_usage_end_date}", "{line_item_usage_end_date}"),
    # FOCUS: Usage, Purchase and Tax include their refunds; Credit is what the provider grants.
    # CUR's discount lines are grants too (FOCUS would fold them into prices; CUR keeps them on
    # lines of their own, and BilledCost must stay line for line).
    "ChargeCategory": Rule(
        f"CASE WHEN {L} {_in(USAGE)} THEN 'Usage' WHEN {L} {_in(PURCHASE)} THEN 'Purchase' "
        f"WHEN {L} = 'Tax' THEN 'Tax' WHEN {L} {_in(('Credit', *DISCOUNT))} THEN 'Credit' "
        f"WHEN {L} = 'Refund' THEN CASE WHEN {{line_item_tax_type}} IS NULL THEN 'Usage' "
        "ELSE 'Tax' END ELSE 'Adjustment' END",
        f"from {L}: {', '.join(USAGE)} -> `Usage`; {', '.join(PURCHASE)} -> `Purchase`; "
        f"`Tax` -> `Tax`; Credit, {', '.join(DISCOUNT)} -> `Credit`; Refund -> `Usage` "
        "(`Tax` when {line_item_tax_type} is set); any other type -> `Adjustment`",
    ),
    # FOCUS: a correction to a previously invoiced billing period.
    "ChargeClass": Rule(
        "CASE WHEN {bill_bill_type} = 'Refund' OR {line_item_usage_start_date} < "
        "{bill_billing_period_start_date} THEN 'Correction' END",
        "`Correction` when {bill_bill_type} is `Refund` or the usage started before the "
        "billing period, else empty",
    ),
    "ChargeDescription": Rule(
        "{line_item_line_item_description}", "{line_item_line_item_description}"
    ),
    "ChargeFrequency": Rule(
        f"CASE WHEN {L} {_in(USAGE + DISCOUNT)} THEN 'Usage-Based' "
        f"WHEN {L} IN ('RIFee', 'SavingsPlanRecurringFee') THEN 'Recurring' ELSE 'One-Time' END",
        "`Usage-Based` for usage and discount lines, `Recurring` for RIFee and "
        "SavingsPlanRecurringFee, else `One-Time`",
    ),
    "BilledCost": Rule(UNBLENDED, "{line_item_unblended_cost}, exact"),
    # The amortized cost, as AWS defines it for CUR's amortized view.
    "EffectiveCost": Rule(
        f"CASE {L} "
        "WHEN 'SavingsPlanCoveredUsage' THEN coalesce({savings_plan_savings_plan_effective_cost}, 0) "
        "WHEN 'SavingsPlanRecurringFee' THEN coalesce({savings_plan_total_commitment_to_date}, 0)"
        " - coalesce({savings_plan_used_commitment}, 0) "
        "WHEN 'SavingsPlanNegation' THEN 0 WHEN 'SavingsPlanUpfrontFee' THEN 0 "
        "WHEN 'DiscountedUsage' THEN coalesce({reservation_effective_cost}, 0) "
        "WHEN 'RIFee' THEN coalesce({reservation_unused_amortized_upfront_fee_for_billing_period}, 0)"
        " + coalesce({reservation_unused_recurring_fee}, 0) "
        "WHEN 'Fee' THEN CASE WHEN {reservation_reservation_a_r_n} IS NULL "
        f"THEN {UNBLENDED} ELSE 0 END ELSE {UNBLENDED} END",
        "amortized: SavingsPlanCoveredUsage -> {savings_plan_savings_plan_effective_cost}; "
        "SavingsPlanRecurringFee -> {savings_plan_total_commitment_to_date} - "
        "{savings_plan_used_commitment} (the unused commitment); SavingsPlanNegation, "
        "SavingsPlanUpfrontFee and an RI's upfront Fee -> 0; DiscountedUsage -> "
        "{reservation_effective_cost}; RIFee -> "
        "{reservation_unused_amortized_upfront_fee_for_billing_period} + "
        "{reservation_unused_recurring_fee} (the unused reservation); else "
        "{line_item_unblended_cost}",
    ),
    # A negation line offsets the billed cost of the covered usage line; its list and contracted
    # cost are 0 so that sums over both lines count the usage once.
    "ListCost": Rule(
        f"CASE WHEN {L} = 'SavingsPlanNegation' THEN 0 WHEN {L} {_in(USAGE)} "
        f"THEN coalesce({{pricing_public_on_demand_cost}}, {UNBLENDED}) ELSE {UNBLENDED} END",
        "usage: {pricing_public_on_demand_cost} (0 on SavingsPlanNegation); other lines: "
        "{line_item_unblended_cost}",
    ),
    "ContractedCost": Rule(
        f"CASE {L} WHEN 'SavingsPlanNegation' THEN 0 WHEN 'DiscountedUsage' "
        f"THEN coalesce({{pricing_public_on_demand_cost}}, {UNBLENDED}) ELSE {UNBLENDED} END",
        "{line_item_unblended_cost}; DiscountedUsage (billed 0 by CUR): "
        "{pricing_public_on_demand_cost}; SavingsPlanNegation: 0",
    ),
    "ListUnitPrice": Rule(
        f"CASE WHEN {L} {_in(PURCHASE)} THEN {{line_item_unblended_rate}} "
        f"WHEN {L} {_in(USAGE)} THEN {{pricing_public_on_demand_rate}} END",
        "usage: {pricing_public_on_demand_rate}; purchases: {line_item_unblended_rate}",
    ),
    "ContractedUnitPrice": Rule(
        f"CASE WHEN {L} IN ('DiscountedUsage', 'SavingsPlanNegation') "
        f"THEN {{pricing_public_on_demand_rate}} WHEN {L} {_in(PRICED)} "
        "THEN {line_item_unblended_rate} END",
        "usage and purchases: {line_item_unblended_rate}; DiscountedUsage and "
        "SavingsPlanNegation: {pricing_public_on_demand_rate}",
    ),
    "PricingCategory": Rule(
        f"CASE WHEN {L} {_in(COMMITMENT_USED)} THEN 'Committed' WHEN {L} = 'Usage' AND "
        "({pricing_term} = 'Spot' OR contains({line_item_usage_type}, 'SpotUsage')) "
        f"THEN 'Dynamic' WHEN {L} {_in(PRICED)} THEN 'Standard' END",
        "`Committed` for usage under a reservation or savings plan, `Dynamic` for Spot "
        "({pricing_term} or {line_item_usage_type}), `Standard` for other usage and purchases",
    ),
    "PricingQuantity": Rule(
        f"CASE WHEN {L} = 'SavingsPlanNegation' THEN 0 WHEN {L} {_in(PRICED)} "
        "THEN {line_item_usage_amount} END",
        "{line_item_usage_amount} on usage and purchases (0 on SavingsPlanNegation)",
    ),
    "PricingUnit": Rule(
        f"CASE WHEN {L} {_in(PRICED)} THEN {{pricing_unit_focus}} END",
        "{pricing_unit} in the FOCUS unit format (`Hrs` -> `Hours`, `GB-Mo` -> `GB-Months`)",
    ),
    "BillingCurrency": Rule("{line_item_currency_code}", "{line_item_currency_code}"),
    "ConsumedQuantity": Rule(
        f"CASE WHEN {L} = 'SavingsPlanNegation' THEN 0 WHEN {L} {_in(USAGE)} "
        "THEN {line_item_usage_amount} END",
        "{line_item_usage_amount} on usage lines (0 on SavingsPlanNegation)",
    ),
    "ConsumedUnit": Rule(
        f"CASE WHEN {L} {_in(USAGE)} THEN {{pricing_unit_focus}} END",
        "{pricing_unit} on usage lines, FOCUS unit format",
    ),
    "ServiceName": Rule(
        "coalesce({product_product_name}, {line_item_product_code})",
        "{product_product_name}, else {line_item_product_code}",
    ),
    "ServiceCategory": Rule(
        "{service_category}",
        "from {line_item_product_code} by cloudtally's service table (aws_services.py), "
        "else `Other`",
    ),
    "ServiceSubcategory": Rule(
        "{service_subcategory}", "from {line_item_product_code}, else `Other (Other)`"
    ),
    "SkuId": Rule(f"CASE WHEN {L} <> 'Tax' THEN {{product_sku}} END", "{product_sku}"),
    "SkuMeter": Rule(
        "CASE WHEN {product_sku} IS NOT NULL "
        "THEN coalesce({product_product_family}, {line_item_usage_type}) END",
        "{product_product_family}, else {line_item_usage_type}",
    ),
    "SkuPriceId": Rule(
        f"CASE WHEN {L} <> 'Tax' THEN {{pricing_rate_code}} END", "{pricing_rate_code}"
    ),
    "ResourceId": Rule("{line_item_resource_id}", "{line_item_resource_id}"),
    "RegionId": Rule(
        "coalesce({product_region_code}, {product_from_region_code})",
        "{product_region_code}, else {product_from_region_code} (data transfer)",
    ),
    "RegionName": Rule(
        "CASE WHEN {product_region_code} IS NOT NULL THEN {product_location} "
        "WHEN {product_from_region_code} IS NOT NULL THEN {product_from_location} END",
        "{product_location} (or {product_from_location} with {product_from_region_code})",
    ),
    "AvailabilityZone": Rule("{line_item_availability_zone}", "{line_item_availability_zone}"),
    "CommitmentDiscountId": Rule(
        f"coalesce({SP_ID}, {RI_ID})",
        "{savings_plan_savings_plan_a_r_n} on savings plan lines, "
        "{reservation_reservation_a_r_n} on DiscountedUsage, RIFee and an RI's upfront Fee",
    ),
    "CommitmentDiscountCategory": Rule(
        f"CASE WHEN {SP_ID} IS NOT NULL THEN 'Spend' WHEN {RI_ID} IS NOT NULL THEN 'Usage' END",
        "`Spend` (savings plan) or `Usage` (reservation)",
    ),
    "CommitmentDiscountType": Rule(
        f"CASE WHEN {SP_ID} IS NOT NULL THEN 'Savings Plan' "
        f"WHEN {RI_ID} IS NOT NULL THEN 'Reserved Instance' END",
        "`Savings Plan` or `Reserved Instance`",
    ),
    # FOCUS puts a status on usage rows only; CUR carries the unused commitment on the fee line
    # itself (its EffectiveCost), not on a usage row of its own.
    "CommitmentDiscountStatus": Rule(
        f"CASE WHEN {L} {_in(COMMITMENT_USED)} AND coalesce({SP_ID}, {RI_ID}) IS NOT NULL "
        "THEN 'Used' END",
        "`Used` on DiscountedUsage, SavingsPlanCoveredUsage and SavingsPlanNegation; empty on "
        "fee lines (the unused part is their EffectiveCost)",
    ),
    "CommitmentDiscountQuantity": Rule(
        f"CASE {L} WHEN 'SavingsPlanCoveredUsage' THEN {{savings_plan_savings_plan_effective_cost}} "
        "WHEN 'SavingsPlanNegation' THEN 0 "
        "WHEN 'SavingsPlanRecurringFee' THEN {savings_plan_total_commitment_to_date} "
        f"WHEN 'SavingsPlanUpfrontFee' THEN {UNBLENDED} "
        f"ELSE CASE WHEN {RI_ID} IS NOT NULL THEN {{line_item_usage_amount}} END END",
        "savings plans, in the billing currency: commitment used "
        "({savings_plan_savings_plan_effective_cost}), bought for the period "
        "({savings_plan_total_commitment_to_date}) or paid upfront; reservations: "
        "{line_item_usage_amount} in {pricing_unit}",
    ),
    "CommitmentDiscountUnit": Rule(
        f"CASE WHEN {SP_ID} IS NOT NULL THEN {{line_item_currency_code}} "
        f"WHEN {RI_ID} IS NOT NULL THEN {{pricing_unit_focus}} END",
        "the billing currency (savings plans) or {pricing_unit} (reservations)",
    ),
    "Tags": Rule("{tags}", "{tags}"),
    "x_Provider": Rule("'aws'", "`aws`"),
    "x_BillingPeriod": Rule(
        "strftime(timezone('UTC', {bill_billing_period_start_date}), '%Y-%m')",
        "YYYY-MM of {bill_billing_period_start_date}",
    ),
}

# Native columns kept as extension columns: the CUR keys most queries group by. AWS's own FOCUS
# export keeps comparable `x_` columns. Every other CUR column (blended costs, product
# attributes, reservation and savings plan details) is not kept.
EXTRA_COLUMNS: dict[str, Rule] = {
    "x_LineItemType": Rule(L, L),
    "x_ProductCode": Rule("{line_item_product_code}", "{line_item_product_code}"),
    "x_UsageType": Rule("{line_item_usage_type}", "{line_item_usage_type}"),
    "x_Operation": Rule("{line_item_operation}", "{line_item_operation}"),
    "x_CostCategories": Rule("{cost_categories}", "{cost_categories}"),
}

NOT_MAPPED = (
    "ResourceName, ResourceType, CommitmentDiscountName, SkuPriceDetails, the PricingCurrency "
    "columns, BillingAccountType, SubAccountType and the CapacityReservation columns are empty "
    "(CUR has no source for them, or prices in the billing currency). CUR columns not named "
    "here (blended costs, product attributes, reservation and savings plan details) are not "
    "kept: dozens to hundreds of sparse columns per report would slow every ingest and query."
)


class _Placeholders(Mapping[str, str]):
    """`{name}` in a rule -> SQL (or docs text): a derived value, else `resolve(name)`."""

    def __init__(self, derived: dict[str, str], resolve: Callable[[str], str]) -> None:
        self._derived = derived
        self._resolve = resolve

    def __getitem__(self, name: str) -> str:
        if name in self._derived:
            return self._derived[name]
        return self._resolve(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._derived)

    def __len__(self) -> int:
        return len(self._derived)


class CostAndUsageReport(Converter):
    """What both CUR generations share: the mapping, and reading its placeholders from a file.

    Subclasses say which file columns hold which CUR column (`cur_columns`), where tags and cost
    categories are, and how a column is named in the docs.
    """

    # Detection, in either spelling (`lineItem/LineItemType` or `line_item_line_item_type`). The
    # other REQUIRED columns are checked by `validate`, which names the one a report lacks.
    SIGNATURE = ("line_item_line_item_type", "bill_payer_account_id")
    header_only = True

    # -- what a subclass provides ------------------------------------------------------------

    def cur_columns(self) -> dict[str, str]:
        """CUR column (snake case) -> the file's column holding it."""
        raise NotImplementedError

    def tags_sql(self) -> str:
        raise NotImplementedError

    def cost_categories_sql(self) -> str:
        raise NotImplementedError

    def product_attribute(self, name: str) -> str | None:
        """SQL for a `product_*` column the file has no column for (CUR 2.0: the product map)."""
        return None

    @classmethod
    def display(cls, name: str) -> str:
        """How the docs name a CUR column."""
        raise NotImplementedError

    # -- the shared part -----------------------------------------------------------------------

    @classmethod
    def snake_columns(cls, source: SourceFile) -> set[str]:
        return {snake_case(c) for c in source.columns}

    def validate(self) -> None:
        present = self._columns
        missing = [c for c in REQUIRED if snake_case(c) not in present]
        if missing:
            names = ", ".join(self.display(snake_case(c)).strip("`") for c in missing)
            raise IngestError(
                f"{self.source.label}: an AWS Cost and Usage Report must have the column"
                f"{'s' if len(missing) > 1 else ''} {names}, which "
                f"{'are' if len(missing) > 1 else 'is'} missing. Export the report with its "
                "standard columns (or add them) and run again."
            )

    @cached_property
    def _columns(self) -> dict[str, str]:
        return self.cur_columns()

    def column_sql(self, name: str) -> str:
        """A CUR column as SQL of its kind (exact decimal, UTC timestamp, text), or typed NULL."""
        source = self._columns.get(name)
        if source is None:
            attribute = self.product_attribute(name) if name.startswith("product_") else None
            if attribute is not None:
                return attribute
            kind = DECIMAL if name in NUMBERS else TIMESTAMP if name in TIMES else "VARCHAR"
            return f"CAST(NULL AS {kind})"
        column_type = self.source.column_types.get(source, "")
        if self.source.container == "csv":
            return quote(source)  # typed by the reader (`reader_types`); '' is read as NULL
        if name in NUMBERS:
            if column_type in ("string", "large_string"):
                return f"CAST(NULLIF(trim({quote(source)}), '') AS {DECIMAL})"
            return decimal_expr(source, column_type)
        if name in TIMES:
            if column_type.startswith("timestamp") and "tz=" not in column_type:
                return f"timezone('UTC', {quote(source)})"  # naive Parquet timestamps are UTC
            return f"CAST({quote(source)} AS {TIMESTAMP})"
        if name in ACCOUNT_ID_COLUMNS and "int" in column_type:
            return f"lpad(CAST({quote(source)} AS VARCHAR), 12, '0')"  # 12-digit account ids
        if column_type in ("string", "large_string"):
            return f"NULLIF({quote(source)}, '')"  # Parquet CUR writes '' for "no value"
        return f"CAST({quote(source)} AS VARCHAR)"

    def key_source_columns(self) -> list[str]:
        # x_Provider is the constant 'aws'.
        return [
            self._columns[c] for c in ("bill_payer_account_id", "bill_billing_period_start_date")
        ]

    def reader_types(self) -> dict[str, str]:
        # Money, quantities and times parsed by the CSV reader itself: exact decimals (CUR
        # writes numbers like 5.2E-9), and a bad value is reported with its line and column.
        types = {}
        for name, column in self._columns.items():
            if name in NUMBERS:
                types[column] = DECIMAL
            elif name in TIMES:
                types[column] = TIMESTAMP
        return types

    def _placeholders(self) -> _Placeholders:
        derived = {
            "service_category": service_sql(self.column_sql("line_item_product_code"), 0),
            "service_subcategory": service_sql(self.column_sql("line_item_product_code"), 1),
            "pricing_unit_focus": unit_sql(self.column_sql("pricing_unit")),
            "tags": self.tags_sql(),
            "cost_categories": self.cost_categories_sql(),
        }
        return _Placeholders(derived, self.column_sql)

    def expressions(self) -> dict[str, str]:
        values = self._placeholders()
        return {column: rule.sql.format_map(values) for column, rule in MAPPING.items()}

    def extra_columns(self) -> dict[str, str]:
        values = self._placeholders()
        return {column: rule.sql.format_map(values) for column, rule in EXTRA_COLUMNS.items()}

    @classmethod
    def mapping(cls) -> list[tuple[str, str]]:
        names = _Placeholders(
            {
                "tags": cls.display("tags"),
                "cost_categories": cls.display("cost_categories"),
                "pricing_unit_focus": cls.display("pricing_unit"),
            },
            cls.display,
        )
        rows = [(column, rule.doc.format_map(names)) for column, rule in MAPPING.items()]
        rows += [(column, rule.doc.format_map(names)) for column, rule in EXTRA_COLUMNS.items()]
        rows.append(("(not mapped)", NOT_MAPPED))
        return rows


def _key_value_map(pairs: list[tuple[str, str]]) -> str:
    """SQL for a map of the non-empty values among (key, column expression) pairs, or NULL."""
    if not pairs:
        return f"CAST(NULL AS {TAGS})"
    entries = ", ".join(f"struct_pack(k := {literal(k)}, v := {v})" for k, v in pairs)
    kept = f"list_filter([{entries}], lambda e: coalesce(e.v, '') <> '')"
    return f"nullif(map_from_entries({kept}), MAP {{}})"


def tag_key(column_suffix: str) -> str:
    """The FOCUS tag key of a CUR tag column: user-defined keys lose CUR's `user:` marker (the
    FOCUS Tags column must not alter user-defined keys; AWS's FOCUS export drops it too), AWS's
    own tags keep their `aws:` prefix as the provider prefix FOCUS asks for.

    >>> tag_key("user:CostCenter"), tag_key("aws:createdBy"), tag_key("user_cost_center")
    ('CostCenter', 'aws:createdBy', 'cost_center')
    """
    for marker in ("user:", "user_"):
        if column_suffix.startswith(marker):
            return column_suffix[len(marker) :]
    return column_suffix


class AwsCurConverter(CostAndUsageReport):
    """AWS Cost and Usage Report, legacy format: CSV or gzip CSV with `lineItem/...`,
    `bill/...`, `product/...`, `pricing/...`, `reservation/...`, `savingsPlan/...` and one
    `resourceTags/...` column per tag key (also the same report delivered as Parquet with
    snake_case columns). BilledCost is `lineItem/UnblendedCost` line for line, so totals
    reconcile to the last digit; EffectiveCost is AWS's amortized cost."""

    name = "aws-cur"
    description = "AWS Cost and Usage Report, legacy (CSV, gzip CSV; snake_case Parquet)"

    TAG_PREFIXES = ("resourceTags/", "resource_tags_")
    COST_CATEGORY_PREFIXES = ("costCategory/", "cost_category_")

    @classmethod
    def matches(cls, source: SourceFile) -> bool:
        columns = cls.snake_columns(source)
        return set(cls.SIGNATURE) <= columns and not (set(source.columns) & CUR2_MARKERS)

    def _read_names(self) -> list[str]:
        """The header, made unique without regard to case: DuckDB names are case-insensitive,
        and CUR has a column per tag key, so `user:Name` and `user:name` are two columns."""
        seen: set[str] = set()
        names = []
        for index, column in enumerate(self.source.columns):
            name = column
            if name.lower() in seen:
                name = f"{column}#{index + 1}"
            seen.add(name.lower())
            names.append(name)
        return names

    def reader_sql(self) -> str:
        names = self._read_names()
        if names == self.source.columns:
            return super().reader_sql()
        renamed = copy.copy(self)
        renamed.source = replace(self.source, columns=names)
        return Converter.reader_sql(renamed)

    def cur_columns(self) -> dict[str, str]:
        found: dict[str, str] = {}
        for original, name in zip(self.source.columns, self._read_names(), strict=True):
            found.setdefault(snake_case(original), name)
        return found

    def _prefixed(self, prefixes: tuple[str, ...]) -> list[tuple[str, str]]:
        pairs = []
        for original, name in zip(self.source.columns, self._read_names(), strict=True):
            for prefix in prefixes:
                if original.startswith(prefix) and len(original) > len(prefix):
                    value = quote(name)
                    if self.source.container == "parquet":
                        value = f"CAST({value} AS VARCHAR)"
                    pairs.append((original[len(prefix) :], value))
        return pairs

    def tags_sql(self) -> str:
        return _key_value_map([(tag_key(k), v) for k, v in self._prefixed(self.TAG_PREFIXES)])

    def cost_categories_sql(self) -> str:
        return _key_value_map(self._prefixed(self.COST_CATEGORY_PREFIXES))

    @classmethod
    def display(cls, name: str) -> str:
        if name == "tags":
            return (
                "one map of the non-empty `resourceTags/user:<key>` (key `<key>`) and "
                "`resourceTags/aws:<key>` (key `aws:<key>`) columns"
            )
        if name == "cost_categories":
            return "map of the non-empty `costCategory/<name>` columns"
        legacy = LEGACY_NAME.get(name, name)
        if legacy in CUR2_ONLY:
            return "(CUR 2.0 only: empty)"
        return f"`{legacy}`"
