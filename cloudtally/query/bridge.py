"""What a change in spend is made of: a decomposition into named parts that add up exactly.

Between a first range A and a second range B, each group's change (B - A, or the change of the
daily averages) splits into:

- `volume`: more or less usage of an item at A's unit cost, `(qB - qA) x cA / qA`;
- `coverage`: the change of the item's unit cost that comes from a different share of its
  usage being covered by commitments (savings plans, reservations, CUDs), priced at A's
  covered and on-demand unit costs (B's where A had none of one kind);
- `price`: the rest of the unit cost change (list price changes, negotiated rates, a move to
  another price), on B's usage;
- `new` / `removed`: resources (or, for lines without a resource, SKUs) billed in only one of
  the two ranges;
- `credits`: credits and refunds (ChargeCategory Credit, and corrections of earlier
  periods: ChargeClass Correction);
- `tax`: tax lines (ChargeCategory Tax);
- `other`: what none of the above explains: charges without a usage quantity (purchases,
  fees, adjustments) and items whose quantity is missing in one range.

An item is a (resource, SKU, pricing unit) of a group; its lines are covered when their
CommitmentDiscountStatus is `Used`. The parts are computed with exact decimals; `other` takes
the last rounding digit so that the parts of every group add up to its change exactly.
"""

from __future__ import annotations

import decimal
import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import duckdb

from cloudtally.query.dimensions import ACCOUNT_NAME, NAME_SEEN, latest, metric
from cloudtally.query.ownership import Lens
from cloudtally.query.periods import DateRange

PARTS = ("volume", "price", "coverage", "new", "removed", "credits", "tax", "other")
# Wide enough for DECIMAL(38,18) sums and the products and quotients of them.
CONTEXT = decimal.Context(prec=80)
QUANTUM = Decimal("1e-18")
ZERO = Decimal(0)


@dataclass
class ResourceChange:
    resource: str
    name: str | None
    before: Decimal
    after: Decimal

    @property
    def change(self) -> Decimal:
        return self.after - self.before


@dataclass
class GroupChange:
    """One group's change and its parts (exact; per day when the decomposition is per day)."""

    key: tuple[str | None, ...]
    currency: str
    before: Decimal
    after: Decimal
    parts: dict[str, Decimal]
    owner: str | None = None
    new_resources: int = 0
    removed_resources: int = 0
    top_resources: list[ResourceChange] = field(default_factory=list)
    accounts: list[tuple[str, str | None, Decimal]] = field(default_factory=list)

    @property
    def change(self) -> Decimal:
        return self.after - self.before

    @property
    def kind(self) -> str:
        if self.before == 0:
            return "new"
        if self.after == 0:
            return "removed"
        return "grown" if self.change > 0 else "shrunk"


@dataclass
class _Item:
    kind: str
    resource: str | None
    name: str | None
    account: str | None
    account_name: str | None
    cost: list[Decimal] = field(default_factory=lambda: [ZERO, ZERO])
    qty: list[Decimal] = field(default_factory=lambda: [ZERO, ZERO])
    covered_cost: list[Decimal] = field(default_factory=lambda: [ZERO, ZERO])
    covered_qty: list[Decimal] = field(default_factory=lambda: [ZERO, ZERO])


def decompose(
    con: duckdb.DuckDBPyConnection,
    lens: Lens,
    words: Sequence[str],
    first: DateRange,
    second: DateRange,
    *,
    metric_name: str = "BilledCost",
    filters: Mapping[str, str | Sequence[str]] | None = None,
    per_day: bool = False,
    top_resources: int = 3,
    with_owner: bool = True,
) -> list[GroupChange]:
    """The change from `first` to `second` per group of `words`, split into `PARTS`.

    `with_owner=False` leaves `GroupChange.owner` empty: read from tags, the owner is the
    costliest expression of the query (a tag lookup on every line), so callers that do not show
    it skip it.
    """
    groups, _ = _decompose(
        con, lens, words, first, second, metric_name, filters, per_day, top_resources, with_owner
    )
    return groups


