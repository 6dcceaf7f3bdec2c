"""Cost as metrics for observability tools: the OpenMetrics text a Prometheus (or any
OpenMetrics scraper) reads from `/metrics`.

Every value comes from the query layer. Label sets are bounded: the top N values of a
dimension by cost, and the rest as `(other)`, so a scrape never creates thousands of series.

| metric | labels |
|---|---|
| `cloudtally_daily_cost` | `dimension` (team, service, provider), `value`, `currency` |
| `cloudtally_month_to_date_cost` | `currency` |
| `cloudtally_open_anomalies` | `owner` |
| `cloudtally_data_freshness_hours` | `provider` |
| `cloudtally_lake_generation` | |
| `cloudtally_budget_used_ratio` | `budget`, `currency`, `period` |
| `cloudtally_budget_forecast_ratio` | `budget`, `currency`, `period` |
| `cloudtally_commitment_utilization_ratio` | `commitment`, `provider`, `period` |

The budget families need the rules folder's `budgets.yaml`; the commitment family, commitments
in the lake. A part of the product adds a family by registering it in `FAMILIES`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from cloudtally.query.costs import grouped_costs
from cloudtally.query.periods import DateRange, lake_span
from cloudtally.store import Store

TOP = 10
OTHER = "(other)"
DIMENSIONS = ("team", "service", "provider")


@dataclass(frozen=True)
class Scrape:
    """What one scrape reads: the lake, the moment, and the rules folder (for budgets)."""

    store: Store
    now: datetime
    rules_dir: Path | None = None


Family = Callable[[Scrape], Iterator[Any]]
FAMILIES: list[Family] = []


def family(function: Family) -> Family:
    FAMILIES.append(function)
    return function


def _bounded(
    rows: list[tuple[str | None, str, Decimal]], top: int
) -> list[tuple[str, str, Decimal]]:
    """The `top` largest values per currency, the rest added up as `(other)`."""
    kept: list[tuple[str, str, Decimal]] = []
    by_currency: dict[str, list[tuple[str | None, str, Decimal]]] = {}
    for row in rows:
        by_currency.setdefault(row[1], []).append(row)
    for currency, group in sorted(by_currency.items()):
        group.sort(key=lambda r: (-r[2], str(r[0])))
        kept += [(v if v is not None else "(none)", c, cost) for v, c, cost in group[:top]]
        rest = group[top:]
        if rest:
            kept.append((OTHER, currency, sum((r[2] for r in rest), Decimal(0))))
    return kept


def newest_complete_day(store: Store) -> date | None:
    span = lake_span(store.connect())
    return None if span is None else span.last_day - timedelta(days=1)


@family
def _daily(scrape: Scrape) -> Iterator[Any]:
    from prometheus_client.core import GaugeMetricFamily

    store = scrape.store

    day = newest_complete_day(store)
    gauge = GaugeMetricFamily(
        "cloudtally_daily_cost",
        "EffectiveCost of the newest complete day, by dimension value (top 10 and (other))",
        labels=["dimension", "value", "currency", "day"],
    )
    if day is not None:
        when = DateRange(day, day, "day")
        for word in DIMENSIONS:
            table = grouped_costs(store, [word], when=when, metric_name="EffectiveCost")
            at = table.columns.index("currency")
            rows = [(r[0], r[at], r[at + 1]) for r in table.rows]
            for value, currency, cost in _bounded(rows, TOP):
                gauge.add_metric([word, str(value), currency, day.isoformat()], float(cost))
    yield gauge


@family
def _month_to_date(scrape: Scrape) -> Iterator[Any]:
    from prometheus_client.core import GaugeMetricFamily

    store = scrape.store

    span = lake_span(store.connect())
    gauge = GaugeMetricFamily(
        "cloudtally_month_to_date_cost",
        "EffectiveCost of the newest billing period so far",
        labels=["currency", "period"],
    )
    if span is not None:
        table = grouped_costs(
            store,
            ["currency"],
            periods=(span.last_period, span.last_period),
            metric_name="EffectiveCost",
        )
        for currency, cost in table.total_by_currency.items():
            gauge.add_metric([currency, span.last_period], float(cost))
    yield gauge


@family
def _anomalies(scrape: Scrape) -> Iterator[Any]:
    from prometheus_client.core import GaugeMetricFamily

    store = scrape.store

    gauge = GaugeMetricFamily(
        "cloudtally_open_anomalies", "Open and acknowledged anomalies by owner", labels=["owner"]
    )
    if store.has_state():
        from cloudtally.anomaly import state

        with store.state() as con:
            found = state.load(con, status="open") + state.load(con, status="acknowledged")
        counts: dict[str, int] = {}
        for a in found:
            counts[a.owner or "(unknown)"] = counts.get(a.owner or "(unknown)", 0) + 1
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        for owner, count in ranked[:TOP]:
            gauge.add_metric([owner], count)
        if len(ranked) > TOP:
            gauge.add_metric([OTHER], sum(c for _, c in ranked[TOP:]))
    yield gauge


@family
def _freshness(scrape: Scrape) -> Iterator[Any]:
    from prometheus_client.core import GaugeMetricFamily

    store, now = scrape.store, scrape.now

    gauge = GaugeMetricFamily(
        "cloudtally_data_freshness_hours",
        "Hours from the provider's newest charge to now",
        labels=["provider"],
    )
    rows = (
        store.connect()
        .execute("SELECT x_Provider, max(ChargePeriodEnd) FROM costs GROUP BY 1 ORDER BY 1")
        .fetchall()
    )
    for provider, end in rows:
        if end is not None:
            gauge.add_metric([provider], max(0.0, (now - end).total_seconds() / 3600))
    yield gauge


@family
def _generation(scrape: Scrape) -> Iterator[Any]:
    from prometheus_client.core import GaugeMetricFamily

    store = scrape.store

    gauge = GaugeMetricFamily("cloudtally_lake_generation", "The lake's catalog generation")
    gauge.add_metric([], store.catalog().generation)
    yield gauge


@family
def _budgets(scrape: Scrape) -> Iterator[Any]:
    from prometheus_client.core import GaugeMetricFamily

    used = GaugeMetricFamily(
        "cloudtally_budget_used_ratio",
        "Actual to date over the month's budget (budgets.yaml), newest month of data",
        labels=["budget", "currency", "period"],
    )
    burn = GaugeMetricFamily(
        "cloudtally_budget_forecast_ratio",
        "Month-end forecast over the month's budget: above 1 the budget is at risk",
        labels=["budget", "currency", "period"],
    )
    rules = scrape.rules_dir
    if (
        rules is not None
        and (rules / "budgets.yaml").is_file()
        and lake_span(scrape.store.connect())
    ):
        from cloudtally.budgets.command import load_folder
        from cloudtally.budgets.status import budget_status

        report = budget_status(scrape.store, load_folder(rules), rules_dir=rules)
        for row in report.rows:
            if row.amount:
                labels = [row.budget, row.currency, row.period]
                used.add_metric(labels, float(row.actual_to_date / row.amount))
                burn.add_metric(labels, float(row.forecast / row.amount))
    yield used
    yield burn


@family
def _commitments(scrape: Scrape) -> Iterator[Any]:
    from prometheus_client.core import GaugeMetricFamily

    gauge = GaugeMetricFamily(
        "cloudtally_commitment_utilization_ratio",
        "Utilization of each commitment in the newest billing period, as `cloudtally "
        "commitments utilization` gives it (top 10 by committed cost; (other): used over "
        "committed cost of the rest together)",
        labels=["commitment", "provider", "period"],
    )
    span = lake_span(scrape.store.connect())
    if span is not None:
        from cloudtally.commitments.utilization import utilization

        period = span.last_period
        rows = utilization(scrape.store, period=period, by="period").records()
        rows.sort(key=lambda r: (-r["committed"], r["commitment_id"]))
        for r in rows[:TOP]:
            if r["utilization"] is not None:  # on the basis `commitments utilization` names
                name = r["commitment_name"] or r["commitment_id"]
                gauge.add_metric([name, r["provider"], period], float(r["utilization"]))
        rest = rows[TOP:]
        committed = sum((r["committed"] for r in rest), Decimal(0))
        if committed:
            used = sum((r["used"] for r in rest), Decimal(0))
            gauge.add_metric([OTHER, "", period], float(used / committed))
    yield gauge


def render(store: Store, now: datetime | None = None, rules_dir: Path | None = None) -> bytes:
    """The OpenMetrics exposition of every family."""
    from prometheus_client.openmetrics.exposition import generate_latest
    from prometheus_client.registry import CollectorRegistry

    moment = now or datetime.now(UTC)

    class Collector:
        def collect(self) -> Iterator[Any]:
            for produce in FAMILIES:
                yield from produce(Scrape(store, moment, rules_dir))

    registry = CollectorRegistry()
    registry.register(Collector())
    return bytes(generate_latest(registry))
