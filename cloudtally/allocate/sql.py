"""Query builders for allocation: everything is set-based DuckDB SQL over the `costs` view.

The shape of the work (one scan for the pools' totals and the weights, one streaming scan for
the output)::

    lines      costs + normalised tag values (keys folded once per line) + mapping joins
               + conditional rules (one CASE per dimension) -> team, product, cost_center, env
               and the source of each value, + the shared pool the line belongs to (or NULL)
    summary    lines aggregated by everything the split needs (small: accounts x services x
               days x dimension values), materialised once
    groups / recipients / shares
               each pool's totals per group (period, day, currency, account, service, charge,
               commitment), its recipients (values of the pool's `by`) with their weights, and
               each recipient's share
    mix / parts
               each share split again among the recipient's values of the other dimensions, in
               proportion to the recipient's own cost with each (so a team's share of support
               lands on its products, cost centres and environments as its direct cost does)
    output     direct lines UNION ALL shared rows

Both splits are exact: the rounding remainder of each goes to its largest weight (ties: the
first by name), so a pool's rows add up to its total to the last digit.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cloudtally.allocate.kubernetes import CLUSTER_TAGS
from cloudtally.focus.canonical import CANONICAL
from cloudtally.rules.allocation import DIMENSIONS, Match, RuleSet, SharedPool
from cloudtally.rules.tags import normalise_sql, raw_value_sql
from cloudtally.sqltext import identifier, literal, literals

# Direct rows carry every canonical column of their line (docs/rules.md lists them), so any
# question `costs` answers can be asked of `allocated_costs`.
LINE_COLUMNS = tuple(c.name for c in CANONICAL)
# What a shared row keeps of the lines it sums: the pool's lines are grouped by these and by
# the day of ChargePeriodStart. Besides the service, charge category and commitment they are
# names and types that follow from those (or from the billing account), so they add (almost)
# no groups.
GROUP_COLUMNS = (
    "x_Provider",
    "x_BillingPeriod",
    "ProviderName",
    "PublisherName",
    "InvoiceIssuerName",
    "InvoiceId",
    "BillingAccountId",
    "BillingAccountName",
    "BillingAccountType",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeFrequency",
    "ServiceName",
    "ServiceCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountCategory",
    "CommitmentDiscountType",
    "CommitmentDiscountStatus",
    "BillingCurrency",
)
# Kept on a shared row when all its lines have the same value (a pool of one account's
# costs), else empty: grouping by them would multiply a pool of every account's tax by the
# number of accounts, for rows that then belong to other teams anyway.
ACCOUNT_COLUMNS = ("SubAccountId", "SubAccountName", "SubAccountType")
# Money in the billing currency: split exactly on shared rows and reconciled with the lake.
MONEY = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost")
# Shared rows span the days of their lines: the first start and the last end.
SPAN_COLUMNS = ("ChargePeriodStart", "ChargePeriodEnd")
ALLOCATION_COLUMNS = (
    *DIMENSIONS,
    "allocation_kind",
    "allocation_rule",
    "shared_pool",
    "missing_tags",
)
OUTPUT_COLUMNS = (*LINE_COLUMNS, *ALLOCATION_COLUMNS)

# A share is amount x weight / total weight in exact integer arithmetic: the amount in units
# of 10^-12 (HUGEINT), weights in units of 10^-3, truncated to 10^-12. The remainder (exact to
# the 18 stored places) goes to one recipient, so a pool's shares add up to its total exactly.
# HUGEINT (about 1.7 x 10^38) holds amount x weight x 10^15: amounts and weights up to about
# 10^11 each; beyond that DuckDB raises an overflow error rather than rounding.
STORED = "DECIMAL(38,18)"
# split: kubernetes reads OpenCost's allocations (the `k8s_allocations` dataset); its two
# recipients that are nobody's: the cluster's idle capacity, and namespaces without the label.
K8S_DATASET = "k8s_allocations"
K8S_IDLE = "(idle)"
K8S_UNLABELLED = "(unlabelled)"


def _units(amount: str) -> str:
    """An amount in integer units of 10^-12 (HUGEINT). Costly per row: done once per group
    and per share, never per part."""
    return (
        f"CAST(CAST({amount} AS DECIMAL(38,12)) * CAST(1000000000000 AS DECIMAL(38,0)) AS HUGEINT)"
    )


def _from_units(units: str) -> str:
    return (
        f"CAST(CAST({units} AS DECIMAL(38,0)) * CAST(0.000000000001 AS DECIMAL(13,12)) AS {STORED})"
    )


def _weight_units(weight: str) -> str:
    """A weight in integer units of 10^-3 (smaller weights count as none)."""
    return f"CAST(CAST({weight} AS DECIMAL(38,6)) * CAST(1000 AS DECIMAL(38,0)) AS HUGEINT)"


def decimal_sql(value: Decimal) -> str:
    """An exact DECIMAL literal (`1E+3` written as digits, never read as a DOUBLE)."""
    return f"CAST({literal(format(value, 'f'))} AS {STORED})"


def tag_column(key: str) -> str:
    """The column of a line holding its own normalised value of required key `key`."""
    return identifier(f"t_{key}")


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
    # Columns of `costs` beyond the canonical ones (a source's extensions, e.g.
    # x_SourceValues): direct rows carry them too; shared rows leave them empty.
    extra_columns: tuple[str, ...] = ()

    @property
    def line_columns(self) -> tuple[str, ...]:
        return (*LINE_COLUMNS, *self.extra_columns)

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
        names = [d[0] for d in con.execute("SELECT * FROM costs LIMIT 0").description or []]
        self.extra_columns = tuple(str(n) for n in names if n not in LINE_COLUMNS)

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
        if any(p.split == "kubernetes" for p in self.rules.allocation.shared_pools):
            # Each cluster's nodes as OpenCost names them: the whole provider id and its last
            # path segment (`i-0abc` of `aws:///eu-west-1a/i-0abc`), lower case.
            tail = "lower(regexp_extract(ProviderId, '[^/]+$'))"
            statements.append(
                f"""CREATE OR REPLACE TEMP TABLE {self.table("k8s_nodes")} AS
                    SELECT DISTINCT Cluster AS cluster, lower(ProviderId) AS node
                    FROM {K8S_DATASET} WHERE Cluster IS NOT NULL AND ProviderId IS NOT NULL
                    UNION
                    SELECT DISTINCT Cluster, {tail} FROM {K8S_DATASET}
                    WHERE Cluster IS NOT NULL AND ProviderId IS NOT NULL AND {tail} <> ''"""
            )
        return statements

    def _cluster_sql(self, pool: SharedPool) -> str:
        """A line is a node of the pool's cluster: its resource id (whole, or its last path
        segment) is one of the cluster's nodes in OpenCost's data, or a cluster tag names it."""
        cluster = literal(pool.cluster or "")
        nodes = f"(SELECT node FROM {self.table('k8s_nodes')} WHERE cluster = {cluster})"
        tagged = " OR ".join(f"Tags[{literal(t)}] = {cluster}" for t in CLUSTER_TAGS)
        return (
            f"(lower(ResourceId) IN {nodes} "
            f"OR lower(regexp_extract(ResourceId, '[^/]+$')) IN {nodes} OR {tagged})"
        )

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
            f"WHEN {match_sql(p.match, p.window, p.by)}"
            f"{' AND ' + self._cluster_sql(p) if p.split == 'kubernetes' else ''} "
            f"THEN {literal(p.id)}"
            for p in pools
        )
        return f"CASE {whens} END"

    # -- the split ---------------------------------------------------------------------------

    def statements(self, lines: str) -> list[str]:
        """Every statement the output needs, in order, over the lines `lines` selects: the
        helper tables, and with shared pools the summary and the split. `cloudtally allocate`
        runs them on its connection; `cloudtally models` makes each table they create a model.
        """
        statements = self.helper_tables()
        if self.rules.allocation.shared_pools:
            summary = self.table("summary")
            statements.append(
                f"CREATE OR REPLACE TEMP TABLE {summary} AS {self.summary_sql(lines)}"
            )
            statements.extend(self.split_statements(summary))
        return statements

    def summary_sql(self, lines: str) -> str:
        """Lines aggregated by what pools and weights need (materialised once).

        Direct lines only need their period, currency, dimensions and commitment; the group
        columns (account, service, day, ...) are kept for pooled lines alone, which keeps the
        groups few and their keys short.
        """
        own = (
            "x_BillingPeriod",
            "BillingCurrency",
            "CommitmentDiscountId",
            "CommitmentDiscountStatus",
        )
        pooled = ", ".join(
            f"CASE WHEN shared_pool IS NOT NULL THEN {c} END AS {c}"
            for c in (*GROUP_COLUMNS, *ACCOUNT_COLUMNS)
            if c not in own
        )
        span = (
            "CASE WHEN shared_pool IS NOT NULL THEN date_trunc('day', ChargePeriodStart) END "
            "AS charge_day, "
            "min(CASE WHEN shared_pool IS NOT NULL THEN ChargePeriodStart END) AS first_start, "
            "max(CASE WHEN shared_pool IS NOT NULL THEN ChargePeriodEnd END) AS last_end"
        )
        # The split needs every dimension when there are pools (a share is split again by the
        # recipient's other dimensions); without pools only the totals are needed.
        dims = "".join(f"{d}, " for d in self.split_dimensions())
        sums = ", ".join(f"sum({m}) AS {m}" for m in MONEY)
        return f"""
            SELECT {", ".join(own)}, {pooled}, {dims}shared_pool, {span}, {sums}
            FROM ({lines})
            GROUP BY ALL"""

    def split_dimensions(self) -> list[str]:
        return list(DIMENSIONS) if self.rules.allocation.shared_pools else []

    def split_statements(self, summary: str) -> list[str]:
        """Statements that build `<prefix>_parts`: one row per pool group, recipient and the
        recipient's values of the other dimensions."""
        groups, recipients, shares = (
            self.table("groups"),
            self.table("recipients"),
            self.table("shares"),
        )
        mix, parts = self.table("mix"), self.table("parts")
        keys = ", ".join(GROUP_COLUMNS)
        single = ", ".join(
            f"CASE WHEN count(DISTINCT {c}) = 1 AND count({c}) = count(*) THEN any_value({c}) "
            f"END AS {c}"
            for c in ACCOUNT_COLUMNS
        )
        statements = [
            f"""CREATE OR REPLACE TEMP TABLE {groups} AS
                SELECT row_number() OVER (ORDER BY shared_pool, {keys}, charge_day) AS gid,
                       shared_pool, {keys}, {single}, min(first_start) AS ChargePeriodStart,
                       max(last_end) AS ChargePeriodEnd,
                       {", ".join(f"sum({m}) AS g_{m}" for m in MONEY)}
                FROM {summary} WHERE shared_pool IS NOT NULL
                GROUP BY shared_pool, {keys}, charge_day""",
            f"""CREATE OR REPLACE TEMP TABLE {recipients}
                (pool VARCHAR, period VARCHAR, currency VARCHAR, commitment VARCHAR,
                 recipient VARCHAR, weight DECIMAL(38,6))""",
            f"""CREATE OR REPLACE TEMP TABLE {mix}
                (pool VARCHAR, period VARCHAR, currency VARCHAR, commitment VARCHAR,
                 recipient VARCHAR, {", ".join(f"{d} VARCHAR" for d in DIMENSIONS)},
                 weight DECIMAL(38,6))""",
        ]
        for pool in self.rules.allocation.shared_pools:
            statements.append(f"INSERT INTO {recipients} {self._weights(pool, summary)}")
            statements.append(f"INSERT INTO {mix} {self._mix(pool, summary)}")
        # First split: each group among the pool's recipients. Both splits work on narrow
        # rows (keys, weights, amounts); the group's other columns are joined in the output.
        weighted = f"""
            SELECT *, {_weight_units("weight")} AS w FROM {recipients}
            WHERE {_weight_units("weight")} > 0"""
        statements.append(
            f"""CREATE OR REPLACE TEMP TABLE {shares} AS
            WITH joined AS (
                SELECT g.gid, g.shared_pool, g.x_BillingPeriod, g.BillingCurrency,
                       g.CommitmentDiscountId, {", ".join(f"g.g_{m}" for m in MONEY)},
                       {", ".join(f"{_units(f'g.g_{m}')} AS g_u_{m}" for m in MONEY)},
                       r.recipient, r.w
                FROM {groups} g LEFT JOIN ({weighted}) r
                  ON r.pool = g.shared_pool AND r.period = g.x_BillingPeriod
                 AND (r.currency IS NULL OR r.currency = g.BillingCurrency)
                 AND (r.commitment IS NULL OR r.commitment = g.CommitmentDiscountId)
            )
            {self._exact_split("joined", "g_", "gid", "w", "recipient")}"""
        )
        # Second split: each recipient's share among its values of the other dimensions.
        weighted_mix = f"""
            SELECT *, {_weight_units("weight")} AS w2 FROM {mix}
            WHERE {_weight_units("weight")} > 0"""
        statements.append(
            f"""CREATE OR REPLACE TEMP TABLE {parts} AS
            WITH joined AS (
                SELECT s.gid, s.rank AS share, s.shared_pool, s.x_BillingPeriod, s.recipient,
                       {", ".join(f"s.{m} AS s_{m}, s.u_{m} AS s_u_{m}" for m in MONEY)},
                       {", ".join(f"x.{d} AS x_{d}" for d in DIMENSIONS)}, x.w2,
                       x.w2 IS NOT NULL AS mixed
                FROM {shares} s LEFT JOIN ({weighted_mix}) x
                  ON x.pool = s.shared_pool AND x.period = s.x_BillingPeriod
                 AND (x.currency IS NULL OR x.currency = s.BillingCurrency)
                 AND x.recipient = s.recipient
                 AND (x.commitment IS NULL OR x.commitment = s.CommitmentDiscountId)
            )
            {self._exact_split("joined", "s_", "gid, share", "w2", ", ".join(f"x_{d}" for d in DIMENSIONS), units=False)}"""
        )
        return statements

    @staticmethod
    def _exact_split(
        relation: str, amount: str, partition: str, w: str, names: str, units: bool = True
    ) -> str:
        """The rows of `relation` with each money column split among them (WITH clauses and a
        SELECT to follow `WITH joined AS (...)`).

        `{amount}{column}` is the exact amount of the rows' partition and `{amount}u_{column}`
        the same in units of 10^-12; `w` are the rows' weights. A row gets amount x w / total
        w, truncated to 10^-12; the remainder, exact to the 18 stored places, goes to the row
        with the largest weight (ties: the first by `names`). The output has each column and
        its units (`u_{column}`), so a share can be split again without converting it.
        """
        parts = ", ".join(
            f"CASE WHEN total_w > 0 THEN ({amount}u_{m} * {w}) // total_w END AS pu_{m}"
            for m in MONEY
        )
        decimals = ", ".join(
            f"CASE WHEN total_w > 0 THEN {_from_units(f'pu_{m}')} ELSE {amount}{m} END AS p_{m}"
            for m in MONEY
        )
        fixed = ", ".join(
            f"CASE WHEN rank = 1 THEN p_{m} + ({amount}{m} - sum(p_{m}) OVER (PARTITION BY "
            f"{partition})) ELSE p_{m} END AS {m}"
            for m in MONEY
        )
        in_units = "".join(
            f", CASE WHEN rank = 1 OR pu_{m} IS NULL THEN {_units(m)} ELSE pu_{m} END AS u_{m}"
            for m in MONEY
            if units
        )
        dropped = ", ".join(
            [
                *(f"{p}{m}" for m in MONEY for p in ("p_", "pu_", amount, f"{amount}u_")),
                w,
                "total_w",
            ]
        )
        return f"""
            , weighed AS (
                SELECT *, sum({w}) OVER (PARTITION BY {partition}) AS total_w,
                       row_number() OVER (PARTITION BY {partition}
                                          ORDER BY {w} DESC NULLS LAST, {names}) AS rank
                FROM {relation}
            ),
            split AS (SELECT *, {parts} FROM weighed),
            decimals AS (SELECT *, {decimals} FROM split),
            fixed AS (SELECT *, {fixed} FROM decimals)
            SELECT * EXCLUDE ({dropped}){in_units} FROM fixed"""

    def _weights(self, pool: SharedPool, summary: str, labels: bool = False) -> str:
        """SELECT pool, period, currency, commitment, recipient, weight for one pool (for a
        Kubernetes pool with `labels`, each namespace's labels of the dimensions too)."""
        by = pool.by
        pid = literal(pool.id)
        among = f" AND {by} IN ({literals(pool.among)})" if pool.among is not None else ""
        direct = f"""
            SELECT x_BillingPeriod AS period, BillingCurrency AS currency, {by} AS recipient,
                   sum(EffectiveCost) AS cost
            FROM {summary}
            WHERE shared_pool IS NULL AND {by} IS NOT NULL{among}
            GROUP BY ALL HAVING sum(EffectiveCost) > 0"""
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
        if pool.split == "kubernetes":
            # OpenCost's cost of each namespace of the cluster in the period, to the value of
            # its label; idle capacity and namespaces without the label are recipients of their
            # own, which the output leaves unallocated (a label value cannot hold brackets).
            label = f"NamespaceLabels[{literal(pool.label or by)}]"
            listed = (
                f" AND (IsIdle OR {label} IS NULL OR {label} IN ({literals(pool.among)}))"
                if pool.among is not None
                else ""
            )
            labelled = "".join(
                f"NamespaceLabels[{literal(d)}] AS {d}_label, " for d in DIMENSIONS if labels
            )
            return f"""
                SELECT {pid}, strftime(WindowStart, '%Y-%m') AS period, NULL, NULL,
                       CASE WHEN IsIdle THEN {literal(K8S_IDLE)}
                            ELSE coalesce({label}, {literal(K8S_UNLABELLED)}) END AS recipient,
                       {labelled}sum(TotalCost) AS weight
                FROM {K8S_DATASET}
                WHERE Cluster = {literal(pool.cluster or "")}{listed}
                GROUP BY ALL HAVING sum(TotalCost) > 0"""
        # commitment_usage: the purchase goes to whoever used the commitment, by amortized cost.
        return f"""
            SELECT {pid}, x_BillingPeriod, BillingCurrency, CommitmentDiscountId, {by},
                   sum(EffectiveCost)
            FROM {summary}
            WHERE shared_pool IS NULL AND CommitmentDiscountStatus = 'Used'
              AND CommitmentDiscountId IS NOT NULL AND {by} IS NOT NULL{among}
            GROUP BY ALL HAVING sum(EffectiveCost) > 0"""

    def _mix(self, pool: SharedPool, summary: str) -> str:
        """SELECT pool, period, currency, commitment, recipient, dimensions, weight: how each
        recipient's direct cost (for a commitment pool: its use of the commitment) spreads over
        its values of the other dimensions."""
        by, dims = pool.by, ", ".join(DIMENSIONS)
        if pool.split == "kubernetes":
            # A namespace's labels name its other dimensions (`cost_center: cc-1200`), in
            # proportion to OpenCost's cost of the namespaces of each recipient.
            return f"""
                SELECT {literal(pool.id)}, period, NULL, NULL, recipient,
                       {", ".join(f"{d}_label" for d in DIMENSIONS)}, sum(weight)
                FROM ({self._weights(pool, summary, labels=True)})
                GROUP BY ALL HAVING sum(weight) > 0"""
        if pool.split == "commitment_usage":
            return f"""
                SELECT {literal(pool.id)}, x_BillingPeriod, BillingCurrency,
                       CommitmentDiscountId, {by}, {dims}, sum(EffectiveCost)
                FROM {summary}
                WHERE shared_pool IS NULL AND CommitmentDiscountStatus = 'Used'
                  AND CommitmentDiscountId IS NOT NULL AND {by} IS NOT NULL
                GROUP BY ALL HAVING sum(EffectiveCost) > 0"""
        return f"""
            SELECT {literal(pool.id)}, x_BillingPeriod, BillingCurrency, NULL, {by}, {dims},
                   sum(EffectiveCost)
            FROM {summary}
            WHERE shared_pool IS NULL AND {by} IS NOT NULL
            GROUP BY ALL HAVING sum(EffectiveCost) > 0"""

    # -- output ------------------------------------------------------------------------------

    def output_sql(self, lines: str) -> str:
        """Direct lines and shared rows with the columns of allocated_costs."""
        line_cols = ", ".join(identifier(c) for c in self.line_columns)
        direct = f"""
            SELECT {line_cols}, {", ".join(DIMENSIONS)},
                   'direct' AS allocation_kind, team_source AS allocation_rule,
                   CAST(NULL AS VARCHAR) AS shared_pool, missing_tags
            FROM ({lines}) WHERE shared_pool IS NULL"""
        if not self.rules.allocation.shared_pools:
            return direct
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
        # A Kubernetes pool's idle and unlabelled shares stay unallocated, named as such.
        nobody = (
            f"({split_of} = 'kubernetes' AND s.recipient IN "
            f"({literals([K8S_IDLE, K8S_UNLABELLED])}))"
        )
        label_of = self._per_pool(
            {p.id: p.label or p.by for p in pools.values() if p.split == "kubernetes"}
        )
        for dim in DIMENSIONS:
            # The recipient for the pool's own dimension; the recipient's mix for the others,
            # else (a recipient without direct cost) the team-keyed mapping tables.
            own = f"CASE WHEN {by_of} = {literal(dim)} AND NOT {nobody} THEN s.recipient END"
            filled = [own, f"CASE WHEN s.mixed THEN s.x_{dim} END"]
            if dim != "team":
                for source in self.rules.allocation.precedence(dim):
                    name = source.partition(":")[2]
                    if source.startswith("mapping:") and name in team_maps:
                        filled.append(
                            f"CASE WHEN NOT s.mixed THEN {self.map_alias(name)}.{identifier(dim)} END"
                        )
            dims.append(f"coalesce({', '.join(filled)}) AS {dim}")
        joins = " ".join(
            f"LEFT JOIN {self.map_table(name)} {self.map_alias(name)} ON {by_of} = 'team' "
            f"AND {self.map_alias(name)}.key = s.recipient "
            f"AND g.x_BillingPeriod BETWEEN {self.map_alias(name)}.eff_from "
            f"AND {self.map_alias(name)}.eff_to"
            for name in team_maps
        )
        kept = {*GROUP_COLUMNS, *ACCOUNT_COLUMNS, *SPAN_COLUMNS}
        columns = [
            f"s.{identifier(c)}"
            if c in MONEY
            else f"g.{identifier(c)}"
            if c in kept
            else f"NULL AS {identifier(c)}"
            for c in self.line_columns
        ]
        return f"""
            SELECT {", ".join(columns)}, {", ".join(dims)},
                   'shared' AS allocation_kind,
                   'pool:' || s.shared_pool || ' (' || {split_of} || CASE WHEN s.recipient IS NULL
                       THEN ', no recipients: unallocated'
                       WHEN {nobody} AND s.recipient = {literal(K8S_IDLE)}
                       THEN ', idle: unallocated'
                       WHEN {nobody}
                       THEN ', namespaces without label ' || {label_of} || ': unallocated'
                       ELSE '' END || ')' AS allocation_rule,
                   s.shared_pool, CAST(NULL AS VARCHAR) AS missing_tags
            FROM {self.table("parts")} s JOIN {self.table("groups")} g USING (gid) {joins}"""