def decompose_with_total(
    con: duckdb.DuckDBPyConnection,
    lens: Lens,
    words: Sequence[str],
    first: DateRange,
    second: DateRange,
    *,
    metric_name: str = "BilledCost",
    top_resources: int = 3,
) -> tuple[list[GroupChange], list[GroupChange]]:
    """`decompose` by `words` (without owners) and, from the same pass over the lines, the
    decomposition of them all taken together (one group per currency), exactly as
    `decompose(..., words=[])` gives it: the monthly pack's drivers and its bridge."""
    return _decompose(
        con, lens, words, first, second, metric_name, None, False, top_resources, False, True
    )


def _decompose(
    con: duckdb.DuckDBPyConnection,
    lens: Lens,
    words: Sequence[str],
    first: DateRange,
    second: DateRange,
    metric_name: str,
    filters: Mapping[str, str | Sequence[str]] | None,
    per_day: bool,
    top_resources: int,
    with_owner: bool,
    total: bool = False,
) -> tuple[list[GroupChange], list[GroupChange]]:
    value = metric(metric_name)
    dims = [lens.dimension(w) for w in words]
    keys = "".join(f"CAST({d.expr} AS VARCHAR) AS k{i}, " for i, d in enumerate(dims))
    key_names = "".join(f"k{i}, " for i in range(len(dims)))
    owner = lens.dimension("team").expr if with_owner else "CAST(NULL AS VARCHAR)"
    available = {r[0] for r in con.execute(f"SELECT column_name FROM (DESCRIBE {lens})").fetchall()}
    # An allocation written before quantities were carried has none: its changes are `other`.
    qty = "PricingQuantity" if "PricingQuantity" in available else "CAST(NULL AS DECIMAL(38, 18))"
    in_a, in_b = first.where(), second.where()
    # The exact sums as text: Python makes a Decimal of text twice as fast as DuckDB hands one
    # over, and the items are what a decomposition spends its time on.
    sums = [
        f"coalesce(sum({c}) FILTER (WHERE {r}), 0)"
        for c in ("cost", "qty")
        for r in ("in_a", "in_b")
    ]
    n = len(dims)
    cursor = con.execute(
        f"""
        WITH lines AS (
            SELECT {keys}BillingCurrency AS currency,
                   CASE WHEN ChargeCategory = 'Credit' OR ChargeClass = 'Correction'
                        THEN 'credits' WHEN ChargeCategory = 'Tax' THEN 'tax'
                        WHEN ChargeCategory = 'Usage' THEN 'usage' ELSE 'other' END AS kind,
                   ResourceId AS resource, ResourceName AS resource_name,
                   coalesce(SubAccountId, BillingAccountId) AS account,
                   {ACCOUNT_NAME} AS account_name,
                   SkuId, PricingUnit, CommitmentDiscountStatus = 'Used' AS covered,
                   {owner} AS owner, {value} AS cost, {qty} AS qty, {NAME_SEEN} AS seen,
                   ({in_a}) AS in_a, ({in_b}) AS in_b
            FROM {lens}
            WHERE (({in_a}) OR ({in_b})) AND {lens.filter_sql(filters or {})}
        )
        SELECT {key_names}currency, kind, resource, {latest("resource_name", "seen")}, account,
               {latest("account_name", "seen")}, SkuId, PricingUnit, coalesce(covered, false),
               arg_max(owner, (abs(cost), owner)),
               {", ".join(f"CAST({total} AS VARCHAR)" for total in sums)}
        FROM lines
        GROUP BY ALL
        -- A resource's items (of every group) arrive one after the other: only the resource
        -- being read is held, whatever the number of lines.
        ORDER BY currency, resource NULLS LAST, kind, SkuId NULLS FIRST, PricingUnit NULLS FIRST,
                 account NULLS FIRST, {key_names}{n + 9}
        """
    )
    days = (Decimal(first.days), Decimal(second.days)) if per_day else (Decimal(1), Decimal(1))
    groups: dict[tuple[tuple[str | None, ...], str], _Group] = {}
    totals: dict[str, _Group] = {}
    # The items of the resource (or resource-less item) being read: per group, and all of them
    # taken together (for `total`).
    items: dict[tuple[str | None, ...], dict[tuple[object, ...], _Item]] = {}
    merged: dict[tuple[object, ...], _Item] = {}
    block: tuple[str, object] | None = None

    def group_of(key: tuple[str | None, ...], currency: str) -> _Group:
        group = groups.get((key, currency))
        if group is None:
            group = groups[(key, currency)] = _Group(key, currency, days, top_resources)
        return group

    def flush() -> None:
        if block is None:
            return
        currency, resource = block
        for key, found in items.items():
            group_of(key, currency).add_resource(resource, found)
        if total:
            group = totals.get(currency)
            if group is None:
                group = totals[currency] = _Group((), currency, days, top_resources)
            group.add_resource(resource, merged)

    with decimal.localcontext(CONTEXT):
        while batch := cursor.fetchmany(BATCH):
            for row in batch:
                key, currency = tuple(row[:n]), row[n]
                kind, rid, rname, account, aname, sku, unit, covered, who = row[n + 1 : n + 10]
                cost_a, cost_b, qty_a, qty_b = map(Decimal, row[n + 10 :])
                ident = (kind, sku, unit, account)
                # What is classified as a whole: a resource (all its items), else one item.
                here: tuple[str, object] = (currency, rid if rid is not None else ident)
                if here != block:
                    flush()
                    items, merged, block = {}, {}, here
                targets = [items.setdefault(key, {})]
                if total:
                    targets.append(merged)
                for found in targets:
                    item = found.get(ident)
                    if item is None:  # built once per item, not once per row
                        item = found[ident] = _Item(kind, rid, rname, account, aname)
                    for side, (amount, used) in enumerate(((cost_a, qty_a), (cost_b, qty_b))):
                        item.cost[side] += amount
                        item.qty[side] += used
                        if covered:
                            item.covered_cost[side] += amount
                            item.covered_qty[side] += used
                if who is not None:
                    group_of(key, currency).weigh_owner(who, cost_a, cost_b)
        flush()
        result = [group.finish() for group in groups.values()]
        whole = [group.finish() for group in totals.values()]
    result.sort(key=lambda g: (g.currency, -abs(g.change), [str(k) for k in g.key]))
    whole.sort(key=lambda g: g.currency)
    return result, whole


