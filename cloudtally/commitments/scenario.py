"""Purchase scenarios: what a new commitment would cover, use and save, from the eligible usage
of a lookback window.

The usage: per SKU and hour, the on-demand equivalent (ContractedCost) of eligible usage no
commitment covers now (`rows.eligible_condition`, Used rows left out), over the last 30, 60 or
90 days of the lake. A row longer than an hour (daily exports) is spread evenly over its hours.

The rate of a SKU (commitment price / on-demand price): from a rates file when given, else the
lake's own ratio EffectiveCost / ContractedCost on that SKU's covered rows, else that ratio
over the provider's covered rows, else a default per type and term (`DEFAULT_RATES`). A rate
read from the lake is taken as the 1-year, no-upfront rate; `TERM_FACTOR` and
`PAYMENT_FACTOR` turn it into the rate of the term and payment asked for. docs/commitments.md
lists these assumptions; a rates file replaces them.

The commitment, `amount` currency per hour:

- savings-plan (spend-based, flexible): each hour it pays for the eligible usage of the deepest
  discounts first, up to `amount` (as AWS applies savings plans);
- reservation, cud (usage-based, per SKU): it reserves, for every SKU, the level of hourly usage
  exceeded in the same share of hours (a percentile of each SKU's usage), the share set by the
  amount; a SKU's reservation covers only that SKU.

Projections are estimates: they are computed in binary floating point and given rounded to
cents, never stored as ledger amounts.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Literal

import numpy as np

from cloudtally.commitments.expiry import data_end
from cloudtally.commitments.rows import USED, eligible_condition, eligible_keys, scope_of
from cloudtally.errors import QueryError
from cloudtally.results import Column, Result
from cloudtally.sqltext import literal
from cloudtally.store import Store

Kind = Literal["savings-plan", "reservation", "cud"]
TYPES: tuple[str, ...] = ("savings-plan", "reservation", "cud")
TERMS = {"1y": 8760, "3y": 26280}
PAYMENTS = {"none": 0.0, "partial": 0.5, "all": 1.0}  # share of the term's cost paid upfront
HOURS_PER_MONTH = 730

# Commitment price / on-demand price when the lake has no covered usage to learn it from.
DEFAULT_RATES = {
    ("savings-plan", "1y"): 0.72,
    ("savings-plan", "3y"): 0.50,
    ("reservation", "1y"): 0.64,
    ("reservation", "3y"): 0.45,
    ("cud", "1y"): 0.63,
    ("cud", "3y"): 0.45,
}
# A lake-derived rate is taken as 1 year, no upfront; these turn it into the others.
TERM_FACTOR = {"1y": 1.0, "3y": 0.72}
PAYMENT_FACTOR = {"none": 1.0, "partial": 0.97, "all": 0.95}
LOOKBACKS = {"30d": 30, "60d": 60, "90d": 90}
TABLE_STEPS = 20


@dataclass(frozen=True)
class Usage:
    """Hourly uncovered eligible usage: `od[s, h]` on-demand cost of SKU `skus[s]` in hour h."""

    skus: list[str]
    providers: list[str]
    od: np.ndarray  # (SKUs, hours)
    rates: np.ndarray  # (SKUs,) commitment price / on-demand price
    rate_sources: dict[str, int]  # where the rates came from: count of SKUs per source
    start: datetime
    hours: int
    currency: str


@dataclass(frozen=True)
class Projection:
    amount: float  # commitment per hour
    covered: float  # on-demand cost covered per hour, on average
    eligible: float  # on-demand cost of the eligible usage per hour, on average
    used: float  # commitment used per hour, on average

    @property
    def coverage(self) -> float:
        return self.covered / self.eligible if self.eligible else 0.0

    @property
    def utilization(self) -> float:
        return self.used / self.amount if self.amount else 0.0

    @property
    def hourly_savings(self) -> float:
        return self.covered - self.amount

    @property
    def monthly_savings(self) -> float:
        return self.hourly_savings * HOURS_PER_MONTH


def parse_amount(text: str) -> float:
    """`12.5/h` or `12.5` -> 12.5 (currency per hour)."""
    value = text.strip().removesuffix("/h").strip()
    try:
        amount = float(Decimal(value))
    except ArithmeticError:
        raise QueryError(
            f"--amount {text!r} is not an amount per hour: write e.g. 12.5/h."
        ) from None
    if not math.isfinite(amount) or amount < 0:
        raise QueryError(f"--amount {text!r} must be a positive amount per hour, e.g. 12.5/h.")
    return amount


def load_rates(path: Path) -> dict[tuple[str, str, str, str], float]:
    """A rates file: CSV with columns sku_id, type, term, payment, rate (commitment price /
    on-demand price, 0-1). `*` in type, term or payment matches any."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            wanted = {"sku_id", "type", "term", "payment", "rate"}
            if not reader.fieldnames or not wanted <= set(reader.fieldnames):
                raise QueryError(
                    f"{path}: a rates file needs the columns {', '.join(sorted(wanted))}."
                )
            rates = {}
            for n, row in enumerate(reader, start=2):
                try:
                    rate = float(Decimal(row["rate"]))
                except ArithmeticError:
                    rate = -1.0
                if not 0 < rate <= 1:
                    raise QueryError(
                        f"{path}: line {n}, column rate: {row['rate']!r} is not a ratio from 0 "
                        "to 1 (commitment price / on-demand price)."
                    )
                rates[(row["sku_id"], row["type"], row["term"], row["payment"])] = rate
            return rates
    except OSError:
        raise QueryError(f"{path}: the rates file cannot be read.") from None


