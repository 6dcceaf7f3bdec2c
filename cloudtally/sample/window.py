"""The window a sample covers: its billing months, the days the planted anomalies start, and
the days of each month with what the rows need to know about them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from cloudtally.ingest.formats.base import literal
from cloudtally.sample.organisation import Anomalies

EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Window:
    months: tuple[date, ...]  # the first day of each billing month, oldest first
    spike_start: date
    level_shift: date
    new_service: date

    @property
    def start(self) -> date:
        return self.months[0]

    @property
    def end(self) -> date:  # exclusive
        return add_months(self.months[-1], 1)


def add_months(first: date, n: int) -> date:
    index = first.year * 12 + first.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def month_days(window: Window, plan: Anomalies, first: date) -> list[dict[str, Any]]:
    """The days of a billing month with what the rows need to know about them."""
    following = add_months(first, 1)
    spike_end = window.spike_start + timedelta(days=plan.spike_days)
    return [
        {
            "day": day,
            "day_number": (day - EPOCH).days,
            "weekend": day.isoweekday() >= 6,
            "tau": (window.end - day).days / 30.4375,  # months before the end of the window
            "days_in_month": (following - first).days,
            "level_shift_on": day >= window.level_shift,
            "spike_on": window.spike_start <= day < spike_end,
            "charge_start": day,
            "charge_end": day + timedelta(days=1),
            "billing_start": first,
            "billing_end": following,
            "invoice_suffix": f"{first:%y%m}0001",
        }
        for day in (first + timedelta(days=n) for n in range((following - first).days))
    ]


def days_sql(window: Window, plan: Anomalies, first: date, where: str = "") -> str:
    """The month's days as a constant list of structs: the big query expands resources
    over it with `unnest`, because a join there would cost the deterministic order."""

    def item(d: dict[str, Any]) -> str:
        values = {
            "day_number": str(d["day_number"]),
            "weekend": str(d["weekend"]).lower(),
            "tau": f"CAST({d['tau']!r} AS DOUBLE)",
            "days_in_month": str(d["days_in_month"]),
            "level_shift_on": str(d["level_shift_on"]).lower(),
            "spike_on": str(d["spike_on"]).lower(),
            **{
                k: f"TIMESTAMPTZ '{d[k]} 00:00:00+00'"
                for k in ("charge_start", "charge_end", "billing_start", "billing_end")
            },
            "invoice_suffix": literal(d["invoice_suffix"]),
        }
        return "{" + ", ".join(f"'{k}': {v}" for k, v in values.items()) + "}"

    days = "[" + ", ".join(item(d) for d in month_days(window, plan, first)) + "]"
    return f"list_filter({days}, lambda x: {where})" if where else days
