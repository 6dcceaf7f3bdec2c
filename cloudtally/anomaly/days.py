"""Which days detection trusts: the newest complete day of the data, and what was left out.

One row dated years ahead (a typo in an export, a test charge, a clock gone wrong) must not
make "the newest day" a day with no other data, where every series scores nothing. A day is
trusted for this when:

- it lies inside the billing period of its rows (FOCUS: a charge period falls within its
  billing period; a corrections row may be earlier, never later),
- it is not after today (`--today`, else the machine's date),
- it is not a stray: a few rows separated from the provider's other data by more than
  `STRAY_GAP_DAYS` days with no data, holding under `STRAY_SHARE` of a usual day's rows.

The newest complete day is then found among the trusted days (see `complete_day`), and every
skipped day is reported, so a user knows why a day was not scored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from statistics import median

import duckdb

STRAY_GAP_DAYS = 7  # days with no data at all before a stray day
STRAY_SHARE = 0.05  # a stray day has under this share of the provider's median rows per day
DELIVERING_DAYS = 3  # a provider whose newest day is this close to the newest is delivering


@dataclass(frozen=True)
class Skipped:
    """Rows whose day detection does not trust, per provider and reason."""

    provider: str
    reason: str  # "after its billing period" | "in the future" | "far from other data"
    rows: int
    first: date
    last: date

    def describe(self) -> str:
        span = str(self.first) if self.first == self.last else f"{self.first}..{self.last}"
        plural = "row" if self.rows == 1 else "rows"
        return f"{self.rows:,} {self.provider} {plural} dated {span} ({self.reason})"


@dataclass
class CompleteDays:
    """The newest day detection scores, and the days it left out."""

    last: date | None
    skipped: list[Skipped] = field(default_factory=list)

    def note(self) -> str | None:
        """One sentence for the user, or None when nothing was skipped."""
        if not self.skipped:
            return None
        listed = "; ".join(s.describe() for s in self.skipped)
        return (
            f"Skipped {listed}: not scored and not used to find the newest complete day "
            "(`cloudtally check` lists such rows)."
        )


def complete_day(
    con: duckdb.DuckDBPyConnection, *, complete_lag: int | None, today: date | None
) -> CompleteDays:
    """The newest complete day among the trusted days of the lake.

    Without `complete_lag`, a day is complete once a later day has data, for every provider
    that is still delivering (Azure's exports run ~36 hours behind AWS's: the lake's newest day
    for one provider is the day before for another). With `complete_lag` N, days up to
    `today - N` count as complete.
    """
    now = today or date.today()
    rows = con.execute(
        """
        SELECT x_Provider, CAST(ChargePeriodStart AS DATE) AS day,
               coalesce(ChargePeriodStart >= BillingPeriodEnd, false) AS beyond, count(*)
        FROM costs
        WHERE ChargePeriodStart IS NOT NULL
        GROUP BY ALL
        ORDER BY 1, 2
        """
    ).fetchall()
    by_provider: dict[str, dict[date, int]] = {}
    skipped: list[Skipped] = []
    beyond: dict[str, list[tuple[date, int]]] = {}
    future: dict[str, list[tuple[date, int]]] = {}
    for provider, day, after_period, count in rows:
        if after_period:
            beyond.setdefault(provider, []).append((day, count))
        elif day > now:
            future.setdefault(provider, []).append((day, count))
        else:
            days = by_provider.setdefault(provider, {})
            days[day] = days.get(day, 0) + count
    for reason, found in (("after its billing period", beyond), ("in the future", future)):
        for provider, items in sorted(found.items()):
            skipped.append(_skipped(provider, reason, items))
    newest: dict[str, date] = {}
    for provider, days in sorted(by_provider.items()):
        trusted, strays = _without_strays(days)
        if strays:
            skipped.append(_skipped(provider, "far from other data", strays))
        if trusted:
            newest[provider] = trusted
    if not newest:
        return CompleteDays(None, skipped)
    latest = max(newest.values())
    delivering = [d for d in newest.values() if d >= latest - timedelta(days=DELIVERING_DAYS)]
    if complete_lag is None:
        return CompleteDays(min(delivering) - timedelta(days=1), skipped)
    return CompleteDays(min(latest, now - timedelta(days=complete_lag)), skipped)


def _skipped(provider: str, reason: str, items: list[tuple[date, int]]) -> Skipped:
    days = [d for d, _ in items]
    return Skipped(provider, reason, sum(c for _, c in items), min(days), max(days))


def _without_strays(days: dict[date, int]) -> tuple[date | None, list[tuple[date, int]]]:
    """(the newest trusted day, the stray days after it) of one provider's days."""
    ordered = sorted(days)
    usual = median(days.values())
    strays: list[tuple[date, int]] = []
    # Walk back from the newest day: a run of small days after a long empty gap is a stray.
    end = len(ordered)
    while end > 1:
        start = end - 1
        while start > 0 and (ordered[start] - ordered[start - 1]).days <= STRAY_GAP_DAYS:
            start -= 1
        if start == 0:
            break
        run = ordered[start:end]
        if any(days[d] >= STRAY_SHARE * usual for d in run):
            break
        strays = [(d, days[d]) for d in run] + strays
        end = start
    return (ordered[end - 1] if end else None), strays