def usage_sql(start: str, end: str, where: str, eligible: list[str]) -> str:
    return f"""
        SELECT SkuId AS sku, max(x_Provider) AS provider, BillingCurrency AS currency,
               ChargePeriodStart AS start,
               greatest(1, CAST(round(epoch(ChargePeriodEnd - ChargePeriodStart) / 3600) AS BIGINT))
                   AS span,
               sum(ContractedCost) AS on_demand
        FROM costs
        WHERE ChargePeriodStart >= {start} AND ChargePeriodStart < {end}
          AND {eligible_condition(eligible)} AND NOT coalesce({USED}, false) AND SkuId IS NOT NULL
          AND {where}
        GROUP BY SkuId, BillingCurrency, ChargePeriodStart, span
        HAVING sum(ContractedCost) > 0"""


LAKE_RATES_SQL = f"""
    SELECT SkuId, x_Provider, sum(EffectiveCost) AS effective, sum(ContractedCost) AS contracted
    FROM costs WHERE ChargeCategory = 'Usage' AND {USED} AND ContractedCost > 0
    GROUP BY ALL"""


def load_usage(
    store: Store,
    *,
    lookback: str,
    kind: str,
    term: str,
    payment: str,
    rates_file: Path | None = None,
    provider: str | None = None,
    service: str | None = None,
) -> Usage:
    if lookback not in LOOKBACKS:
        raise QueryError(f"--lookback {lookback!r}: use one of {', '.join(LOOKBACKS)}.")
    scope_of(store, None, None)
    end = data_end(store)
    start = end - timedelta(days=LOOKBACKS[lookback])
    filters = ["true"]
    if provider:
        filters.append(f"x_Provider = {literal(provider)}")
    if service:
        filters.append(f"ServiceName = {literal(service)}")
    con = store.connect()
    stamp = "CAST({} AS TIMESTAMPTZ)"
    usage = usage_sql(
        stamp.format(literal(start.isoformat())),
        stamp.format(literal(end.isoformat())),
        " AND ".join(filters),
        eligible_keys(con),
    )
    found = con.execute(
        f"""SELECT sku, provider, currency, CAST(epoch(start) AS BIGINT) AS start, span,
                   CAST(on_demand AS DOUBLE) AS on_demand
            FROM ({usage})"""
    ).fetchnumpy()
    if len(found["sku"]) == 0:
        where = ", ".join(
            f for f in (provider and f"provider {provider}", service and f"service {service}") if f
        )
        raise QueryError(
            f"No eligible usage to commit to in the {lookback} before {end.date()}"
            + (f" ({where})" if where else "")
            + ": the lake has no on-demand usage of services commitments cover (compute, "
            "databases) that no commitment covers already."
        )
    currencies = sorted(set(found["currency"].tolist()))
    if len(currencies) > 1:
        raise QueryError(
            f"The eligible usage is billed in {', '.join(currencies)}: run one scenario per "
            "currency (--provider)."
        )
    seen = sorted(set(found["provider"].tolist()))
    if len(seen) > 1:
        raise QueryError(
            f"The eligible usage is on {', '.join(seen)}: a commitment covers one provider's "
            "usage. Choose one with --provider."
        )
    skus, sku_at = np.unique(found["sku"].astype(str), return_inverse=True)
    provider_of = {str(k): str(p) for k, p in zip(found["sku"], found["provider"], strict=True)}
    hours = LOOKBACKS[lookback] * 24
    od = np.zeros((len(skus), hours))
    first = (found["start"] - int(start.timestamp())) // 3600
    span = found["span"].astype(np.int64)
    share = found["on_demand"] / span
    for offset in range(int(span.max())):  # spread each row over its hours
        hour = first + offset
        keep = (offset < span) & (hour >= 0) & (hour < hours)
        np.add.at(od, (sku_at[keep], hour[keep]), share[keep])
    skus_list = [str(k) for k in skus]
    providers = {k: provider_of[k] for k in skus_list}
    learned = {
        (r[0], r[1]): (float(r[2]), float(r[3])) for r in con.execute(LAKE_RATES_SQL).fetchall()
    }
    by_provider: dict[str, list[float]] = {}
    for (_, p), (effective, contracted) in learned.items():
        slot = by_provider.setdefault(p, [0.0, 0.0])
        slot[0] += effective
        slot[1] += contracted
    file_rates = load_rates(rates_file) if rates_file else {}
    sources: dict[str, int] = {}
    rates = np.zeros(len(skus_list))
    factor = TERM_FACTOR[term] * PAYMENT_FACTOR[payment]
    for n, sku in enumerate(skus_list):
        rate, source = _file_rate(file_rates, sku, kind, term, payment), "rates file"
        if rate is None and (sku, providers[sku]) in learned:
            effective, contracted = learned[(sku, providers[sku])]
            rate, source = effective / contracted * factor, "the SKU's covered usage in the lake"
        if rate is None and providers[sku] in by_provider:
            effective, contracted = by_provider[providers[sku]]
            rate, source = (
                effective / contracted * factor,
                "the provider's covered usage in the lake",
            )
        if rate is None:
            rate, source = DEFAULT_RATES[(kind, term)] * PAYMENT_FACTOR[payment], "default rate"
        rates[n] = min(max(rate, 1e-6), 1.0)
        sources[source] = sources.get(source, 0) + 1
    return Usage(
        skus_list,
        [providers[s] for s in skus_list],
        od,
        rates,
        sources,
        start,
        hours,
        currencies[0],
    )


