"""The FinOps KPI scorecard: each KPI computed from the data and the state the tools record,
with its target, status and the trend over the last six billing periods.

A KPI whose data is not there (no allocation yet, no reconciliation run, no savings tracker)
is `no data`, never a made-up zero. Each KPI says how it is computed.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Hashable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from cloudtally.kpis.docs import REQUIRED_DOCS, documentation_problems
from cloudtally.kpis.targets import KpiTargets, Target
from cloudtally.query.movers import previous_period
from cloudtally.rules.allocation import RuleSet
from cloudtally.sqltext import literals
from cloudtally.store import Store

TREND_PERIODS = 6

T = TypeVar("T")


@dataclass
class Context:
    store: Store
    rules_dir: Path | None
    docs_dir: Path
    targets: KpiTargets
    now: datetime
    _con: duckdb.DuckDBPyConnection | None = None
    _state: duckdb.DuckDBPyConnection | None = None
    # Keeps the state database's copy (an object-store lake) while `_state` reads it.
    _snapshot: ExitStack = field(default_factory=ExitStack)
    cache: dict[object, object] = field(default_factory=dict)  # work shared between KPIs
    # How answers that depend on the lake alone are kept (a server keeps them per generation of
    # the lake: `ServingStore.remembered`); by default they are computed.
    remember: Callable[[Hashable, Callable[[], Any]], Any] = lambda _question, answer: answer()

    def lake(self, question: Hashable, answer: Callable[[], T]) -> T:
        """`answer()`, which reads the lake only (not the state database or the clock)."""
        return self.remember(("kpis", question), answer)

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        if self._con is None:
            self._con = self.store.connect()
        return self._con

    def state(self, table: str) -> duckdb.DuckDBPyConnection | None:
        """The state database when it holds `table` (read-only), else None."""
        if self._state is None:
            snapshot = ExitStack()
            path = snapshot.enter_context(self.store.reading_state())
            if path is None:
                snapshot.close()
                return None
            self._state = duckdb.connect(str(path), read_only=True)
            self._state.execute("SET TimeZone = 'UTC'")
            self._snapshot = snapshot
        found = self._state.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [table]
        ).fetchone()
        return self._state if found and found[0] else None

    def close(self) -> None:
        for con in (self._con, self._state):
            if con is not None:
                con.close()
        self._snapshot.close()


@dataclass
class Kpi:
    name: str
    title: str
    unit: str
    how: str
    compute: Callable[[Context, str], float | None]
    per_period: bool = True


@dataclass
class KpiResult:
    name: str
    title: str
    value: float | None
    unit: str
    target: float
    direction: str
    status: str  # met | at risk | missed | no data
    trend: list[tuple[str, float | None]] = field(default_factory=list)
    how: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "kpi": self.name,
            "title": self.title,
            "value": self.value,
            "unit": self.unit,
            "target": self.target,
            "direction": self.direction,
            "status": self.status,
            "trend": [{"period": p, "value": v} for p, v in self.trend],
            "how": self.how,
        }


KPIS: list[Kpi] = []


Compute = Callable[[Context, str], float | None]


def kpi(
    name: str, title: str, unit: str, how: str, *, per_period: bool = True
) -> Callable[[Compute], Compute]:
    """Register a KPI (its key in kpis.yaml is `name`)."""

    def register(
        compute: Callable[[Context, str], float | None],
    ) -> Callable[[Context, str], float | None]:
        KPIS.append(Kpi(name, title, unit, how, compute, per_period))
        return compute

    return register


def status_of(value: float | None, target: Target, margin: float) -> str:
    """>>> status_of(4.0, Target(target=5, direction="below"), 0.2)
    'met'
    >>> status_of(5.5, Target(target=5, direction="below"), 0.2), status_of(None, Target(target=5, direction="below"), 0.2)
    ('at risk', 'no data')
    """
    if value is None:
        return "no data"
    if target.direction == "below":
        if value <= target.target:
            return "met"
        return "at risk" if value <= target.target * (1 + margin) else "missed"
    if value >= target.target:
        return "met"
    return "at risk" if value >= target.target * (1 - margin) else "missed"


def scorecard(
    store: Store,
    period: str,
    *,
    targets: KpiTargets,
    rules_dir: Path | None = None,
    docs_dir: Path = Path("docs"),
    now: datetime | None = None,
    remember: Callable[[Hashable, Callable[[], Any]], Any] | None = None,
) -> list[KpiResult]:
    """Every KPI for billing period `period`, with its trend over the six periods to it
    (`remember`: how to keep what depends on the lake alone between calls, see Context)."""
    ctx = Context(store, rules_dir, docs_dir, targets, now or datetime.now(UTC))
    if remember is not None:
        ctx.remember = remember
    periods = _trend_of(period)
    results = []
    try:
        for item in KPIS:
            target: Target = getattr(targets, item.name)
            value = item.compute(ctx, period)
            trend = (
                [(p, value if p == period else item.compute(ctx, p)) for p in periods]
                if item.per_period
                else []
            )
            results.append(
                KpiResult(
                    item.name,
                    item.title,
                    None if value is None else round(value, 2),
                    item.unit,
                    target.target,
                    target.direction,
                    status_of(value, target, targets.at_risk_margin),
                    [(p, None if v is None else round(v, 2)) for p, v in trend],
                    item.how,
                )
            )
    finally:
        ctx.close()
    return results


def _pct(part: object, whole: object) -> float | None:
    if part is None or whole in (None, 0):
        return None
    return float(part) / float(whole) * 100  # type: ignore[arg-type]


# -- the KPIs ------------------------------------------------------------------------------


@kpi(
    "unallocated_pct",
    "Unallocated spend",
    "%",
    "EffectiveCost of allocated_costs lines with no team / all EffectiveCost, per billing "
    "period (needs `cloudtally allocate`).",
)
def _unallocated(ctx: Context, period: str) -> float | None:
    from cloudtally.query.ownership import allocation_state

    if allocation_state(ctx.store) == "missing":
        return None
    key = ("unallocated", period)
    if key not in ctx.cache:
        # The first call is for the scorecard's period: its whole trend in one query.
        trend = _trend_of(period)
        rows = ctx.lake(
            ("unallocated", tuple(trend)),
            lambda: ctx.con.execute(
                "SELECT x_BillingPeriod, sum(EffectiveCost) FILTER (WHERE team IS NULL), "
                "sum(EffectiveCost) FROM allocated_costs "
                f"WHERE x_BillingPeriod IN ({literals(trend)}) GROUP BY 1"
            ).fetchall(),
        )
        for p in trend:
            ctx.cache[("unallocated", p)] = None
        for p, unowned, total in rows:
            ctx.cache[("unallocated", p)] = None if total is None else _pct(unowned or 0, total)
    return ctx.cache[key]  # type: ignore[return-value]


def _rules(ctx: Context) -> RuleSet | None:
    """The rules folder's rules when its tag policy requires keys (read once per scorecard)."""
    from cloudtally.rules.allocation import load_rules_cached

    if ctx.rules_dir is None or not (ctx.rules_dir / "tags.yaml").exists():
        return None
    if "rules" not in ctx.cache:
        ctx.cache["rules"] = load_rules_cached(ctx.rules_dir)
    rules: RuleSet = ctx.cache["rules"]  # type: ignore[assignment]
    return rules if rules.tags.required else None


