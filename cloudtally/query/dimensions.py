"""The dimensions costs are grouped by: short CLI words for FOCUS columns.

`--by service,account` reads better than `--by ServiceName,SubAccountId`; any canonical column
name works too.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from cloudtally.errors import QueryError
from cloudtally.focus.canonical import CANONICAL_BY_NAME
from cloudtally.sqltext import identifier, literal

# The day a name was seen on (a day, not the instant, so the daily cubes name a key as the lake
# does).
NAME_SEEN = "date_trunc('day', ChargePeriodStart)"


def latest(expr: str, at: str = NAME_SEEN) -> str:
    """SQL for the value of `expr` on the latest row a group holds (NULLs skipped; between
    values seen on the same day, the greatest): a renamed account shows its newest name, the
    same on every run. `any_value` would pick any of them, and two runs could differ.

    >>> latest("ResourceName", "at")
    'arg_max(ResourceName, (at, ResourceName)) FILTER (WHERE ResourceName IS NOT NULL)'
    """
    return f"arg_max({expr}, ({at}, {expr})) FILTER (WHERE {expr} IS NOT NULL)"


ACCOUNT_NAME = "CASE WHEN SubAccountId IS NULL THEN BillingAccountName ELSE SubAccountName END"


@dataclass(frozen=True)
class Dimension:
    word: str
    expr: str  # SQL over the costs view
    label_expr: str | None = None  # a readable name shown beside the key, if any


DIMENSIONS = {
    d.word: d
    for d in (
        Dimension("provider", "x_Provider"),
        Dimension("billing-account", "BillingAccountId", "BillingAccountName"),
        Dimension(
            "account",
            "coalesce(SubAccountId, BillingAccountId)",
            # The name of the id shown: a sub account without a name is not the payer.
            ACCOUNT_NAME,
        ),
        Dimension("service", "ServiceName"),
        Dimension("service-category", "ServiceCategory"),
        Dimension("service-subcategory", "ServiceSubcategory"),
        Dimension("charge-category", "ChargeCategory"),
        Dimension("pricing-category", "PricingCategory"),
        Dimension("region", "RegionId", "RegionName"),
        Dimension("resource", "ResourceId", "ResourceName"),
        Dimension("resource-type", "ResourceType"),
        Dimension("sku", "SkuId"),
        Dimension("commitment", "CommitmentDiscountId", "CommitmentDiscountName"),
        Dimension("period", "x_BillingPeriod"),
        Dimension("month", "strftime(ChargePeriodStart, '%Y-%m')"),
        Dimension("week", "strftime(ChargePeriodStart, '%G-W%V')"),
        Dimension("day", "CAST(ChargePeriodStart AS DATE)"),
        Dimension("currency", "BillingCurrency"),
    )
}

METRICS = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost")


def dimension(word: str) -> Dimension:
    """The dimension a CLI word (or a canonical column, or `tag:KEY`) names."""
    if word in DIMENSIONS:
        return DIMENSIONS[word]
    if word.startswith("tag:") and len(word) > 4:
        return Dimension(word, f"Tags[{literal(word[4:])}]")
    if word in CANONICAL_BY_NAME:
        return Dimension(word, identifier(word))
    close = difflib.get_close_matches(
        word, [*DIMENSIONS, "team", "product", "cost_center", "env", *CANONICAL_BY_NAME], n=1
    )
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise QueryError(
        f"Unknown dimension {word!r}.{hint} Use one of {', '.join(DIMENSIONS)}, "
        "team, product, cost_center, env, tag:KEY, or a FOCUS column name."
    )


def metric(name: str) -> str:
    for known in METRICS:
        if name.lower() == known.lower():
            return known
    close = difflib.get_close_matches(name, METRICS, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise QueryError(f"Unknown metric {name!r}.{hint} Use one of {', '.join(METRICS)}.")
