"""Commitment alerts: utilization below a threshold or falling week on week, coverage below a
threshold or falling, and commitments about to end; routed to the destinations of the
monitors file (`monitors.yaml`), each alert to each destination once.

Thresholds and routing live in `commitments.yaml` in the rules folder:

    alerts:
      utilization: {below: 0.8, drop: 0.1}   # last 7 days, and its fall from the 7 before
      coverage: {below: 0.6, drop: 0.1, by: provider}
      expiry: {within_days: 30}
    notify: [finops-slack]                   # destinations defined in monitors.yaml
    owners: {<CommitmentDiscountId>: payments}  # that team's destinations instead

Weeks are the 7 days before `as_of` (default: the end of the lake's data) and the 7 before
those, by ChargePeriodStart. An alert's id is stable for its commitment (or group) and week
(or, for expiry, its end date), so a re-run sends nothing twice: sends are recorded in the
state database's sent-log, as anomaly notifications are, and go through the same senders.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cloudtally.commitments.expiry import data_end, expiry
from cloudtally.commitments.rows import (
    COMMITMENT_COST,
    USED,
    eligible_condition,
    eligible_keys,
    scope_of,
)
from cloudtally.errors import RuleError
from cloudtally.query.dimensions import dimension
from cloudtally.results import Column, Result
from cloudtally.rules.yaml_loader import load_model
from cloudtally.sqltext import literal
from cloudtally.store import Store

MONITOR = "commitments"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UtilizationAlert(_Strict):
    below: float = Field(0.8, ge=0, le=1)
    drop: float = Field(0.1, gt=0, le=1)


class CoverageAlert(_Strict):
    below: float = Field(0.6, ge=0, le=1)
    drop: float = Field(0.1, gt=0, le=1)
    by: str = "provider"


class ExpiryAlert(_Strict):
    within_days: int = Field(30, ge=1, le=1095)


class AlertsModel(_Strict):
    utilization: UtilizationAlert = Field(default_factory=lambda: UtilizationAlert())  # type: ignore[call-arg]
    coverage: CoverageAlert = Field(default_factory=lambda: CoverageAlert())  # type: ignore[call-arg]
    expiry: ExpiryAlert = Field(default_factory=lambda: ExpiryAlert())  # type: ignore[call-arg]


class CommitmentRules(_Strict):
    alerts: AlertsModel = Field(default_factory=AlertsModel)
    notify: list[str] = Field(default_factory=list)
    owners: dict[str, str] = Field(default_factory=dict)


def load_rules(folder: Path) -> CommitmentRules:
    """`commitments.yaml` of a rules folder (the defaults when there is none)."""
    path = folder / "commitments.yaml"
    if not path.exists():
        return CommitmentRules()
    return load_model(path, CommitmentRules)


@dataclass(frozen=True)
class Alert:
    """One thing to tell: what, about which commitment or group, and the numbers."""

    kind: str  # low-utilization | utilization-drop | low-coverage | coverage-drop | expiring
    subject: str  # the commitment id, or the coverage group's value
    name: str  # what to call it in a message
    headline: str  # the message's first words
    actual: Decimal  # this week's unused (or uncovered) cost; for expiry the on-demand cost
    expected: Decimal  # what the threshold or last week allows; for expiry its amortized cost
    day: date  # the week's first day, or the commitment's end
    currency: str
    owner: str | None = None

    @property
    def id(self) -> str:
        from cloudtally.anomaly.state import anomaly_id

        return anomaly_id(MONITOR, self.kind, self.subject, self.day)

    def message(self) -> Any:
        """The alert as the notifiers' message object (an anomaly record of monitor
        `commitments`), so every destination type sends it as it sends anomalies."""
        from cloudtally.anomaly.state import Anomaly

        excess = self.actual - self.expected
        return Anomaly(
            monitor=MONITOR,
            dimension="commitment"
            if self.kind in ("low-utilization", "utilization-drop", "expiring")
            else "coverage of",
            value=self.name,
            date=self.day,
            kind=self.headline,
            days=7 if self.kind != "expiring" else 1,
            actual=self.actual,
            expected=self.expected,
            impact=excess,
            total_impact=excess,
            score=0.0,
            owner=self.owner,
            evidence=[{"resource": self.subject, "sku": None, "cost": self.actual}],
            id=self.id,
        )


COLUMNS = [
    Column("id", "text", "stable alert id (the sent-log key)"),
    Column(
        "kind", "text", "low-utilization, utilization-drop, low-coverage, coverage-drop, expiring"
    ),
    Column("subject", "text", "CommitmentDiscountId, or the coverage group"),
    Column("headline", "text", "what happened"),
    Column("actual", "money", "unused / uncovered cost this week; expiring: on-demand cost"),
    Column("expected", "money", "what the threshold or last week allows; expiring: its cost now"),
    Column("currency", "text", "BillingCurrency", table=False),
    Column("day", "date", "first day of the week, or the commitment's end", table=False),
    Column("owner", "text", "owning team, from commitments.yaml owners", table=False),
]


def _weeks(as_of: datetime) -> tuple[str, str, str]:
    current = as_of - timedelta(days=7)
    previous = as_of - timedelta(days=14)
    stamp = "CAST({} AS TIMESTAMPTZ)"
    return (
        stamp.format(literal(previous.isoformat())),
        stamp.format(literal(current.isoformat())),
        stamp.format(literal(as_of.isoformat())),
    )


def utilization_weeks_sql(as_of: datetime) -> str:
    previous, current, end = _weeks(as_of)
    return f"""
        SELECT CommitmentDiscountId AS commitment_id, max(CommitmentDiscountName) AS name,
               BillingCurrency AS currency,
               coalesce(sum(EffectiveCost) FILTER (WHERE ChargePeriodStart >= {current}), 0)
                   AS committed,
               coalesce(sum(EffectiveCost) FILTER (
                   WHERE ChargePeriodStart >= {current} AND {USED}), 0) AS used,
               coalesce(sum(EffectiveCost) FILTER (WHERE ChargePeriodStart < {current}), 0)
                   AS committed_before,
               coalesce(sum(EffectiveCost) FILTER (
                   WHERE ChargePeriodStart < {current} AND {USED}), 0) AS used_before
        FROM costs
        WHERE {COMMITMENT_COST} AND ChargePeriodStart >= {previous} AND ChargePeriodStart < {end}
        GROUP BY 1, 3 ORDER BY 1"""


def coverage_weeks_sql(as_of: datetime, by_expr: str, eligible: list[str]) -> str:
    previous, current, end = _weeks(as_of)
    return f"""
        SELECT {by_expr} AS subject, BillingCurrency AS currency,
               coalesce(sum(ContractedCost) FILTER (WHERE ChargePeriodStart >= {current}), 0)
                   AS eligible,
               coalesce(sum(ContractedCost) FILTER (
                   WHERE ChargePeriodStart >= {current} AND {USED}), 0) AS covered,
               coalesce(sum(ContractedCost) FILTER (WHERE ChargePeriodStart < {current}), 0)
                   AS eligible_before,
               coalesce(sum(ContractedCost) FILTER (
                   WHERE ChargePeriodStart < {current} AND {USED}), 0) AS covered_before
        FROM costs
        WHERE ChargePeriodStart >= {previous} AND ChargePeriodStart < {end}
          AND {eligible_condition(eligible)}
        GROUP BY 1, 2 ORDER BY 1"""


def _share(part: Decimal, whole: Decimal) -> Decimal | None:
    return part / whole if whole else None


def _pct(value: Decimal) -> str:
    return f"{float(value):.1%}"


def find_alerts(store: Store, rules: CommitmentRules, *, as_of: date | None = None) -> list[Alert]:
    """The alerts the data raises as of a day (default: the end of the lake's data)."""
    scope_of(store, None, None)  # refuses an empty lake
    when = (
        datetime.combine(as_of, datetime.min.time(), UTC) if as_of is not None else data_end(store)
    )
    week = (when - timedelta(days=7)).date()
    limits = rules.alerts
    con = store.connect()
    found: list[Alert] = []
    cursor = con.execute(utilization_weeks_sql(when))
    names = [d[0] for d in cursor.description or []]
    for raw in cursor.fetchall():
        r = dict(zip(names, raw, strict=True))
        now = _share(r["used"], r["committed"])
        before = _share(r["used_before"], r["committed_before"])
        if now is None:
            continue
        label = f"{r['name'] or r['commitment_id']}"
        unused = r["committed"] - r["used"]
        owner = rules.owners.get(r["commitment_id"])
        below = Decimal(str(limits.utilization.below))
        if now < below:
            found.append(
                Alert(
                    "low-utilization",
                    r["commitment_id"],
                    label,
                    f"Utilization {_pct(now)} (below {_pct(below)}), unused cost",
                    unused,
                    (r["committed"] * (1 - below)).quantize(Decimal("0.01")),
                    week,
                    r["currency"],
                    owner,
                )
            )
        if before is not None and before - now >= Decimal(str(limits.utilization.drop)):
            found.append(
                Alert(
                    "utilization-drop",
                    r["commitment_id"],
                    label,
                    f"Utilization fell from {_pct(before)} to {_pct(now)} in a week, unused cost",
                    unused,
                    r["committed_before"] - r["used_before"],
                    week,
                    r["currency"],
                    owner,
                )
            )
    group = dimension(limits.coverage.by)
    cursor = con.execute(coverage_weeks_sql(when, group.expr, eligible_keys(con)))
    names = [d[0] for d in cursor.description or []]
    for raw in cursor.fetchall():
        r = dict(zip(names, raw, strict=True))
        now = _share(r["covered"], r["eligible"])
        before = _share(r["covered_before"], r["eligible_before"])
        if now is None:
            continue
        subject = f"{limits.coverage.by} {r['subject']}"
        uncovered = r["eligible"] - r["covered"]
        below = Decimal(str(limits.coverage.below))
        if now < below:
            found.append(
                Alert(
                    "low-coverage",
                    str(r["subject"]),
                    subject,
                    f"Commitment coverage {_pct(now)} (below {_pct(below)}), uncovered cost",
                    uncovered,
                    (r["eligible"] * (1 - below)).quantize(Decimal("0.01")),
                    week,
                    r["currency"],
                )
            )
        if before is not None and before - now >= Decimal(str(limits.coverage.drop)):
            found.append(
                Alert(
                    "coverage-drop",
                    str(r["subject"]),
                    subject,
                    f"Commitment coverage fell from {_pct(before)} to {_pct(now)} in a week, "
                    "uncovered cost",
                    uncovered,
                    r["eligible_before"] - r["covered_before"],
                    week,
                    r["currency"],
                )
            )
    horizon = when + timedelta(days=limits.expiry.within_days)
    for r in expiry(store, as_of=when.date()).records():
        end = r["term_end"]
        if end is None or not when < end <= horizon:
            continue
        found.append(
            Alert(
                "expiring",
                r["commitment_id"],
                r["commitment_name"] or r["commitment_id"],
                f"Ends in {r['days_left']} days ({end.date()}); on-demand cost of what it covers "
                f"in {r['period']}",
                r["on_demand_replacement"],
                r["amortized_cost"],
                end.date(),
                r["currency"],
                rules.owners.get(r["commitment_id"]),
            )
        )
    return found


def alerts_result(alerts: list[Alert], as_of_text: str) -> Result:
    rows = [
        (a.id, a.kind, a.subject, a.headline, a.actual, a.expected, a.currency, a.day, a.owner)
        for a in alerts
    ]
    result = Result(title=f"Commitment alerts {as_of_text}", columns=COLUMNS, rows=rows)
    if not rows:
        result.notes.append("No alerts: utilization, coverage and terms are within the rules.")
    return result


@dataclass(frozen=True)
class Delivery:
    alert_id: str
    destination: str
    outcome: str  # sent (N attempt(s)) | already sent | would send | failed: ...


def deliver(
    store: Store,
    alerts: list[Alert],
    rules: CommitmentRules,
    monitors: Any,
    secrets: Any,
    *,
    dry_run: bool = False,
) -> list[Delivery]:
    """Send each alert to its destinations once: the owner team's (monitors.yaml `teams`),
    else the `notify` list of commitments.yaml. Sends go through the anomaly notifiers."""
    from cloudtally.anomaly import state
    from cloudtally.anomaly.notify import SendError, send

    unknown = sorted({d for d in rules.notify if d not in monitors.destinations})
    if unknown:
        raise RuleError(
            f"commitments.yaml notifies unknown destination(s) {', '.join(unknown)}: define "
            "them under `destinations` in monitors.yaml."
        )
    results = []
    with store.state() as con:
        for alert in alerts:
            team = monitors.teams.get(alert.owner) if alert.owner else None
            targets = team.notify if team is not None and team.notify else rules.notify
            for name in targets:
                if state.was_sent(con, alert.id, name):
                    results.append(Delivery(alert.id, name, "already sent"))
                    continue
                if dry_run:
                    results.append(Delivery(alert.id, name, "would send"))
                    continue
                try:
                    attempts = send(name, monitors.destinations[name], alert.message(), secrets)
                except SendError as exc:
                    results.append(Delivery(alert.id, name, f"failed: {exc}"))
                    continue
                state.mark_sent(con, alert.id, name, attempts)
                results.append(Delivery(alert.id, name, f"sent ({attempts} attempt(s))"))
    return results
