"""Kubernetes node costs split over namespaces by OpenCost's shares: nodes matched by resource
id or cluster tag, idle as its own line, the parts adding up to the nodes' cost exactly, and a
period OpenCost does not cover refused."""

from __future__ import annotations

import csv
import io
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudtally.allocate.kubernetes import _split, _Weight, split_cluster_costs
from cloudtally.errors import QueryError
from cloudtally.ingest.pipeline import ingest
from cloudtally.store import Store
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "opencost"
API = FIXTURES / "allocation-namespace-1d.json"
BILL = FIXTURES / "node-bill-focus12.csv"

# OpenCost's cost per namespace over 2026-10-01..03, from the fixture.
WEIGHTS = {
    "(idle)": Decimal("10.3154"),
    "kube-system": Decimal("0.908"),
    "payments": Decimal("6.23526691357802"),
    "search": Decimal("10.371"),
}
# The nodes' BilledCost: i-0aaa111 (resource id of a node OpenCost saw) 2 x 4.608, i-0bbb222
# and its volume (tag eks:cluster-name = prod-eu) 2 x (4.608 + 0.256); the S3 line is not the
# cluster's.
NODES = Decimal("18.944")


def test_node_costs_split_by_opencost_shares(store: Store) -> None:
    ingest(store, [API, BILL])
    result = split_cluster_costs(store, "2026-10", labels=("team",))
    assert result.names == [
        "cluster",
        "namespace",
        "team",
        "currency",
        "opencost_cost",
        "share",
        "BilledCost",
    ]
    assert result.rows == [
        ("prod-eu", "(idle)", None, "USD", WEIGHTS["(idle)"], Decimal("0.370662"),
         Decimal("7.021820929687720228")),
        ("prod-eu", "kube-system", None, "USD", WEIGHTS["kube-system"], Decimal("0.032627"),
         Decimal("0.618086880213704748")),
        ("prod-eu", "payments", "payments", "USD", WEIGHTS["payments"], Decimal("0.224051"),
         Decimal("4.244423649684112520")),
        ("prod-eu", "search", "search", "USD", WEIGHTS["search"], Decimal("0.372660"),
         Decimal("7.059668540414462504")),
    ]  # fmt: skip
    assert result.totals == {"BilledCost USD": NODES}
    assert sum(row[-1] for row in result.rows) == NODES
    # Each part is the exact proportion rounded down to 18 places, the remainder on the
    # largest weight (search).
    total = sum(WEIGHTS.values())
    for namespace, part in [(r[1], r[-1]) for r in result.rows if r[1] != "search"]:
        exact = NODES * WEIGHTS[namespace] / total
        assert part == exact.quantize(Decimal("1e-18"), rounding=ROUND_DOWN)


def test_the_command_renders_the_split(cli) -> None:
    assert cli("ingest", API, BILL).exit_code == 0
    result = cli("k8s", "--period", "2026-10", "-f", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["cluster", "namespace", "currency", "opencost_cost", "share", "BilledCost"]
    assert [r[1] for r in rows[1:]] == ["(idle)", "kube-system", "payments", "search"]
    assert sum(Decimal(r[-1]) for r in rows[1:]) == NODES


def test_node_costs_beyond_opencosts_windows_are_refused(store: Store, tmp_path: Path) -> None:
    text = BILL.read_text(encoding="utf-8")
    day3 = [
        line.replace("2026-10-02T00:00:00Z,2026-10-03T00:00:00Z", "2026-10-03T00:00:00Z,"
                     "2026-10-04T00:00:00Z")
        for line in text.splitlines()[5:]
    ]  # fmt: skip
    bill = tmp_path / "bill.csv"
    bill.write_text(text + "\n".join(day3) + "\n", encoding="utf-8")
    ingest(store, [API, bill])
    with pytest.raises(QueryError) as caught:
        split_cluster_costs(store, "2026-10")
    assert str(caught.value) == (
        "cluster prod-eu, 2026-10: the node costs run from 2026-10-01T00:00:00Z to "
        "2026-10-04T00:00:00Z, but OpenCost's windows cover up to 2026-10-03T00:00:00Z only: "
        "OpenCost's windows do not match the billing period. Ingest OpenCost allocations for "
        "the whole period (step=1d) and run again."
    )


def test_without_opencost_data_the_message_says_what_to_ingest(cli) -> None:
    assert cli("ingest", BILL).exit_code == 0
    result = cli("k8s", "--period", "2026-10")
    assert result.exit_code == 1
    assert " ".join(result.stderr.split()) == (
        "Error: The lake holds no OpenCost allocations: ingest OpenCost's allocation data "
        "(`cloudtally ingest allocation.json`) first."
    )


def test_the_cluster_tags_are_chosen(store: Store) -> None:
    ingest(store, [API, BILL])
    result = split_cluster_costs(store, "2026-10", cluster_tags=("kubernetes-cluster",))
    # i-0aaa111 still matches by resource id; the tagged node and volume no longer do.
    assert result.totals == {"BilledCost USD": Decimal("9.216")}


def test_a_cluster_no_bill_line_matches_is_noted(store: Store, tmp_path: Path) -> None:
    lines = BILL.read_text(encoding="utf-8").splitlines()
    bill = tmp_path / "bill.csv"
    bill.write_text("\n".join([lines[0], *(x for x in lines if "acme-logs" in x)]) + "\n")
    ingest(store, [API, bill])
    result = split_cluster_costs(store, "2026-10")
    assert result.rows == []
    assert result.notes == [
        "cluster prod-eu: OpenCost has allocations in 2026-10 but no cost line of the bill "
        "matched its nodes (by resource id or a cluster tag); give the tag with --cluster-tag KEY."
    ]


@settings(max_examples=200, deadline=None)
@given(
    st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=18),
    st.lists(st.decimals(min_value=Decimal("0.001"), max_value=Decimal("1e6"), places=6),
             min_size=1, max_size=12),
)  # fmt: skip
def test_the_split_conserves_the_amount_exactly(amount: Decimal, weights: list[Decimal]) -> None:
    parts = _split(amount, [_Weight("c", f"n{i}", False, w, ()) for i, w in enumerate(weights)])
    assert sum(parts, Decimal(0)) == amount
    assert all(p.as_tuple().exponent >= -18 for p in parts)  # type: ignore[operator]


