"""One detection run: every monitor's series scored, root causes found, state updated.

`detect` is what `cloudtally anomalies detect` calls: it scores the newest complete day (or
replays each day from `since`), skips what planned-activity feedback covers, keeps one
anomaly per event (`hygiene.py`: finer views and derived charges become `explained` children,
stored anomalies whose series is gone are resolved), and upserts into `state.duckdb` (a
re-run never adds a second row for the same episode).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from functools import partial
from typing import Any

import numpy as np

from cloudtally.anomaly import hygiene, state
from cloudtally.anomaly.config import AnomalyError, MonitorModel, MonitorsFile
from cloudtally.anomaly.days import complete_day
from cloudtally.anomaly.detector import Thresholds, score_days
from cloudtally.anomaly.rootcause import owner_from, root_causes
from cloudtally.anomaly.series import load_series
from cloudtally.progress import Reporter
from cloudtally.query.dimensions import metric
from cloudtally.query.ownership import Lens, lens_for
from cloudtally.store import Store

CENT = Decimal("0.01")


@dataclass
class DetectReport:
    scored_from: date | None
    scored_to: date | None
    series: int = 0
    anomalies: list[state.Anomaly] = field(default_factory=list)
    new: int = 0
    updated: int = 0
    skipped: str | None = None  # days left out of scoring (see days.py), said to the user
    # Stored anomalies resolved because their series is gone, with the reason.
    closed: list[tuple[state.Anomaly, str]] = field(default_factory=list)


def money(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(CENT, rounding=ROUND_HALF_EVEN)


def adhoc_monitor(words: list[str], filters: dict[str, str | list[str]]) -> MonitorModel:
    """The monitor of `detect --by WORDS`: named from its words (`tag:team` -> by-tag-team).

    >>> adhoc_monitor(["ServiceName", "tag:cost center"], {}).name
    'by-ServiceName-tag-cost-center'
    """
    # A monitor name is a plain word; the dimensions themselves are kept as given.
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", "by-" + "-".join(words)) if words else "total"
    return MonitorModel(name=name, dimensions=words, filters=filters)


def detect(
    store: Store,
    rules: MonitorsFile,
    *,
    since: date | None = None,
    until: date | None = None,
    complete_lag: int | None = None,
    today: date | None = None,
    reporter: Reporter | None = None,
    thresholds: Thresholds | None = None,
) -> DetectReport:
    """Run every monitor of `rules`; store and return the anomalies found."""
    if not rules.monitors:
        raise AnomalyError(
            "No monitors to run: pass --by DIMENSIONS, or list monitors in rules/monitors.yaml "
            "(see docs/anomalies.md)."
        )
    con = store.connect()
    days = complete_day(con, complete_lag=complete_lag, today=today)
    last = days.last
    if last is None:
        raise AnomalyError(
            "The lake has no cost data yet: run `cloudtally ingest` first."
            + (f" {days.note()}" if days.skipped else "")
        )
    if until is not None:
        last = min(last, until)
    first = since or last
    if first > last:
        raise AnomalyError(
            f"--since {first} is after the newest complete day ({last}); nothing to score."
        )
    report = DetectReport(first, last, skipped=days.note())
    reporter = reporter or Reporter(False)
    found: list[state.Anomaly] = []
    with store.state() as scon, reporter.session():
        for monitor in rules.monitors:
            metric(monitor.metric)  # an unknown metric fails before any work
            feedback = state.feedback_rules(scon, monitor.name)
            reading = reporter.task(f"Reading {monitor.name}")
            lens = lens_for(store, [*monitor.dimensions, *monitor.filters])
            series = reporter.run_query(
                con,
                partial(
                    load_series, con, monitor, lens=lens, report_from=first, last_complete=last
                ),
                reading,
            )
            report.series += len(series.keys)
            dimension = ",".join(monitor.dimensions) or "total"
            labels = [" / ".join(k) if k else "total" for k in series.keys]
            z_scale = np.array([feedback.z_scale(dimension, v) for v in labels])
            task = reporter.task(f"Scoring {monitor.name} ({len(labels):,} series)")
            result = score_days(
                series.values,
                series.first_day,
                series.column(first),
                thresholds=thresholds or rules.thresholds_of(monitor),
                z_scale=z_scale,
                on_step=_stepper(reporter, task),
            )
            for d in result.detections:
                onset = series.day(d.onset)
                value = labels[d.series]
                causes, evidence = root_causes(
                    con,
                    source=series.source,
                    metric=metric(monitor.metric),
                    words=monitor.dimensions,
                    values=series.keys[d.series],
                    filters=monitor.filters,
                    day=onset,
                    expected=d.expected,
                )
                owner = (
                    owner_from(causes)
                    or next(
                        (monitor.owners[v] for v in series.keys[d.series] if v in monitor.owners),
                        None,
                    )
                    or monitor.owner
                )
                found.append(
                    state.Anomaly(
                        monitor=monitor.name,
                        dimension=dimension,
                        value=value,
                        date=onset,
                        kind=d.kind,
                        days=d.days,
                        actual=money(d.actual),
                        expected=money(d.expected),
                        impact=money(d.impact),
                        total_impact=money(d.total_excess),
                        score=round(d.score, 2),
                        status="suppressed"
                        if feedback.suppressed(dimension, value, onset)
                        else "open",
                        owner=owner,
                        root_causes=causes,
                        evidence=evidence,
                        first_seen=series.day(d.first_seen) if d.kind == "new-spend" else None,
                        keys=series.keys[d.series],
                    )
                )
        lenses: dict[tuple[str, ...], Lens] = {}

        def lens_of(words: Sequence[str]) -> Lens:
            key = tuple(sorted(set(words)))
            if key not in lenses:
                lenses[key] = lens_for(store, list(key))
            return lenses[key]

        hygiene.tidy(con, found, rules.monitors, lens_of)
        for monitor in rules.monitors:
            report.closed += hygiene.gone(
                con,
                monitor,
                state.load(scon, monitor=monitor.name),
                lens=lens_of([*monitor.dimensions, *monitor.filters]),
                last=last,
            )
        report.new, report.updated = state.save(scon, found)
        for anomaly, reason in report.closed:
            state.close(scon, anomaly.id, reason)
    report.anomalies = sorted(found, key=lambda a: (a.date, a.monitor, -a.impact, a.value))
    return report


def _stepper(reporter: Reporter, task: Any) -> Callable[[int, int], None]:
    def step(done: int, total: int) -> None:
        reporter.update(task, 100 * done / total)

    return step
