"""The amortization invariant, checked by `cloudtally check` (`commitment-amortization`).

FOCUS 1.2 (EffectiveCost): for a commitment discount, the EffectiveCost of its usage rows
equals the BilledCost of its purchases, and equals the EffectiveCost of its Used rows plus its
Unused rows. Per commitment and billing period that reads:

    EffectiveCost of its Used + Unused rows (+ a fee row carrying the unused part, where the
    source has that shape)
        = BilledCost of its recurring purchase rows in the period
        + its one-time purchases x (hours of the term its rows cover in the period / term hours)

Recurring purchases must match to the last digit. A one-time purchase is spread over the term
by the provider, row by row, each share rounded: there the sides may differ by a cent. A
commitment whose purchase is not in the lake (bought before its first ingested period), or
whose one-time purchase has no known term, cannot be checked: a warning says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb

from cloudtally.commitments.rows import COMMITMENT_COST, PURCHASE, terms_sql
from cloudtally.output import exact
from cloudtally.quality.checks import Check, Finding, Level, Scope

ONE_TIME_TOLERANCE = Decimal("0.01")


@dataclass(frozen=True)
class Amortization:
    """One commitment in one billing period: what its rows amortize and what its purchases do."""

    commitment_id: str
    provider: str | None
    billing_account: str | None
    billing_period: str
    currency: str
    rows: int
    amortized: Decimal  # EffectiveCost of its Used + Unused rows (and fee rows' unused part)
    recurring: Decimal  # BilledCost of its recurring purchases in the period
    one_time: Decimal | None  # its one-time purchases (whole lake), if any
    term_seconds: int | None
    covered_seconds: int  # seconds of the term its usage rows cover in the period
    purchased_anywhere: bool

    @property
    def one_time_share(self) -> Decimal | None:
        if self.one_time is None:
            return Decimal(0)
        if not self.term_seconds:
            return None
        return self.one_time * Decimal(self.covered_seconds) / Decimal(self.term_seconds)

    @property
    def expected(self) -> Decimal | None:
        share = self.one_time_share
        return None if share is None else self.recurring + share

    @property
    def difference(self) -> Decimal | None:
        expected = self.expected
        return None if expected is None else self.amortized - expected

    @property
    def holds(self) -> bool:
        difference = self.difference
        if difference is None:
            return False
        tolerance = ONE_TIME_TOLERANCE if self.one_time is not None else Decimal(0)
        return abs(difference) <= tolerance


def amortization_sql(rows: str, with_contracts: bool) -> str:
    """Per commitment and billing period of `rows` (a view of cost rows): the two sides."""
    return f"""
        WITH terms AS (
            {terms_sql(with_contracts)}
        ), usage AS (
            SELECT CommitmentDiscountId AS commitment_id, x_BillingPeriod AS period,
                   BillingCurrency AS currency, max(x_Provider) AS provider,
                   max(BillingAccountId) AS billing_account, count(*) AS n,
                   sum(EffectiveCost) AS amortized,
                   min(ChargePeriodStart) AS first_start, max(ChargePeriodEnd) AS last_end
            FROM {rows} WHERE {COMMITMENT_COST} GROUP BY 1, 2, 3
        ), spans AS (
            -- the stretch of the term the period's rows cover (providers write a row for every
            -- charge period a commitment is live, used or not)
            SELECT u.commitment_id, u.period, u.currency,
                   greatest(0, epoch(least(u.last_end, coalesce(t.term_end, u.last_end)))
                       - epoch(greatest(u.first_start, coalesce(t.term_start, u.first_start))))
                       AS covered_seconds
            FROM usage AS u LEFT JOIN terms AS t USING (commitment_id)
        ), recurring AS (
            SELECT CommitmentDiscountId AS commitment_id, x_BillingPeriod AS period,
                   BillingCurrency AS currency, max(x_Provider) AS provider,
                   max(BillingAccountId) AS billing_account, count(*) AS n,
                   sum(BilledCost) AS recurring
            FROM {rows}
            WHERE {PURCHASE} AND ChargeFrequency IS DISTINCT FROM 'One-Time'
            GROUP BY 1, 2, 3
        ), one_time AS (
            SELECT CommitmentDiscountId AS commitment_id, BillingCurrency AS currency,
                   sum(BilledCost) AS one_time
            FROM costs WHERE {PURCHASE} AND ChargeFrequency = 'One-Time' GROUP BY 1, 2
        ), purchased AS (
            SELECT DISTINCT CommitmentDiscountId AS commitment_id FROM costs WHERE {PURCHASE}
        )
        SELECT commitment_id, coalesce(u.provider, r.provider) AS provider,
               coalesce(u.billing_account, r.billing_account) AS billing_account,
               period, currency, coalesce(u.n, 0) + coalesce(r.n, 0) AS rows,
               coalesce(u.amortized, 0) AS amortized, coalesce(r.recurring, 0) AS recurring,
               o.one_time,
               CAST(epoch(t.term_end) - epoch(t.term_start) AS BIGINT) AS term_seconds,
               CAST(coalesce(s.covered_seconds, 0) AS BIGINT) AS covered_seconds,
               p.commitment_id IS NOT NULL AS purchased_anywhere
        FROM usage AS u
        FULL JOIN recurring AS r USING (commitment_id, period, currency)
        LEFT JOIN spans AS s USING (commitment_id, period, currency)
        LEFT JOIN one_time AS o USING (commitment_id, currency)
        LEFT JOIN terms AS t USING (commitment_id)
        LEFT JOIN purchased AS p USING (commitment_id)
        ORDER BY commitment_id, period"""


def amortizations(con: duckdb.DuckDBPyConnection, rows: str = "costs") -> list[Amortization]:
    """Both sides of the invariant for every commitment and billing period of `rows`."""
    with_contracts = bool(
        con.execute(
            "SELECT count(*) FROM duckdb_views() WHERE view_name = 'contract_commitments'"
        ).fetchone()[0]  # type: ignore[index]
    )
    cursor = con.execute(amortization_sql(rows, with_contracts))
    names = [d[0] for d in cursor.description or []]
    found = []
    for raw in cursor.fetchall():
        r: dict[str, Any] = dict(zip(names, raw, strict=True))
        found.append(
            Amortization(
                commitment_id=r["commitment_id"],
                provider=r["provider"],
                billing_account=r["billing_account"],
                billing_period=r["period"],
                currency=r["currency"],
                rows=int(r["rows"]),
                amortized=r["amortized"],
                recurring=r["recurring"],
                one_time=r["one_time"],
                term_seconds=r["term_seconds"],
                covered_seconds=int(r["covered_seconds"]),
                purchased_anywhere=bool(r["purchased_anywhere"]),
            )
        )
    return found


class CommitmentAmortization(Check):
    id = "commitment-amortization"
    level = Level.error
    title = "Each commitment's purchases amortize to its Used plus Unused rows"

    def run(self, scope: Scope) -> list[Finding]:
        findings = []
        for a in amortizations(scope.con, "checked_costs"):
            if a.holds:
                continue

            def money(value: Decimal | None, currency: str = a.currency) -> str:
                return f"{exact(value or Decimal(0))} {currency}"

            where: dict[str, Any] = {
                "provider": a.provider,
                "billing_account": a.billing_account,
                "billing_period": a.billing_period,
                "rule": a.commitment_id,
                "currency": a.currency,
            }
            if not a.purchased_anywhere:
                findings.append(
                    Finding(
                        level=Level.warning,
                        count=a.rows,
                        message=(
                            f"commitment {a.commitment_id} has usage rows but no purchase in the "
                            f"lake (amortized {money(a.amortized)}): ingest the "
                            "period it was bought in to check it"
                        ),
                        cost=a.amortized,
                        **where,
                    )
                )
            elif a.expected is None:
                findings.append(
                    Finding(
                        level=Level.warning,
                        count=a.rows,
                        message=(
                            f"commitment {a.commitment_id} has a one-time purchase but no known "
                            "term: ingest its FOCUS 1.3 Contract Commitment dataset to check it"
                        ),
                        cost=a.amortized,
                        **where,
                    )
                )
            else:
                share = a.one_time_share or Decimal(0)
                findings.append(
                    Finding(
                        level=Level.error,
                        count=a.rows,
                        message=(
                            f"commitment {a.commitment_id}: Used + Unused rows amortize "
                            f"{money(a.amortized)} but its purchases give "
                            f"{money(a.expected)} (recurring "
                            f"{money(a.recurring)}, one-time share "
                            f"{money(share)}); difference "
                            f"{money(a.difference)}"
                        ),
                        cost=a.difference,
                        **where,
                    )
                )
        return findings
