"""`cloudtally k8s`: Kubernetes node costs by namespace (allocate/kubernetes.py)."""

from __future__ import annotations

import re

import click

from cloudtally.allocate.kubernetes import CLUSTER_TAGS, METRICS
from cloudtally.clikit import format_option, store_of


@click.command("k8s")
@click.option("--period", required=True, metavar="YYYY-MM", help="The billing period.")
@click.option(
    "--metric",
    type=click.Choice(METRICS),
    default="BilledCost",
    show_default=True,
    help="The node cost to split.",
)
@click.option(
    "--cluster-tag",
    "cluster_tags",
    multiple=True,
    metavar="KEY",
    help="A tag of the bill whose value is the cluster's name (repeatable; default: "
    + ", ".join(CLUSTER_TAGS)
    + ").",
)
@click.option(
    "--labels",
    default="",
    metavar="KEYS",
    help="Comma-separated namespace labels to show as columns (e.g. team,cost_center).",
)
@click.option("--sql", "show_sql", is_flag=True, help="Print the node costs' SQL instead.")
@format_option
@click.pass_context
def k8s(
    ctx: click.Context,
    period: str,
    metric: str,
    cluster_tags: tuple[str, ...],
    labels: str,
    show_sql: bool,
    fmt: str,
) -> None:
    """Each cluster's node costs split over its namespaces by OpenCost's shares.

    Node cost lines of the bill are matched to a cluster by resource id (the nodes OpenCost
    saw) or by a cluster tag; they are split in proportion to each namespace's OpenCost cost
    over the period, with the idle share as its own line. The namespaces plus idle equal the
    nodes' cost exactly. Needs OpenCost allocations covering the period (`cloudtally ingest`).
    """
    from cloudtally.allocate.kubernetes import split_cluster_costs
    from cloudtally.results import render_result

    if not re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", period):
        raise click.UsageError("--period takes a billing period, YYYY-MM.")
    result = split_cluster_costs(
        store_of(ctx),
        period,
        metric=metric,
        cluster_tags=cluster_tags or CLUSTER_TAGS,
        labels=tuple(k.strip() for k in labels.split(",") if k.strip()),
    )
    render_result(result, fmt, show_sql=show_sql)