BATCH = 50_000


class _Group:
    """One group's running sums while its items stream by, a resource at a time."""

    def __init__(
        self, key: tuple[str | None, ...], currency: str, days: tuple[Decimal, Decimal], top: int
    ) -> None:
        self.key, self.currency, self.days, self.top = key, currency, days, top
        self.parts = dict.fromkeys(PARTS, ZERO)
        self.before = self.after = ZERO
        self.new_resources = self.removed_resources = 0
        # The `top` largest resource changes so far, as sorting them all would give.
        self.moved: list[tuple[tuple[Decimal, str], ResourceChange]] = []
        self.account_names: dict[str, str | None] = {}
        self.account_change: dict[str, Decimal] = {}
        # team -> (the change it carries, its cost): the owner of a change is who carries most
        # of it, else who has most of the cost.
        self.owners: dict[str, tuple[Decimal, Decimal]] = {}

    def weigh_owner(self, who: str, cost_a: Decimal, cost_b: Decimal) -> None:
        change, cost = self.owners.get(who, (ZERO, ZERO))
        self.owners[who] = (change + abs(cost_b - cost_a), cost + abs(cost_a) + abs(cost_b))

    def add_resource(self, resource: object, items: dict[tuple[object, ...], _Item]) -> None:
        """Add the items of one resource (all of them), or of one resource-less item."""
        if not items:
            return
        days = self.days
        total = [ZERO, ZERO]
        name: str | None = None
        for item in items.values():
            total[0] += item.cost[0]
            total[1] += item.cost[1]
            if name is None:
                name = item.name
        # A resource is new (removed) when nothing of it was billed in the first (second) range.
        state = None
        if isinstance(resource, str):
            if total[0] == 0 and total[1] != 0:
                state = "new"
                self.new_resources += 1
            elif total[1] == 0 and total[0] != 0:
                state = "removed"
                self.removed_resources += 1
            change = ResourceChange(resource, name, _q(total[0] / days[0]), _q(total[1] / days[1]))
            self.moved.append(((-abs(change.after - change.before), resource), change))
            if len(self.moved) > 4 * self.top + 64:
                self.moved = heapq.nsmallest(self.top, self.moved, key=lambda m: m[0])
        parts = self.parts
        for item in items.values():
            a, b = item.cost[0] / days[0], item.cost[1] / days[1]
            self.before += a
            self.after += b
            if item.account is not None:
                self.account_names.setdefault(item.account, item.account_name)
                self.account_change[item.account] = self.account_change.get(item.account, ZERO) + (
                    b - a
                )
            if item.kind in ("credits", "tax"):
                parts[item.kind] += b - a
                continue
            if state is not None:
                parts[state] += b - a
                continue
            if item.resource is None and item.cost[0] == 0 and item.cost[1] != 0:
                parts["new"] += b
                continue
            if item.resource is None and item.cost[1] == 0 and item.cost[0] != 0:
                parts["removed"] -= a
                continue
            qa, qb = item.qty[0] / days[0], item.qty[1] / days[1]
            if item.kind != "usage" or qa <= 0 or qb <= 0:
                parts["other"] += b - a
                continue
            unit_a = a / qa
            volume = (qb - qa) * unit_a
            coverage = qb * (_mixed_unit_cost(item, days) - unit_a)
            parts["volume"] += volume
            parts["coverage"] += coverage
            parts["price"] += (b - a) - volume - coverage

    def finish(self) -> GroupChange:
        parts = self.parts
        # Quantise every part to 18 places; `other` takes the rounding so the parts add up.
        for name in PARTS:
            if name != "other":
                parts[name] = parts[name].quantize(QUANTUM)
        before, after = self.before.quantize(QUANTUM), self.after.quantize(QUANTUM)
        parts["other"] = (after - before) - sum((parts[p] for p in PARTS if p != "other"), ZERO)
        moved = [m for _, m in heapq.nsmallest(self.top, self.moved, key=lambda m: m[0])]
        accounts = sorted(
            ((acc, self.account_names[acc], _q(c)) for acc, c in self.account_change.items()),
            key=lambda t: (-abs(t[2]), t[0]),
        )
        owners = self.owners
        return GroupChange(
            key=self.key,
            currency=self.currency,
            before=before,
            after=after,
            parts=parts,
            owner=max(owners, key=lambda t: (owners[t], t)) if owners else None,
            new_resources=self.new_resources,
            removed_resources=self.removed_resources,
            top_resources=[m for m in moved if m.change != 0],
            accounts=accounts[:3],
        )


