"""Rules values reach SQL only as quoted literals or generated identifiers: quotes, semicolons,
newlines, Unicode and NULs in mapping keys and values, rule conditions, pool ids, tag keys and
values and file names give the right rows, never an error or another statement."""

from __future__ import annotations

import tempfile
from decimal import Decimal
from pathlib import Path

import duckdb
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cloudtally.allocate.engine import prepare
from cloudtally.rules.allocation import load_rules
from cloudtally.rules.tags import TagKey, TagPolicy, value_sql
from tests.allocate.lake import Line, costs_connection, write_rules

D = Decimal

# Pieces that end a literal, a statement or a line, or that a naive quoting loses.
NASTY = ["'", '"', ";", "\n", "\r", "\x00", "--", "/*", "\\", "é", "表", "\u202e", "$$", ")", "%"]
text = st.lists(
    st.one_of(
        st.sampled_from(NASTY), st.text(st.characters(exclude_categories=("Cs",)), max_size=4)
    ),
    min_size=1,
    max_size=4,
).map("".join)
# Values the rules loader keeps as they are (it trims CSV cells; an empty cell is no value).
value = text.filter(lambda s: s == s.strip() and s != "")
# File names: anything a file system takes (no `/`, no NUL, not hidden).
file_name = (
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="/\x00"), max_size=12)
    .map(lambda s: s + "-x")
    .filter(lambda s: not s.startswith(".") and len(s.encode()) < 200)
)


def csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def allocated(folder: Path, lines: list[Line]) -> list[tuple]:
    con = costs_connection(lines)
    output = prepare(con, load_rules(folder), None)
    return con.execute(
        f"""SELECT SubAccountId, ServiceName, team, product, cost_center, allocation_kind,
                   allocation_rule, shared_pool, BilledCost
            FROM ({output}) ORDER BY allocation_kind, BilledCost, team"""
    ).fetchall()


def test_a_mapping_file_name_with_a_hyphen(tmp_path: Path) -> None:
    folder = write_rules(
        tmp_path / "rules",
        {
            "allocation.yaml": "dimensions:\n  team: [mapping:team-owners]\n"
            "  cost_center: [mapping:cost-centers]\n",
            "mappings/team-owners.csv": "account,team\n111,web\n",
            "mappings/cost-centers.csv": "team,cost_center\nweb,CC-1\n",
        },
    )
    assert allocated(folder, [Line("111", "10")]) == [
        ("111", "Compute", "web", None, "CC-1", "direct", "mapping:mappings/team-owners.csv:2",
         None, D(10)),
    ]  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    accounts=st.lists(value, min_size=2, max_size=2, unique=True),
    teams=st.lists(value, min_size=2, max_size=2, unique_by=str.lower),
    product=value,
    rule_product=value,
    cost_center=value,
    services=st.lists(value, min_size=2, max_size=2, unique=True),
    pool_id=value,
    rule_id=value,
    names=st.lists(file_name, min_size=2, max_size=2, unique_by=str.lower),
)
def test_any_text_in_mappings_rules_pools_and_file_names(
    accounts: list[str],
    teams: list[str],
    product: str,
    rule_product: str,
    cost_center: str,
    services: list[str],
    pool_id: str,
    rule_id: str,
    names: list[str],
) -> None:
    assume("Compute" not in services)
    a1, a2 = accounts
    t1, t2 = teams
    by_account, by_team = names
    svc, pooled = services
    allocation = {
        "dimensions": {
            "team": [f"mapping:{by_account}"],
            "product": ["rules", f"mapping:{by_account}"],
            "cost_center": [f"mapping:{by_team}"],
        },
        "rules": [{"id": rule_id, "when": {"service": [svc]}, "set": {"product": rule_product}}],
        "shared_pools": [
            {
                "id": pool_id,
                "match": {"service": pooled},
                "split": "fixed",
                "percentages": {t1: 50, t2: 50},
            }
        ],
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_rules(
            Path(tmp),
            {
                "allocation.yaml": yaml.safe_dump(allocation),
                f"mappings/{by_account}.csv": "account,team,product\n"
                f"{csv_cell(a1)},{csv_cell(t1)},{csv_cell(product)}\n"
                f"{csv_cell(a2)},{csv_cell(t2)},\n",
                f"mappings/{by_team}.csv": f"team,cost_center\n{csv_cell(t1)},{csv_cell(cost_center)}\n",
            },
        )
        rows = allocated(
            folder,
            [Line(a1, "10"), Line(a2, "20", service=svc), Line(a1, "3", service=pooled)],
        )
    source = f"mapping:mappings/{by_account}.csv:"
    rule = f"pool:{pool_id} (fixed)"
    # Each team's half of the pool carries the product and cost centre of its own cost.
    shared = sorted([(t1, product, cost_center), (t2, rule_product, None)])
    assert rows == [
        (a1, "Compute", t1, product, cost_center, "direct", source + "2", None, D(10)),
        (a2, svc, t2, rule_product, None, "direct", source + "3", None, D(20)),
        *((a1, pooled, *dims, "shared", rule, pool_id, D("1.5")) for dims in shared),
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    alias=value.filter(lambda s: s == s.lower()),
    spelled=value,
    canonical=value,
    other_key=value,
    other=value,
)
def test_any_text_in_tag_keys_values_and_value_aliases(
    alias: str, spelled: str, canonical: str, other_key: str, other: str
) -> None:
    assume(alias != "team" and other_key.strip().lower() not in (alias, "team"))
    tags = {"keys": {"team": {"aliases": [alias], "case": "keep", "values": {spelled: canonical}}}}
    allocation = {"dimensions": {"team": ["tag"]}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_rules(
            Path(tmp),
            {"tags.yaml": yaml.safe_dump(tags), "allocation.yaml": yaml.safe_dump(allocation)},
        )
        lines = [
            Line("111", "1", tags={alias.upper() if alias.upper().lower() == alias else alias: spelled}),
            Line("222", "2", tags={other_key: other}),
        ]  # fmt: skip
        rows = allocated(folder, lines)
    assert [(r[0], r[2], r[6]) for r in rows] == [
        ("111", canonical, "tag:team"),
        ("222", None, None),
    ]
    # The same value where keys are folded per line (no list of the data's keys).
    policy = TagPolicy(
        keys={"team": TagKey(aliases=[alias], case="keep", values={spelled: canonical})}
    )
    con = duckdb.connect()
    sql = f"SELECT {value_sql(policy, 'team', 't')} FROM (SELECT CAST(? AS MAP(VARCHAR, VARCHAR)) AS t)"
    assert con.execute(sql, [{alias: spelled}]).fetchone() == (canonical,)
    assert con.execute(sql, [{other_key: other}]).fetchone() == (None,)
