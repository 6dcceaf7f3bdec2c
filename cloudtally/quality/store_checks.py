"""Checks of the lake's files and of each billing account's deliveries: live files against
what the catalog recorded, days without charges, rows repeated on every column, how recent the
latest charge is, more than one currency, charges outside their billing period and dates
outside any plausible range."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import ClassVar

from cloudtally.focus.canonical import FOCUS_COLUMNS
from cloudtally.quality.checks import Check, Finding, Level, Scope, load_sql, money, plural, quote


class LakeFiles(Check):
    id = "lake-files"
    level = Level.error
    title = "Live files against the rows, totals and bytes recorded at ingest"

    def run(self, scope: Scope) -> list[Finding]:
        return [
            Finding(
                level=self.level,
                count=1,
                message=f"{problem.path} {problem.problem}. {problem.repair}",
                provider=problem.key.provider if problem.key else None,
                billing_account=problem.key.billing_account_id if problem.key else None,
                billing_period=problem.key.billing_period if problem.key else None,
            )
            for problem in scope.file_problems
        ]


class MissingDays(Check):
    id = "missing-days"
    level = Level.warning
    title = "Days with no charges in an account's billing period"

    def run(self, scope: Scope) -> list[Finding]:
        return [
            Finding(
                level=self.level,
                count=len(r["missing_days"]),
                message=(
                    f"{plural(len(r['missing_days']), 'day')} without charges: "
                    f"{_day_ranges(r['missing_days'])}"
                    + (" (period closed)" if r["closed"] else "")
                ),
                provider=r["provider"],
                billing_account=r["billing_account"],
                sub_account=r["sub_account"],
                billing_period=r["billing_period"],
            )
            for r in scope.fetch(load_sql("missing_days.sql"), today=scope.today)
        ]


class DuplicateLineItems(Check):
    id = "duplicate-line-items"
    level = Level.error
    title = "Rows repeated on every FOCUS column"

    def run(self, scope: Scope) -> list[Finding]:
        focus_columns = ", ".join(quote(c) for c in FOCUS_COLUMNS)
        return [
            Finding(
                level=self.level,
                count=r["extra_rows"],
                message=(
                    f"{plural(r['extra_rows'], 'extra copy', 'extra copies')} of "
                    f"{plural(r['repeated_rows'], 'row')} double-count "
                    f"BilledCost {money(r['billed_cost'], r['currency'])}, "
                    f"EffectiveCost {money(r['effective_cost'], r['currency'])}"
                ),
                provider=r["provider"],
                billing_account=r["billing_account"],
                billing_period=r["billing_period"],
                cost=r["billed_cost"],
                currency=r["currency"],
            )
            for r in scope.fetch(load_sql("duplicate_line_items.sql", focus_columns=focus_columns))
        ]


class Freshness(Check):
    id = "freshness"
    level = Level.error
    title = "Latest charge of each billing account against today"

    WARN_AFTER_DAYS: ClassVar[int] = 3
    FAIL_AFTER_DAYS: ClassVar[int] = 35

    def run(self, scope: Scope) -> list[Finding]:
        findings = []
        rows = scope.fetch(
            load_sql("freshness.sql"), today=scope.today, scoped=scope.period is not None
        )
        for r in rows:
            behind = r["days_behind"]
            if behind <= self.WARN_AFTER_DAYS:
                continue
            findings.append(
                Finding(
                    level=Level.error if behind > self.FAIL_AFTER_DAYS else Level.warning,
                    count=behind,
                    message=(
                        f"latest charge ends {r['latest_end']:%Y-%m-%d}, "
                        f"{plural(behind, 'day')} before {r['reference_day']}"
                    ),
                    provider=r["provider"],
                    billing_account=r["billing_account"],
                    billing_period=scope.period,
                )
            )
        return findings


class MixedCurrencies(Check):
    id = "mixed-currencies"
    level = Level.warning
    title = "More than one BillingCurrency in a billing account's period"

    def run(self, scope: Scope) -> list[Finding]:
        return [
            Finding(
                level=self.level,
                count=r["currencies"],
                message=f"billed in {r['currencies']} currencies: "
                + ", ".join(
                    f"{c['currency']} ({plural(c['row_count'], 'row')}, "
                    f"BilledCost {money(c['billed_cost'], None)})"
                    for c in r["breakdown"]
                ),
                provider=r["provider"],
                billing_account=r["billing_account"],
                billing_period=r["billing_period"],
                column="BillingCurrency",
            )
            for r in scope.fetch(load_sql("mixed_currencies.sql"))
        ]


def _day_ranges(days: Sequence[date]) -> str:
    """Dates with consecutive runs folded.

    >>> _day_ranges([date(2026, 5, 3), date(2026, 5, 10), date(2026, 5, 11), date(2026, 5, 12)])
    '2026-05-03, 2026-05-10..2026-05-12'
    """
    runs: list[list[date]] = []
    for day in sorted(days):
        if runs and (day - runs[-1][-1]).days == 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ", ".join(str(run[0]) if len(run) == 1 else f"{run[0]}..{run[-1]}" for run in runs)


class ChargesOutsidePeriod(Check):
    id = "charges-outside-period"
    level = Level.warning
    title = "Charges outside their billing period (corrections aside)"

    def run(self, scope: Scope) -> list[Finding]:
        return [
            Finding(
                level=self.level,
                count=r["row_count"],
                message=(
                    f"{plural(r['row_count'], 'charge')} outside the billing period "
                    f"{r['period_start']:%Y-%m-%d}..{r['period_end']:%Y-%m-%d}: charged "
                    f"{r['first_start']:%Y-%m-%d %H:%M}..{r['last_end']:%Y-%m-%d %H:%M}, "
                    f"BilledCost {money(r['billed_cost'], r['currency'])}"
                ),
                provider=r["provider"],
                billing_account=r["billing_account"],
                billing_period=r["billing_period"],
                column="ChargePeriodStart",
                cost=r["billed_cost"],
                currency=r["currency"],
            )
            for r in scope.fetch(load_sql("charges_outside_period.sql"))
        ]


class DatesOutOfRange(Check):
    id = "dates-out-of-range"
    level = Level.error
    title = "Dates in years no bill can have (before 2000 or after next year)"

    EARLIEST_YEAR: ClassVar[int] = 2000
    YEARS_AHEAD: ClassVar[int] = 1

    def run(self, scope: Scope) -> list[Finding]:
        latest = scope.today.year + self.YEARS_AHEAD
        rows = scope.fetch(
            load_sql("dates_out_of_range.sql"), earliest=self.EARLIEST_YEAR, latest=latest
        )
        return [
            Finding(
                level=self.level,
                count=r["row_count"],
                message=(
                    f"{plural(r['row_count'], 'row')} with dates outside "
                    f"{self.EARLIEST_YEAR}..{latest} ({r['columns']}): "
                    f"{r['lowest']:%Y-%m-%d}"
                    + (f"..{r['highest']:%Y-%m-%d}" if r["highest"] != r["lowest"] else "")
                    + f", BilledCost {money(r['billed_cost'], r['currency'])}"
                ),
                provider=r["provider"],
                billing_account=r["billing_account"],
                billing_period=r["billing_period"],
                column=r["first_column"],
                cost=r["billed_cost"],
                currency=r["currency"],
            )
            for r in rows
        ]
