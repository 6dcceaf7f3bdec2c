"""Recommendations mined from the billing data alone (no cloud APIs): what to delete, move,
modernize or right-size, each with its resources, owner, estimated monthly savings and the
assumption behind it, a confidence and the evidence rows.

Every detector reads one billing period (default: the latest full one in the lake) of the
view `costs`:

- `orphaned`: block storage, IP addresses, snapshots and load balancers billed in an account
  and region where no compute instance was billed that period (nothing to attach to). High
  confidence when the account-region had compute the period before (it went, the storage
  stayed); the estimate is the resource's whole cost.
- `idle-address`: addresses the provider bills as idle (AWS `IdleAddress`); high confidence.
- `idle-load-balancer`: load balancers billed for hours with no traffic charged; medium.
- `previous-generation`: instances of a previous-generation family (`PREVIOUS_GENERATION`);
  the estimate uses the current-generation type's price in the lake (same provider, region
  when it has one), never a price from elsewhere; without one the recommendation has no
  estimate and low confidence.
- `gp2-volume`: gp2 volumes, whose gp3 price in the lake is lower.
- `storage-lifecycle`: object storage in the standard class growing three periods in a row;
  the estimate assumes half the data is older than 30 days and moves to the infrequent access
  class at its price in the lake.
- `data-transfer`: the resources carrying the most data transfer cost (over 5% of their
  account's cost); the estimate assumes 30% can be avoided (caching, endpoints, compression).
- `low-utilization`: commitments used less than 80% in the period; the estimate is the unused
  cost (exchange, share or let it lapse).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import duckdb

from cloudtally.commitments.rows import COMMITMENT_COST, USED
from cloudtally.errors import QueryError, StoreError
from cloudtally.output import exact
from cloudtally.query.costs import parse_periods
from cloudtally.query.ownership import Lens, tag_policy
from cloudtally.sqltext import literal
from cloudtally.store import Store

CENT = Decimal("0.01")

# family -> current-generation replacement, per provider (the providers' own lists of previous
# generation instance types; a family missing here is not flagged).
PREVIOUS_GENERATION: dict[str, dict[str, str]] = {
    "aws": {
        "t2": "t3", "m4": "m6i", "m5": "m6i", "c4": "c6i", "c5": "c6i", "r4": "r6i", "r5": "r6i",
        "m3": "m6i", "c3": "c6i", "r3": "r6i", "i2": "i4i", "i3": "i4i", "d2": "d3", "x1": "x2idn",
        "db.m4": "db.m6g", "db.m5": "db.m6g", "db.r4": "db.r6g", "db.r5": "db.r6g", "db.t2": "db.t4g",
        "db.t3": "db.t4g", "cache.m4": "cache.m6g", "cache.r4": "cache.r6g", "cache.t2": "cache.t4g",
    },
    "azure": {"Dv2": "Dsv5", "Dsv2": "Dsv5", "Dv3": "Dsv5", "Dsv3": "Dsv5", "Dv4": "Dsv5",
              "Ev3": "Esv5", "Esv3": "Esv5", "Fsv2": "Fasv6", "Av2": "Dsv5"},
    "gcp": {"n1": "n2", "e2": "e2", "m1": "m2"},
}  # fmt: skip
PREVIOUS_GENERATION["gcp"].pop("e2")

ORPHAN_KINDS = {
    "volume": "block storage",
    "address": "IP address",
    "snapshot": "snapshot",
    "load balancer": "load balancer",
}

KIND_OF_RESOURCE = """CASE
    WHEN ServiceSubcategory = 'Block Storage' AND (ResourceType ILIKE '%snapshot%'
         OR ResourceId ILIKE '%snapshot%') THEN 'snapshot'
    WHEN ResourceType ILIKE '%snapshot%' OR ResourceId ILIKE '%:snapshot/%' THEN 'snapshot'
    WHEN ServiceSubcategory = 'Block Storage' THEN 'volume'
    WHEN ResourceType ILIKE '%address%' OR ResourceType ILIKE '%public ip%'
         OR ResourceId ILIKE '%elastic-ip%' OR ResourceId ILIKE '%publicIPAddresses%' THEN 'address'
    WHEN ResourceType ILIKE '%load balancer%' OR ResourceId ILIKE '%loadbalancer%' THEN 'load balancer'
    END"""
COMPUTE = "ServiceSubcategory IN ('Virtual Machines', 'Containers')"
INSTANCE_TYPE = "json_extract_string(SkuPriceDetails, '$.InstanceType')"


@dataclass
class Recommendation:
    kind: str
    title: str
    resources: list[str]
    monthly_savings: Decimal | None
    assumption: str
    confidence: str  # high | medium | low
    owner: str | None
    currency: str
    evidence: list[dict[str, Any]] = field(default_factory=list)
    why: str = ""
    risk: str = ""
    verify: str = ""
    provider: str | None = None

    @property
    def id(self) -> str:
        key = "\x1f".join([self.kind, *sorted(self.resources)])
        return "r" + hashlib.sha256(key.encode()).hexdigest()[:9]

    @property
    def scope(self) -> dict[str, str]:
        """The cost lines it is about, as a savings tracker scope."""
        return {"resource": "|".join(sorted(self.resources))}


def _rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None
) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def _evidence(con: duckdb.DuckDBPyConnection, period: str, recs: list[Recommendation]) -> None:
    """Each recommendation's evidence: its resources' line items in the period, grouped by
    resource, SKU and meter, largest cost first (up to 10), from one query."""
    wanted = sorted({r for rec in recs for r in rec.resources})
    if not wanted:
        return
    con.execute("CREATE OR REPLACE TEMP TABLE _wanted (resource VARCHAR)")
    con.executemany("INSERT INTO _wanted VALUES (?)", [[r] for r in wanted])
    lines = _rows(
        con,
        f"""SELECT ResourceId AS resource, ServiceName AS service, SkuId AS sku,
                   coalesce(SkuMeter, ChargeDescription) AS meter, PricingUnit AS unit,
                   sum(PricingQuantity) AS quantity, sum(EffectiveCost) AS cost,
                   min(CAST(ChargePeriodStart AS DATE)) AS first_day,
                   max(CAST(ChargePeriodStart AS DATE)) AS last_day
            FROM costs
            WHERE x_BillingPeriod = {literal(period)}
              AND (ResourceId IN (SELECT resource FROM _wanted)
                   OR CommitmentDiscountId IN (SELECT resource FROM _wanted))
            GROUP BY ALL ORDER BY cost DESC, resource, sku, meter""",
    )
    by_resource: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_resource.setdefault(line["resource"], []).append(line)
    for rec in recs:
        rows = [line for r in rec.resources for line in by_resource.get(r, [])]
        rec.evidence = sorted(rows, key=lambda x: -x["cost"])[:10]


def latest_period(store: Store, period: str | None) -> tuple[str, str | None]:
    """The period to read (the latest in the lake by default) and the one before it."""
    con = store.connect()
    periods = [r[0] for r in con.execute(
        "SELECT DISTINCT x_BillingPeriod FROM costs WHERE x_BillingPeriod IS NOT NULL ORDER BY 1"
    ).fetchall()]  # fmt: skip
    if not periods:
        raise StoreError("The lake is empty: ingest data first with `cloudtally ingest PATH`.")
    if period is None:
        chosen = periods[-1]
    else:
        first, last = parse_periods(period) or (period, period)
        if first != last:
            raise QueryError("--period takes one billing period (YYYY-MM) for recommendations.")
        if first not in periods:
            raise QueryError(
                f"The lake has no rows for {first}: it holds billing periods {periods[0]} to "
                f"{periods[-1]}."
            )
        chosen = first
    at = periods.index(chosen)
    return chosen, periods[at - 1] if at > 0 else None


def _qty(value: Any) -> str:
    return exact(Decimal(value)) if value is not None else "?"


def _money(value: Any) -> Decimal:
    return Decimal(value or 0).quantize(CENT)


def orphaned(
    con: duckdb.DuckDBPyConnection, period: str, previous: str | None, team: str
) -> list[Recommendation]:
    prev = literal(previous) if previous else "NULL"
    rows = _rows(
        con,
        f"""
        WITH lines AS (
            SELECT *, {KIND_OF_RESOURCE} AS kind, coalesce(SubAccountId, BillingAccountId) AS acct
            FROM costs WHERE x_BillingPeriod IN ({literal(period)}, {prev})
        ), compute AS (
            SELECT DISTINCT acct, RegionId, x_BillingPeriod FROM lines
            WHERE {COMPUTE} AND ChargeCategory = 'Usage' AND EffectiveCost > 0
        )
        SELECT l.kind, l.ResourceId AS resource, max(l.x_Provider) AS provider,
               l.acct AS account, l.RegionId AS region, max(l.BillingCurrency) AS currency,
               max({team}) AS team, sum(l.EffectiveCost) AS cost,
               bool_or(p.acct IS NOT NULL) AS had_compute
        FROM lines AS l
        LEFT JOIN compute AS c ON c.acct = l.acct AND c.RegionId IS NOT DISTINCT FROM l.RegionId
                              AND c.x_BillingPeriod = l.x_BillingPeriod
        LEFT JOIN compute AS p ON p.acct = l.acct AND p.RegionId IS NOT DISTINCT FROM l.RegionId
                              AND p.x_BillingPeriod = {prev}
        WHERE l.x_BillingPeriod = {literal(period)} AND l.kind IS NOT NULL
          AND l.ResourceId IS NOT NULL AND l.ChargeCategory = 'Usage' AND c.acct IS NULL
        GROUP BY ALL HAVING sum(l.EffectiveCost) > 0
        ORDER BY cost DESC""",
    )
    found = []
    for r in rows:
        what = ORPHAN_KINDS[r["kind"]]
        found.append(
            Recommendation(
                kind="orphaned",
                title=f"Delete the orphaned {what} {r['resource']}",
                resources=[r["resource"]],
                monthly_savings=_money(r["cost"]),
                assumption=f"the {what} is not used: deleting it saves its whole cost "
                f"({_money(r['cost'])} in {period}); snapshot it first if its data may matter",
                confidence="high" if r["had_compute"] else "medium",
                owner=r["team"],
                currency=r["currency"],
                why=f"It was billed in {period} in account {r['account']}, region "
                f"{r['region'] or 'global'}, where no compute instance was billed"
                + (
                    " (there was compute the period before: it went, the " + what + " stayed)"
                    if r["had_compute"]
                    else ""
                ),
                risk="Data on it is lost when it is deleted; keep a snapshot or backup if unsure.",
                verify=f"After deleting, `cloudtally savings` measures the {what}'s cost from "
                "the implementation date: it drops to zero.",
                provider=r["provider"],
            )
        )
    return found


def idle_addresses_and_balancers(
    con: duckdb.DuckDBPyConnection, period: str, team: str
) -> list[Recommendation]:
    found = []
    for r in _rows(
        con,
        f"""SELECT ResourceId AS resource, max(x_Provider) AS provider,
                   max(BillingCurrency) AS currency, max({team}) AS team,
                   sum(EffectiveCost) AS cost
            FROM costs
            WHERE x_BillingPeriod = {literal(period)} AND ResourceId IS NOT NULL
              AND (SkuMeter ILIKE '%idle%address%' OR ChargeDescription ILIKE '%idle%address%'
                   OR ChargeDescription ILIKE '%not associated with a running instance%')
            GROUP BY 1 HAVING sum(EffectiveCost) > 0 ORDER BY cost DESC""",
    ):
        found.append(
            Recommendation(
                kind="idle-address",
                title=f"Release the idle IP address {r['resource']}",
                resources=[r["resource"]],
                monthly_savings=_money(r["cost"]),
                assumption="the address is billed as idle (attached to nothing running): "
                "releasing it saves its whole cost",
                confidence="high",
                owner=r["team"],
                currency=r["currency"],
                why=f"The provider billed it as an idle address in {period}.",
                risk="A released address cannot be got back: check no DNS record or allow-list "
                "names it.",
                verify="Its cost is zero from the release date on.",
                provider=r["provider"],
            )
        )
    for r in _rows(
        con,
        f"""SELECT ResourceId AS resource, max(x_Provider) AS provider,
                   max(BillingCurrency) AS currency, max({team}) AS team,
                   sum(EffectiveCost) AS cost,
                   sum(PricingQuantity) FILTER (WHERE PricingUnit ILIKE '%hour%') AS hours,
                   count(*) FILTER (WHERE PricingUnit NOT ILIKE '%hour%' AND PricingQuantity > 0)
                       AS traffic_rows
            FROM costs
            WHERE x_BillingPeriod = {literal(period)} AND ResourceId IS NOT NULL
              AND ({KIND_OF_RESOURCE}) = 'load balancer' AND ChargeCategory = 'Usage'
              -- only where the provider's data bills load balancer traffic at all
              AND x_Provider IN (
                  SELECT DISTINCT x_Provider FROM costs
                  WHERE x_BillingPeriod = {literal(period)}
                    AND ({KIND_OF_RESOURCE}) = 'load balancer'
                    AND PricingUnit NOT ILIKE '%hour%' AND PricingQuantity > 0)
            GROUP BY 1 HAVING traffic_rows = 0 AND hours > 0 ORDER BY cost DESC""",
    ):
        found.append(
            Recommendation(
                kind="idle-load-balancer",
                title=f"Delete the idle load balancer {r['resource']}",
                resources=[r["resource"]],
                monthly_savings=_money(r["cost"]),
                assumption=f"{_qty(r['hours'])} hours billed and no traffic charged in {period}: "
                "nothing uses it",
                confidence="medium",
                owner=r["team"],
                currency=r["currency"],
                why="It was billed only for its hours: no data processed, no capacity units.",
                risk="A load balancer kept for failover carries no traffic until it is needed.",
                verify="Its cost is zero from the deletion date on.",
                provider=r["provider"],
            )
        )
    return found


def family_of(provider: str, instance_type: str) -> str:
    """m6i.large -> m6i; db.r5.large -> db.r5; Standard_D4s_v3 -> Dsv3; n1-standard-4 -> n1."""
    if provider == "azure":
        match = re.match(r"^Standard_([A-Za-z]+)\d+([a-z-]*)(?:_(v\d+))?", instance_type)
        return "".join(p for p in match.groups() if p) if match else instance_type
    if "." in instance_type:
        return instance_type.rsplit(".", 1)[0]
    return instance_type.split("-", 1)[0]


def _replacement_type(provider: str, instance_type: str, new_family: str) -> str:
    if provider == "azure":
        size = re.match(r"^Standard_[A-Za-z]+(\d+)", instance_type)
        letter = re.match(r"^([A-Za-z]+)", new_family)
        version = re.search(r"(v\d+)$", new_family)
        suffix = (
            new_family[len(letter.group(1)) : len(new_family) - len(version.group(1))]
            if letter and version
            else ""
        )
        if size and letter and version:
            return f"Standard_{letter.group(1)}{size.group(1)}{suffix}_{version.group(1)}"
        return new_family
    if "." in instance_type:
        return new_family + "." + instance_type.rsplit(".", 1)[1]
    rest = instance_type.split("-", 1)
    return new_family + ("-" + rest[1] if len(rest) > 1 else "")


def previous_generation(
    con: duckdb.DuckDBPyConnection, period: str, team: str
) -> list[Recommendation]:
    rows = _rows(
        con,
        f"""SELECT ResourceId AS resource, x_Provider AS provider, RegionId AS region,
                   {INSTANCE_TYPE} AS instance_type, max(BillingCurrency) AS currency,
                   max({team}) AS team, sum(PricingQuantity) AS hours,
                   sum(ContractedCost) AS cost, max(ContractedUnitPrice) AS price
            FROM costs
            WHERE x_BillingPeriod = {literal(period)} AND ChargeCategory = 'Usage'
              AND {INSTANCE_TYPE} IS NOT NULL AND PricingUnit ILIKE '%hour%'
              AND ResourceId IS NOT NULL
            GROUP BY 1, 2, 3, 4 ORDER BY cost DESC""",
    )
    prices = {
        (r["provider"], r["region"], r["instance_type"]): r["price"]
        for r in _rows(
            con,
            f"""SELECT x_Provider AS provider, RegionId AS region, {INSTANCE_TYPE} AS instance_type,
                       min(ContractedUnitPrice) AS price
                FROM costs WHERE ChargeCategory = 'Usage' AND {INSTANCE_TYPE} IS NOT NULL
                  AND PricingCategory = 'Standard' AND PricingUnit ILIKE '%hour%'
                  AND ContractedUnitPrice > 0
                GROUP BY ALL""",
        )
    }
    found = []
    for r in rows:
        table = PREVIOUS_GENERATION.get(r["provider"], {})
        family = family_of(r["provider"], r["instance_type"])
        if family not in table:
            continue
        target = _replacement_type(r["provider"], r["instance_type"], table[family])
        price = prices.get((r["provider"], r["region"], target))
        where = r["region"]
        if price is None:
            candidates = [
                p for (pv, _, t), p in prices.items() if pv == r["provider"] and t == target
            ]
            price = min(candidates) if candidates else None
            where = "another region"
        saving = None
        if price is not None and r["price"] is not None and price < r["price"]:
            saving = _money((r["price"] - price) * r["hours"])
        found.append(
            Recommendation(
                kind="previous-generation",
                title=f"Move {r['resource']} from {r['instance_type']} to {target}",
                resources=[r["resource"]],
                monthly_savings=saving,
                assumption=(
                    f"the same hours ({_qty(r['hours'])}) at {target}'s price in the lake "
                    f"({_qty(price)} per hour, {where}) instead of {_qty(r['price'])}"
                    if price is not None
                    else f"{target} has no price in the lake: no estimate"
                ),
                confidence="medium" if saving is not None and where == r["region"] else "low",
                owner=r["team"],
                currency=r["currency"],
                why=f"{r['instance_type']} is a previous-generation type; {target} is its "
                "current-generation counterpart.",
                risk="A new generation may differ in CPU (and architecture): test the workload.",
                verify="The resource's cost per hour drops from the change date on.",
                provider=r["provider"],
            )
        )
    return found


def gp2_volumes(con: duckdb.DuckDBPyConnection, period: str, team: str) -> list[Recommendation]:
    rows = _rows(
        con,
        f"""WITH volumes AS (
                SELECT *, coalesce(json_extract_string(SkuPriceDetails, '$.StorageClass'),
                                   json_extract_string(SkuPriceDetails, '$.VolumeType')) AS class
                FROM costs WHERE ServiceSubcategory = 'Block Storage' AND ChargeCategory = 'Usage'
            ), gp3 AS (
                SELECT x_Provider, RegionId, min(ContractedUnitPrice) AS price FROM volumes
                WHERE lower(class) = 'gp3' AND PricingCategory = 'Standard' GROUP BY ALL
            )
            SELECT v.ResourceId AS resource, v.x_Provider AS provider, v.RegionId AS region,
                   max(v.BillingCurrency) AS currency, max({team}) AS team,
                   sum(v.PricingQuantity) AS quantity, max(v.ContractedUnitPrice) AS price,
                   max(g.price) AS gp3_price
            FROM volumes AS v LEFT JOIN gp3 AS g USING (x_Provider, RegionId)
            WHERE v.x_BillingPeriod = {literal(period)} AND lower(v.class) = 'gp2'
              AND v.ResourceId IS NOT NULL
            GROUP BY 1, 2, 3 ORDER BY quantity DESC""",
    )
    found = []
    for r in rows:
        saving = None
        if r["gp3_price"] is not None and r["price"] is not None and r["gp3_price"] < r["price"]:
            saving = _money((r["price"] - r["gp3_price"]) * r["quantity"])
        found.append(
            Recommendation(
                kind="gp2-volume",
                title=f"Change the gp2 volume {r['resource']} to gp3",
                resources=[r["resource"]],
                monthly_savings=saving,
                assumption=(
                    f"the same GB-months ({_qty(r['quantity'])}) at gp3's price in the lake "
                    f"({_qty(r['gp3_price'])}) instead of gp2's ({_qty(r['price'])}); gp3's baseline "
                    "performance covers most gp2 volumes"
                    if saving is not None
                    else "gp3 has no price in the lake for this region: no estimate"
                ),
                confidence="high" if saving is not None else "low",
                owner=r["team"],
                currency=r["currency"],
                why="gp3 costs less per GB than gp2 and its baseline IOPS do not depend on size.",
                risk="Volumes above 1 TB or with bursty IOPS may need provisioned gp3 IOPS.",
                verify="The volume's cost per GB-month drops from the change date on.",
                provider=r["provider"],
            )
        )
    return found


def storage_lifecycle(
    con: duckdb.DuckDBPyConnection, period: str, team: str
) -> list[Recommendation]:
    rows = _rows(
        con,
        f"""WITH stored AS (
                SELECT ResourceId AS resource, x_Provider AS provider, RegionId AS region,
                       x_BillingPeriod AS period, max(BillingCurrency) AS currency,
                       max({team}) AS team, sum(PricingQuantity) AS quantity,
                       sum(EffectiveCost) AS cost, max(ContractedUnitPrice) AS price
                FROM costs
                WHERE ServiceSubcategory = 'Object Storage' AND ChargeCategory = 'Usage'
                  AND coalesce(json_extract_string(SkuPriceDetails, '$.StorageClass'), SkuMeter)
                      ILIKE 'standard%'
                  AND coalesce(json_extract_string(SkuPriceDetails, '$.StorageClass'), '')
                      NOT ILIKE '%infrequent%'
                  AND coalesce(json_extract_string(SkuPriceDetails, '$.StorageClass'), '')
                      NOT ILIKE '%-ia%'
                  AND PricingUnit ILIKE '%month%' AND ResourceId IS NOT NULL
                  AND x_BillingPeriod <= {literal(period)}
                GROUP BY 1, 2, 3, 4
            ), ranked AS (
                SELECT *, row_number() OVER (PARTITION BY resource ORDER BY period DESC) AS age
                FROM stored
            ), growing AS (
                SELECT resource, bool_and(quantity < next_quantity) AS grew
                FROM (SELECT *, lag(quantity) OVER (PARTITION BY resource ORDER BY period DESC)
                                AS next_quantity FROM ranked WHERE age <= 3)
                WHERE age > 1 GROUP BY 1 HAVING count(*) = 2
            ), cheaper AS (
                SELECT x_Provider AS provider, RegionId AS region, min(ContractedUnitPrice) AS price
                FROM costs
                WHERE ServiceSubcategory = 'Object Storage' AND ChargeCategory = 'Usage'
                  AND (json_extract_string(SkuPriceDetails, '$.StorageClass') ILIKE '%-ia'
                       OR json_extract_string(SkuPriceDetails, '$.StorageClass') ILIKE '%infrequent%'
                       OR json_extract_string(SkuPriceDetails, '$.StorageClass') IN ('Cool', 'Nearline'))
                  AND ContractedUnitPrice > 0
                GROUP BY ALL
            )
            SELECT r.*, c.price AS cold_price
            FROM ranked AS r JOIN growing AS g USING (resource)
            LEFT JOIN cheaper AS c USING (provider, region)
            WHERE g.grew AND r.age = 1 AND r.period = {literal(period)}
            ORDER BY r.cost DESC""",
    )
    found = []
    for r in rows:
        saving = None
        if r["cold_price"] is not None and r["price"] and r["cold_price"] < r["price"]:
            saving = _money(r["quantity"] / 2 * (r["price"] - r["cold_price"]))
        found.append(
            Recommendation(
                kind="storage-lifecycle",
                title=f"Add a lifecycle rule to {r['resource']}",
                resources=[r["resource"]],
                monthly_savings=saving,
                assumption=(
                    f"half of its {_qty(r['quantity'])} GB-months is older than 30 days and "
                    "read rarely, and moves to the infrequent access class at its price in the "
                    f"lake ({_qty(r['cold_price'])} instead of {_qty(r['price'])})"
                    if saving is not None
                    else "no infrequent access price in the lake for its region: no estimate"
                ),
                confidence="medium" if saving is not None else "low",
                owner=r["team"],
                currency=r["currency"],
                why="Its standard-class storage grew three periods in a row with nothing moved "
                "to a colder class.",
                risk="Infrequent access classes charge per GB read and a minimum storage time.",
                verify="Its cost per GB-month falls after the rule's first transition.",
                provider=r["provider"],
            )
        )
    return found


def data_transfer(con: duckdb.DuckDBPyConnection, period: str, team: str) -> list[Recommendation]:
    rows = _rows(
        con,
        f"""WITH lines AS (
                SELECT *, coalesce(SubAccountId, BillingAccountId) AS acct FROM costs
                WHERE x_BillingPeriod = {literal(period)} AND ChargeCategory = 'Usage'
            ), accounts AS (SELECT acct, sum(EffectiveCost) AS total FROM lines GROUP BY 1)
            SELECT coalesce(l.ResourceId, l.acct) AS resource, max(l.x_Provider) AS provider,
                   l.acct AS account, max(l.BillingCurrency) AS currency, max({team}) AS team,
                   sum(l.EffectiveCost) AS cost, sum(l.PricingQuantity) AS quantity,
                   max(a.total) AS account_total
            FROM lines AS l JOIN accounts AS a USING (acct)
            WHERE l.ServiceSubcategory = 'Network Connectivity'
               OR l.ServiceName ILIKE '%data transfer%' OR l.ServiceName = 'Bandwidth'
            GROUP BY 1, 3
            HAVING sum(l.EffectiveCost) > 0.05 * max(a.total)
            ORDER BY cost DESC LIMIT 10""",
    )
    return [
        Recommendation(
            kind="data-transfer",
            title=f"Cut the data transfer of {r['resource']}",
            resources=[r["resource"]],
            monthly_savings=_money(r["cost"] * Decimal("0.3")),
            assumption=f"30% of its {_qty(r['quantity'])} units of transfer "
            f"({_money(r['cost'])}) can be avoided with caching, private endpoints or compression",
            confidence="low",
            owner=r["team"],
            currency=r["currency"],
            why=f"Data transfer is {float(r['cost'] / r['account_total']):.0%} of account "
            f"{r['account']}'s cost in {period}.",
            risk="The cause needs a look at the traffic: the estimate is a rule of thumb.",
            verify="Its data transfer cost per period falls from the change date on.",
            provider=r["provider"],
        )
        for r in rows
    ]


def low_utilization(con: duckdb.DuckDBPyConnection, period: str) -> list[Recommendation]:
    rows = _rows(
        con,
        f"""SELECT CommitmentDiscountId AS commitment, max(CommitmentDiscountName) AS name,
                   max(x_Provider) AS provider, max(BillingCurrency) AS currency,
                   coalesce(sum(EffectiveCost) FILTER (WHERE {USED}), 0) AS used,
                   sum(EffectiveCost) AS committed
            FROM costs WHERE {COMMITMENT_COST} AND x_BillingPeriod = {literal(period)}
            GROUP BY 1 HAVING sum(EffectiveCost) > 0
               AND coalesce(sum(EffectiveCost) FILTER (WHERE {USED}), 0) < 0.8 * sum(EffectiveCost)
            ORDER BY committed - used DESC""",
    )
    return [
        Recommendation(
            kind="low-utilization",
            title=f"Use or exchange the commitment {r['name'] or r['commitment']}",
            resources=[r["commitment"]],
            monthly_savings=_money(r["committed"] - r["used"]),
            assumption=f"its unused cost in {period} ({_money(r['committed'] - r['used'])} of "
            f"{_money(r['committed'])}) is saved by moving usage onto it, exchanging it or "
            "sharing it across accounts",
            confidence="high",
            owner=None,
            currency=r["currency"],
            why=f"It was used {float(r['used'] / r['committed']):.1%} in {period}.",
            risk="Exchanges and sharing depend on the provider's terms for this commitment.",
            verify="`cloudtally commitments utilization` shows it above 80%.",
            provider=r["provider"],
        )
        for r in rows
    ]


DETECTORS = (
    "orphaned",
    "idle",
    "previous-generation",
    "gp2-volume",
    "storage-lifecycle",
    "data-transfer",
    "low-utilization",
)


def recommendations(store: Store, *, period: str | None = None) -> tuple[str, list[Recommendation]]:
    """Every recommendation for a billing period, largest estimated saving first."""
    chosen, previous = latest_period(store, period)
    con = store.connect()
    # The owning team as the ownership model reads it from the tags (tags.yaml).
    team = Lens("costs", tag_policy(store)).dimension("team").expr
    found = [
        *orphaned(con, chosen, previous, team),
        *idle_addresses_and_balancers(con, chosen, team),
        *previous_generation(con, chosen, team),
        *gp2_volumes(con, chosen, team),
        *storage_lifecycle(con, chosen, team),
        *data_transfer(con, chosen, team),
        *low_utilization(con, chosen),
    ]
    # One recommendation per resource set: the first detector's (orphaned before idle).
    unique: dict[tuple[str, ...], Recommendation] = {}
    for rec in found:
        unique.setdefault(tuple(sorted(rec.resources)), rec)
    ordered = sorted(unique.values(), key=lambda r: (-(r.monthly_savings or Decimal(-1)), r.id))
    _evidence(con, chosen, ordered)
    return chosen, ordered


def recommendation_by_id(store: Store, rec_id: str, period: str | None = None) -> Recommendation:
    _, found = recommendations(store, period=period)
    for rec in found:
        if rec.id == rec_id:
            return rec
    raise QueryError(
        f"No recommendation {rec_id!r} in the latest period: `cloudtally recommend` lists them "
        "(ids change when the data no longer shows the problem)."
    )