def _q(value: Decimal) -> Decimal:
    return value.quantize(QUANTUM)


def _mixed_unit_cost(item: _Item, days: tuple[Decimal, Decimal]) -> Decimal:
    """The item's unit cost at the first range's covered and on-demand unit costs, with the
    second range's covered share (a kind the first range lacks is priced as in the second)."""
    covered = [item.covered_qty[s] / days[s] for s in (0, 1)]
    total = [item.qty[s] / days[s] for s in (0, 1)]
    on_demand = [total[s] - covered[s] for s in (0, 1)]
    covered_cost = [item.covered_cost[s] / days[s] for s in (0, 1)]
    on_demand_cost = [item.cost[s] / days[s] - covered_cost[s] for s in (0, 1)]

    def unit(costs: list[Decimal], qty: list[Decimal]) -> Decimal:
        side = 0 if qty[0] > 0 else 1
        return costs[side] / qty[side] if qty[side] > 0 else ZERO

    share = covered[1] / total[1]
    return share * unit(covered_cost, covered) + (1 - share) * unit(on_demand_cost, on_demand)


def total_parts(groups: Sequence[GroupChange], currency: str) -> dict[str, Decimal]:
    """The parts of every group of one currency added up."""
    found = dict.fromkeys(PARTS, ZERO)
    for group in groups:
        if group.currency == currency:
            for name in PARTS:
                found[name] += group.parts[name]
    return found
