"""`allocated_costs` answers what `costs` answers: direct rows carry every column of their line,
shared rows the pool's columns with every money column split exactly; and it records the
content hash of the rules folder it was computed with."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from cloudtally.allocate.engine import allocate, rules_sha256
from cloudtally.rules.allocation import load_rules
from cloudtally.store import Store
from tests.allocate.lake import Line, build_store
from tests.allocate.test_engine import rules_folder
from tests.conftest import Run

D = Decimal

LINES = [
    Line("111", "30", effective="27", list_cost="40", contracted_cost="33", tags={"team": "web"},
         resource="i-1", period="2024-09"),
    Line("222", "10", list_cost="12", contracted_cost="11", resource="i-2", period="2024-09"),
    Line("111", "40", list_cost="50", contracted_cost="44", tags={"team": "web"}, resource="i-1",
         period="2024-10"),
    Line("222", "20", list_cost="25", contracted_cost="21", resource="i-2", period="2024-10"),
    Line("111", "7", list_cost="9", contracted_cost="8", service="Support", period="2024-10"),
]  # fmt: skip


def test_allocated_costs_has_every_column_of_costs_with_its_type(
    store: Store, tmp_path: Path
) -> None:
    build_store(store, tmp_path, LINES)
    allocate(store, load_rules(rules_folder(tmp_path)))
    costs = store.sql("SELECT column_name, column_type FROM (DESCRIBE costs)").rows
    allocated = store.sql("SELECT column_name, column_type FROM (DESCRIBE allocated_costs)").rows
    assert allocated == [
        *costs,
        ("team", "VARCHAR"),
        ("product", "VARCHAR"),
        ("cost_center", "VARCHAR"),
        ("env", "VARCHAR"),
        ("allocation_kind", "VARCHAR"),
        ("allocation_rule", "VARCHAR"),
        ("shared_pool", "VARCHAR"),
        ("missing_tags", "VARCHAR"),
    ]
    # Every direct row is its line, column for column (Tags and x_SourceFile included).
    names = ", ".join(f'"{name}"' for name, _ in costs)
    assert store.sql(
        f"""SELECT count(*) FROM (
                (SELECT {names} FROM allocated_costs WHERE allocation_kind = 'direct'
                 EXCEPT ALL SELECT {names} FROM costs WHERE ServiceName <> 'Support')
                UNION ALL
                (SELECT {names} FROM costs WHERE ServiceName <> 'Support'
                 EXCEPT ALL SELECT {names} FROM allocated_costs WHERE allocation_kind = 'direct'))"""
    ).rows == [(0,)]
    assert store.sql(
        "SELECT count(*) FROM allocated_costs WHERE allocation_kind = 'direct' "
        "AND x_SourceFile LIKE '%export.csv' AND Tags IS NOT NULL AND PricingQuantity = 1"
    ).rows == [(4,)]


def test_shared_rows_split_every_money_column_and_carry_no_quantities(
    store: Store, tmp_path: Path
) -> None:
    build_store(store, tmp_path, LINES)
    allocate(store, load_rules(rules_folder(tmp_path)))
    # Support (Billed 7, List 9, Contracted 8) split by direct EffectiveCost in 2024-10:
    # web 40 and ml 20 (account 222's team from 2024-10).
    assert store.sql(
        """SELECT team, BilledCost, EffectiveCost, ListCost, ContractedCost, PricingQuantity,
                  ConsumedQuantity, ResourceId, SubAccountId, ServiceName, ChargePeriodStart,
                  ChargePeriodEnd
           FROM allocated_costs WHERE allocation_kind = 'shared' ORDER BY team"""
    ).rows == [
        ("ml", D("2.333333333333"), D("2.333333333333"), D(3), D("2.666666666666"), None, None,
         None, "111", "Support", *store.sql(
             "SELECT ChargePeriodStart, ChargePeriodEnd FROM costs WHERE ServiceName = 'Support'"
         ).rows[0]),
        ("web", D("4.666666666667"), D("4.666666666667"), D(6), D("5.333333333334"), None, None,
         None, "111", "Support", *store.sql(
             "SELECT ChargePeriodStart, ChargePeriodEnd FROM costs WHERE ServiceName = 'Support'"
         ).rows[0]),
    ]  # fmt: skip


def test_explain_by_team_reads_allocated_costs(
    store: Store, tmp_path: Path, cli: Callable[..., Run]
) -> None:
    build_store(store, tmp_path, LINES)
    allocate(store, load_rules(rules_folder(tmp_path)))
    result = cli(
        "explain",
        "--baseline",
        "2024-09-01..2024-09-01",
        "--compare",
        "2024-10-01..2024-10-01",
        "--by",
        "team",
        "--format",
        "csv",
    )
    assert result.exit_code == 0, result.output
    assert "PricingQuantity" not in result.output


# SHA-256 over (length, path, length, bytes) of tags.yaml, allocation.yaml and the mapping
# tables, in path order: pinned, as report footers will print it.
EXPECTED_SHA256 = "271cb6ecab6535f3010408a1b7eba31a36ac51fa0f9d97a13c5e1dece615b802"


def test_allocate_records_the_rules_folder_content_hash(store: Store, tmp_path: Path) -> None:
    build_store(store, tmp_path, LINES)
    folder = rules_folder(tmp_path)
    assert rules_sha256(store) is None
    rules = load_rules(folder)
    allocate(store, rules)
    assert rules_sha256(store) == rules.sha256 == EXPECTED_SHA256
    # The same files elsewhere hash alike; a file the rules do not read changes nothing.
    copy = shutil.copytree(folder, tmp_path / "elsewhere")
    (copy / "monitors.yaml").write_text("monitors: []\n")
    assert load_rules(copy).sha256 == EXPECTED_SHA256
    # One byte of a mapping table changes it.
    accounts = copy / "mappings" / "accounts.csv"
    accounts.write_text(accounts.read_text().replace("111,web", "111,Web"))
    assert load_rules(copy).sha256 != EXPECTED_SHA256
