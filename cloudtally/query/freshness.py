"""How current the lake is: per provider, the newest day charged and when data last arrived.

Lake metadata only (days and times, no cost), so every viewer may see it. Read from the daily
cube of the costs when it is current (the same days).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from cloudtally.query.cube import current_relation
from cloudtally.store import Store


@dataclass(frozen=True)
class ProviderFreshness:
    provider: str
    first_day: date
    newest_day: date
    last_ingest: datetime | None
    hours_behind: float  # from the end of the newest day charged to `now`


def freshness(store: Store, now: datetime | None = None) -> list[ProviderFreshness]:
    """One row per provider, stalest first."""
    now = now or datetime.now(UTC)
    catalog = store.catalog()
    # From the live partitions (the ingest that wrote each), not the manifest's history.
    ingested: dict[str, datetime] = {}
    for partition in catalog.partitions:
        when, seen = partition.ingested_at(), ingested.get(partition.key.provider)
        if when is not None and (seen is None or when > seen):
            ingested[partition.key.provider] = when
    rows = (
        store.connect(catalog)
        .execute(
            "SELECT x_Provider, CAST(min(ChargePeriodStart) AS DATE), "
            f"CAST(max(ChargePeriodStart) AS DATE) FROM {current_relation(store, catalog, 'costs')} "
            "GROUP BY 1"
        )
        .fetchall()
    )
    found = []
    for provider, first, newest in rows:
        end = datetime(newest.year, newest.month, newest.day, tzinfo=UTC)
        hours = (now - end).total_seconds() / 3600 - 24
        found.append(ProviderFreshness(str(provider), first, newest, ingested.get(provider), hours))
    return sorted(found, key=lambda f: (-f.hours_behind, f.provider))