def _file_rate(
    rates: dict[tuple[str, str, str, str], float], sku: str, kind: str, term: str, payment: str
) -> float | None:
    for key in (
        (sku, kind, term, payment),
        (sku, kind, term, "*"),
        (sku, kind, "*", "*"),
        (sku, "*", "*", "*"),
        ("*", kind, term, payment),
        ("*", kind, "*", "*"),
    ):
        if key in rates:
            return rates[key]
    return None


class Model:
    """How a commitment of a type applies to the usage, for any amount."""

    def __init__(self, usage: Usage, kind: str) -> None:
        self.usage = usage
        self.kind = kind
        self.eligible = float(usage.od.sum()) / usage.hours
        if kind == "savings-plan":
            order = np.argsort(usage.rates, kind="stable")  # deepest discount first
            self.od = usage.od[order]
            self.rate = usage.rates[order]
            self.cum_cost = np.cumsum(self.od * self.rate[:, None], axis=0)  # (SKUs, hours)
            self.cum_od = np.cumsum(self.od, axis=0)
            self.peak = float(self.cum_cost[-1].max())
        else:
            self.sorted = np.sort(usage.od, axis=1)  # each SKU's hours, ascending
            self.prefix = np.concatenate(
                [np.zeros((len(usage.skus), 1)), np.cumsum(self.sorted, axis=1)], axis=1
            )
            self.peak = float((self.sorted[:, -1] * usage.rates).sum())

    def project(self, amount: float, scale: float = 1.0) -> Projection:
        """The commitment's hourly averages if usage were `scale` times what it was."""
        hours = self.usage.hours
        if amount <= 0:
            return Projection(0.0, 0.0, self.eligible * scale, 0.0)
        if self.kind == "savings-plan":
            cost = self.cum_cost * scale
            od = self.cum_od * scale
            total = cost[-1]
            used = np.minimum(total, amount)
            k = (cost < amount).sum(axis=0)  # SKUs wholly paid for in each hour
            full = k >= len(self.rate)
            k_safe = np.minimum(k, len(self.rate) - 1)
            cols = np.arange(hours)
            before_cost = np.where(k_safe > 0, cost[np.maximum(k_safe - 1, 0), cols], 0.0)
            before_od = np.where(k_safe > 0, od[np.maximum(k_safe - 1, 0), cols], 0.0)
            partial = (amount - before_cost) / self.rate[k_safe]
            covered = np.where(full, od[-1], before_od + partial)
            return Projection(
                amount, float(covered.mean()), self.eligible * scale, float(used.mean())
            )
        levels = self._levels(amount, 1.0)  # bought on the usage as it was
        covered = self._covered(levels, scale)  # per SKU, summed over the hours
        used = float((covered * self.usage.rates).sum()) / hours
        return Projection(amount, float(covered.sum()) / hours, self.eligible * scale, used)

    # Usage-based: every SKU reserves the level of usage exceeded in the same share of hours.
    def _levels_at(self, share: float, scale: float) -> np.ndarray:
        hours = self.usage.hours
        position = min(hours - 1, max(0, round((1 - share) * (hours - 1))))
        return self.sorted[:, position] * scale

    def _levels(self, amount: float, scale: float) -> np.ndarray:
        """Each SKU's reserved level (on-demand cost per hour) for a total `amount`."""
        rates = self.usage.rates

        def spent(share: float) -> float:
            return float((self._levels_at(share, scale) * rates).sum())

        if spent(0.0) <= amount or spent(1.0) >= amount:
            # Beyond the peak, or below every SKU's minimum: scale those levels.
            base = self._levels_at(0.0 if spent(0.0) <= amount else 1.0, scale)
            total = float((base * rates).sum())
            return base * (amount / total) if total else base
        low, high = 0.0, 1.0  # share of hours the level is exceeded in (1: the minimum)
        for _ in range(40):
            middle = (low + high) / 2
            if spent(middle) > amount:
                low = middle
            else:
                high = middle
        levels = self._levels_at(high, scale)
        total = float((levels * rates).sum())
        return levels * (amount / total) if total else levels

    def _covered(self, levels: np.ndarray, scale: float) -> np.ndarray:
        """Per SKU, the on-demand cost its level covers over the hours: sum of min(use, level)."""
        sorted_ = self.sorted * scale
        prefix = self.prefix * scale
        count = sorted_.shape[1]
        below = (sorted_ < levels[:, None]).sum(axis=1)  # hours under each SKU's level
        rows = np.arange(len(levels))
        return prefix[rows, below] + levels * (count - below)

    def amount_for_coverage(self, target: float) -> float:
        if not 0 < target <= 1:
            raise QueryError(f"--target-coverage {target} must be above 0 and at most 1.")
        low, high = 0.0, self.peak
        if self.project(high).coverage < target - 1e-9:
            return high
        for _ in range(50):
            middle = (low + high) / 2
            if self.project(middle).coverage < target:
                low = middle
            else:
                high = middle
        return high


