"""`cloudtally allocate`, `showback` and `chargeback` through click's runner on a small lake."""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cloudtally.allocate.command import allocate, chargeback, showback
from cloudtally.cli import _Group
from cloudtally.store import Store
from tests.allocate.lake import Line, build_store
from tests.allocate.test_engine import ALLOCATION, rules_folder


def group(data_dir: Path) -> click.Group:
    @click.group(cls=_Group)
    @click.pass_context
    def cli(ctx: click.Context) -> None:
        ctx.obj = {"data_dir": data_dir, "debug": False}

    for command in (allocate, showback, chargeback):
        cli.add_command(command)
    return cli


LINES = [
    Line("111", "30", tags={"team": "web"}, period="2024-09"),
    Line("222", "10", period="2024-09"),
    Line("111", "40", tags={"team": "web"}, period="2024-10", resource="i-web-1"),
    Line("222", "20", period="2024-10"),
    Line("333", "5", tags=None, period="2024-10", service="Storage"),
    Line("111", "6", service="Support", period="2024-10"),
]


@pytest.fixture
def run(store: Store, tmp_path: Path):  # type: ignore[no-untyped-def]
    build_store(store, tmp_path, LINES)
    folder = rules_folder(tmp_path)
    cli = group(store.data_dir)

    def invoke(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, [a.replace("RULES", str(folder)) for a in args])
        return result.exit_code, result.output

    return invoke


def test_allocate_publishes_allocated_costs_and_conserves(run, store: Store) -> None:  # type: ignore[no-untyped-def]
    code, out = run("allocate", "--rules", "RULES", "--format", "csv")
    assert code == 0, out
    assert out == (
        "period,currency,BilledCost,EffectiveCost,unallocated,unallocated_share\n"
        "2024-09,USD,40,40,0,0.0\n"
        "2024-10,USD,71,71,5,0.07042253521126761\n"
    )
    assert store.sql(
        "SELECT team, allocation_kind, allocation_rule, sum(BilledCost) FROM allocated_costs "
        "WHERE x_BillingPeriod = '2024-10' GROUP BY ALL ORDER BY ALL"
    ).fetchall() == [
        ("ml", "direct", "mapping:mappings/accounts.csv:4", Decimal(20)),
        ("ml", "shared", "pool:support (direct_cost)", Decimal(2)),
        ("web", "direct", "tag:team", Decimal(40)),
        ("web", "shared", "pool:support (direct_cost)", Decimal(4)),
        (None, "direct", None, Decimal(5)),
    ]


def test_showback_by_team_with_change_and_unallocated_causes(run) -> None:  # type: ignore[no-untyped-def]
    run("allocate", "--rules", "RULES")
    code, out = run("showback", "--by", "team", "--period", "2024-10", "--format", "json")
    assert code == 0, out
    assert json.loads(out) == [
        {"team": "web", "currency": "USD", "direct": "40", "shared": "4", "total": "44",
         "share": 44 / 71, "2024-09": "30", "change": "14", "change_pct": 14 / 30},
        {"team": "ml", "currency": "USD", "direct": "20", "shared": "2", "total": "22",
         "share": 22 / 71, "2024-09": None, "change": None, "change_pct": None},
        {"team": "(unallocated)", "currency": "USD", "direct": "5", "shared": "0", "total": "5",
         "share": 5 / 71, "2024-09": None, "change": None, "change_pct": None},
    ]  # fmt: skip
    code, out = run("showback", "--period", "2024-10")
    assert out.splitlines()[-5:] == [
        "Total 2024-10 USD: 71.00 (direct 65.00, shared 6.00)",
        "Unallocated (no team) 2024-10 USD: 5.00 (7.0% of the total)",
        "  top accounts: acct-333 (333) 5.00",
        "  top services: Storage 5.00",
        "  top missing keys: env 5.00, team 5.00",
    ]


PRODUCTS = """\
account,team,product,env
111,web,storefront,prod
222,web,checkout,dev
333,data,lake,prod
444,,,
"""
BY_ACCOUNT = """\
dimensions:
  team: [mapping:accounts]
  product: [mapping:accounts]
  cost_center: [mapping:teams]
  env: [mapping:accounts]
shared_pools:
  - id: support
    match: {service: Support}
    split: direct_cost
"""


