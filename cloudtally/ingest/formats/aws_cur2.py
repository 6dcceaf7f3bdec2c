"""AWS CUR 2.0 (Data Exports) into the canonical FOCUS 1.2 dataset (`aws-cur2`).

CUR 2.0 has a fixed schema in snake case: the legacy columns renamed (`lineItem/UnblendedCost`
is `line_item_unblended_cost`), product attributes outside the fixed columns in a `product`
map, and tags and cost categories in the `resource_tags` and `cost_category` maps. The mapping
is the one legacy CUR uses (`aws_cur.MAPPING`); this module only reads those places.

Source: AWS Data Exports table dictionary, "Cost and Usage Report (CUR) 2.0".
"""

from __future__ import annotations

from cloudtally.errors import UnsupportedError
from cloudtally.focus.canonical import TAGS
from cloudtally.ingest.formats.aws_cur import CUR2_MARKERS, CostAndUsageReport
from cloudtally.ingest.formats.base import literal, quote
from cloudtally.ingest.source import SourceFile, parquet_column_stats


def _clean_map(column: str, rename_key: str = "e.key") -> str:
    """A map column without its empty values (NULL when none is left), keys rewritten."""
    kept = f"list_filter(map_entries({quote(column)}), lambda e: coalesce(e.value, '') <> '')"
    if rename_key != "e.key":
        kept = (
            f"list_transform({kept}, lambda e: struct_pack(key := {rename_key}, value := e.value))"
        )
    return f"nullif(map_from_entries({kept}), MAP {{}})"


def _renamed_keys(column: str, rename_key: str) -> str:
    """A map column with its keys rewritten (`rename_key` over `k`), NULL when empty. Cheaper
    than `_clean_map` (no entries to filter), for maps known to hold no empty values."""
    keys = f"list_transform(map_keys({quote(column)}), lambda k: {rename_key})"
    return f"nullif(map({keys}, map_values({quote(column)})), MAP {{}})"


class AwsCur2Converter(CostAndUsageReport):
    """AWS CUR 2.0 from Data Exports: Parquet with snake_case columns and the `product`,
    `resource_tags` and `cost_category` maps. Mapped exactly as the legacy report (`aws-cur`);
    tag keys are CUR 2.0's (`user_cost_center` becomes `cost_center`, AWS's `aws_*` keys stay)."""

    name = "aws-cur2"
    description = "AWS CUR 2.0 / Data Exports (Parquet)"

    def __init__(self, source: SourceFile) -> None:
        super().__init__(source)
        self._checked: dict[str, bool] = {}  # map column -> holds no '' values

    @classmethod
    def matches(cls, source: SourceFile) -> bool:
        return set(cls.SIGNATURE) <= set(source.columns) and bool(
            set(source.columns) & CUR2_MARKERS
        )

    def validate(self) -> None:
        if self.source.container != "parquet":
            raise UnsupportedError(
                f"{self.source.label}: CUR 2.0 delivered as CSV is not supported (its map "
                "columns have no documented text form). Set the Data Export's format to Parquet "
                "and run again."
            )
        super().validate()

    def cur_columns(self) -> dict[str, str]:
        return {c: c for c in self.source.columns if c not in CUR2_MARKERS - _TEXT_MARKERS}

    def _is_map(self, column: str) -> bool:
        return self.source.column_types.get(column, "").startswith("map")

    def product_attribute(self, name: str) -> str | None:
        # `product_product_name` is the key `product_name` of the product map.
        if not self._is_map("product"):
            return None
        key = name.removeprefix("product_")
        return f"NULLIF(map_extract_value({quote('product')}, {literal(key)}), '')"

    def tags_sql(self) -> str:
        if not self._is_map("resource_tags"):
            return f"CAST(NULL AS {TAGS})"
        if self._without_empty_values("resource_tags"):
            strip_user = "CASE WHEN starts_with(k, 'user_') THEN k[6:] ELSE k END"
            return _renamed_keys("resource_tags", strip_user)
        strip_user = "CASE WHEN starts_with(e.key, 'user_') THEN e.key[6:] ELSE e.key END"
        return _clean_map("resource_tags", strip_user)

    def cost_categories_sql(self) -> str:
        if not self._is_map("cost_category"):
            return f"CAST(NULL AS {TAGS})"
        if self._without_empty_values("cost_category"):
            return f"nullif({quote('cost_category')}, MAP {{}})"
        return _clean_map("cost_category")

    def _without_empty_values(self, column: str) -> bool:
        """Whether the file's statistics show no '' among the map's values. AWS documents that
        a key appears only when it has a value; dropping '' per row costs ~1 s per 10M rows
        (DuckDB rebuilds each map), so it is done only when the statistics cannot rule it out.
        (A null value, a key-only tag in FOCUS terms, is kept either way.)"""
        if column not in self._checked:
            stats = parquet_column_stats(self.source.path, f"{column}.key_value.value")
            self._checked[column] = bool(
                stats and stats.complete and stats.minimum not in ("", b"")
            )
        return self._checked[column]

    @classmethod
    def display(cls, name: str) -> str:
        if name == "tags":
            return "`resource_tags` without empty values; `user_` dropped from keys"
        if name == "cost_categories":
            return "`cost_category` without empty values"
        if name.startswith("product_") and name not in _FIXED_PRODUCT_COLUMNS:
            return f"`product['{name.removeprefix('product_')}']`"
        return f"`{name}`"


# The account-name columns are plain text columns that also mark CUR 2.0.
_TEXT_MARKERS = {"bill_payer_account_name", "line_item_usage_account_name"}
# Product attributes CUR 2.0 keeps as columns of their own (the rest are in the product map).
_FIXED_PRODUCT_COLUMNS = {
    "product_from_location",
    "product_from_region_code",
    "product_location",
    "product_product_family",
    "product_region_code",
    "product_sku",
}