def _money(value: float) -> Decimal:
    return Decimal(str(round(value, 2))).quantize(Decimal("0.01")) + 0  # + 0: no "-0.00"


def _ratio(value: float) -> Decimal:
    return Decimal(str(round(value, 6))).quantize(Decimal("0.000001")) + 0


def scenario(
    store: Store,
    *,
    kind: str,
    term: str,
    payment: str,
    amount: float | None = None,
    target_coverage: float | None = None,
    lookback: str = "30d",
    rates_file: Path | None = None,
    provider: str | None = None,
    service: str | None = None,
) -> Result:
    """Project a commitment purchase over the lookback's usage: coverage, utilization, monthly
    savings, break-even month, a risk range, and a table of amounts up to the usage's peak."""
    if kind not in TYPES:
        raise QueryError(f"--type {kind!r}: use one of {', '.join(TYPES)}.")
    if term not in TERMS:
        raise QueryError(f"--term {term!r}: use 1y or 3y.")
    if payment not in PAYMENTS:
        raise QueryError(f"--payment {payment!r}: use none, partial or all.")
    if (amount is None) == (target_coverage is None):
        raise QueryError("Give either --amount X/h or --target-coverage C (one of them).")
    usage = load_usage(
        store, lookback=lookback, kind=kind, term=term, payment=payment,
        rates_file=rates_file, provider=provider, service=service,
    )  # fmt: skip
    model = Model(usage, kind)
    chosen = (
        amount if amount is not None else model.amount_for_coverage(float(target_coverage or 0))
    )
    projection = model.project(chosen)
    upfront = chosen * TERMS[term] * PAYMENTS[payment]
    recurring_month = chosen * (1 - PAYMENTS[payment]) * HOURS_PER_MONTH
    cash_month = projection.covered * HOURS_PER_MONTH - recurring_month
    if upfront == 0:
        break_even = 1 if projection.monthly_savings > 0 else None
    else:
        break_even = math.ceil(upfront / cash_month) if cash_month > 0 else None
    term_months = TERMS[term] // HOURS_PER_MONTH
    if break_even is not None and break_even > term_months:
        break_even = None
    totals = usage.od.sum(axis=0)
    mean = float(totals.mean()) or 1.0
    p10, p90 = (float(np.percentile(totals, q)) / mean for q in (10, 90))
    risk = {
        "monthly savings at the 10th percentile of usage": _money(
            model.project(chosen, p10).monthly_savings
        ),
        "monthly savings at the 90th percentile of usage": _money(
            model.project(chosen, p90).monthly_savings
        ),
        "monthly savings if usage falls by 20%": _money(model.project(chosen, 0.8).monthly_savings),
    }
    rows = []
    previous: Projection | None = None
    grid = sorted({model.peak * step / TABLE_STEPS for step in range(TABLE_STEPS + 1)} | {chosen})
    for value in grid:
        p = model.project(value)
        marginal = None
        if previous is not None and p.amount > previous.amount:
            marginal = (p.hourly_savings - previous.hourly_savings) / (p.amount - previous.amount)
        rows.append(
            (
                _money(p.amount),
                _ratio(p.coverage),
                _ratio(p.utilization) if p.amount else None,
                _money(p.monthly_savings),
                _ratio(marginal) if marginal is not None else None,
                "*" if abs(p.amount - chosen) < 1e-9 else "",
            )
        )
        previous = p
    columns = [
        Column("amount_per_hour", "money", "commitment per hour"),
        Column("coverage", "fraction", "on-demand cost covered / eligible on-demand cost"),
        Column("utilization", "fraction", "commitment used / commitment"),
        Column("monthly_savings", "money", "(covered on-demand cost - commitment) x 730 hours"),
        Column(
            "marginal_savings",
            "quantity",
            "extra savings per extra unit of commitment (0: stops paying)",
        ),
        Column("chosen", "text", "the amount asked for"),
    ]
    result = Result(
        title=(
            f"Scenario: {kind}, {term}, {payment} upfront, {_money(chosen)}/h "
            f"over the {lookback} to {(usage.start + timedelta(hours=usage.hours)).date()}"
        ),
        columns=columns,
        rows=rows,
    )
    result.totals.update(
        {
            "amount per hour": _money(chosen),
            "projected coverage": _ratio(projection.coverage),
            "projected utilization": _ratio(projection.utilization),
            "monthly savings": _money(projection.monthly_savings),
            "upfront payment": _money(upfront),
            "break-even month": break_even if break_even is not None else "never within the term",
            **risk,
            "eligible on-demand cost per month": _money(projection.eligible * HOURS_PER_MONTH),
        }
    )
    result.fraction_totals |= {"projected coverage", "projected utilization"}
    sources = ", ".join(f"{n} SKU(s) from {s}" for s, n in sorted(usage.rate_sources.items()))
    result.notes += [
        f"Rates (commitment price / on-demand price): {sources}.",
        f"{len(usage.skus)} SKU(s) of eligible usage no commitment covers now; currency "
        f"{usage.currency}.",
        "Projections are estimates over the lookback's usage (docs/commitments.md, scenarios).",
    ]
    return result
