"""The working tables a sample is made from, built once: the dimensions (accounts, teams,
services, SKUs and the slots that weight them), the days, one row per resource, and the
savings plans sized from the usage they cover."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

import duckdb

from cloudtally.ingest.formats.base import literal
from cloudtally.sample.engine import RESOURCES, one, table
from cloudtally.sample.organisation import (
    Account,
    Organisation,
    Reservation,
    SavingsPlan,
    Service,
    sku_id,
)
from cloudtally.sample.sql import by_service, name_fields, pattern_sql
from cloudtally.sample.window import EPOCH, Window, month_days

Commitments = dict[str, tuple[SavingsPlan, Decimal, Decimal]]  # provider -> (plan, daily, used)


def create_tables(
    con: duckdb.DuckDBPyConnection,
    org: Organisation,
    window: Window,
    seed: int,
    resources: int,
    *,
    reservations: bool = False,
) -> None:
    _load_dimensions(con, org, reservations)
    _create_days(con, org, window)
    _create_resources(con, org, window, seed, resources)


@dataclass(frozen=True)
class SizedReservation:
    """A reservation sized from the resources it covers: `units` an hour, `covered` of them
    used every hour (always-on resources that exist on every day of any window)."""

    plan: Reservation
    index: int
    covered: int
    units: int
    price: Decimal  # effective price per unit-hour: the covered rows' committed price
    upfront_hourly: Decimal  # of which paid upfront
    start: date  # the term, [start, end)
    end: date

    @property
    def recurring_hourly(self) -> Decimal:
        return self.price - self.upfront_hourly

    @property
    def term_hours(self) -> int:
        return (self.end - self.start).days * 24

    @property
    def upfront(self) -> Decimal:
        """The one-time purchase: the upfront share of every unit-hour of the term."""
        return self.upfront_hourly * self.units * self.term_hours


def size_reservations(
    con: duckdb.DuckDBPyConnection, org: Organisation, window: Window
) -> list[SizedReservation]:
    """The reservations that cover something, sized: units = covered resources + spare."""
    sized = []
    for i, plan in enumerate(org.reservations):
        covered, price = one(
            con,
            f"SELECT count(*), max(committed_price) FROM {RESOURCES} WHERE reserved = {i}",
        )
        if not covered:
            continue
        upfront = (price * plan.upfront_share).quantize(Decimal("1E-10"), rounding=ROUND_FLOOR)
        if plan.ends_after_window_days is None:
            start = window.start
            end = start + timedelta(days=plan.term_days)
        else:  # bought before the window: no upfront purchase can be in the data
            assert not plan.upfront_share, f"{plan.name}: an upfront purchase before the window"
            end = min(
                window.end + timedelta(days=plan.ends_after_window_days),
                window.start + timedelta(days=plan.term_days),
            )
            start = end - timedelta(days=plan.term_days)
        sized.append(
            SizedReservation(
                plan, i, int(covered), int(covered) + plan.spare, price, upfront, start, end
            )
        )
    return sized


def size_commitments(con: duckdb.DuckDBPyConnection, org: Organisation) -> Commitments:
    """Size each savings plan from the usage it covers.

    Covered resources are always on, exist on every day of any window and are never
    spiked, so the covered usage is the same every day; the daily commitment is that over
    the plan's utilisation, rounded up to a cent, and the rest shows as an Unused row.
    """
    commitments: Commitments = {}
    for sp in org.savings_plans:
        (used,) = one(
            con,
            "SELECT coalesce(sum(CAST(24 AS DECIMAL(38,6)) * committed_price), 0) "
            f"FROM {RESOURCES} WHERE covered AND provider = {literal(sp.provider)}",
        )
        if used > 0:
            daily = (used / sp.utilisation).quantize(Decimal("0.01"), rounding=ROUND_CEILING)
            commitments[sp.provider] = (sp, daily, used)
    return commitments


def _load_dimensions(con: duckdb.DuckDBPyConnection, org: Organisation, reservations: bool) -> None:
    habits = org.habits
    providers = {p.key: p for p in org.providers}
    regions = {(r.provider, r.id): r for r in org.regions}
    sps = {sp.provider: sp for sp in org.savings_plans}
    accounts = []
    for i, a in enumerate(org.accounts):
        p, sp = providers[a.provider], sps.get(a.provider)
        accounts.append(
            {
                "account_idx": i,
                "provider": a.provider,
                "sub_account_id": a.id,
                "sub_account_name": a.name,
                "sub_account_type": p.sub_account_type,
                "invoice_prefix": p.invoice_prefix,
                "env": a.env,
                "team": a.team,
                "regions": list(a.regions),
                "region_names": [regions[(a.provider, r)].name for r in a.regions],
                "region_zones": [list(regions[(a.provider, r)].zones) for r in a.regions],
                "p_no_tags": habits.untagged[a.env][0] + a.untagged_boost,
                "p_no_team": habits.untagged[a.env][1],
                "lowercase_tags": p.lowercase_tag_keys,
                "contracted_share": str(1 - p.negotiated_discount),
                "sp_rate": str(sp.rate) if sp else None,
                "sp_coverage": sp.coverage if sp else 0.0,
            }
        )
    table(con, "sample_accounts", accounts)
    teams = [
        {"team": t.key, "cost_center": t.cost_center, "products": list(t.products)}
        for t in org.teams
    ]
    table(con, "sample_teams", teams)
    plan = org.anomalies
    services = [
        {
            "service_idx": i,
            "service_name": s.name,
            "service_category": s.category,
            "service_subcategory": s.subcategory,
            "resource_type": s.resource_type,
            "unit": s.unit,
            "shape": ("hours", "storage", "usage").index(s.shape),
            "base_lo": s.base[0],
            "base_hi": s.base[1],
            "weekend": s.weekend,
            "noise": s.noise,
            "always_on": s.always_on,
            "spot_share": s.spot_share,
            "commitment_eligible": s.commitment_eligible,
            "regional": s.regional,
            "zonal": s.zonal,
            "places": s.quantity_places,
            "skus": len(s.skus),
            "stem": s.stem,
            "is_new": s.name == plan.new_service,
            "level_shift": s.name == plan.level_shift_service,
            "spike_service": s.name == plan.spike_service,
        }
        for i, s in enumerate(org.services)
    ]
    table(con, "sample_services", services)
    skus = []
    for i, s in enumerate(org.services):
        for j, k in enumerate(s.skus):
            sid = sku_id(s.provider, s.name, k.name)
            skus.append(
                {
                    "service_idx": i,
                    "sku_idx": j,
                    "sku_id": sid,
                    "sku_meter": k.meter,
                    "sku_details": None if k.details == "{}" else k.details,
                    "list_price": k.list_price,
                    "price_id_standard": f"{sid}.OnDemand",
                    "price_id_dynamic": f"{sid}.Spot",
                    "price_id_committed": f"{sid}.SavingsPlan",
                    "desc_standard": f"{s.name}: {k.name} ({s.unit}), on-demand rate",
                    "desc_dynamic": f"{s.name}: {k.name} ({s.unit}), spot rate",
                    "desc_committed": f"{s.name}: {k.name} ({s.unit}), covered by a savings plan",
                    "price_id_reserved": f"{sid}.Reserved",
                    "desc_reserved": f"{s.name}: {k.name} ({s.unit}), covered by a reservation",
                }
            )
    table(con, "sample_skus", skus)
    # The reservations' SKUs (none unless asked for): which resources they may cover.
    con.execute(
        "CREATE TABLE sample_reservations (res_idx INTEGER, service_idx INTEGER, "
        "sku_idx INTEGER, rate VARCHAR)"
    )
    for i, reservation in enumerate(org.reservations if reservations else ()):
        service_idx = next(
            n
            for n, s in enumerate(org.services)
            if (s.provider, s.name) == (reservation.provider, reservation.service)
        )
        sku_idx = next(
            n for n, k in enumerate(org.services[service_idx].skus) if k.name == reservation.sku
        )
        con.execute(
            "INSERT INTO sample_reservations VALUES (?, ?, ?, ?)",
            [i, service_idx, sku_idx, str(reservation.rate)],
        )
    account_slots = _slots([a.weight for a in org.accounts], 10_000)
    table(
        con,
        "sample_account_slots",
        [{"slot": n, "account_idx": i} for n, i in enumerate(account_slots)],
    )
    service_slots: list[dict[str, object]] = []
    for i, account in enumerate(org.accounts):
        eligible = [j for j, s in enumerate(org.services) if _eligible(s, account)]
        picks = _slots([org.services[j].weight for j in eligible], 1000)
        service_slots += (
            {"account_idx": i, "slot": n, "service_idx": eligible[k]} for n, k in enumerate(picks)
        )
    table(con, "sample_service_slots", service_slots)


def _create_days(con: duckdb.DuckDBPyConnection, org: Organisation, window: Window) -> None:
    """The days as a table, for the small rows (taxes, fees, commitments) to join to."""
    rows = [day for first in window.months for day in month_days(window, org.anomalies, first)]
    table(con, "sample_days_raw", rows)
    stamps = ("charge_start", "charge_end", "billing_start", "billing_end")
    con.execute(
        "CREATE TABLE sample_days AS SELECT * REPLACE ("
        + ", ".join(f"CAST(CAST({c} AS TIMESTAMP) AS TIMESTAMPTZ) AS {c}" for c in stamps)
        + "), strftime(billing_start, '%Y-%m') AS month FROM sample_days_raw ORDER BY day"
    )


def _create_resources(
    con: duckdb.DuckDBPyConnection, org: Organisation, window: Window, seed: int, count: int
) -> None:
    """One row per resource: everything about it that does not change from day to day,
    including its account, service and SKU strings (the big query joins nothing)."""
    habits = org.habits
    plan = org.anomalies
    growth = org.monthly_growth
    # Resources older than the growth horizon exist on every day of any window.
    baseline = (1 + growth) ** -org.growth_horizon_months
    end_number = (window.end - EPOCH).days
    intro_number = (window.new_service - EPOCH).days
    teams = "[" + ", ".join(literal(t.key) for t in org.teams) + "]"
    fields = name_fields("hex")
    names = by_service(org, lambda s: pattern_sql(s.name_pattern, fields))
    ids = by_service(org, lambda s: pattern_sql(s.resource_id, {**fields, "name": "resource_name"}))
    schedule = {
        key: _env_case({env: values[n] for env, values in habits.schedules.items()})
        for n, key in enumerate(("wk_lo", "wk_span", "we_lo", "we_span"))
    }
    list_price = "CAST(k.list_price AS DECIMAL(38,10))"

    def price(share: str) -> str:
        return f"CAST(round({list_price} * CAST({share} AS DECIMAL(18,10)), 10) AS DECIMAL(18,10))"

    def u(h: str, k: int) -> str:
        return f"sample_u(p.{h}, {k})"

    con.execute(
        f"""
        CREATE TABLE {RESOURCES} AS
        WITH picked AS (
            SELECT r.range AS rid, acs.account_idx, ss.service_idx,
                   sample_hash(hash({seed}, r.range), 13) AS h_place,
                   sample_hash(hash({seed}, r.range), 14) AS h_owner,
                   sample_hash(hash({seed}, r.range), 15) AS h_tags,
                   sample_hash(hash({seed}, r.range), 16) AS h_tags2,
                   sample_hash(hash({seed}, r.range), 17) AS h_shape,
                   sample_hash(hash({seed}, r.range), 18) AS h_birth
            FROM range({count}) AS r
            JOIN sample_account_slots AS acs
              ON acs.slot = CAST(sample_hash(hash({seed}, r.range), 11) % 10000 AS BIGINT)
            JOIN sample_service_slots AS ss
              ON ss.account_idx = acs.account_idx
             AND ss.slot = CAST(sample_hash(hash({seed}, r.range), 12) % 1000 AS BIGINT)
        ), described AS (
            SELECT p.rid, p.account_idx, p.service_idx, a.provider, a.sub_account_id,
                   a.sub_account_name, a.sub_account_type, a.invoice_prefix, a.env,
                   a.p_no_tags, a.p_no_team, a.lowercase_tags, a.contracted_share, a.sp_rate,
                   s.service_name, s.service_category, s.service_subcategory,
                   s.resource_type, s.unit, s.stem, s.shape, s.weekend, s.noise, s.places,
                   s.level_shift, s.spike_service, s.zonal,
                   CASE WHEN s.is_new THEN {plan.new_service_ramp_days} ELSE 0 END AS ramp_days,
                   CAST(floor({u("h_place", 2)} * s.skus) AS BIGINT) AS sku_idx,
                   -- the account's primary region most of the time, or any of its regions
                   CASE WHEN NOT s.regional THEN NULL WHEN {u("h_place", 0)} < 0.8 THEN 1
                        ELSE 1 + CAST(floor({u("h_place", 0)} * 997) AS BIGINT) % len(a.regions)
                   END AS region_pos,
                   a.regions, a.region_names, a.region_zones, {u("h_place", 1)} AS u_zone,
                   coalesce(a.team, {teams}[1 + CAST(floor({u("h_owner", 0)} * {len(org.teams)}) AS BIGINT)]) AS team,
                   {u("h_owner", 1)} AS u_product_pick,
                   s.always_on OR (s.shape = 0 AND {u("h_owner", 2)} < {_env_case(habits.always_on_share)}) AS always_on,
                   {schedule["wk_lo"]} AS wk_lo, {schedule["wk_span"]} AS wk_span,
                   {schedule["we_lo"]} AS we_lo, {schedule["we_span"]} AS we_span,
                   s.base_lo * pow(s.base_hi / s.base_lo, {u("h_shape", 0)}) AS base,
                   0.01 + 0.05 * {u("h_shape", 1)} AS growth,
                   s.spot_share > 0 AND a.env <> 'prod'
                       AND {u("h_shape", 2)} < s.spot_share AS spot_candidate,
                   s.commitment_eligible AND a.env = 'prod' AND {u("h_birth", 2)} < a.sp_coverage
                       AND {u("h_birth", 0)} < {baseline!r} AS cover_candidate,
                   {u("h_birth", 0)} < {baseline!r} AS born_early,
                   CASE WHEN s.is_new THEN {intro_number}
                        WHEN {u("h_birth", 0)} < {baseline!r} THEN -1000000
                        ELSE {end_number} - CAST(ceil(ln({u("h_birth", 0)}) / -ln({1 + growth!r}) * 30.4375) AS INTEGER)
                   END AS birth_number,
                   {u("h_tags", 0)} AS u_tagged, {u("h_tags", 1)} AS u_key,
                   {u("h_tags", 2)} AS u_value, {u("h_tags2", 0)} AS u_env_key,
                   {u("h_tags2", 1)} AS u_product, {u("h_tags2", 2)} AS u_cost_center,
                   md5({literal(str(seed))} || '-' || CAST(p.rid AS VARCHAR)) AS hex
            FROM picked AS p
            JOIN sample_accounts AS a USING (account_idx)
            JOIN sample_services AS s USING (service_idx)
        ), placed AS (
            SELECT d.*,
                   d.regions[d.region_pos] AS region_id,
                   d.region_names[d.region_pos] AS region_name,
                   CASE WHEN d.zonal AND len(d.region_zones[d.region_pos]) > 0
                        THEN d.region_zones[d.region_pos][1 + CAST(floor(d.u_zone * len(d.region_zones[d.region_pos])) AS BIGINT)]
                   END AS az,
                   t.cost_center,
                   t.products[1 + CAST(floor(d.u_product_pick * len(t.products)) AS BIGINT)] AS product,
                   d.always_on AND NOT d.spot_candidate AND d.cover_candidate
                       AND rv.res_idx IS NULL AS covered,
                   rv.res_idx AS reserved, rv.rate AS reserved_rate,
                   d.spot_candidate AND NOT d.always_on AS spot,
                   d.spike_service AND d.team = {literal(plan.spike_team)} AS spike
            FROM described AS d JOIN sample_teams AS t USING (team)
            -- a reservation covers always-on prod resources of its SKU that exist every day
            LEFT JOIN sample_reservations AS rv
              ON rv.service_idx = d.service_idx AND rv.sku_idx = d.sku_idx AND d.env = 'prod'
             AND d.always_on AND NOT d.spot_candidate AND d.born_early
        ), named AS (
            SELECT *, {names} AS resource_name FROM placed
        )
        SELECT n.rid, n.provider, n.account_idx, n.service_idx, n.birth_number, n.shape,
               n.weekend, n.noise, n.places, n.base, n.growth, n.level_shift, n.ramp_days,
               n.spike, n.covered, n.reserved, n.region_id, n.region_name, n.az, n.resource_name,
               n.team, n.env, n.stem, n.hex, n.sub_account_id, n.sub_account_name,
               n.sub_account_type, n.invoice_prefix, n.service_name, n.service_category,
               n.service_subcategory, n.resource_type, n.unit,
               k.sku_id, k.sku_meter, k.sku_details, k.price_id_standard, k.desc_standard,
               CASE WHEN n.always_on THEN 24 ELSE n.wk_lo END AS wk_lo,
               CASE WHEN n.always_on THEN 0 ELSE n.wk_span END AS wk_span,
               CASE WHEN n.always_on THEN 24 ELSE n.we_lo END AS we_lo,
               CASE WHEN n.always_on THEN 0 ELSE n.we_span END AS we_span,
               {ids} AS resource_id,
               CASE WHEN n.reserved IS NOT NULL THEN 3 WHEN n.covered THEN 2 WHEN n.spot THEN 1
                    ELSE 0 END AS pricing,
               CASE WHEN n.reserved IS NOT NULL THEN k.price_id_reserved
                    WHEN n.covered THEN k.price_id_committed WHEN n.spot THEN k.price_id_dynamic
                    ELSE k.price_id_standard END AS sku_price_id,
               CASE WHEN n.reserved IS NOT NULL THEN k.desc_reserved
                    WHEN n.covered THEN k.desc_committed WHEN n.spot THEN k.desc_dynamic
                    ELSE k.desc_standard END AS charge_description,
               CAST(k.list_price AS DECIMAL(18,10)) AS list_price,
               {price("n.contracted_share")} AS standard_price,
               CASE WHEN n.spot THEN {price(repr(str(habits.spot_price)))}
                    ELSE {price("n.contracted_share")} END AS contracted_price,
               CASE WHEN n.reserved IS NOT NULL THEN {price("n.reserved_rate")}
                    WHEN n.covered THEN {price("n.sp_rate")} END AS committed_price,
               {_tags_sql()} AS tags
        FROM named AS n
        JOIN sample_skus AS k USING (service_idx, sku_idx)
        ORDER BY n.rid
        """
    )


def _env_case(values: dict[str, Any]) -> str:
    whens = " ".join(f"WHEN {literal(k)} THEN {v!r}" for k, v in values.items())
    return f"CASE a.env {whens} END"


def _slots(weights: list[float], count: int) -> list[int]:
    """Spread `count` slots over items by weight (largest remainder): the item of each slot."""
    total = sum(weights)
    exact = [w * count / total for w in weights]
    sizes = [int(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: sizes[i] - exact[i])
    for i in by_remainder[: count - sum(sizes)]:
        sizes[i] += 1
    return [i for i, size in enumerate(sizes) for _ in range(size)]


def _eligible(service: Service, account: Account) -> bool:
    if service.provider != account.provider:
        return False
    if account.services is not None:
        return service.name in account.services
    return service.teams is None or account.team is None or account.team in service.teams


def _tags_sql() -> str:
    """Tags as JSON object text, with the key and value variants real estates have."""
    title = "upper(left(team, 1)) || substr(team, 2)"
    value = (
        "CASE WHEN lowercase_tags THEN team WHEN u_value < 0.02 THEN upper(team) "
        f"WHEN u_value < 0.04 THEN {title} WHEN u_value < 0.06 THEN team || ' ' ELSE team END"
    )
    team = (
        f"CASE WHEN u_key < 0.76 THEN '\"team\":\"' || {value} || '\"' "
        'WHEN u_key < 0.88 THEN CASE WHEN lowercase_tags THEN \'"team":"\' ELSE \'"Team":"\' END'
        f" || {value} || '\"' ELSE '\"owner\":\"team-' || team || '\"' END"
    )
    env_value = (
        "CASE WHEN u_env_key > 0.95 THEN CASE env WHEN 'prod' THEN 'production' "
        "WHEN 'stage' THEN 'staging' ELSE 'development' END ELSE env END"
    )
    env = (
        'CASE WHEN u_env_key < 0.8 THEN \'"env":"\' ELSE \'"environment":"\' END || '
        f"{env_value} || '\"'"
    )
    return (
        "CASE WHEN u_tagged < p_no_tags THEN NULL ELSE '{' || concat_ws(',', "
        f"CASE WHEN u_tagged >= p_no_tags + p_no_team THEN {team} END, {env}, "
        "CASE WHEN u_product < 0.85 THEN '\"product\":\"' || product || '\"' END, "
        "CASE WHEN u_cost_center < 0.7 THEN '\"cost-center\":\"' || cost_center || '\"' END"
        ") || '}' END"
    )
