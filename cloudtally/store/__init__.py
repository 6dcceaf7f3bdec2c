"""The cost lake: Parquet files partitioned by provider and billing period, and the catalog
that says which files are live. All reads and writes of the lake go through `Store`."""

from cloudtally.store.store import Store

__all__ = ["Store"]
