"""Report runs, recorded in the state database: which pack or summary was generated (or
sent) for which period, and when. The KPI scorecard reads them (pack timeliness, weekly
monitoring completion)."""

from __future__ import annotations

from datetime import UTC, datetime

from cloudtally.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS report_runs (
    kind VARCHAR NOT NULL,            -- monthly | weekly
    period VARCHAR NOT NULL,          -- YYYY-MM for monthly, YYYY-Www for weekly
    generated_at TIMESTAMPTZ NOT NULL,
    lake_generation INTEGER,
    destination VARCHAR               -- where it was sent, if it was
)
"""


def record_report_run(
    store: Store,
    kind: str,
    period: str,
    *,
    generated_at: datetime | None = None,
    destination: str | None = None,
) -> None:
    """Record that a `kind` report for `period` was generated (and sent to `destination`)."""
    generation = store.catalog().generation
    with store.state() as con:
        con.execute(SCHEMA)
        con.execute(
            "INSERT INTO report_runs VALUES (?, ?, ?, ?, ?)",
            [kind, period, generated_at or datetime.now(UTC), generation, destination],
        )
