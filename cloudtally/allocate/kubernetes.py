"""Kubernetes clusters' node costs split over namespaces by OpenCost's shares.

The cloud bill knows what the nodes cost; OpenCost (`k8s_allocations`, ingested beside the
costs) knows what each namespace used of them and how much stood idle, at list prices. For a
billing period, each cluster's node cost lines (matched by resource id to the nodes OpenCost
saw, or by a cluster tag on the bill) are split over the cluster's namespaces in proportion to
their OpenCost cost over the period, with the idle share as a line of its own. The split is
exact: each part is rounded down to the 18 stored places and the remainder goes to the largest
share, so the namespaces plus idle equal the nodes' billed cost to the last digit, which is
checked before anything is shown.

OpenCost must cover the days the node costs cover: shares measured over part of the period
are not applied to all of it (a clear error names the missing span).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, Context, Decimal

from cloudtally.errors import QueryError, StoreError
from cloudtally.query.dimensions import latest
from cloudtally.results import Column, Result, fraction
from cloudtally.sqltext import literal
from cloudtally.store import Store

DATASET = "k8s_allocations"
# Tags the providers put on a managed cluster's nodes, whose value is the cluster's name.
CLUSTER_TAGS = ("eks:cluster-name", "aws:eks:cluster-name", "goog-k8s-cluster-name")
METRICS = ("BilledCost", "EffectiveCost")
IDLE = "(idle)"
_EXACT = Context(prec=80)
_STORED = Decimal("1e-18")


@dataclass(frozen=True)
class _Weight:
    cluster: str
    namespace: str
    idle: bool
    opencost_cost: Decimal
    labels: tuple[str | None, ...]


def node_costs_sql(period: str, metric: str, cluster_tags: tuple[str, ...]) -> str:
    """The cost lines of each cluster's nodes in a billing period: a line belongs to the cluster
    whose node has its resource id (the whole id, or its last path segment: `i-0abc` in
    `aws:///eu-west-1a/i-0abc`), else to the cluster its cluster tag names."""
    tagged = " ".join(
        f"WHEN Tags[{literal(t)}] IN (SELECT Cluster FROM clusters) THEN Tags[{literal(t)}]"
        for t in cluster_tags
    )
    # Equality joins (hash joins), one per way a resource id can name a node: a scan of the
    # period's lines, whatever the number of nodes.
    return f"""
        WITH clusters AS (
            SELECT DISTINCT Cluster FROM {DATASET} WHERE Cluster IS NOT NULL
        ),
        node_ids AS (
            SELECT lower(ProviderId) AS node, min(Cluster) AS Cluster FROM {DATASET}
            WHERE Cluster IS NOT NULL AND ProviderId IS NOT NULL GROUP BY 1
        ),
        node_tails AS (
            SELECT lower(regexp_extract(ProviderId, '[^/]+$')) AS node, min(Cluster) AS Cluster
            FROM {DATASET} WHERE Cluster IS NOT NULL AND ProviderId IS NOT NULL
              AND regexp_extract(ProviderId, '[^/]+$') <> '' GROUP BY 1
        ),
        lines AS (
            SELECT c.*, coalesce(ids.Cluster, tails.Cluster) AS by_node
            FROM costs c
            LEFT JOIN node_ids ids ON lower(c.ResourceId) = ids.node
            LEFT JOIN node_tails tails
                ON lower(regexp_extract(c.ResourceId, '[^/]+$')) = tails.node
            WHERE c.x_BillingPeriod = {literal(period)}
        )
        SELECT coalesce(by_node, CASE {tagged or "WHEN false THEN NULL"} END) AS cluster,
               BillingCurrency AS currency, sum({metric}) AS cost,
               min(ChargePeriodStart) AS first_start, max(ChargePeriodEnd) AS last_end,
               count(*) AS lines
        FROM lines
        WHERE coalesce(by_node, CASE {tagged or "WHEN false THEN NULL"} END) IS NOT NULL
        GROUP BY ALL ORDER BY ALL"""


def split_cluster_costs(
    store: Store,
    period: str,
    *,
    metric: str = "BilledCost",
    cluster_tags: tuple[str, ...] = CLUSTER_TAGS,
    labels: tuple[str, ...] = (),
) -> Result:
    """Each cluster's node cost in `period` (YYYY-MM) split over its namespaces and idle by
    OpenCost's shares; `labels` are namespace labels shown as columns (e.g. team)."""
    if metric not in METRICS:
        raise QueryError(f"--metric {metric!r}: use one of {', '.join(METRICS)}.")
    con = store.connect()
    has_dataset = con.execute(
        f"SELECT count(*) FROM duckdb_views() WHERE view_name = {literal(DATASET)}"
    ).fetchall()[0][0]
    if not has_dataset:
        raise QueryError(
            "The lake holds no OpenCost allocations: ingest OpenCost's allocation data "
            "(`cloudtally ingest allocation.json`) first."
        )
    sql = node_costs_sql(period, metric, cluster_tags)
    nodes = con.execute(sql).fetchall()
    label_values = ", ".join(
        latest(f"NamespaceLabels[{literal(k)}]", "WindowStart") for k in labels
    )
    start = f"CAST({literal(period + '-01')} AS DATE)"
    in_period = (
        f"WindowStart >= timezone('UTC', CAST({start} AS TIMESTAMP)) AND WindowEnd <= "
        f"timezone('UTC', CAST({start} + INTERVAL 1 MONTH AS TIMESTAMP))"
    )
    weights_rows = con.execute(
        f"""
        SELECT Cluster, coalesce(Namespace, '(no namespace)'), IsIdle, sum(TotalCost)
               {", " + label_values if labels else ""}
        FROM {DATASET} WHERE Cluster IS NOT NULL AND {in_period}
        GROUP BY Cluster, coalesce(Namespace, '(no namespace)'), IsIdle ORDER BY ALL
        """
    ).fetchall()
    windows = con.execute(
        f"SELECT DISTINCT Cluster, WindowStart, WindowEnd FROM {DATASET} "
        f"WHERE Cluster IS NOT NULL AND {in_period} ORDER BY ALL"
    ).fetchall()
    weights: dict[str, list[_Weight]] = defaultdict(list)
    for cluster, namespace, idle, cost, *values in weights_rows:
        weights[cluster].append(
            _Weight(cluster, IDLE if idle else namespace, bool(idle), cost, tuple(values))
        )
    covered: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for cluster, window_start, window_end in windows:
        covered[cluster].append((window_start, window_end))

    rows: list[tuple[object, ...]] = []
    totals: dict[str, Decimal] = {}
    notes: list[str] = []
    for cluster, currency, cost, first_start, last_end, _ in nodes:
        _check_coverage(cluster, period, first_start, last_end, covered.get(cluster, []))
        parts = _split(cost, weights[cluster])
        if sum(parts, Decimal(0)) != cost:
            raise StoreError(
                f"cluster {cluster}, {period}, {currency}: the split does not add up to the "
                "node cost; nothing shown. Please report this."
            )
        total_weight = sum((w.opencost_cost for w in weights[cluster]), Decimal(0))
        for weight, part in zip(weights[cluster], parts, strict=True):
            rows.append(
                (
                    cluster,
                    weight.namespace,
                    *weight.labels,
                    currency,
                    weight.opencost_cost,
                    fraction(weight.opencost_cost, total_weight),
                    part,
                )
            )
        totals[currency] = _EXACT.add(totals.get(currency, Decimal(0)), cost)
    matched = {n[0] for n in nodes}
    for cluster in sorted(set(weights) - matched):
        notes.append(
            f"cluster {cluster}: OpenCost has allocations in {period} but no cost line of the "
            "bill matched its nodes (by resource id or a cluster tag); give the tag with "
            "--cluster-tag KEY."
        )
    columns = [
        Column("cluster", "text", "the cluster (OpenCost's cluster name)"),
        Column("namespace", "text", f"the namespace, or {IDLE} for the cluster's idle cost"),
        *(Column(k, "text", f"the namespace label {k}") for k in labels),
        Column("currency", "text", "the billing currency of the node costs"),
        Column("opencost_cost", "money", "the namespace's cost by OpenCost over the period"),
        Column("share", "fraction", "its share of the cluster's OpenCost cost"),
        Column(metric, "money", f"its part of the nodes' {metric} on the bill (exact)"),
    ]
    return Result(
        title=f"Kubernetes node costs by namespace, {period} ({metric})",
        columns=columns,
        rows=rows,
        totals={f"{metric} {c}": v for c, v in sorted(totals.items())},
        notes=notes,
        sql=sql,
    )


