"""Allocation on small hand-made lakes: exact rows, sources, splits and remainders."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from cloudtally.allocate.engine import prepare
from cloudtally.errors import RuleError
from cloudtally.rules.allocation import load_rules
from tests.allocate.lake import Line, costs_connection, write_rules

TAGS = """\
required: [team, env]
keys:
  team: {aliases: [owner], values: {team-web: web}}
  env: {aliases: [environment], values: {production: prod}, inherit: accounts}
"""
ACCOUNTS = """\
account,team,env,effective_from,effective_to
111,web,prod,,
222,data,dev,,2024-09
222,ml,dev,2024-10,
333,,prod,,
"""
TEAMS = "team,cost_center\nweb,CC-1\ndata,CC-2\nml,CC-3\n"
ALLOCATION = """\
dimensions:
  team: [rules, tag, mapping:accounts]
  cost_center: [mapping:teams]
  env: [tag]
rules:
  - id: gpu
    when: {service: GPU}
    set: {team: ml}
    effective_from: 2024-10
shared_pools:
  - id: support
    match: {service: Support}
    split: direct_cost
"""


def rules_folder(tmp_path: Path, allocation: str = ALLOCATION, **extra: str) -> Path:
    files = {
        "tags.yaml": TAGS,
        "allocation.yaml": allocation,
        "mappings/accounts.csv": ACCOUNTS,
        "mappings/teams.csv": TEAMS,
        **extra,
    }
    return write_rules(tmp_path / "rules", files)


def allocate_lines(folder: Path, lines: list[Line]) -> list[tuple]:
    con = costs_connection(lines)
    output = prepare(con, load_rules(folder), None)
    return con.execute(
        f"""SELECT x_BillingPeriod, SubAccountId, ServiceName, team, cost_center, env,
                   allocation_kind, allocation_rule, BilledCost, missing_tags
            FROM ({output}) ORDER BY ALL"""
    ).fetchall()


D = Decimal


def test_dimensions_come_from_tags_mappings_and_dated_rules(tmp_path: Path) -> None:
    lines = [
        Line("111", "30", tags={"Team": " Web ", "environment": "Production"}),
        Line("222", "10"),
        Line("222", "5", service="GPU"),  # the gpu rule starts in 2024-10
        Line("333", "7", tags=None),
        Line("222", "5", service="GPU", period="2024-10"),
        Line("222", "4", period="2024-10", tags={"owner": "team-web"}),
    ]
    rows = allocate_lines(rules_folder(tmp_path), lines)
    accounts = "mapping:mappings/accounts.csv"
    assert rows == [
        ("2024-09", "111", "Compute", "web", "CC-1", "prod", "direct", "tag:team", D(30), None),
        ("2024-09", "222", "Compute", "data", "CC-2", "dev", "direct", f"{accounts}:3", D(10), "team,env"),
        ("2024-09", "222", "GPU", "data", "CC-2", "dev", "direct", f"{accounts}:3", D(5), "team,env"),
        ("2024-09", "333", "Compute", None, None, "prod", "direct", None, D(7), "team,env"),
        ("2024-10", "222", "Compute", "web", "CC-1", "dev", "direct", "tag:team", D(4), "env"),
        ("2024-10", "222", "GPU", "ml", "CC-3", "dev", "direct", "rule:gpu", D(5), "team,env"),
    ]  # fmt: skip


def test_shared_pool_split_by_direct_cost_takes_the_recipients_dimensions(tmp_path: Path) -> None:
    lines = [
        Line("111", "30", tags={"team": "web"}),
        Line("222", "15"),
        Line("333", "100", tags=None),  # unallocated: no weight
        Line("111", "1", service="Support"),
    ]
    rows = [r for r in allocate_lines(rules_folder(tmp_path), lines) if r[6] == "shared"]
    # Each team's share carries the cost centre and env of the team's own cost.
    assert rows == [
        ("2024-09", "111", "Support", "data", "CC-2", "dev", "shared", "pool:support (direct_cost)", D("0.333333333333"), None),
        ("2024-09", "111", "Support", "web", "CC-1", "prod", "shared", "pool:support (direct_cost)", D("0.666666666667"), None),
    ]  # fmt: skip


def test_remainder_goes_to_the_largest_share_first_by_name(tmp_path: Path) -> None:
    allocation = """\
shared_pools:
  - id: even
    match: {service: Shared}
    split: even
    among: [c, a, b]
"""
    rows = allocate_lines(rules_folder(tmp_path, allocation), [Line("111", "1", service="Shared")])
    assert [(r[3], r[8]) for r in rows] == [
        ("a", D("0.333333333334")),
        ("b", D("0.333333333333")),
        ("c", D("0.333333333333")),
    ]


def test_fixed_metric_and_commitment_splits(tmp_path: Path) -> None:
    allocation = """\