def _trend_of(period: str) -> list[str]:
    """The TREND_PERIODS billing periods to `period`, oldest first."""
    periods = [period]
    for _ in range(TREND_PERIODS - 1):
        periods.insert(0, previous_period(periods[0]))
    return periods


@kpi(
    "tag_coverage_pct",
    "Tag coverage by cost",
    "%",
    "Share of usage EffectiveCost carrying every required tag of tags.yaml with an allowed "
    "value (`cloudtally tags coverage`'s all_keys), per billing period.",
)
def _coverage(ctx: Context, period: str) -> float | None:
    from cloudtally.tags.compliance import Table, coverage

    rules = _rules(ctx)
    if rules is None:
        return None
    if "coverage" not in ctx.cache:
        # One query for every period of the trend: coverage per billing period.
        periods = (_trend_of(period)[0], period)
        ctx.cache["coverage"] = ctx.lake(
            ("coverage", periods, rules.sha256),
            lambda: coverage(ctx.store, rules, "month", periods),
        )
    table: Table = ctx.cache["coverage"]  # type: ignore[assignment]
    month_at, cost_at = table.columns.index("month"), table.columns.index("cost")
    all_at = table.columns.index("all_keys")
    weighted = [(r[cost_at], r[all_at]) for r in table.rows if r[month_at] == period and r[cost_at]]
    total = sum(float(c) for c, _ in weighted)
    if not total:
        return None
    return sum(float(c) * (s or 0.0) for c, s in weighted) / total * 100


