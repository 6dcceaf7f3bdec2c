"""SQL building blocks for the sample's rows: the 57 FOCUS columns in canonical order and
file types, the column groups every kind of charge shares, and names from patterns."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal

from cloudtally.focus.canonical import CANONICAL_BY_NAME, FOCUS_COLUMNS
from cloudtally.ingest.formats.base import literal, quote
from cloudtally.sample.organisation import Organisation, Provider, Reservation, SavingsPlan, Service

# What each output column is stored as: the canonical type, except the JSON columns, which
# exports ship as JSON object text.
FILE_TYPES = {
    name: "VARCHAR"
    if CANONICAL_BY_NAME[name].focus_type == "JSON"
    else CANONICAL_BY_NAME[name].sql_type
    for name in FOCUS_COLUMNS
}


def focus_select(exprs: dict[str, str], from_sql: str) -> str:
    """SELECT the 57 FOCUS columns in canonical order and file types; missing ones are NULL."""
    unknown = set(exprs) - set(FOCUS_COLUMNS)
    assert not unknown, unknown
    cols = ",\n    ".join(
        f"CAST({exprs.get(name, 'NULL')} AS {FILE_TYPES[name]}) AS {quote(name)}"
        for name in FOCUS_COLUMNS
    )
    return f"SELECT\n    {cols}\n{from_sql}"


def money(value: Decimal) -> str:
    return f"CAST({literal(str(value))} AS DECIMAL(38,18))"


def provider_columns(provider: Provider) -> dict[str, str]:
    return {
        "ProviderName": literal(provider.name),
        "PublisherName": literal(provider.name),
        "InvoiceIssuerName": literal(provider.name),
        "BillingAccountId": literal(provider.billing_account_id),
        "BillingAccountName": literal(provider.billing_account_name),
        "BillingAccountType": literal(provider.billing_account_type),
        "BillingCurrency": "'USD'",
        "PricingCurrency": "'USD'",
    }


def account_day_columns(provider: Provider) -> dict[str, str]:
    """Who and when, for rows joined to an account `a` and a day `d` (the small rows)."""
    return {
        **provider_columns(provider),
        "InvoiceId": "a.invoice_prefix || d.invoice_suffix",
        "SubAccountId": "a.sub_account_id",
        "SubAccountName": "a.sub_account_name",
        "SubAccountType": "a.sub_account_type",
        "BillingPeriodStart": "d.billing_start",
        "BillingPeriodEnd": "d.billing_end",
        "ChargePeriodStart": "d.charge_start",
        "ChargePeriodEnd": "d.charge_end",
    }


def cost_columns(billed: str, effective: str, listed: str, contracted: str) -> dict[str, str]:
    return {
        "BilledCost": billed,
        "EffectiveCost": effective,
        "ListCost": listed,
        "ContractedCost": contracted,
        "PricingCurrencyEffectiveCost": effective,
    }


def service_columns(service_name: str, category: str, subcategory: str) -> dict[str, str]:
    return {
        "ServiceName": literal(service_name),
        "ServiceCategory": literal(category),
        "ServiceSubcategory": literal(subcategory),
    }


def commitment_columns(sp: SavingsPlan, status: str | None, quantity: str) -> dict[str, str]:
    return {
        "CommitmentDiscountId": literal(sp.id),
        "CommitmentDiscountName": literal(sp.name),
        "CommitmentDiscountCategory": "'Spend'",
        "CommitmentDiscountType": literal(sp.type),
        "CommitmentDiscountStatus": literal(status) if status else "NULL",
        "CommitmentDiscountQuantity": quantity,
        "CommitmentDiscountUnit": "'USD'",
    }


def reservation_columns(r: Reservation, status: str | None, hours: str) -> dict[str, str]:
    return {
        "CommitmentDiscountId": literal(r.id),
        "CommitmentDiscountName": literal(r.name),
        "CommitmentDiscountCategory": "'Usage'",
        "CommitmentDiscountType": literal(r.type),
        "CommitmentDiscountStatus": literal(status) if status else "NULL",
        "CommitmentDiscountQuantity": hours,
        "CommitmentDiscountUnit": "'Hours'",
    }


def pattern_sql(pattern: str, fields: dict[str, str]) -> str:
    """A name pattern as SQL: `acme-{team}-{n}` -> `'acme-' || team || '-' || ...`."""
    parts = [
        fields[piece] if i % 2 else literal(piece)
        for i, piece in enumerate(re.split(r"\{(\w+)\}", pattern))
        if i % 2 or piece
    ]
    return " || ".join(parts) or "''"


def name_fields(hex_column: str) -> dict[str, str]:
    """The placeholders of resource name and id patterns, over a resource row whose random
    hex digits are in `hex_column`."""
    return {
        "account": "sub_account_id",
        "region": "coalesce(region_id, 'global')",
        "zone": "coalesce(az, region_id, 'global')",
        "team": "team",
        "env": "env",
        "stem": "stem",
        "n": "lpad(CAST(rid AS VARCHAR), 6, '0')",
        "hex8": f"substr({hex_column}, 18, 8)",
        "hex17": f"substr({hex_column}, 1, 17)",
    }


def by_service(org: Organisation, render: Callable[[Service], str]) -> str:
    whens = " ".join(f"WHEN {i} THEN {render(s)}" for i, s in enumerate(org.services))
    return f"CASE service_idx {whens} END"
