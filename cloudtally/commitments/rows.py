"""The SQL every commitment question shares: which rows are commitment usage and purchases,
where a commitment's term comes from, which usage a commitment could cover, and the scope a
question runs on (periods and grouping dimensions).

FOCUS 1.2 marks a commitment discount's rows with CommitmentDiscountId:

- purchase rows (ChargeCategory 'Purchase'): BilledCost is what was paid, EffectiveCost 0;
  ChargeFrequency 'One-Time' for an upfront payment, 'Recurring' for the periodic fee;
- usage rows (ChargeCategory 'Usage') with CommitmentDiscountStatus 'Used' (usage the
  commitment covered: EffectiveCost is the amortized commitment cost it consumed) or 'Unused'
  (the part of the commitment nothing used in a charge period: its EffectiveCost is waste).
  CommitmentDiscountQuantity is the used or unused amount in CommitmentDiscountUnit.

Sources converted from native exports may instead carry the unused part on the recurring fee
row (`UNUSED_ON_PURCHASE`); every question reads both shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

from cloudtally.errors import QueryError, StoreError
from cloudtally.query.costs import parse_periods, period_filter
from cloudtally.query.dimensions import NAME_SEEN, Dimension, dimension, latest
from cloudtally.results import Column
from cloudtally.sqltext import identifier, literal
from cloudtally.store import Store

USED = "CommitmentDiscountStatus = 'Used'"
UNUSED = "CommitmentDiscountStatus = 'Unused'"
COMMITMENT_USAGE = (
    "ChargeCategory = 'Usage' AND CommitmentDiscountId IS NOT NULL "
    "AND CommitmentDiscountStatus IN ('Used', 'Unused')"
)
PURCHASE = "ChargeCategory = 'Purchase' AND CommitmentDiscountId IS NOT NULL"
# Some sources carry a period's unused commitment on its recurring fee row instead of on Unused
# rows: a purchase row with EffectiveCost (AWS CUR's RIFee and SavingsPlanRecurringFee, as
# converted). That EffectiveCost is the unused part, and the row's CommitmentDiscountQuantity is
# the period's whole commitment.
UNUSED_ON_PURCHASE = f"({PURCHASE} AND EffectiveCost <> 0)"
# The rows whose EffectiveCost is a commitment's amortized cost: Used and Unused usage rows,
# and fee rows carrying the unused part.
COMMITMENT_COST = f"(({COMMITMENT_USAGE}) OR {UNUSED_ON_PURCHASE})"
CONTRACT_DATASET = "contract_commitments"

# The instance family of a row: the provider's InstanceSeries when SkuPriceDetails has it, else
# read from the instance type: m6i.large -> m6i, db.r6g.large -> db.r6g (AWS),
# Standard_D4s_v5 -> Dsv5 (Azure), n2-standard-4 -> n2 (Google Cloud).
_INSTANCE_TYPE = "json_extract_string(SkuPriceDetails, '$.InstanceType')"
INSTANCE_FAMILY = f"""coalesce(
    json_extract_string(SkuPriceDetails, '$.InstanceSeries'),
    CASE WHEN {_INSTANCE_TYPE} LIKE 'Standard\\_%' ESCAPE '\\'
         THEN regexp_replace({_INSTANCE_TYPE}, '^Standard_([A-Za-z]+)[0-9]+([a-z-]*)(_(v[0-9]+))?.*$', '\\1\\2\\4')
         WHEN {_INSTANCE_TYPE} LIKE '%.%' THEN regexp_replace({_INSTANCE_TYPE}, '[.][^.]*$', '')
         WHEN {_INSTANCE_TYPE} LIKE '%-%' THEN split_part({_INSTANCE_TYPE}, '-', 1)
         ELSE {_INSTANCE_TYPE} END)"""

# Dimensions of commitment questions beyond the cost dimensions.
EXTRA_DIMENSIONS = {
    "instance-family": Dimension("instance-family", INSTANCE_FAMILY),
}

# Usage the providers' commitments can cover, by provider: services (FOCUS ServiceName as each
# provider's own FOCUS export spells it) whose hourly usage savings plans, reservations or
# committed use discounts apply to. Usage of a (provider, service, pricing unit) that some
# commitment covered anywhere in the lake is eligible too, so a provider or service missing
# here is learned from the data. docs/commitments.md explains the choice per provider.
ELIGIBLE_SERVICES: dict[str, tuple[str, ...]] = {
    "aws": (
        "Amazon Elastic Compute Cloud",
        "Amazon Relational Database Service",
        "Amazon ElastiCache",
        "Amazon OpenSearch Service",
        "Amazon Redshift",
        "Amazon SageMaker",
        "AWS Lambda",
        "Amazon Elastic Container Service",
        "Amazon Elastic Kubernetes Service",
        "Amazon MemoryDB",
        "Amazon DynamoDB",
    ),
    "azure": (
        "Virtual Machines",
        "SQL Database",
        "Azure Cosmos DB",
        "Azure App Service",
        "Azure Database for PostgreSQL",
        "Azure Database for MySQL",
        "Azure Synapse Analytics",
        "Azure Kubernetes Service",
        "Azure Cache for Redis",
    ),
    "gcp": (
        "Compute Engine",
        "Cloud SQL",
        "Kubernetes Engine",
        "Google Kubernetes Engine",
        "Cloud Run",
        "Memorystore",
        "Cloud Spanner",
        "AlloyDB",
    ),
}


@dataclass(frozen=True)
class Lines:
    """Where a question reads the lines: the lake's `costs` view (`LAKE`), or the commitments
    summary (`summary.SUMMARY`), whose rows are sums of lines. The questions' SQL is the same
    over both except for what a row of sums cannot say itself: these expressions."""

    relation: str
    # SQL true on a fee row carrying the unused commitment (`UNUSED_ON_PURCHASE`).
    unused_on_purchase: str
    # SQL counting lines without a CommitmentDiscountQuantity among those matching `{}`.
    count_without_quantity: str
    # SQL of the instance family (`INSTANCE_FAMILY`).
    instance_family: str

    @property
    def commitment_cost(self) -> str:
        """`COMMITMENT_COST` over these lines."""
        return f"(({COMMITMENT_USAGE}) OR {self.unused_on_purchase})"


LAKE = Lines(
    relation="costs",
    unused_on_purchase=UNUSED_ON_PURCHASE,
    count_without_quantity="count(*) FILTER (WHERE CommitmentDiscountQuantity IS NULL AND {})",
    instance_family=INSTANCE_FAMILY,
)


def usage_kinds_sql(lines: Lines = LAKE) -> str:
    """The (provider, service, pricing unit) combinations of the lake's usage, with whether a
    commitment covered any of it and whether the service has commitment rows at all."""
    return f"""
    SELECT x_Provider, ServiceName, PricingUnit,
           bool_or(CommitmentDiscountStatus = 'Used') AS covered,
           bool_or(CommitmentDiscountId IS NOT NULL) AS committed
    FROM {lines.relation}
    WHERE ChargeCategory = 'Usage' OR CommitmentDiscountId IS NOT NULL
    GROUP BY ALL"""


ELIGIBLE_KEY = "x_Provider || chr(31) || ServiceName || chr(31) || coalesce(PricingUnit, '')"


def eligible_keys(con: duckdb.DuckDBPyConnection, lines: Lines = LAKE) -> list[str]:
    """The (provider, service, pricing unit) combinations commitments can cover, as keys: those
    a commitment covered somewhere in the lake, and those in an hourly unit of a listed service
    or of a service with commitment rows of its own."""
    kinds = con.execute(usage_kinds_sql(lines)).fetchall()
    committed = {(p, s) for p, s, _, _, has in kinds if has}
    keys = set()
    for provider, service, unit, covered, _ in kinds:
        hourly = unit is not None and "hour" in unit.lower()
        listed = service in ELIGIBLE_SERVICES.get(provider, ())
        if covered or (hourly and (listed or (provider, service) in committed)):
            keys.add("\x1f".join([provider or "", service or "", unit or ""]))
    return sorted(keys)


def eligible_services(keys: list[str]) -> str:
    """SQL list of the services of the eligible keys (a cheap first test). Tested with
    `list_contains`: DuckDB turns a long `IN (...)` into a join, ten times slower here."""
    services = sorted({k.split("\x1f")[1] for k in keys})
    return ", ".join(literal(s) for s in services) or "NULL"


def eligible_keys_sql(keys: list[str]) -> str:
    return ", ".join(literal(k) for k in keys) or "NULL"


ELIGIBLE_ROW = """(ChargeCategory = 'Usage'
        AND CommitmentDiscountStatus IS DISTINCT FROM 'Unused'
        AND coalesce(PricingCategory, 'Standard') IN ('Standard', 'Committed'))"""


def eligible_condition(keys: list[str]) -> str:
    """SQL true on usage rows a commitment could cover: on-demand or committed usage (not spot,
    not an Unused row) of an eligible (provider, service, pricing unit) (`eligible_keys`; every
    covered combination is one). The service is tested first, on its own: a cheap test that
    leaves few rows for the full key."""
    if not keys:
        return "false"
    services = sorted({k.split("\x1f")[1] for k in keys})
    listed = ", ".join(literal(k) for k in keys)
    return f"""(ChargeCategory = 'Usage'
        AND CommitmentDiscountStatus IS DISTINCT FROM 'Unused'
        AND coalesce(PricingCategory, 'Standard') IN ('Standard', 'Committed')
        AND CASE WHEN list_contains([{", ".join(literal(s) for s in services)}], ServiceName)
                 THEN list_contains([{listed}], {ELIGIBLE_KEY}) ELSE false END)"""


def has_contracts(store: Store) -> bool:
    return CONTRACT_DATASET in store.catalog().derived


def terms_sql(with_contracts: bool) -> str:
    """A SELECT of each commitment's term: (commitment_id, term_start, term_end, term_source).

    From the FOCUS 1.3 Contract Commitment dataset when it was ingested (ContractCommitmentId
    is the CommitmentDiscountId); else from a one-time purchase, whose charge period FOCUS sets
    to the term (only when it spans more than a month: a purchase of the month says nothing)."""
    one_time = """SELECT CommitmentDiscountId AS commitment_id, min(ChargePeriodStart) AS term_start,
               max(ChargePeriodEnd) AS term_end, 'one-time purchase' AS term_source, 2 AS priority
        FROM costs
        WHERE ChargeCategory = 'Purchase' AND ChargeFrequency = 'One-Time'
          AND CommitmentDiscountId IS NOT NULL
          AND ChargePeriodEnd > ChargePeriodStart + INTERVAL 31 DAY
        GROUP BY 1"""
    parts = [one_time]
    if with_contracts:
        parts.insert(
            0,
            f"""SELECT ContractCommitmentId AS commitment_id,
               ContractCommitmentPeriodStart AS term_start,
               ContractCommitmentPeriodEnd AS term_end, '{CONTRACT_DATASET}' AS term_source,
               1 AS priority
        FROM {CONTRACT_DATASET}""",
        )
    union = "\n        UNION ALL\n        ".join(parts)
    return f"""SELECT commitment_id, arg_min(term_start, priority) AS term_start,
               arg_min(term_end, priority) AS term_end,
               arg_min(term_source, priority) AS term_source
        FROM ({union})
        GROUP BY 1"""


@dataclass(frozen=True)
class Scope:
    """The rows a question reads (billing periods) and how it groups them."""

    periods: tuple[str, str] | None
    dimensions: tuple[Dimension, ...]

    @property
    def where(self) -> str:
        return period_filter(self.periods)

    def key_columns(self, prefix: str = "", *, staged: bool = False) -> list[str]:
        """`expr AS "word"` for each dimension (and its name beside it, when it has one); a
        first stage that `regroup` sums again (`staged`) also keeps the day each name was
        seen, so the second stage names a key as one stage would."""
        keys = []
        for d in self.dimensions:
            keys.append(f"{prefix}{d.expr} AS {identifier(d.word)}")
            if d.label_expr:
                keys.append(f"{latest(d.label_expr)} AS {identifier(d.word + '_name')}")
                if staged:
                    seen = f"max({NAME_SEEN}) FILTER (WHERE {d.label_expr} IS NOT NULL)"
                    keys.append(f"{seen} AS {identifier(d.word + '_name_seen')}")
        return keys

    def key_names(self) -> list[str]:
        names = []
        for d in self.dimensions:
            names.append(d.word)
            if d.label_expr:
                names.append(d.word + "_name")
        return names

    def group_by(self) -> list[str]:
        return [identifier(d.word) for d in self.dimensions]

    def over(self, lines: Lines) -> Scope:
        """The scope over `lines`: the instance family read as those lines hold it."""
        dims = tuple(
            Dimension(d.word, lines.instance_family) if d.word == "instance-family" else d
            for d in self.dimensions
        )
        return Scope(periods=self.periods, dimensions=dims)

    def regroup(self) -> list[str]:
        """The dimensions again, over a first stage that computed them (`keys`)."""
        keys = []
        for d in self.dimensions:
            keys.append(identifier(d.word))
            if d.label_expr:
                name = identifier(d.word + "_name")
                seen = identifier(d.word + "_name_seen")
                keys.append(f"{latest(name, seen)} AS {name}")
        return keys


def scope_of(
    store: Store, period: str | None, by: str | list[str] | None, *, default: str | None = None
) -> Scope:
    """Parse `--period` and `--by` (comma-separated words) for a commitment question, and
    refuse an empty lake or a period without data."""
    words = by if isinstance(by, list) else [w.strip() for w in (by or default or "").split(",")]
    dims = tuple(EXTRA_DIMENSIONS.get(w) or dimension(w) for w in words if w)
    if len({d.word for d in dims}) != len(dims):
        raise QueryError(f"--by names a dimension twice: {', '.join(d.word for d in dims)}.")
    periods = parse_periods(period)
    known = [
        r[0]
        for r in store.connect()
        .execute("SELECT DISTINCT x_BillingPeriod FROM costs ORDER BY 1")
        .fetchall()
        if r[0] is not None
    ]
    if not known:
        raise StoreError("The lake is empty: ingest data first with `cloudtally ingest PATH`.")
    if periods is not None and not any(periods[0] <= p <= periods[1] for p in known):
        raise QueryError(
            f"The lake has no rows for {period}: it holds billing periods {known[0]} to "
            f"{known[-1]}. Choose a period in that range."
        )
    return Scope(periods=periods, dimensions=dims)


def grouped_rows(
    scope: Scope, names: list[str], found: list[tuple[Any, ...]], values: list[Column]
) -> tuple[list[Column], list[tuple[Any, ...]]]:
    """A per-group commitment query's columns (the scope's keys, then `values`) and its rows
    (`found`, with columns `names`) in that order, whatever order the SQL selected them in."""
    keys = scope.key_names()
    at = [names.index(n) for n in (*keys, *(c.name for c in values))]
    rows = [tuple(r[i] for i in at) for r in found]
    return [Column(k, "text", f"group: {k}") for k in keys] + values, rows