@pytest.mark.parametrize(
    ("by", "rows", "unallocated"),
    [
        ("product", [("storefront", "60", "5.4"), ("checkout", "30", "2.7"), ("lake", "10", "0.9"),
                     ("(unallocated)", "5", "0")], "5.00 (4.4% of the total)"),
        ("env", [("prod", "70", "6.3"), ("dev", "30", "2.7"), ("(unallocated)", "5", "0")],
         "5.00 (4.4% of the total)"),
        ("cost_center", [("CC-1", "90", "8.1"), ("CC-2", "10", "0.9"), ("(unallocated)", "5", "0")],
         "5.00 (4.4% of the total)"),
    ],
)  # fmt: skip
def test_showback_by_product_env_and_cost_centre_splits_shared_pools(
    store: Store, tmp_path: Path, by: str, rows: list, unallocated: str
) -> None:
    # Support (9) is split by team (web 90, data 10), then each team's share by its own cost
    # per product, env and cost centre: web's 8.1 is 5.4 storefront (prod) + 2.7 checkout (dev).
    lines = [
        Line("111", "60", period="2024-10"),
        Line("222", "30", period="2024-10"),
        Line("333", "10", period="2024-10"),
        Line("444", "5", period="2024-10"),
        Line("999", "9", period="2024-10", service="Support"),
    ]
    build_store(store, tmp_path, lines)
    folder = rules_folder(tmp_path, BY_ACCOUNT, **{"mappings/accounts.csv": PRODUCTS})
    cli = group(store.data_dir)
    assert CliRunner().invoke(cli, ["allocate", "--rules", str(folder)]).exit_code == 0
    result = CliRunner().invoke(cli, ["showback", "--by", by, "--format", "json"])
    assert [(r[by], r["direct"], r["shared"], r["total"]) for r in json.loads(result.output)] == [
        (k, d, sh, str(Decimal(d) + Decimal(sh))) for k, d, sh in rows
    ]
    result = CliRunner().invoke(cli, ["showback", "--by", by])
    assert result.output.splitlines()[-5:] == [
        "Total 2024-10 USD: 114.00 (direct 105.00, shared 9.00)",
        f"Unallocated (no {by}) 2024-10 USD: {unallocated}",
        "  top accounts: acct-444 (444) 5.00",
        "  top services: Compute 5.00",
        "  top missing keys: env 5.00, team 5.00",
    ]