shared_pools:
  - id: commitments
    match: {charge_category: Purchase}
    split: commitment_usage
  - id: network
    match: {account: net}
    split: metric
    metric: metrics/gb.csv
  - id: platform
    match: {account: [plat]}
    split: fixed
    percentages: {web: 70, data: 30}
"""
    metric = "period,team,value\n2024-09,web,3\n2024-09,data,1\n2024-10,web,1\n"
    lines = [
        Line(
            "111",
            "0",
            effective="6",
            commitment="sp-1",
            commitment_status="Used",
            tags={"team": "web"},
        ),
        Line(
            "222",
            "0",
            effective="2",
            commitment="sp-1",
            commitment_status="Used",
            tags={"team": "data"},
        ),
        Line("999", "8", effective="0", charge_category="Purchase", commitment="sp-1"),
        Line("net", "100", account_name="network-hub"),
        Line("net", "9", account_name="network-hub", period="2024-10"),
        Line("plat", "10", account_name="platform"),
    ]
    folder = rules_folder(tmp_path, allocation, **{"metrics/gb.csv": metric})
    rows = [
        (r[0], r[1], r[3], r[7], r[8]) for r in allocate_lines(folder, lines) if r[6] == "shared"
    ]
    assert rows == [
        ("2024-09", "999", "data", "pool:commitments (commitment_usage)", D(2)),
        ("2024-09", "999", "web", "pool:commitments (commitment_usage)", D(6)),
        ("2024-09", "net", "data", "pool:network (metric)", D(25)),
        ("2024-09", "net", "web", "pool:network (metric)", D(75)),
        ("2024-09", "plat", "data", "pool:platform (fixed)", D(3)),
        ("2024-09", "plat", "web", "pool:platform (fixed)", D(7)),
        ("2024-10", "net", "web", "pool:network (metric)", D(9)),
    ]


def test_pool_without_recipients_stays_unallocated(tmp_path: Path) -> None:
    rows = allocate_lines(rules_folder(tmp_path), [Line("111", "4", service="Support")])
    assert rows == [
        ("2024-09", "111", "Support", None, None, None, "shared",
         "pool:support (direct_cost, no recipients: unallocated)", D(4), None),
    ]  # fmt: skip


def test_every_problem_in_a_rules_folder_is_reported_at_once(tmp_path: Path) -> None:
    allocation = """\
dimensions:
  team: [rules, mapping:nope, tags]
rules:
  - id: a
    when: {service: X}
    set: {team: web}
  - id: a
    when: {service: Y, unallocated: true}
    set: {team: web}
shared_pools:
  - id: p
    match: {service: S}
    split: fixed
    percentages: {web: 60, data: 30}
"""
    accounts = "account,team,env\n111,web,prod\n111,data,prod\n"
    folder = rules_folder(tmp_path, allocation, **{"mappings/accounts.csv": accounts})
    with pytest.raises(RuleError) as caught:
        load_rules(folder)
    path, csv = folder / "allocation.yaml", folder / "mappings" / "accounts.csv"
    assert str(caught.value) == (
        f"6 problems in rules folder {folder}:\n"
        f"  {csv}:3: account: '111' is also mapped on line 2 for an overlapping period; "
        "give one of them effective_from/effective_to\n"
        f"  {path}:2: dimensions.team.1: no mapping table mappings/nope.csv (have: accounts, teams)\n"
        f"  {path}:2: dimensions.team.2: unknown source 'tags': use rules, tag or mapping:NAME\n"
        f"  {path}:7: rules.1.id: duplicate rule id 'a' (also rules.0)\n"
        f"  {path}:8: rules.1.when.unallocated: only shared pools match on unallocated\n"
        f"  {path}:14: shared_pools.0.percentages: add up to 90, not 100"
    )


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    folder = rules_folder(
        tmp_path, "rules:\n  - id: a\n    when: {servce: X}\n    set: {team: web}\n"
    )
    with pytest.raises(RuleError) as caught:
        load_rules(folder)
    assert str(caught.value) == (
        f"1 problem in rules folder {folder}:\n"
        f"  {folder / 'allocation.yaml'}:3: rules.0.when.servce: unknown key (check its spelling)"
    )


def test_the_example_rules_folder_loads() -> None:
    rules = load_rules(Path(__file__).resolve().parents[2] / "examples" / "rules")
    assert [p.id for p in rules.allocation.shared_pools] == [
        "commitments", "support", "tax", "networking", "shared-services",
    ]  # fmt: skip
    assert rules.mappings["accounts"].columns == ["team", "product", "env"]
