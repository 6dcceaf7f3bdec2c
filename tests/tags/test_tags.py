"""`cloudtally tags coverage`, `exceptions` and `check-plan` with exact values."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cloudtally.cli import _Group
from cloudtally.rules.tags import TagKey, TagPolicy
from cloudtally.store import Store
from cloudtally.tags.command import tags
from tests.allocate.lake import Line, build_store, write_rules

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "tests" / "fixtures" / "terraform" / "plan.json"
COMPLIANT = ROOT / "tests" / "fixtures" / "terraform" / "plan_compliant.json"
EXAMPLE_RULES = ROOT / "examples" / "rules"

TAGS = """\
required: [team, env]
keys:
  team: {aliases: [owner], allowed: [web, data]}
  env: {aliases: [environment], values: {production: prod}, allowed: [prod, dev]}
"""
ALLOCATION = "dimensions:\n  team: [tag, mapping:accounts]\n"
ACCOUNTS = "account,team\n333,ml\n"

LINES = [
    Line("111", "60", tags={"team": "web", "env": "Production"}, resource="r-1"),
    Line(
        "222", "30", tags={"Team": " Data", "environment": "qa"}, resource="r-2", service="Storage"
    ),
    Line("333", "10", tags=None, resource="r-3", period="2024-10"),
    Line("333", "5", tags=None, charge_category="Tax", service="Tax"),
]


@pytest.fixture
def run(store: Store, tmp_path: Path):  # type: ignore[no-untyped-def]
    build_store(store, tmp_path, LINES)
    folder = write_rules(
        tmp_path / "rules",
        {"tags.yaml": TAGS, "allocation.yaml": ALLOCATION, "mappings/accounts.csv": ACCOUNTS},
    )

    @click.group(cls=_Group)
    @click.pass_context
    def cli(ctx: click.Context) -> None:
        ctx.obj = {"data_dir": store.data_dir, "debug": False}

    cli.add_command(tags)

    def invoke(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(cli, ["tags", *args, "--rules", str(folder)])
        return result.exit_code, result.output

    return invoke


def test_coverage_overall_counts_only_allowed_values(run) -> None:  # type: ignore[no-untyped-def]
    code, out = run("coverage", "--format", "json")
    assert code == 0, out
    assert json.loads(out) == [
        {"currency": "USD", "cost": "100", "tag:team": 0.9, "tag:env": 0.6, "all_keys": 0.6,
         "uncovered:team": "10", "uncovered:env": "40", "uncovered": "40"}
    ]  # fmt: skip


def test_coverage_per_account_and_trend_by_month(run) -> None:  # type: ignore[no-untyped-def]
    code, out = run("coverage", "--by", "account", "--format", "csv")
    assert code == 0, out
    assert out.splitlines() == [
        "account_id,account_name,currency,cost,tag:team,tag:env,all_keys,"
        "uncovered:team,uncovered:env,uncovered",
        "111,acct-111,USD,60,1.0,1.0,1.0,0,0,0",
        "222,acct-222,USD,30,1.0,0.0,0.0,0,30,30",
        "333,acct-333,USD,10,0.0,0.0,0.0,10,10,10",
    ]
    _, out = run("coverage", "--by", "month", "--format", "csv")
    assert out.splitlines() == [
        "month,currency,cost,tag:team,tag:env,all_keys,uncovered:team,uncovered:env,uncovered",
        "2024-09,USD,90,1.0,0.6666666666666666,0.6666666666666666,0,30,30",
        "2024-10,USD,10,0.0,0.0,0.0,10,10,10",
    ]
    _, out = run("coverage", "--by", "team", "--format", "csv")
    assert out.splitlines()[1:] == [
        "web,USD,60,1.0,1.0,1.0,0,0,0",
        "data,USD,30,1.0,0.0,0.0,0,30,30",
        "ml,USD,10,0.0,0.0,0.0,10,10,10",
    ]


def test_exceptions_rank_resources_with_owner_and_rule(run) -> None:  # type: ignore[no-untyped-def]
    code, out = run("exceptions", "--format", "csv")
    assert code == 0, out
    assert out.splitlines() == [
        "kind,resource_id,name,account_id,account_name,service,currency,cost,keys,likely_owner,"
        "owner_from,rule_broken",
        "resource,r-2,r-2,222,acct-222,Storage,USD,30,env,data,tag:team,"
        '"env=qa not allowed (use prod, dev)"',
        'resource,r-3,r-3,333,acct-333,Compute,USD,10,"team,env",ml,'
        "mapping:mappings/accounts.csv:2,missing team; missing env",
    ]
    code, out = run("exceptions", "--top", "1")
    assert out.splitlines()[-1] == (
        "Total USD: 2 exceptions, 1 shown, 40.00 (by key: team 10.00, env 40.00): the uncovered "
        "cost of `tags coverage`."
    )


def test_coverage_without_required_keys_is_a_clear_error(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "rules" / "tags.yaml").write_text("keys: {}\n")
    code, out = run("coverage")
    assert code == 1
    assert "lists no required keys: add `required:` with the keys every resource" in out


def test_check_plan_reports_each_violation_with_its_address(run) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(
        tags, ["check-plan", str(PLAN), "--rules", str(EXAMPLE_RULES), "--format", "csv"], obj={}
    )
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "address,module,type,key,rule,message",
        "module.network.aws_vpc.main,module.network,aws_vpc,env,missing,"
        "\"missing required tag 'env' (accepted keys: env, environment)\"",
        "module.network.aws_vpc.main,module.network,aws_vpc,cost_center,missing,"
        "\"missing required tag 'cost_center' (accepted keys: cost_center, cost-center, costcenter)\"",
        '"module.data.module.lake.aws_s3_bucket.raw[""eu""]",module.data.module.lake,aws_s3_bucket,'
        "env,invalid,\"tag 'env' has value 'qa', not one of: prod, stage, dev\"",
        "aws_iam_role.ci,,aws_iam_role,team,missing,"
        "\"missing required tag 'team' (accepted keys: team, owner-team, owner)\"",
        "aws_iam_role.ci,,aws_iam_role,env,missing,"
        "\"missing required tag 'env' (accepted keys: env, environment)\"",
        "aws_iam_role.ci,,aws_iam_role,cost_center,missing,"
        "\"missing required tag 'cost_center' (accepted keys: cost_center, cost-center, costcenter)\"",
    ]


def test_check_plan_github_annotations_and_clean_plan(run) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(
        tags, ["check-plan", str(PLAN), "--rules", str(EXAMPLE_RULES), "-f", "github"], obj={}
    )
    assert result.exit_code == 1
    assert result.stdout.splitlines()[2] == (
        f"::error file={PLAN},title=Tag policy%3A "
        "module.data.module.lake.aws_s3_bucket.raw[\"eu\"]::tag 'env' has value 'qa', not one of: "
        "prod, stage, dev"
    )
    assert len(result.stdout.splitlines()) == 6
    assert "6 violations in 7 taggable resource(s)" in result.stderr
    result = CliRunner().invoke(
        tags, ["check-plan", str(COMPLIANT), "--rules", str(EXAMPLE_RULES)], obj={}
    )
    assert result.exit_code == 0
    assert result.output == (
        f"0 violations in 2 taggable resource(s) created or updated by {COMPLIANT}.\n"
    )


def test_check_plan_rejects_a_binary_plan(tmp_path: Path) -> None:
    plan = tmp_path / "plan.out"
    plan.write_bytes(b"PK\x03\x04 not json")
    result = CliRunner().invoke(
        tags, ["check-plan", str(plan), "--rules", str(EXAMPLE_RULES)], obj={}
    )
    assert result.exit_code == 1
    assert f"{plan}:1: not JSON" in str(result.exception)


def test_python_and_sql_normalisation_agree() -> None:
    import duckdb

    from cloudtally.rules.tags import normalise_sql, raw_value_sql

    policy = TagPolicy(
        keys={
            "team": TagKey(aliases=["Owner-Team", "owner"], values={"team-web": "web"}),
            "cost_center": TagKey(aliases=["cost-center"], case="upper"),
        }
    )
    samples = [
        {"Team": " Web "},
        {"owner": "team-web"},
        {"owner": "x", "team": "y"},
        {"OWNER-TEAM": "Data", "owner": "z"},
        {"team": "  "},
        {},
        {"cost-center": "cc-1"},
        # Two spellings of the canonical key: the exact lower-case one wins on every path.
        {"Team": "a", "team": "b"},
        {"TEAM": "c", "Team": "a"},
    ]
    con = duckdb.connect()
    present = sorted({k for t in samples for k in t})
    for tags_ in samples:
        for key in ("team", "cost_center"):
            expected = policy.find(key, tags_)
            # Folding every entry of every line, and folding the data's distinct keys once.
            for keys in (None, present):
                raw = raw_value_sql(policy, key, "t", keys)
                sql = f"SELECT {normalise_sql(policy, key, raw)} FROM (SELECT CAST(? AS MAP(VARCHAR, VARCHAR)) AS t)"
                assert con.execute(sql, [tags_]).fetchone()[0] == expected, (tags_, keys)
    assert [policy.find("team", t) for t in samples[:5]] == ["web", "web", "y", "data", None]
    assert [policy.find("team", t) for t in samples[-2:]] == ["b", "c"]


def test_keys_folded_by_the_engine_find_what_folding_every_line_finds() -> None:
    """The engine's `lower(trim(key))` is not Python's `strip().lower()`: a tab is not trimmed,
    `İ` lower-cases to one letter. Keys given with the engine's folding (as the costs cube
    reads them) find exactly what the fallback finds; Python's folding would differ."""
    import duckdb

    from cloudtally.query.cube import tag_keys
    from cloudtally.rules.tags import normalise_sql, raw_value_sql

    policy = TagPolicy(keys={"team": TagKey(aliases=["owner", "id"])})
    samples = [{"\tteam": "tab"}, {"\tteam": "tab", "Owner": "o"}, {"İD": "dotted"},
               {"TEAM ": "spaced", "team": " "}, {"Team": "a", "team": "b"}, {}]  # fmt: skip
    con = duckdb.connect()
    con.execute("CREATE TABLE lines (n INTEGER, Tags MAP(VARCHAR, VARCHAR))")
    for n, tags_ in enumerate(samples):
        con.execute("INSERT INTO lines VALUES (?, CAST(? AS MAP(VARCHAR, VARCHAR)))", [n, tags_])
    folded = tag_keys(con, "lines")
    assert folded["\tteam"] == "\tteam" and folded["İD"] == "id"

    def owners(present: list[str] | dict[str, str] | None) -> list[object]:
        value = normalise_sql(policy, "team", raw_value_sql(policy, "team", present=present))
        return [r[0] for r in con.execute(f"SELECT {value} FROM lines ORDER BY n").fetchall()]

    assert owners(None) == owners(folded) == [None, "o", "dotted", "spaced", "b", None]
    assert owners(sorted(folded)) == ["tab", "tab", None, "spaced", "b", None]
