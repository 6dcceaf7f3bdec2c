"""Queue hygiene: one anomaly per event, charges that follow a driver, series that are gone.

A detection run may find one event several times: a coarse monitor (`ServiceName`) and a
finer one (`ServiceName,SubAccountId`), two monitors cutting the same spend differently
(`services` and `teams`), or a tax line that rises because the usage it is levied on rose.
People should get one alert per event. Here, after every monitor has run:

- **Same event** (`same_event`): anomaly C is a child of P when their episodes start within a
  day of each other and at least half of C's excess on its first day lies inside P's series.
  When P's series contains C's by construction (P's dimensions and filters are a subset of
  C's and the values agree) no query is needed. When each holds half of the other's excess,
  the finer one (more dimensions, then the smaller expected spend) is the child. The child
  keeps its own root causes and line items, points to its parent and is `explained`.
- **Derived charges** (`derived_charges`): a series of tax (FOCUS `ChargeCategory` Tax on its
  first day) or one the monitor lists under `derived:` that rises with other anomalies of the
  same monitor, by no more than `DERIVED_SLACK` times its usual share of them, is attached to
  the largest of those drivers. A derived charge that rises on its own stays an anomaly.
- **Gone** (`gone`): a stored anomaly whose series has no rows on its first day any more
  (a re-allocation renamed the team, a restatement removed the charges) is resolved, with
  that reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import duckdb

from cloudtally.anomaly.config import MonitorModel
from cloudtally.anomaly.rootcause import BASELINE_WEEKS, series_condition
from cloudtally.anomaly.state import Anomaly
from cloudtally.query.dimensions import metric
from cloudtally.query.ownership import NONE_LABEL, Lens
from cloudtally.sqltext import literal

# The lens (relation and dimensions, query/ownership.py) that reads the given words.
LensFor = Callable[[Sequence[str]], Lens]

ONSET_DAYS = 1  # episodes of one event start within this many days of each other
SAME_EVENT_SHARE = 0.5  # share of a child's excess inside its parent's series
DERIVED_SLACK = 2.0  # a derived charge may rise up to this many times its share of the drivers
DERIVED_CATEGORY_SHARE = 0.5  # a series is tax when this share of its first day's cost is tax
SHARE_DAYS = 28  # days before the onset that give a derived charge's usual share
GONE_REASON = "its series is no longer in the data on {day} (re-allocated or restated)"


@dataclass(frozen=True)
class _Shape:
    """A monitor's series as sets: dimension expressions and filter values per expression."""

    dims: tuple[str, ...]
    filters: dict[str, frozenset[str]]

    @classmethod
    def of(cls, monitor: MonitorModel, lens: Lens) -> _Shape:
        return cls(
            tuple(lens.dimension(w).expr for w in monitor.dimensions),
            {
                lens.dimension(w).expr: frozenset(
                    lens.normalise(w, v) for v in ([v] if isinstance(v, str) else v)
                )
                for w, v in monitor.filters.items()
            },
        )


def same_onset(a: Anomaly, b: Anomaly) -> bool:
    """Whether two episodes start within a day of each other (one event starts once)."""
    return abs((a.date - b.date).days) <= ONSET_DAYS


def _words(monitor: MonitorModel) -> list[str]:
    return [*monitor.dimensions, *monitor.filters]


def tidy(
    con: duckdb.DuckDBPyConnection,
    found: list[Anomaly],
    monitors: Iterable[MonitorModel],
    lens_for: LensFor,
) -> None:
    """Attach derived charges and finer views of an event to their parent (in place)."""
    by_name = {m.name: m for m in monitors}
    derived_charges(con, found, by_name, lens_for)
    same_event(con, found, by_name, lens_for)


def _attach(child: Anomaly, parent: Anomaly, reason: str) -> None:
    child.parent = parent.id
    child.reason = reason
    if child.status == "open":
        child.status = "explained"


def _root(anomaly: Anomaly, by_id: dict[str, Anomaly]) -> Anomaly:
    seen = set()
    while anomaly.parent in by_id and anomaly.id not in seen:
        seen.add(anomaly.id)
        anomaly = by_id[anomaly.parent]
    return anomaly


def _finer(a: Anomaly, b: Anomaly, order: dict[str, int]) -> bool:
    """Whether `a` is the finer view: more dimensions, then less expected spend, then later."""
    key_a = (-len(a.keys), a.expected, -order[a.monitor], a.value)
    key_b = (-len(b.keys), b.expected, -order[b.monitor], b.value)
    return key_a < key_b


def _contains(
    parent: _Shape, parent_keys: tuple[str, ...], child: _Shape, keys: tuple[str, ...]
) -> bool | None:
    """Whether the parent's series holds the child's by construction (None: cannot tell)."""
    child_values = dict(zip(child.dims, keys, strict=False))
    if not set(parent.dims) <= set(child.dims):
        return None
    if any(child_values.get(d) != v for d, v in zip(parent.dims, parent_keys, strict=False)):
        return False
    for expr, allowed in parent.filters.items():
        if expr in child.filters:
            if not child.filters[expr] <= allowed:
                return None
        elif child_values.get(expr) not in allowed:
            return None
    return True