def _exception_resources(ctx: Context, rules: RuleSet, period: str) -> frozenset[str]:
    from cloudtally.tags.compliance import exceptions

    key = ("exceptions", period)
    if key not in ctx.cache:

        def resources() -> frozenset[str]:
            table = exceptions(ctx.store, rules, (period, period), top=None)
            at = table.columns.index("resource_id")
            return frozenset(r[at] for r in table.rows if r[at])

        ctx.cache[key] = ctx.lake(("exceptions", period, rules.sha256), resources)
    return ctx.cache[key]  # type: ignore[return-value]


@kpi(
    "exception_closure_pct",
    "Tag exceptions closed within SLA",
    "%",
    "Of the resources that were tag exceptions in the billing period before, the share that "
    "no longer is one (fixed or gone) within the SLA (exception_sla_periods, default one period).",
)
def _closure(ctx: Context, period: str) -> float | None:
    rules = _rules(ctx)
    if rules is None:
        return None
    opened = period
    for _ in range(ctx.targets.exception_sla_periods):
        opened = previous_period(opened)
    before = _exception_resources(ctx, rules, opened)
    if not before:
        return None
    now = _exception_resources(ctx, rules, period)
    return _pct(len(before - now), len(before))


def _anomalies_of(ctx: Context, period: str) -> str:
    return f"strftime(a.date, '%Y-%m') = '{period[:7]}'"


@kpi(
    "anomaly_triage_hours",
    "Anomaly triage time (median)",
    "hours",
    "Median hours from an anomaly's detection to its first notification of the owner "
    "(anomaly state: detected_at, first send), for anomalies starting in the period.",
)
def _triage(ctx: Context, period: str) -> float | None:
    con = ctx.state("anomaly_sends")
    if con is None or ctx.state("anomalies") is None:
        return None
    rows = con.execute(
        f"""SELECT epoch(min(s.sent_at) - any_value(a.detected_at)) / 3600
            FROM anomalies a JOIN anomaly_sends s ON s.anomaly_id = a.id
            WHERE {_anomalies_of(ctx, period)} GROUP BY a.id"""
    ).fetchall()
    hours = [max(0.0, float(r[0])) for r in rows if r[0] is not None]
    return statistics.median(hours) if hours else None


@kpi(
    "anomaly_false_positive_pct",
    "Anomaly false positives",
    "%",
    "Of the anomalies starting in the period that got feedback, the share marked "
    "false-positive (`cloudtally anomalies feedback`).",
)
def _false_positives(ctx: Context, period: str) -> float | None:
    con = ctx.state("anomaly_feedback")
    if con is None or ctx.state("anomalies") is None:
        return None
    row = con.execute(
        f"""SELECT count(DISTINCT a.id) FILTER (WHERE f.kind = 'false-positive'),
                   count(DISTINCT a.id)
            FROM anomalies a JOIN anomaly_feedback f ON f.anomaly_id = a.id
            WHERE {_anomalies_of(ctx, period)}"""
    ).fetchone()
    return None if row is None or not row[1] else _pct(row[0], row[1])


@kpi(
    "reconciliation_variance_pct",
    "Invoice reconciliation variance",
    "%",
    "Sum of |invoice - lake| over the period's invoices / sum of the invoice amounts, from the "
    "latest `cloudtally reconcile` of each invoice.",
)
def _variance(ctx: Context, period: str) -> float | None:
    con = ctx.state("reconciliations")
    if con is None:
        return None
    row = con.execute(
        """SELECT sum(abs(difference)), sum(abs(invoice_amount)) FROM (
               SELECT * FROM reconciliations WHERE period = ?
               QUALIFY row_number() OVER (PARTITION BY invoice_id ORDER BY run_at DESC) = 1)""",
        [period],
    ).fetchone()
    return None if row is None else _pct(row[0], row[1])


