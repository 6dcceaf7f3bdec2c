"""Property: whatever the rules and the data, allocation conserves every period's and
currency's BilledCost and EffectiveCost to the last digit."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudtally.allocate.engine import prepare, totals_of
from cloudtally.rules.allocation import load_rules
from tests.allocate.lake import Line, costs_connection, write_rules

ACCOUNTS = ["a1", "a2", "a3", "a4"]
SERVICES = ["Compute", "Storage", "Support", "Tax"]
TEAMS = ["web", "data", "ml"]
PERIODS = ["2024-08", "2024-09", "2024-10"]

money = st.decimals(
    min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=18, allow_nan=False
).map(lambda d: str(d.normalize()))

line = st.builds(
    Line,
    account=st.sampled_from(ACCOUNTS),
    billed=money,
    effective=money,
    period=st.sampled_from(PERIODS),
    service=st.sampled_from(SERVICES),
    charge_category=st.sampled_from(["Usage", "Purchase", "Tax"]),
    tags=st.one_of(st.none(), st.dictionaries(st.sampled_from(["team", "Team", "owner"]), st.sampled_from([*TEAMS, " Web", ""]), max_size=2)),
    currency=st.sampled_from(["USD", "EUR"]),
    commitment=st.sampled_from([None, "sp-1"]),
    commitment_status=st.sampled_from([None, "Used", "Unused"]),
)  # fmt: skip

match = st.fixed_dictionaries(
    {},
    optional={
        "account": st.lists(st.sampled_from(ACCOUNTS), min_size=1, max_size=2),
        "service": st.lists(st.sampled_from(SERVICES), min_size=1, max_size=2),
        "charge_category": st.sampled_from(["Usage", "Purchase", "Tax"]),
        "unallocated": st.booleans(),
    },
)


@st.composite
def pool(draw: st.DrawFn, n: int) -> dict:
    split = draw(st.sampled_from(["even", "direct_cost", "fixed", "metric", "commitment_usage"]))
    result: dict = {"id": f"p{n}", "match": draw(match), "split": split}
    if split == "fixed":
        first = draw(st.integers(0, 100))
        result["percentages"] = {"web": first, "data": 100 - first}
    if split == "metric":
        result["metric"] = "metrics/m.csv"
    if split == "even" and draw(st.booleans()):
        result["among"] = draw(
            st.lists(st.sampled_from(TEAMS), min_size=1, max_size=3, unique=True)
        )
    if draw(st.booleans()):
        result["effective_from"] = draw(st.sampled_from(PERIODS))
    return result


rule = st.fixed_dictionaries(
    {
        "when": st.fixed_dictionaries({"service": st.lists(st.sampled_from(SERVICES), min_size=1)}),
        "set": st.fixed_dictionaries({"team": st.sampled_from(TEAMS)}),
    }
)

metric_rows = st.lists(
    st.tuples(st.sampled_from(PERIODS), st.sampled_from(TEAMS), st.integers(0, 10**6)), max_size=6
)


def expected(lines: list[Line]) -> dict:
    totals: dict = defaultdict(lambda: (Decimal(0), Decimal(0)))
    for item in lines:
        billed, effective = totals[(item.period, item.currency)]
        cost = item.cost
        totals[(item.period, item.currency)] = (
            billed + Decimal(cost[0]),
            effective + Decimal(cost[1]),
        )
    return dict(totals)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(line, min_size=1, max_size=25),
    pools=st.integers(0, 4).flatmap(lambda k: st.tuples(*(pool(n) for n in range(k)))),
    rules=st.lists(rule, max_size=3),
    metric=metric_rows,
    mapped=st.dictionaries(st.sampled_from(ACCOUNTS), st.sampled_from(TEAMS)),
)
def test_allocation_conserves_every_period_and_currency(
    lines: list[Line], pools: tuple, rules: list, metric: list, mapped: dict
) -> None:
    allocation = {
        "dimensions": {"team": ["rules", "tag", "mapping:accounts"]},
        "rules": [{"id": f"r{n}", **r} for n, r in enumerate(rules)],
        "shared_pools": list(pools),
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_rules(
            Path(tmp),
            {
                "allocation.yaml": yaml.safe_dump(allocation),
                "tags.yaml": "keys:\n  team: {aliases: [owner]}\n",
                "mappings/accounts.csv": "account,team\n"
                + "".join(f"{a},{t}\n" for a, t in mapped.items()),
                "metrics/m.csv": "period,team,value\n"
                + "".join(f"{p},{t},{v}\n" for p, t, v in metric),
            },
        )
        con = costs_connection(lines)
        output = prepare(con, load_rules(folder), None)
        con.execute(f"CREATE TABLE allocated AS {output}")
        assert totals_of(con, "allocated") == expected(lines)
        assert totals_of(con, "costs") == expected(lines)