def test_chargeback_writes_exact_csv_per_cost_centre(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("allocate", "--rules", "RULES")
    out_file = tmp_path / "cb.csv"
    code, out = run("chargeback", "--period", "2024-10", "--out", str(out_file))
    assert code == 0, out
    assert out == f"Wrote 3 cost centre rows for 2024-10 to {out_file}\n"
    assert list(csv.reader(out_file.open())) == [
        ["period", "cost_center", "currency", "direct", "shared", "total", "teams"],
        ["2024-10", "CC-1", "USD", "40", "4", "44", "web"],
        ["2024-10", "CC-3", "USD", "20", "2", "22", "ml"],
        ["2024-10", "(unallocated)", "USD", "5", "0", "5", ""],
    ]


def test_explain_names_the_rule_behind_each_value(run) -> None:  # type: ignore[no-untyped-def]
    code, out = run("allocate", "--rules", "RULES", "--explain", "i-web-1")
    assert code == 0, out
    assert out == (
        "2024-10  acct-111 (111)  Compute  Usage  i-web-1\n"
        "  1 line(s), BilledCost 40, EffectiveCost 40\n"
        "  team         web                  tag:team\n"
        "  product      -                    no rule gives a value\n"
        "  cost_center  CC-1                 mapping:mappings/teams.csv:2\n"
        "  env          prod                 inherited:mappings/accounts.csv:2\n"
        "  allocation   direct\n"
        "  missing tags env\n"
    )
    # With a published allocation, a pooled line also shows how its pool's sum was split.
    run("allocate", "--rules", "RULES")
    code, out = run(
        "allocate", "--rules", "RULES", "--explain", "SubAccountId=111,ServiceName=Support"
    )
    assert out.endswith(
        "  allocation   shared pool 'support' (direct_cost)\n"
        "  split        BilledCost of the pool's 2024-10 sum of Support (Usage): web 4, ml 2\n"
        "  missing tags team,env\n"
    )


def test_allocate_one_period_keeps_the_others(run, store: Store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("allocate", "--rules", "RULES")
    # Other rules for 2024-10 only: 2024-09 keeps the allocation it had.
    other = rules_folder(
        tmp_path / "v2",
        "rules:\n  - id: all-ml\n    when: {service: Compute}\n    set: {team: ml}\n",
    )
    code, _ = run("allocate", "--rules", str(other), "--period", "2024-10")
    assert code == 0
    assert store.sql(
        "SELECT x_BillingPeriod, team, sum(BilledCost) FROM allocated_costs "
        "WHERE ServiceName = 'Compute' GROUP BY ALL ORDER BY ALL"
    ).fetchall() == [
        ("2024-09", "data", Decimal(10)),
        ("2024-09", "web", Decimal(30)),
        ("2024-10", "ml", Decimal(60)),
    ]


def test_compare_shows_each_team_under_the_other_rules(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    storage = "rules:\n  - id: storage\n    when: {service: Storage}\n    set: {team: data}\n"
    other = rules_folder(tmp_path / "v2", ALLOCATION.replace("rules:\n", storage))
    code, out = run(
        "allocate",
        "--rules",
        "RULES",
        "--compare",
        str(other),
        "--period",
        "2024-10",
        "--format",
        "csv",
    )
    assert code == 0, out
    lines = out.splitlines()
    # Storage moves to data, which then also takes its direct-cost share of support.
    assert lines == [
        f"team,currency,{tmp_path / 'rules'},{other},change",
        "data,USD,0,5.461538461538,5.461538461538",
        "(unallocated),USD,5,0,-5",
        "web,USD,44,43.692307692309,-0.307692307691",
        "ml,USD,22,21.846153846153,-0.153846153847",
    ]


def test_user_errors_are_one_message(run) -> None:  # type: ignore[no-untyped-def]
    code, out = run("showback", "--period", "2024-10")
    assert code == 1
    assert "No allocation yet: run `cloudtally allocate --rules RULES_DIR` first" in out
    code, out = run("allocate", "--rules", "RULES", "--explain", "nothing-like-this")
    assert code == 1
    assert "No cost line matches 'nothing-like-this'" in out
    code, out = run("allocate", "--rules", "RULES", "--compare", "RULES")
    assert "--compare needs --period YYYY-MM" in out


def test_showback_notes_an_allocation_older_than_the_lake(
    run, store: Store, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    run("allocate", "--rules", "RULES")
    result = CliRunner().invoke(group(store.data_dir), ["showback", "--format", "csv"])
    assert "Note:" not in result.stderr
    (tmp_path / "more").mkdir()
    build_store(store, tmp_path / "more", [Line("444", "1", period="2024-10")])
    result = CliRunner().invoke(group(store.data_dir), ["showback", "--format", "csv"])
    assert result.stderr == (
        "Note: the lake changed since the last `cloudtally allocate`; run it again for "
        "current figures.\n"
    )


def test_showback_for_a_week_or_days_against_the_range_before(run) -> None:  # type: ignore[no-untyped-def]
    run("allocate", "--rules", "RULES")
    # The October lines start on 2024-10-01: in ISO week 40, whose week before has no lines.
    code, out = run("showback", "--period", "2024-W40", "--format", "json")
    assert code == 0, out
    assert [(r["team"], r["direct"], r["shared"], r["total"], r["2024-W39"]) for r in json.loads(out)] == [
        ("web", "40", "4", "44", None),
        ("ml", "20", "2", "22", None),
        ("(unallocated)", "5", "0", "5", None),
    ]  # fmt: skip
    code, out = run("showback", "--since", "2024-10-01", "--until", "2024-10-01")
    assert code == 0, out
    assert "Total 2024-10-01 USD: 71.00 (direct 65.00, shared 6.00)" in out
    # A period the allocation has no data for is an error naming what it has.
    code, out = run("showback", "--period", "2025-01")
    assert code == 1
    assert (
        out.strip()
        .splitlines()[-1]
        .startswith("Error: No data in 2025-01: the lake holds 2024-09..2024-10")
    )
