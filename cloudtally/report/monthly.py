"""The monthly pack's numbers: one typed result that the HTML, PDF and Markdown renderers and
the `data/` files are made from. Every number comes from the query layer, so each can be
reproduced with a command or a SQL query over the lake's views.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from cloudtally.errors import QueryError
from cloudtally.query.bridge import GroupChange, decompose, decompose_with_total
from cloudtally.query.dimensions import metric as metric_name
from cloudtally.query.movers import previous_period
from cloudtally.query.ownership import ALLOCATED, NONE_LABEL, Lens, allocation_state, lens_for
from cloudtally.query.periods import DateRange, parse_range, require_data
from cloudtally.sqltext import literals
from cloudtally.store import Store

# The bridge's parts, named for finance, in the order the waterfall shows them.
BRIDGE = (
    ("price", "price"),
    ("volume", "volume"),
    ("new", "new resources"),
    ("removed", "removed resources"),
    ("coverage", "commitment coverage"),
    ("credits", "credits and refunds"),
    ("tax", "tax"),
    ("currency", "currency"),
    ("allocation", "allocation-rule changes"),
    ("other", "other"),
)
TREND_MONTHS = 13
TOP_DRIVERS = 5
BREAKDOWNS = ("team", "product", "env")


@dataclass
class Headline:
    currency: str
    billed: Decimal
    effective: Decimal
    previous_billed: Decimal
    previous_effective: Decimal

    @property
    def change(self) -> Decimal:
        return self.effective - self.previous_effective

    @property
    def change_pct(self) -> float | None:
        return float(self.change / self.previous_effective) if self.previous_effective else None


@dataclass
class Bridge:
    """From last month's total to this month's: the parts add up exactly."""

    currency: str
    previous_total: Decimal
    total: Decimal
    components: list[tuple[str, Decimal]]

    def as_json(self, period: str, previous: str) -> dict[str, Any]:
        return {
            "period": period,
            "previous_period": previous,
            "currency": self.currency,
            "previous_total": _text(self.previous_total),
            "total": _text(self.total),
            "components": [{"name": n, "amount": _text(a)} for n, a in self.components],
        }


@dataclass
class Driver:
    dimension: str
    group: str
    currency: str
    before: Decimal
    after: Decimal
    parts: dict[str, Decimal]
    owner: str | None
    new_resources: int
    sentence: str

    @property
    def change(self) -> Decimal:
        return self.after - self.before


@dataclass
class BreakdownRow:
    group: str | None
    currency: str
    cost: Decimal
    previous: Decimal
    share: float | None

    @property
    def change(self) -> Decimal:
        return self.cost - self.previous


@dataclass
class MonthlyPack:
    period: str
    previous: str
    metric: str
    headlines: list[Headline]
    trend: dict[str, list[tuple[str, Decimal]]]  # currency -> (period, cost)
    bridges: list[Bridge]
    drivers: list[Driver]
    breakdowns: dict[str, list[BreakdownRow]]
    owners_from: str  # allocated_costs | tags
    unallocated: list[dict[str, Any]] = field(default_factory=list)
    coverage: list[dict[str, Any]] = field(default_factory=list)
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    footer: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _text(value: Decimal) -> str:
    """An exact decimal as text: no exponent, no trailing zeros."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def rules_fingerprint(rules_dir: Path | None) -> str | None:
    """A content hash of a rules folder (every file's path and bytes)."""
    if rules_dir is None or not rules_dir.is_dir():
        return None
    digest = hashlib.sha256()
    for path in sorted(p for p in rules_dir.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(rules_dir)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def monthly_pack(
    store: Store,
    period: str,
    *,
    rules_dir: Path | None = None,
    metric: str = "EffectiveCost",
) -> MonthlyPack:
    """Everything the monthly pack for billing period `period` shows."""
    value = metric_name(metric)
    when = parse_range(period)
    if when is None or when.grain != "month" or when.periods[0] != when.periods[1]:
        raise QueryError(f"--period {period!r}: give one billing period (YYYY-MM).")
    con = store.connect()
    require_data(con, when)
    previous = previous_period(period)
    before = parse_range(previous)
    assert before is not None
    headlines = [
        Headline(*row)
        for row in con.execute(
            """SELECT BillingCurrency,
                      coalesce(sum(BilledCost) FILTER (WHERE x_BillingPeriod = $p), 0),
                      coalesce(sum(EffectiveCost) FILTER (WHERE x_BillingPeriod = $p), 0),
                      coalesce(sum(BilledCost) FILTER (WHERE x_BillingPeriod = $q), 0),
                      coalesce(sum(EffectiveCost) FILTER (WHERE x_BillingPeriod = $q), 0)
               FROM costs WHERE x_BillingPeriod IN ($p, $q) GROUP BY 1 ORDER BY 1""",
            {"p": period, "q": previous},
        ).fetchall()
    ]
    first = period
    for _ in range(TREND_MONTHS - 1):
        first = previous_period(first)
    trend: dict[str, list[tuple[str, Decimal]]] = {}
    for currency, month, cost in con.execute(
        f"""SELECT BillingCurrency, x_BillingPeriod, sum({value}) FROM costs
            WHERE x_BillingPeriod BETWEEN ? AND ? GROUP BY 1, 2 ORDER BY 1, 2""",
        [first, period],
    ).fetchall():
        trend.setdefault(currency, []).append((month, cost))
    owners = "allocated_costs" if allocation_state(store) == "current" else "tags"
    whole, drivers = _variance(store, con, before, when, value, rules_dir)
    bridges = [
        Bridge(
            g.currency,
            g.before,
            g.after,
            [(label, g.parts.get(part, Decimal(0))) for part, label in BRIDGE],
        )
        for g in whole
    ]
    breakdowns = {
        word: _breakdown(store, con, word, period, previous, value, rules_dir)
        for word in BREAKDOWNS
    }
    pack = MonthlyPack(
        period=period,
        previous=previous,
        metric=value,
        headlines=headlines,
        trend=trend,
        bridges=bridges,
        drivers=drivers,
        breakdowns=breakdowns,
        owners_from=owners,
    )
    pack.unallocated = _unallocated(store, period) if owners == "allocated_costs" else []
    pack.coverage = _coverage(store, rules_dir, period)
    pack.anomalies = _anomalies(store, period)
    pack.footer = _footer(store, period, rules_dir, value)
    if owners != "allocated_costs":
        pack.notes.append(
            "Owners are read from the tags: run `cloudtally allocate` for shared costs and the "
            "unallocated share."
        )
    return pack


def _variance(
    store: Store,
    con: Any,
    before: DateRange,
    when: DateRange,
    value: str,
    rules_dir: Path | None,
) -> tuple[list[GroupChange], list[Driver]]:
    """The bridge of the whole lake (a group per currency) and the top drivers by service.

    Owners as the rest of the pack has them: the allocation's when it is current, read by one
    grouped query; then one pass over the lines decomposes every service and the whole lake.
    Else the tags', which decompose reads on every line: the bridge, then only the top
    services with their owners (`_top_drivers`)."""
    lens = lens_for(store, ["service"], rules_dir=rules_dir)
    if allocation_state(store) != "current":
        whole = decompose(con, Lens("costs"), [], before, when, metric_name=value, with_owner=False)
        return whole, _top_drivers(con, lens, before, when, value)
    groups, whole = decompose_with_total(con, lens, ["service"], before, when, metric_name=value)
    drivers = _largest(groups)
    owners = _allocated_owners(con, drivers, before, when, value) if drivers else {}
    for g in drivers:
        g.owner = owners.get((g.key[0], g.currency))
    return whole, [_driver("service", g) for g in drivers]


def _largest(groups: list[GroupChange]) -> list[GroupChange]:
    """The TOP_DRIVERS largest changes of each currency (`groups` in decompose's order): a
    pack in two currencies names the drivers of both."""
    shown: dict[str, list[GroupChange]] = {}
    for g in groups:
        if g.change != 0 and len(shown.setdefault(g.currency, [])) < TOP_DRIVERS:
            shown[g.currency].append(g)
    return [g for kept in shown.values() for g in kept]


def _top_drivers(
    con: Any, lens: Lens, before: DateRange, when: DateRange, value: str
) -> list[Driver]:
    """The drivers with owners read from the tags (the allocation is not current)."""
    # Only the top groups are decomposed: a group's parts and owner depend on its own lines
    # alone, and its change (what orders the drivers) is two exact sums, so one grouped sum
    # picks the groups that decomposing every service would (in decompose's order), and the
    # costly part (the owner read from the tags of every line, the items in Python) runs on
    # their lines only.
    top = _top_changes(con, lens, "service", before, when, value)
    if top is None:  # a service literally named like the no-value label: decompose them all
        groups = decompose(con, lens, ["service"], before, when, metric_name=value)
    else:
        names = sorted({NONE_LABEL if k is None else k for k, _ in top})
        found = decompose(
            con,
            lens,
            ["service"],
            before,
            when,
            metric_name=value,
            filters={"service": names},
        )
        groups = [g for g in found if (g.key[0], g.currency) in top]
    return [_driver("service", g) for g in _largest(groups)]


def _allocated_owners(
    con: Any, groups: list[GroupChange], before: DateRange, when: DateRange, value: str
) -> dict[tuple[str | None, str], str]:
    """The team of `allocated_costs` that carries most of each service's change (the sum of
    the absolute changes of its items), else most of its cost; ties: the greater name. The
    same rule `decompose` applies to owners read from tags."""
    in_a, in_b = before.where(), when.where()
    named = sorted({str(g.key[0]) for g in groups if g.key[0] is not None})
    services = [f"ServiceName IN ({literals(named)})"] if named else []
    if any(g.key[0] is None for g in groups):
        services.append("ServiceName IS NULL")
    rows = con.execute(
        f"""SELECT service, currency, team, sum(abs(b - a)), sum(abs(a) + abs(b)) FROM (
                SELECT ServiceName AS service, BillingCurrency AS currency, team, ResourceId,
                       SkuId, PricingUnit, coalesce(SubAccountId, BillingAccountId),
                       ChargeCategory, coalesce(sum({value}) FILTER (WHERE {in_a}), 0) AS a,
                       coalesce(sum({value}) FILTER (WHERE {in_b}), 0) AS b
                FROM {ALLOCATED}
                WHERE (({in_a}) OR ({in_b})) AND team IS NOT NULL
                  AND ({" OR ".join(services) or "false"})
                GROUP BY ALL)
            GROUP BY ALL"""
    ).fetchall()
    best: dict[tuple[str | None, str], tuple[Decimal, Decimal, str]] = {}
    for service, currency, team, change, cost in rows:
        if (service, currency) not in best or (change, cost, team) > best[(service, currency)]:
            best[(service, currency)] = (change, cost, team)
    return {k: v[2] for k, v in best.items()}


def _top_changes(
    con: Any, lens: Lens, word: str, before: DateRange, when: DateRange, value: str
) -> set[tuple[str | None, str]] | None:
    """The (group, currency) pairs of the TOP_DRIVERS largest changes of each currency,
    ordered and tied as `decompose` orders its groups; None when a group's name is the
    no-value label."""
    expr = lens.dimension(word).expr
    in_a, in_b = before.where(), when.where()
    rows = con.execute(
        f"""SELECT CAST({expr} AS VARCHAR), BillingCurrency,
                   coalesce(sum({value}) FILTER (WHERE {in_b}), 0)
                   - coalesce(sum({value}) FILTER (WHERE {in_a}), 0)
            FROM {lens} WHERE (({in_a}) OR ({in_b})) AND {lens.filter_sql({})}
            GROUP BY 1, 2"""
    ).fetchall()
    if any(k == NONE_LABEL for k, _, _ in rows):
        return None
    moved = sorted((r for r in rows if r[2] != 0), key=lambda r: (r[1], -abs(r[2]), [str(r[0])]))
    kept: dict[str, int] = {}
    top = set()
    for k, c, _ in moved:
        kept[c] = kept.get(c, 0) + 1
        if kept[c] <= TOP_DRIVERS:
            top.add((k, c))
    return top


def _driver(dimension: str, g: GroupChange) -> Driver:
    name = " / ".join("(none)" if k is None else str(k) for k in g.key) or "total"
    main = sorted(
        ((p, v) for p, v in g.parts.items() if abs(v) >= Decimal("0.005")),
        key=lambda pv: -abs(pv[1]),
    )[:2]
    labels = dict(BRIDGE)
    direction = "rose" if g.change > 0 else "fell"
    pct = f" ({float(g.change / g.before):+.1%})" if g.before else ""
    sentence = f"{name} {direction} by {abs(g.change):,.2f} {g.currency}{pct} to {g.after:,.2f}"
    if main:
        sentence += ", mostly " + " and ".join(f"{labels.get(p, p)} ({v:+,.2f})" for p, v in main)
        if main[0][0] == "new" and g.new_resources:
            sentence += f": {g.new_resources} new resource(s)"
    if g.accounts:
        sentence += "; largest in account " + (g.accounts[0][1] or g.accounts[0][0])
    sentence += (
        f". Most of the change belongs to {g.owner}." if g.owner else ". No owner on record."
    )
    return Driver(
        dimension, name, g.currency, g.before, g.after, g.parts, g.owner, g.new_resources, sentence
    )


def _breakdown(
    store: Store,
    con: Any,
    word: str,
    period: str,
    previous: str,
    value: str,
    rules_dir: Path | None,
) -> list[BreakdownRow]:
    lens = lens_for(store, [word], rules_dir=rules_dir)
    expr = lens.dimension(word).expr
    rows = con.execute(
        f"""SELECT {expr} AS k, BillingCurrency,
                   coalesce(sum({value}) FILTER (WHERE x_BillingPeriod = $p), 0) AS now,
                   coalesce(sum({value}) FILTER (WHERE x_BillingPeriod = $q), 0)
            FROM {lens} WHERE x_BillingPeriod IN ($p, $q)
            GROUP BY 1, 2 ORDER BY 2, k IS NULL, now DESC, k""",
        {"p": period, "q": previous},
    ).fetchall()
    totals: dict[str, Decimal] = {}
    for _, currency, now, _before in rows:
        totals[currency] = totals.get(currency, Decimal(0)) + now
    return [
        BreakdownRow(k, c, now, before, float(now / totals[c]) if totals[c] else None)
        for k, c, now, before in rows
    ]


def _unallocated(store: Store, period: str) -> list[dict[str, Any]]:
    from cloudtally.allocate.reports import unallocated

    return [
        {
            "currency": u.currency,
            "cost": u.cost,
            "share": u.share,
            "accounts": u.accounts,
            "services": u.services,
            "missing_keys": u.missing_keys,
        }
        for u in unallocated(store, period)
    ]


def _coverage(store: Store, rules_dir: Path | None, period: str) -> list[dict[str, Any]]:
    if rules_dir is None or not (rules_dir / "tags.yaml").exists():
        return []
    from cloudtally.rules.allocation import load_rules
    from cloudtally.tags.compliance import coverage

    rules = load_rules(rules_dir)
    if not rules.tags.required:
        return []
    table = coverage(store, rules, None, (period, period))
    return [dict(zip(table.columns, row, strict=True)) for row in table.rows]


def _anomalies(store: Store, period: str) -> list[dict[str, Any]]:
    if not store.has_state():
        return []
    from cloudtally.anomaly import state

    with store.state() as con:
        found = state.load(con)
    return [
        {
            "id": a.id,
            "date": a.date,
            "series": a.value,
            "kind": a.kind,
            "impact": a.total_impact,
            "status": a.status,
            "owner": a.owner,
        }
        for a in found
        if f"{a.date:%Y-%m}" == period and a.status != "explained"
    ]


def _footer(store: Store, period: str, rules_dir: Path | None, value: str) -> dict[str, Any]:
    catalog = store.catalog()
    ingests = sorted(
        {
            p.ingest_id
            for p in catalog.partitions
            if p.key.billing_period in (period, previous_period(period))
        }
    )
    rules = f" --rules {rules_dir}" if rules_dir is not None else ""
    return {
        "lake_generation": catalog.generation,
        "ingest_ids": ingests,
        "rules_hash": rules_fingerprint(rules_dir),
        "metric": value,
        "command": f"cloudtally --data-dir {store.where} report monthly --period {period}{rules} --out OUT",
    }
