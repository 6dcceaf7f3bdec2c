"""Property: whatever the rules and the data, allocation conserves every period's and
currency's money columns to the last digit, and showback by every dimension adds up to the
lake's total, its footer to its rows."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudtally.allocate.engine import prepare, totals_of
from cloudtally.allocate.reports import UNALLOCATED, showback_of
from cloudtally.allocate.sql import MONEY
from cloudtally.rules.allocation import DIMENSIONS, load_rules
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
    list_cost=st.one_of(st.none(), money),
    contracted_cost=st.one_of(st.none(), money),
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
    """Exact totals of the four money columns per (period, currency), worked out in Python."""
    totals: dict = defaultdict(lambda: (Decimal(0),) * 4)
    for item in lines:
        key = (item.period, item.currency)
        totals[key] = tuple(t + Decimal(m) for t, m in zip(totals[key], item.money, strict=True))
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
        "dimensions": {
            "team": ["rules", "tag", "mapping:accounts"],
            "product": ["tag", "mapping:accounts"],
            "env": ["tag"],
        },
        "rules": [{"id": f"r{n}", **r} for n, r in enumerate(rules)],
        "shared_pools": list(pools),
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_rules(
            Path(tmp),
            {
                "allocation.yaml": yaml.safe_dump(allocation),
                "tags.yaml": "keys:\n  team: {aliases: [owner]}\n",
                "mappings/accounts.csv": "account,team,product\n"
                + "".join(f"{a},{t},p-{a}\n" for a, t in mapped.items()),
                "metrics/m.csv": "period,team,value\n"
                + "".join(f"{p},{t},{v}\n" for p, t, v in metric),
            },
        )
        con = costs_connection(lines)
        output = prepare(con, load_rules(folder), None)
        con.execute(f"CREATE TABLE allocated AS {output}")
    truth = expected(lines)
    assert totals_of(con, "allocated", columns=MONEY) == truth
    assert totals_of(con, "costs", columns=MONEY) == truth
    # Showback by any dimension: rows add up to the lake's total, the footer to the rows.
    for period in sorted({p for p, _ in truth}):
        for by in DIMENSIONS:
            for metric, at in (("EffectiveCost", 1), ("BilledCost", 0)):
                table = showback_of(con, by, period, metric, relation="allocated")
                sums: dict = defaultdict(lambda: [Decimal(0)] * 3)
                for row in table.rows:
                    for n in range(3):
                        sums[row[1]][n] += row[2 + n]
                assert {c: s[2] for c, s in sums.items()} == {
                    c: t[at] for (p, c), t in truth.items() if p == period
                }
                assert table.totals == {c: tuple(s) for c, s in sums.items()}
                assert {u.currency: u.cost for u in table.unallocated} == {
                    r[1]: r[4] for r in table.rows if r[0] == UNALLOCATED and r[4] != 0
                }