def _check_coverage(
    cluster: str,
    period: str,
    first_start: datetime,
    last_end: datetime,
    windows: list[tuple[datetime, datetime]],
) -> None:
    """OpenCost's windows cover the span the cluster's node costs cover, without gaps."""
    reached = first_start
    for window_start, window_end in sorted(windows):
        if window_start > reached:
            break
        reached = max(reached, window_end)
    if reached >= last_end:
        return
    have = (
        f"OpenCost's windows cover up to {reached:%Y-%m-%dT%H:%M:%SZ} only"
        if windows
        else "OpenCost has no window in that period"
    )
    raise QueryError(
        f"cluster {cluster}, {period}: the node costs run from {first_start:%Y-%m-%dT%H:%M:%SZ} "
        f"to {last_end:%Y-%m-%dT%H:%M:%SZ}, but {have}: OpenCost's windows do not match the "
        "billing period. Ingest OpenCost allocations for the whole period (step=1d) and run "
        "again."
    )


def _split(amount: Decimal, weights: list[_Weight]) -> list[Decimal]:
    """`amount` split in proportion to the weights: each part rounded toward zero to the 18
    stored places, the remainder to the largest weight (ties: the first)."""
    total = sum((w.opencost_cost for w in weights), Decimal(0))
    if not weights:
        return []
    if total == 0:
        raise QueryError(
            f"cluster {weights[0].cluster}: OpenCost's costs add up to 0, so there are no shares "
            "to split the node cost by."
        )
    parts = [
        _EXACT.divide(_EXACT.multiply(amount, w.opencost_cost), total).quantize(
            _STORED, rounding=ROUND_DOWN, context=_EXACT
        )
        for w in weights
    ]
    largest = max(range(len(weights)), key=lambda n: (weights[n].opencost_cost, -n))
    parts[largest] = _EXACT.add(parts[largest], _EXACT.subtract(amount, sum(parts, Decimal(0))))
    return parts
