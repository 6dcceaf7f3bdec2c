"""`cloudtally explain`: what drove a change in spend between two ranges of days.

Each range is compared at its daily average, so ranges of different lengths compare fairly,
and a day in both ranges counts in both. Each group is `new` (no spend in the baseline),
`removed` (no spend now), `grown` or `shrunk`; its change splits into parts that add up to it
exactly (see `cloudtally.query.bridge`). A drafted note to the owner of the largest driver
carries the evidence it refers to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from cloudtally.errors import QueryError
from cloudtally.query.bridge import PARTS, GroupChange, decompose, total_parts
from cloudtally.query.ownership import EVERYTHING, Scope, lens_for
from cloudtally.query.periods import DateRange, LakeSpan, require_data
from cloudtally.store import Store

CENT = Decimal("0.01")
COLUMNS = ["driver", "kind", "owner", "currency", "baseline", "compare", "change", "share"]


@dataclass
class Explanation:
    title: str
    baseline: DateRange
    compare: DateRange
    words: list[str]
    currency: str
    baseline_per_day: Decimal
    compare_per_day: Decimal
    parts: dict[str, Decimal]  # the change per day, by part; adds up to the change exactly
    drivers: list[GroupChange]
    shown: int
    message: str
    notes: list[str] = field(default_factory=list)

    @property
    def change_per_day(self) -> Decimal:
        return self.compare_per_day - self.baseline_per_day

    @property
    def columns(self) -> list[str]:
        return [*COLUMNS, *PARTS]

    @property
    def rows(self) -> list[tuple[Any, ...]]:
        total = self.change_per_day
        return [
            (
                _label(d),
                d.kind,
                d.owner,
                d.currency,
                d.before,
                d.after,
                d.change,
                float(d.change / total) if total else None,
                *(d.parts[p] for p in PARTS),
            )
            for d in self.drivers[: self.shown]
        ]

    def part_rows(self) -> list[tuple[str, Decimal]]:
        """The change per day by part, rounded to cents so that the cents add up too."""
        return list(cents_adding_up(self.parts, self.change_per_day).items())

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "baseline": self.baseline.label(),
            "compare": self.compare.label(),
            "currency": self.currency,
            "baseline_per_day": self.baseline_per_day,
            "compare_per_day": self.compare_per_day,
            "change_per_day": self.change_per_day,
            "parts": self.parts,
            "drivers": [
                {
                    **dict(zip(self.columns, row, strict=True)),
                    "new_resources": d.new_resources,
                    "removed_resources": d.removed_resources,
                    "top_resources": [
                        {
                            "resource": r.resource,
                            "name": r.name,
                            "baseline": r.before,
                            "compare": r.after,
                            "change": r.change,
                        }
                        for r in d.top_resources
                    ],
                    "accounts": [
                        {"account": a, "account_name": n, "change": c} for a, n, c in d.accounts
                    ],
                }
                for row, d in zip(self.rows, self.drivers, strict=False)
            ],
            "message": self.message,
        }


def explain_change(
    store: Store,
    baseline: DateRange,
    compare: DateRange,
    *,
    words: Sequence[str],
    filters: Mapping[str, str | Sequence[str]] | None = None,
    metric_name: str = "BilledCost",
    top: int = 10,
    rules_dir: Path | None = None,
    scope: Scope = EVERYTHING,
) -> Explanation:
    """Why spend per day changed from `baseline` to `compare`, by `words`."""
    filters = filters or {}
    lens = lens_for(store, [*words, *filters], rules_dir=rules_dir, scope=scope)
    con = store.connect()
    span = require_data(con, None, str(lens))
    for option, wanted in (("--baseline", baseline), ("--compare", compare)):
        _require_inside(option, wanted, span)
    groups = decompose(
        con, lens, words, baseline, compare, metric_name=metric_name, filters=filters, per_day=True
    )
    currencies = sorted({g.currency for g in groups})
    if not currencies:
        raise QueryError(
            f"No {metric_name} in {baseline.label()} or {compare.label()}"
            + (" for the --where filters given." if filters else ".")
        )
    if len(currencies) > 1:
        raise QueryError(
            f"The selection holds {len(currencies)} currencies ({', '.join(currencies)}): "
            "explain one at a time with --where currency=CODE."
        )
    currency = currencies[0]
    drivers = [g for g in groups if g.change != 0]
    before = sum((g.before for g in groups), Decimal(0))
    after = sum((g.after for g in groups), Decimal(0))
    parts = total_parts(groups, currency)
    title = (
        f"{metric_name} per day by {', '.join(words)}: {baseline.label()} "
        f"({before:,.2f}/day) -> {compare.label()} ({after:,.2f}/day), {currency}"
    )
    notes = [lens.note] if lens.note else []
    message = draft_message(drivers, baseline, compare, before, after, currency, list(words))
    return Explanation(
        title, baseline, compare, list(words), currency, before, after, parts, drivers,
        top, message, notes,
    )  # fmt: skip


def _require_inside(option: str, wanted: DateRange, span: LakeSpan) -> None:
    if wanted.first < span.first_day or wanted.last > span.last_day:
        raise QueryError(
            f"{option} {wanted.label()} is not inside the data: charges run from "
            f"{span.first_day} to {span.last_day}. Choose days inside that range."
        )


def _label(group: GroupChange) -> str:
    return " / ".join("(none)" if k is None else str(k) for k in group.key)


def cents_adding_up(parts: Mapping[str, Decimal], total: Decimal) -> dict[str, Decimal]:
    """Parts rounded to cents, the rounding put on the largest part, so they add up to the
    total rounded to cents.

    >>> cents_adding_up({"a": Decimal("0.333"), "b": Decimal("0.333"), "c": Decimal("0.334")},
    ...                 Decimal("1"))
    {'a': Decimal('0.33'), 'b': Decimal('0.33'), 'c': Decimal('0.34')}
    """
    rounded = {k: v.quantize(CENT) for k, v in parts.items()}
    gap = total.quantize(CENT) - sum(rounded.values(), Decimal(0))
    if gap and rounded:
        largest = max(parts, key=lambda k: (abs(parts[k]), k))
        rounded[largest] += gap
    return rounded


def _money(value: Decimal, currency: str) -> str:
    return f"{value:,.2f} {currency}"


def draft_message(
    drivers: list[GroupChange],
    baseline: DateRange,
    compare: DateRange,
    before: Decimal,
    after: Decimal,
    currency: str,
    words: list[str],
) -> str:
    """A short, blame-free note to the team that owns the largest driver, with its evidence.

    A rise asks whether it is expected; a fall is reported as information, not as an alert.
    """
    rising = after > before
    movers = [d for d in drivers if (d.change > 0) == rising and d.change != 0]
    span_text = f"{baseline.label()} and {compare.label()}"
    change = after - before
    if not movers:
        return (
            f"Daily {currency} spend went from {before:,.2f} to {after:,.2f} between "
            f"{span_text}; no group moved in that direction."
        )
    lead = movers[0]
    days = compare.days
    lines = [f"Hi {lead.owner}," if lead.owner else "Hi,", ""]
    if rising:
        lines.append(
            f"cloudtally noticed that daily spend went up from {before:,.2f} to {after:,.2f} "
            f"{currency} (+{change:,.2f}/day, {_money(change * days, currency)} over the "
            f"{days} days of {compare.label()}) between {span_text}. "
            f"The largest increases by {', '.join(words)}:"
        )
    else:
        lines.append(
            f"For your information: daily spend went down from {before:,.2f} to {after:,.2f} "
            f"{currency} ({change:,.2f}/day) between {span_text}. "
            f"The largest decreases by {', '.join(words)}:"
        )
    for d in movers[:3]:
        lines.append(
            f"  - {_label(d)} ({d.kind}): {d.before:,.2f} -> {d.after:,.2f} per day "
            f"({d.change:+,.2f})"
        )
        main = sorted(
            ((p, v) for p, v in d.parts.items() if v.quantize(CENT) != 0),
            key=lambda pv: -abs(pv[1]),
        )[:3]
        if main:
            lines.append("    made of " + ", ".join(f"{p} {v:+,.2f}" for p, v in main))
        if d.new_resources or d.removed_resources:
            lines.append(f"    {d.new_resources} new and {d.removed_resources} removed resource(s)")
        for r in d.top_resources:
            lines.append(f"    resource {r.resource}: {r.before:,.2f} -> {r.after:,.2f} per day")
        if d.accounts:
            lines.append(
                "    accounts: "
                + ", ".join(f"{a}" + (f" ({n})" if n else "") for a, n, _ in d.accounts)
            )
    lines.append("")
    if rising:
        lines.append(
            "This may well be expected (a launch, a migration, a load test). If it is, a quick "
            "reply with how long it will last lets us mark it as planned; if not, the resources "
            "above are a good place to start. Thanks!"
        )
    else:
        lines.append(
            "Nothing to do unless the drop was not intended (a service switched off by "
            "mistake, data no longer arriving). Thanks for keeping costs down!"
        )
    return "\n".join(lines)