@kpi(
    "pack_timeliness_days",
    "Monthly pack timeliness",
    "days",
    "Days after the end of the billing period when its monthly pack was first generated "
    "(`cloudtally report monthly` records each run).",
)
def _timeliness(ctx: Context, period: str) -> float | None:
    con = ctx.state("report_runs")
    if con is None:
        return None
    row = con.execute(
        "SELECT min(generated_at) FROM report_runs WHERE kind = 'monthly' AND period = ?",
        [period],
    ).fetchone()
    if row is None or row[0] is None:
        return None
    year, month = int(period[:4]), int(period[5:7])
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return max(0.0, (row[0] - end).total_seconds() / 86400)


@kpi(
    "weekly_completion_pct",
    "Weekly monitoring completion",
    "%",
    "Share of the ISO weeks ending in the period for which a weekly summary was generated or "
    "sent (`cloudtally report weekly` records each run).",
)
def _weekly(ctx: Context, period: str) -> float | None:
    con = ctx.state("report_runs")
    if con is None:
        return None
    year, month = int(period[:4]), int(period[5:7])
    day = datetime(year, month, 1).date()
    weeks = set()
    while day.month == month:
        if day.isoweekday() == 7:
            weeks.add(f"{day.isocalendar()[0]}-W{day.isocalendar()[1]:02d}")
        day += timedelta(days=1)
    if not weeks:
        return None
    done = {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT period FROM report_runs WHERE kind = 'weekly'"
        ).fetchall()
    }
    return _pct(len(weeks & done), len(weeks))


@kpi(
    "savings_throughput_items",
    "Savings throughput",
    "items",
    "Savings items that reached `implemented` in the quarter of the period (the savings "
    "tracker's status history).",
)
def _throughput(ctx: Context, period: str) -> float | None:
    con = ctx.state("savings_events")
    if con is None:
        return None
    year, month = int(period[:4]), int(period[5:7])
    first = (month - 1) // 3 * 3 + 1
    row = con.execute(
        """SELECT count(DISTINCT item_id) FROM savings_events
           WHERE status_to = 'implemented' AND year(recorded_at) = ?
             AND month(recorded_at) BETWEEN ? AND ?""",
        [year, first, first + 2],
    ).fetchone()
    return None if row is None else float(row[0])


@kpi(
    "savings_evidence_pct",
    "Realized savings with evidence",
    "%",
    "Share of claimed savings (implemented or realized items' estimates) whose item has a "
    "before/after measurement, a ticket and an owner (`cloudtally savings list`).",
    per_period=False,
)
def _evidence(ctx: Context, period: str) -> float | None:
    from cloudtally.kpis.links import savings_evidence_share

    return savings_evidence_share(ctx.store)


@kpi(
    "commitment_checks_pct",
    "Commitment utilization reporting",
    "%",
    "Share of commitments whose purchase's amortized cost equals the effective cost of its "
    "used plus unused rows (`cloudtally check`'s commitment invariant).",
    per_period=True,
)
def _commitments(ctx: Context, period: str) -> float | None:
    from cloudtally.kpis.links import commitment_invariant_shares

    key = ("commitments", period)
    if key not in ctx.cache:
        # The first call is for the scorecard's period: read its whole trend in one pass.
        trend = tuple(_trend_of(period))
        shares = ctx.lake(
            ("commitments", trend), lambda: commitment_invariant_shares(ctx.store, trend)
        )
        for p, share in shares.items():
            ctx.cache.setdefault(("commitments", p), share)
    return ctx.cache[key]  # type: ignore[return-value]


@kpi(
    "freshness_hours",
    "Data freshness (worst provider)",
    "hours",
    "Hours from the newest charge (ChargePeriodEnd) of the provider furthest behind to now.",
    per_period=False,
)
def _freshness(ctx: Context, period: str) -> float | None:
    rows = ctx.con.execute(
        "SELECT x_Provider, max(ChargePeriodEnd) FROM costs GROUP BY 1"
    ).fetchall()
    ends = [r[1] for r in rows if r[1] is not None]
    if not ends:
        return None
    return max(0.0, (ctx.now - min(ends)).total_seconds() / 3600)


@kpi(
    "documentation_pct",
    "Documentation completeness",
    "%",
    f"Share of the runbooks and definitions that exist and name only commands and options the "
    f"CLI has ({', '.join(REQUIRED_DOCS)}).",
    per_period=False,
)
def _documentation(ctx: Context, period: str) -> float | None:
    problems = documentation_problems(ctx.docs_dir)
    good = [d for d in REQUIRED_DOCS if d not in problems]
    return _pct(len(good), len(REQUIRED_DOCS))
