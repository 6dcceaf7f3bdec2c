"""Query builders for allocation: everything is set-based DuckDB SQL over the `costs` view.

The shape of the work (one scan for the pools' totals and the weights, one streaming scan for
the output)::

    lines      costs + normalised tag values (keys folded once per line) + mapping joins
               + conditional rules (one CASE per dimension) -> team, product, cost_center, env
               and the source of each value, + the shared pool the line belongs to (or NULL)
    summary    lines aggregated by everything the split needs (small: accounts x services x
               dimension values), materialised once
    pool_groups / recipients / shares
               each pool's totals per period, currency and account/service, its recipients
               with exact DECIMAL ratios, the shares, and the rounding remainder put on the
               recipient with the largest share (ties: the first by name), so a pool's shares
               add up to its total to the last digit
    output     direct lines UNION ALL shared rows
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cloudtally.rules.allocation import DIMENSIONS, Match, RuleSet, SharedPool
from cloudtally.rules.tags import normalise_sql, raw_value_sql
from cloudtally.sqltext import identifier, literal, literals

# Canonical columns carried into allocated_costs (enough for every report and for tracing a
# value back to its line). Shared rows keep the pool's account, service and charge columns.
LINE_COLUMNS = (
    "x_Provider",
    "x_BillingPeriod",
    "BillingAccountId",
    "BillingAccountName",
    "SubAccountId",
    "SubAccountName",
    "BillingPeriodStart",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ServiceName",
    "ServiceCategory",
    "RegionId",
    "RegionName",
    "SkuId",
    "SkuMeter",
    "PricingUnit",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "CommitmentDiscountId",
    "CommitmentDiscountStatus",
    "BillingCurrency",
)
GROUP_COLUMNS = (
    "x_Provider",
    "x_BillingPeriod",
    "BillingAccountId",
    "BillingAccountName",
    "SubAccountId",
    "SubAccountName",
    "BillingPeriodStart",
    "ChargeCategory",
    "ServiceName",
    "ServiceCategory",
    "CommitmentDiscountId",
    "BillingCurrency",
)
MONEY = ("BilledCost", "EffectiveCost")
ALLOCATION_COLUMNS = (
    *DIMENSIONS,
    "allocation_kind",
    "allocation_rule",
    "shared_pool",
    "missing_tags",
)
OUTPUT_COLUMNS = (*LINE_COLUMNS, *MONEY, *ALLOCATION_COLUMNS)

# A share is amount x weight / total weight in exact integer arithmetic: the amount in units
# of 10^-12 (HUGEINT), weights in units of 10^-3, truncated to 10^-12. The remainder (exact to
# the 18 stored places) goes to one recipient, so a pool's shares add up to its total exactly.
# HUGEINT holds the product for amounts x weights up to about 10^14 x 10^14; beyond that DuckDB
# raises an overflow error rather than rounding.
STORED = "DECIMAL(38,18)"


def decimal_sql(value: Decimal) -> str:
    """An exact DECIMAL literal (`1E+3` written as digits, never read as a DOUBLE)."""
    return f"CAST({literal(format(value, 'f'))} AS {STORED})"


def tag_column(key: str) -> str:
    """The column of a line holding its own normalised value of required key `key`."""
    return identifier(f"t_{key}")


def _share(amount: str) -> str:
    units = (
        f"CAST(CAST({amount} AS DECIMAL(38,12)) * CAST(1000000000000 AS DECIMAL(38,0)) AS HUGEINT)"
    )
    share = (
        f"CAST(({units} * w) // total_w AS DECIMAL(38,0)) * CAST(0.000000000001 AS DECIMAL(13,12))"
    )
    return f"CASE WHEN total_w > 0 THEN CAST({share} AS {STORED}) ELSE {amount} END"


def match_sql(match: Match, window: tuple[str, str] | None = None, by: str | None = None) -> str:
    """SQL for a rule's or pool's conditions over a line (all must hold)."""
    terms: list[str] = []

    def among(column: str, values: list[str] | None) -> None:
        if values is not None:
            terms.append(f"{column} IN ({literals(values)})")

    among("x_Provider", match.provider)
    if match.account is not None:
        listed = literals(match.account)
        terms.append(f"(SubAccountId IN ({listed}) OR SubAccountName IN ({listed}))")
    among("ServiceName", match.service)
    among("ServiceCategory", match.service_category)
    among("RegionId", match.region)
    among("ChargeCategory", match.charge_category)
    among("CommitmentDiscountStatus", match.commitment_status)
    if match.resource_name is not None:
        terms.append(f"coalesce(ResourceName, ResourceId) GLOB {literal(match.resource_name)}")
    if match.unallocated is not None and by is not None:
        terms.append(f"{by} IS {'' if match.unallocated else 'NOT '}NULL")
    if window is not None:
        first, last = window
        if first != "0000-01":
            terms.append(f"x_BillingPeriod >= {literal(first)}")
        if last != "9999-12":
            terms.append(f"x_BillingPeriod <= {literal(last)}")
    return "(" + " AND ".join(terms) + ")" if terms else "true"


@dataclass
class Builder:
    """SQL for one rule set. `prefix` names its helper tables (two rule sets can share a
    connection, as `allocate --compare` does)."""

    rules: RuleSet
    prefix: str = "_alloc"
    tag_keys: list[str] | None = None  # the distinct Tags keys of the data, when known

    # -- helper tables -----------------------------------------------------------------------

    def table(self, name: str) -> str:
        return f"{self.prefix}_{name}"

    # Mapping tables are named by their position, not their file name: file names may hold
    # any character and DuckDB matches identifiers case-insensitively (`Teams.csv` and
    # `teams.csv` are two tables). The name appears only in literals (value sources).

    def _map_index(self, name: str) -> int:
        return list(self.rules.mappings).index(name)

    def map_table(self, name: str) -> str:
        return identifier(self.table(f"map_{self._map_index(name)}"))

    def map_alias(self, name: str) -> str:
        return identifier(f"m{self._map_index(name)}")

    def map_column(self, name: str, column: str) -> str:
        """The column `column` (a dimension or `line`) of mapping `name` on a joined line."""
        return identifier(f"m{self._map_index(name)}__{column}")

    def map_source(self, name: str, kind: str = "mapping") -> str:
        """SQL for the source of a mapped value: `mapping:mappings/FILE.csv:LINE`."""
        file = self.rules.mappings[name].path.name
        return f"({literal(f'{kind}:mappings/{file}:')} || {self.map_column(name, 'line')})"

    def discover_tag_keys(self, con: Any, where: str = "true") -> None:
        """Find the distinct tag keys of the lines once, so lines look tags up directly."""
        rows = con.execute(
            f"SELECT DISTINCT unnest(map_keys(Tags)) FROM costs WHERE {where}"
        ).fetchall()
        self.tag_keys = sorted(str(r[0]) for r in rows if r[0] is not None)

    def helper_tables(self) -> list[str]:
        """Statements creating the small tables the rules read (mappings, metrics, ratios)."""
        statements = []
        for mapping in self.rules.mappings.values():
            columns = ", ".join(f"{identifier(c)} VARCHAR" for c in mapping.columns)
            statements.append(
                f"CREATE OR REPLACE TEMP TABLE {self.map_table(mapping.name)} "
                f"(key VARCHAR, eff_from VARCHAR, eff_to VARCHAR, line INTEGER"
                f"{', ' + columns if columns else ''})"
            )
            if mapping.rows:
                values = ", ".join(
                    "("
                    + ", ".join(
                        [
                            literal(row.key),
                            literal(row.effective_from),
                            literal(row.effective_to),
                            str(row.line),
                            *(
                                "NULL" if row.values[c] is None else literal(row.values[c])  # type: ignore[arg-type]
                                for c in mapping.columns
                            ),
                        ]
                    )
                    + ")"
                    for row in mapping.rows
                )
                statements.append(f"INSERT INTO {self.map_table(mapping.name)} VALUES {values}")
        statements.append(
            f"CREATE OR REPLACE TEMP TABLE {self.table('metric')} "
            f"(pool VARCHAR, period VARCHAR, recipient VARCHAR, value {STORED})"
        )
        metric_rows = [
            f"({literal(pool)}, {literal(row.period)}, {literal(row.recipient)}, "
            f"{decimal_sql(row.value)})"
            for pool, rows in self.rules.metrics.items()
            for row in rows
        ]
        if metric_rows:
            statements.append(f"INSERT INTO {self.table('metric')} VALUES {', '.join(metric_rows)}")
        return statements

    # -- lines -------------------------------------------------------------------------------

    def _tag_keys(self) -> list[str]:
        policy = self.rules.tags
        keys = list(policy.required)
        for dim in DIMENSIONS:
            if "tag" in self.rules.allocation.precedence(dim) and dim not in keys:
                keys.append(dim)
        return keys

    def _account_maps(self) -> list[str]:
        return [m.name for m in self.rules.mappings.values() if m.key == "account"]

    def _team_maps(self) -> list[str]:
        return [m.name for m in self.rules.mappings.values() if m.key == "team"]

    def lines_sql(self, where: str = "true") -> str:
        """One row per cost line with its dimensions, their sources and its pool."""
        policy = self.rules.tags
        tag_keys = self._tag_keys()
        joins, map_cols = self._mapping_joins(
            self._account_maps(), "coalesce(c.SubAccountId, c.BillingAccountId)", "c"
        )
        raw_tags = [
            f"{normalise_sql(policy, key, raw_value_sql(policy, key, 'c.Tags', self.tag_keys))} "
            f"AS {tag_column(key)}"
            for key in tag_keys
        ]
        base = f"""
            SELECT c.*{"".join(", " + t for t in raw_tags)}{"".join(", " + m for m in map_cols)}
            FROM costs c {" ".join(joins)}
            WHERE {where}"""
        # Inheritance: a key the line lacks comes from account metadata.
        tagged = []
        for key in tag_keys:
            inherit = policy.key(key).inherit
            own = tag_column(key)
            source = f"CASE WHEN {own} IS NOT NULL THEN {literal(f'tag:{key}')}"
            value = own
            if inherit is not None and inherit in self.rules.mappings:
                column = self.map_column(inherit, key)
                value = f"coalesce({own}, {column})"
                source += f" WHEN {column} IS NOT NULL THEN {self.map_source(inherit, 'inherited')}"
            tagged.append(
                f"{value} AS {identifier('tag_' + key)}, "
                f"{source} END AS {identifier('tag_src_' + key)}"
            )
        tag_cte = f"SELECT *{''.join(', ' + t for t in [*tagged, *self._rule_indexes()])} FROM base"
        # Dimensions: the team first (team-keyed tables need it), then the others.
        team_cte = f"SELECT *, {self._dimension('team', tag_keys)} FROM tagged"
        team_joins, team_map_cols = self._mapping_joins(self._team_maps(), "d.team", "d")
        others = ", ".join(self._dimension(dim, tag_keys) for dim in DIMENSIONS[1:])
        dims_cte = f"""
            SELECT d.*{"".join(", " + m for m in team_map_cols)}
            FROM with_team d {" ".join(team_joins)}"""
        missing = self._missing_tags()
        pools = self._pool_case()
        return f"""
            WITH base AS NOT MATERIALIZED ({base}),
            tagged AS NOT MATERIALIZED ({tag_cte}),
            with_team AS NOT MATERIALIZED ({team_cte}),
            team_mapped AS NOT MATERIALIZED ({dims_cte}),
            dims AS NOT MATERIALIZED (SELECT *, {others} FROM team_mapped)
            SELECT *, {missing} AS missing_tags, {pools} AS shared_pool FROM dims"""

    def _mapping_joins(self, names: list[str], key: str, row: str) -> tuple[list[str], list[str]]:
        """LEFT JOINs of mapping tables on `key`, in force in the row's period, and the columns
        they add (`m_<table>__<column>` and the CSV line they came from)."""
        joins = []
        for name in names:
            alias = self.map_alias(name)
            joins.append(
                f"LEFT JOIN {self.map_table(name)} {alias} ON {alias}.key = {key} "
                f"AND {row}.x_BillingPeriod BETWEEN {alias}.eff_from AND {alias}.eff_to"
            )
        columns = [
            f"{self.map_alias(name)}.{identifier(col)} AS {self.map_column(name, col)}"
            for name in names
            for col in self.rules.mappings[name].columns
        ]
        # Each table's CSV line once (a name given twice is ambiguous to other engines).
        columns += [
            f"{self.map_alias(name)}.line AS {self.map_column(name, 'line')}" for name in names
        ]
        return joins, columns

    def _dimension(self, dim: str, tag_keys: list[str]) -> str:
        values, sources = [], []
        for source in self.rules.allocation.precedence(dim):
            if source == "rules":
                if not any(dim in r.set for r in self.rules.allocation.rules):
                    continue
                # Values and sources by the position of the first matching rule.
                by_position = [
                    literal(r.set[dim]) if dim in r.set else "NULL"
                    for r in self.rules.allocation.rules
                ]
                names = [literal(f"rule:{r.id}") for r in self.rules.allocation.rules]
                values.append(f"([{', '.join(by_position)}])[ri_{dim}]")
                sources.append(f"([{', '.join(names)}])[ri_{dim}]")
            elif source == "tag":
                if dim in tag_keys:
                    values.append(identifier(f"tag_{dim}"))
                    sources.append(identifier(f"tag_src_{dim}"))
            else:
                name = source.partition(":")[2]
                values.append(self.map_column(name, dim))
                sources.append(self.map_source(name))
        if not values:
            return f"CAST(NULL AS VARCHAR) AS {dim}, CAST(NULL AS VARCHAR) AS {dim}_source"
        value = values[0] if len(values) == 1 else f"coalesce({', '.join(values)})"
        whens = " ".join(
            f"WHEN {v} IS NOT NULL THEN {s}" for v, s in zip(values, sources, strict=True)
        )
        return f"{value} AS {dim}, CASE {whens} END AS {dim}_source"

    def _rule_indexes(self) -> list[str]:
        """Per dimension, the 1-based position of the first rule that matches and sets it."""
        indexes = []
        for dim in DIMENSIONS:
            rules = [(n, r) for n, r in enumerate(self.rules.allocation.rules) if dim in r.set]
            if rules and "rules" in self.rules.allocation.precedence(dim):
                cases = " ".join(
                    f"WHEN {match_sql(r.when, r.window)} THEN {n + 1}" for n, r in rules
                )
                indexes.append(f"CASE {cases} END AS ri_{dim}")
        return indexes

    def _missing_tags(self) -> str:
        required = self.rules.tags.required
        if not required:
            return "CAST(NULL AS VARCHAR)"
        parts = ", ".join(
            f"CASE WHEN {tag_column(key)} IS NULL THEN {literal(key)} END" for key in required
        )
        return f"nullif(concat_ws(',', {parts}), '')"

    def _pool_case(self) -> str:
        pools = self.rules.allocation.shared_pools
        if not pools:
            return "CAST(NULL AS VARCHAR)"
        whens = " ".join(
            f"WHEN {match_sql(p.match, p.window, p.by)} THEN {literal(p.id)}" for p in pools
        )
        return f"CASE {whens} END"

    # -- the split ---------------------------------------------------------------------------

    def summary_sql(self, lines: str) -> str:
        """Lines aggregated by what pools and weights need (materialised once).

        Direct lines only need their period, currency, dimensions and commitment; the account
        and service columns are kept for pooled lines alone, which keeps the groups few and
        their keys short.
        """
        pooled = ", ".join(
            f"CASE WHEN shared_pool IS NOT NULL THEN {c} END AS {c}"
            for c in GROUP_COLUMNS
            if c not in ("x_BillingPeriod", "BillingCurrency", "CommitmentDiscountId")
        )
        # Only the dimensions pools split by are needed here (the rest is not computed).
        dims = ", ".join(self.split_dimensions())
        return f"""
            SELECT x_BillingPeriod, BillingCurrency, CommitmentDiscountId, {pooled},
                   {dims + ", " if dims else ""}CommitmentDiscountStatus,
                   shared_pool, sum(BilledCost) AS billed, sum(EffectiveCost) AS effective
            FROM ({lines})
            GROUP BY ALL"""

    def split_dimensions(self) -> list[str]:
        used = {p.by for p in self.rules.allocation.shared_pools}
        return [d for d in DIMENSIONS if d in used]

    def split_statements(self, summary: str) -> list[str]:
        """Statements that build `<prefix>_shares`: one row per pool group and recipient."""
        groups, recipients, shares = (
            self.table("groups"),
            self.table("recipients"),
            self.table("shares"),
        )
        keys = ", ".join(GROUP_COLUMNS)
        statements = [
            f"""CREATE OR REPLACE TEMP TABLE {groups} AS
                SELECT row_number() OVER (ORDER BY shared_pool, {keys}) AS gid, shared_pool,
                       {keys}, sum(billed) AS billed, sum(effective) AS effective
                FROM {summary} WHERE shared_pool IS NOT NULL
                GROUP BY shared_pool, {keys}""",
            f"""CREATE OR REPLACE TEMP TABLE {recipients}
                (pool VARCHAR, period VARCHAR, currency VARCHAR, commitment VARCHAR,
                 recipient VARCHAR, weight DECIMAL(38,6))""",
        ]
        for pool in self.rules.allocation.shared_pools:
            statements.append(f"INSERT INTO {recipients} {self._weights(pool, summary)}")
        statements.append(
            f"""CREATE OR REPLACE TEMP TABLE {shares} AS
            WITH joined AS (
                SELECT g.*, r.recipient,
                       CAST(r.weight * CAST(1000 AS DECIMAL(38,0)) AS HUGEINT) AS w
                FROM {groups} g LEFT JOIN {recipients} r
                  ON r.pool = g.shared_pool AND r.period = g.x_BillingPeriod
                 AND (r.currency IS NULL OR r.currency = g.BillingCurrency)
                 AND (r.commitment IS NULL OR r.commitment = g.CommitmentDiscountId)
            ),
            weighed AS (
                SELECT *, sum(w) OVER (PARTITION BY gid) AS total_w,
                       row_number() OVER (PARTITION BY gid ORDER BY w DESC, recipient) AS rank
                FROM joined
            ),
            shared AS (
                SELECT *, {_share("billed")} AS b, {_share("effective")} AS e
                FROM weighed
            )
            SELECT * EXCLUDE (b, e, billed, effective, w, total_w),
                   CASE WHEN rank = 1 THEN b + (billed - sum(b) OVER (PARTITION BY gid)) ELSE b END
                       AS BilledCost,
                   CASE WHEN rank = 1 THEN e + (effective - sum(e) OVER (PARTITION BY gid)) ELSE e END
                       AS EffectiveCost
            FROM shared"""
        )
        return statements

    def _weights(self, pool: SharedPool, summary: str) -> str:
        """SELECT pool, period, currency, commitment, recipient, weight for one pool."""
        by = pool.by
        pid = literal(pool.id)
        among = f" AND {by} IN ({literals(pool.among)})" if pool.among is not None else ""
        direct = f"""
            SELECT x_BillingPeriod AS period, BillingCurrency AS currency, {by} AS recipient,
                   sum(effective) AS cost
            FROM {summary}
            WHERE shared_pool IS NULL AND {by} IS NOT NULL{among}
            GROUP BY ALL HAVING sum(effective) > 0"""
        periods = f"SELECT DISTINCT x_BillingPeriod AS period FROM {summary}"
        if pool.split == "direct_cost":
            return f"SELECT {pid}, period, currency, NULL, recipient, cost FROM ({direct})"
        if pool.split == "even":
            if pool.among is not None:
                listed = ", ".join(f"({literal(v)})" for v in pool.among)
                return (
                    f"SELECT {pid}, p.period, NULL, NULL, a.recipient, 1.0 FROM ({periods}) p, "
                    f"(VALUES {listed}) a(recipient)"
                )
            return f"SELECT {pid}, period, currency, NULL, recipient, 1.0 FROM ({direct})"
        if pool.split == "fixed":
            listed = ", ".join(
                f"({literal(k)}, {decimal_sql(v)})"
                for k, v in (pool.percentages or {}).items()
                if v > 0
            )
            return (
                f"SELECT {pid}, p.period, NULL, NULL, a.recipient, a.pct FROM ({periods}) p, "
                f"(VALUES {listed}) a(recipient, pct)"
            )
        if pool.split == "metric":
            among_metric = among.replace(f" AND {by} IN", " AND recipient IN")
            return f"""
                SELECT {pid}, period, NULL, NULL, recipient, sum(value)
                FROM {self.table("metric")} WHERE pool = {pid}{among_metric}
                GROUP BY ALL HAVING sum(value) > 0"""
        # commitment_usage: the purchase goes to whoever used the commitment, by amortized cost.
        return f"""
            SELECT {pid}, x_BillingPeriod, BillingCurrency, CommitmentDiscountId, {by},
                   sum(effective)
            FROM {summary}
            WHERE shared_pool IS NULL AND CommitmentDiscountStatus = 'Used'
              AND CommitmentDiscountId IS NOT NULL AND {by} IS NOT NULL{among}
            GROUP BY ALL HAVING sum(effective) > 0"""

    # -- output ------------------------------------------------------------------------------

    def output_sql(self, lines: str) -> str:
        """Direct lines and shared rows with the columns of allocated_costs."""
        line_cols = ", ".join(LINE_COLUMNS)
        direct = f"""
            SELECT {line_cols}, BilledCost, EffectiveCost, {", ".join(DIMENSIONS)},
                   'direct' AS allocation_kind, team_source AS allocation_rule,
                   CAST(NULL AS VARCHAR) AS shared_pool, missing_tags
            FROM ({lines}) WHERE shared_pool IS NULL"""
        return f"{direct}\nUNION ALL BY NAME\n{self.shared_output_sql()}"

    @staticmethod
    def _per_pool(values: dict[str, str]) -> str:
        if not values:
            return "CAST(NULL AS VARCHAR)"
        whens = " ".join(f"WHEN {literal(k)} THEN {literal(v)}" for k, v in values.items())
        return f"(CASE s.shared_pool {whens} END)"

    def shared_output_sql(self) -> str:
        pools = {p.id: p for p in self.rules.allocation.shared_pools}
        by_of = self._per_pool({p.id: p.by for p in pools.values()})
        split_of = self._per_pool({p.id: p.split for p in pools.values()})
        dims = []
        team_maps = self._team_maps()
        for dim in DIMENSIONS:
            own = f"CASE WHEN {by_of} = {literal(dim)} THEN s.recipient END"
            filled = [own]
            if dim != "team":
                for source in self.rules.allocation.precedence(dim):
                    name = source.partition(":")[2]
                    if source.startswith("mapping:") and name in team_maps:
                        filled.append(f"{self.map_alias(name)}.{identifier(dim)}")
            dims.append(f"coalesce({', '.join(filled)}) AS {dim}")
        joins = " ".join(
            f"LEFT JOIN {self.map_table(name)} {self.map_alias(name)} ON {by_of} = 'team' "
            f"AND {self.map_alias(name)}.key = s.recipient "
            f"AND s.x_BillingPeriod BETWEEN {self.map_alias(name)}.eff_from "
            f"AND {self.map_alias(name)}.eff_to"
            for name in team_maps
        )
        nulls = [c for c in LINE_COLUMNS if c not in GROUP_COLUMNS]
        return f"""
            SELECT {", ".join("s." + c for c in GROUP_COLUMNS)},
                   {", ".join(f"NULL AS {c}" for c in nulls)},
                   s.BilledCost, s.EffectiveCost, {", ".join(dims)},
                   'shared' AS allocation_kind,
                   'pool:' || s.shared_pool || ' (' || {split_of} || CASE WHEN s.recipient IS NULL
                       THEN ', no recipients: unallocated' ELSE '' END || ')' AS allocation_rule,
                   s.shared_pool, CAST(NULL AS VARCHAR) AS missing_tags
            FROM {self.table("shares")} s {joins}"""