def same_event(
    con: duckdb.DuckDBPyConnection,
    found: list[Anomaly],
    monitors: dict[str, MonitorModel],
    lens_for: LensFor,
) -> None:
    """Make each finer view of an event found by another monitor a child of the coarser one."""
    order = {name: i for i, name in enumerate(monitors)}
    shapes = {name: _Shape.of(m, lens_for(_words(m))) for name, m in monitors.items()}
    by_id = {a.id: a for a in found}
    shares: dict[tuple[str, str], float] = {}
    chosen: dict[str, float] = {}  # child id -> the share its parent holds

    def share_in(inner: Anomaly, outer: Anomaly) -> float:
        if (inner.id, outer.id) not in shares:
            shares[inner.id, outer.id] = _share_in(con, inner, outer, monitors, shapes, lens_for)
        return shares[inner.id, outer.id]

    # Coarsest first, so parents are settled before their children look for them.
    ranked = sorted(found, key=lambda a: (len(a.keys), -a.expected, order[a.monitor], a.value))
    for child in ranked:
        if child.parent is not None or child.impact <= 0:
            continue
        best: tuple[float, Anomaly] | None = None
        for parent in ranked:
            if (
                parent is child
                or parent.monitor == child.monitor
                or parent.parent is not None
                or not same_onset(parent, child)
                or _root(parent, by_id) is child
            ):
                continue
            share = share_in(child, parent)
            if share < SAME_EVENT_SHARE:
                continue
            if _finer(parent, child, order) and (share_in(parent, child) >= SAME_EVENT_SHARE):
                continue  # each holds the other: the finer one is the child, not this one
            if best is None or (share, parent.impact) > (best[0], best[1].impact):
                best = (share, parent)
        if best is not None:
            child.parent = best[1].id
            chosen[child.id] = best[0]
    # A parent that found a parent of its own later: point its children at the root.
    for child in found:
        if child.id in chosen:
            parent = _root(child, by_id)
            share = chosen[child.id] if parent.id == child.parent else share_in(child, parent)
            _attach(
                child,
                parent,
                f"the same event as {parent.id} ({parent.monitor}: {parent.value}), "
                f"which holds {share:.0%} of this excess",
            )


def _share_in(
    con: duckdb.DuckDBPyConnection,
    child: Anomaly,
    parent: Anomaly,
    monitors: dict[str, MonitorModel],
    shapes: dict[str, _Shape],
    lens_for: LensFor,
) -> float:
    """The share of the child's first-day excess that lies inside the parent's series."""
    contained = _contains(shapes[parent.monitor], parent.keys, shapes[child.monitor], child.keys)
    if contained is not None:
        return 1.0 if contained else 0.0
    c_mon, p_mon = monitors[child.monitor], monitors[parent.monitor]
    if c_mon.metric != p_mon.metric or child.impact <= 0:
        return 0.0
    source = lens_for([*_words(c_mon), *_words(p_mon)])
    inside = (
        f"{series_condition(p_mon.dimensions, parent.keys, source)} "
        f"AND {source.filter_sql(p_mon.filters)}"
    )
    value = f"CAST({metric(c_mon.metric)} AS DOUBLE)"
    day = child.date
    days = ", ".join(f"DATE '{day - timedelta(days=7 * k)}'" for k in range(BASELINE_WEEKS + 1))
    row = con.execute(
        f"""
        WITH rows AS (
            SELECT *, CAST(ChargePeriodStart AS DATE) AS d FROM {source}
            WHERE ChargePeriodStart >= CAST(DATE '{day - timedelta(days=7 * BASELINE_WEEKS)}'
                                            AS TIMESTAMPTZ)
              AND ChargePeriodStart < CAST(DATE '{day + timedelta(days=1)}' AS TIMESTAMPTZ)
              AND {series_condition(c_mon.dimensions, child.keys, source)}
              AND {source.filter_sql(c_mon.filters)}
        )
        SELECT coalesce(sum({value}) FILTER (WHERE d = DATE '{day}' AND {inside}), 0),
               coalesce(sum({value}) FILTER (WHERE d <> DATE '{day}' AND {inside}), 0),
               coalesce(sum({value}) FILTER (WHERE d <> DATE '{day}'), 0)
        FROM rows WHERE d IN ({days})
        """
    ).fetchone()
    assert row is not None
    inside_actual, inside_base, child_base = row
    # The child's expected spend, shared out like its baseline (as root causes do).
    inside_expected = float(child.expected) * inside_base / child_base if child_base > 0 else 0.0
    return min((inside_actual - inside_expected) / float(child.impact), 1.0)