K8S_POOL = """\
shared_pools:
  - id: prod-eu
    match: {}
    split: kubernetes
    cluster: prod-eu
"""


def test_allocate_splits_the_nodes_over_the_namespaces_labels(cli, tmp_path: Path) -> None:
    """A `split: kubernetes` pool: the cluster's node lines (by resource id or cluster tag) are
    shared by OpenCost's cost per namespace; the namespace labels name the team and the other
    dimensions; idle and unlabelled namespaces stay unallocated, each named; nothing is lost."""
    from tests.allocate.lake import write_rules

    rules = write_rules(tmp_path / "rules", {"allocation.yaml": K8S_POOL})
    assert cli("ingest", API, BILL).exit_code == 0
    result = cli("allocate", "--rules", rules)
    assert result.exit_code == 0, result.output
    rows = cli(
        "sql",
        "SELECT allocation_kind, team, cost_center, allocation_rule, sum(BilledCost) "
        "FROM allocated_costs GROUP BY ALL ORDER BY ALL",
        "-f", "csv",
    ).stdout  # fmt: skip
    # Weights in units of 10^-3 (docs/rules.md): payments 6.235, search 10.371, kube-system
    # 0.908 (no team label), idle 10.315; each day's nodes split, the remainder to search.
    assert rows.splitlines() == [
        "allocation_kind,team,cost_center,allocation_rule,sum(BilledCost)",
        "direct,data,,tag:team,3",
        "shared,payments,cc-1200,pool:prod-eu (kubernetes),4.24434367027",
        "shared,search,,pool:prod-eu (kubernetes),7.059837723244",
        'shared,,,"pool:prod-eu (kubernetes, idle: unallocated)",7.021716914008',
        'shared,,,"pool:prod-eu (kubernetes, namespaces without label team: unallocated)",'
        "0.618101692478",
    ]
    # payments: per day, the EC2 nodes (9.216) and the volume (0.256) are each split.
    assert Decimal("4.24434367027") == 2 * sum(
        (Decimal(cost) * 6235 / 27829).quantize(Decimal("1e-12"), rounding=ROUND_DOWN)
        for cost in ("9.216", "0.256")
    )
    shared = cli(
        "sql", "SELECT sum(BilledCost) FROM allocated_costs WHERE shared_pool = 'prod-eu'",
        "-f", "csv",
    ).stdout  # fmt: skip
    assert shared.splitlines()[1] == str(NODES)
    showback = cli("showback", "--by", "team", "--period", "2026-10", "-f", "csv").stdout
    assert "payments," in showback and "search," in showback


def test_a_kubernetes_pool_needs_opencost_data_and_a_cluster(cli, tmp_path: Path) -> None:
    from tests.allocate.lake import write_rules

    rules = write_rules(tmp_path / "rules", {"allocation.yaml": K8S_POOL})
    assert cli("ingest", BILL).exit_code == 0
    result = cli("allocate", "--rules", rules)
    assert result.exit_code == 1
    assert " ".join(result.stderr.split()) == (
        "Error: Shared pool 'prod-eu' splits by OpenCost's allocations, but the lake holds "
        "none: ingest OpenCost's allocation data (`cloudtally ingest allocation.json`, "
        "docs/kubernetes.md) first."
    )
    bad = write_rules(
        tmp_path / "bad",
        {"allocation.yaml": K8S_POOL.replace("    cluster: prod-eu\n", "")
         + "  - id: tax\n    match: {charge_category: Tax}\n    split: even\n    label: team\n"},
    )  # fmt: skip
    result = cli("allocate", "--rules", bad)
    assert result.exit_code == 1
    assert "split: kubernetes needs cluster: (OpenCost's cluster name)" in result.stderr
    assert "only split: kubernetes takes label, not even" in result.stderr