def derived_charges(
    con: duckdb.DuckDBPyConnection,
    found: list[Anomaly],
    monitors: dict[str, MonitorModel],
    lens_for: LensFor,
) -> None:
    """Attach tax (and listed derived charges) that rise with other anomalies to the largest."""
    for name, monitor in monitors.items():
        lens = lens_for(_words(monitor))
        mine = [a for a in found if a.monitor == name and a.parent is None]
        for charge in mine:
            drivers = [
                a
                for a in mine
                if a is not charge and a.impact > 0 and a.parent is None and same_onset(a, charge)
            ]
            if not drivers or not _is_derived(con, charge, monitor, lens):
                continue
            drivers = [d for d in drivers if not _is_derived(con, d, monitor, lens)]
            if not drivers:
                continue
            share = _usual_share(con, charge, monitor, lens)
            explained = share * sum(float(d.impact) for d in drivers)
            if float(charge.impact) > DERIVED_SLACK * explained:
                continue  # it rose more than its drivers explain: its own anomaly
            driver = max(drivers, key=lambda d: (d.impact, d.value))
            _attach(
                charge,
                driver,
                f"a charge derived from others ({share:.1%} of them) that rose with "
                f"{driver.id} ({monitor.name}: {driver.value})",
            )


def _is_derived(
    con: duckdb.DuckDBPyConnection, a: Anomaly, monitor: MonitorModel, source: Lens
) -> bool:
    if a.value in monitor.derived:
        return True
    row = con.execute(
        f"""
        SELECT sum(abs(CAST({metric(monitor.metric)} AS DOUBLE))) FILTER (WHERE ChargeCategory = 'Tax'),
               sum(abs(CAST({metric(monitor.metric)} AS DOUBLE)))
        FROM {source}
        WHERE ChargePeriodStart >= CAST(DATE '{a.date}' AS TIMESTAMPTZ)
          AND ChargePeriodStart < CAST(DATE '{a.date + timedelta(days=1)}' AS TIMESTAMPTZ)
          AND {series_condition(monitor.dimensions, a.keys, source)}
          AND {source.filter_sql(monitor.filters)}
        """
    ).fetchone()
    return bool(row and row[1] and (row[0] or 0) >= DERIVED_CATEGORY_SHARE * row[1])


def _usual_share(
    con: duckdb.DuckDBPyConnection, a: Anomaly, monitor: MonitorModel, source: Lens
) -> float:
    """The charge's cost over the rest of the monitor's cost in the days before its onset."""
    value = f"CAST({metric(monitor.metric)} AS DOUBLE)"
    row = con.execute(
        f"""
        SELECT coalesce(sum({value}) FILTER (
                   WHERE {series_condition(monitor.dimensions, a.keys, source)}), 0),
               coalesce(sum({value}), 0)
        FROM {source}
        WHERE ChargePeriodStart >= CAST(DATE '{a.date - timedelta(days=SHARE_DAYS)}' AS TIMESTAMPTZ)
          AND ChargePeriodStart < CAST(DATE '{a.date}' AS TIMESTAMPTZ)
          AND {source.filter_sql(monitor.filters)}
        """
    ).fetchone()
    assert row is not None
    own, total = row
    rest = total - own
    return own / rest if rest > 0 and own > 0 else 0.0


def gone(
    con: duckdb.DuckDBPyConnection,
    monitor: MonitorModel,
    stored: list[Anomaly],
    *,
    lens: Lens,
    last: date,
) -> list[tuple[Anomaly, str]]:
    """Stored anomalies of `monitor` whose series has no rows on their first day any more."""
    dimension = ",".join(monitor.dimensions) or "total"
    candidates = [
        a
        for a in stored
        if a.monitor == monitor.name
        and a.dimension == dimension
        and a.status != "resolved"
        and a.date <= last
    ]
    if not candidates:
        return []
    source = lens
    keys = [
        f"coalesce(CAST({lens.dimension(w).expr} AS VARCHAR), {literal(NONE_LABEL)})"
        for w in monitor.dimensions
    ]
    first, newest = min(a.date for a in candidates), max(a.date for a in candidates)
    days = ", ".join(f"DATE '{d}'" for d in sorted({a.date for a in candidates}))
    rows = con.execute(
        f"""
        SELECT DISTINCT CAST(ChargePeriodStart AS DATE) AS d{"".join(", " + k for k in keys)}
        FROM {source}
        WHERE ChargePeriodStart >= CAST(DATE '{first}' AS TIMESTAMPTZ)
          AND ChargePeriodStart < CAST(DATE '{newest + timedelta(days=1)}' AS TIMESTAMPTZ)
          AND CAST(ChargePeriodStart AS DATE) IN ({days})
        """
    ).fetchall()
    present = {(row[0], " / ".join(row[1:]) if keys else "total") for row in rows}
    return [
        (a, GONE_REASON.format(day=a.date)) for a in candidates if (a.date, a.value) not in present
    ]
