"""`tags coverage` and `tags exceptions` agree to the last digit: the exceptions that break a key
add up to the key's uncovered cost, per period and currency, charges without a resource
included."""

from __future__ import annotations

import tempfile
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudtally.ingest.pipeline import ingest
from cloudtally.rules.allocation import RuleSet, load_rules
from cloudtally.sample import generate_sample
from cloudtally.store import Store
from cloudtally.tags.compliance import coverage, coverage_of, exceptions, exceptions_of, usage_lines
from tests.allocate.lake import Line, costs_connection, write_rules

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "rules"
D = Decimal
PERIODS = ["2024-05", "2024-06", "2024-07", "2024-08", "2024-09", "2024-10"]


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, RuleSet]:
    """`cloudtally sample OUT --months 6 --scale 1 --seed 7`, ingested, with examples/rules."""
    root = tmp_path_factory.mktemp("acme")
    generate_sample(root / "export", months=6, scale=1, seed=7)
    store = Store(root / "lake")
    ingest(store, [root / "export"])
    return store, load_rules(EXAMPLE)


def per_key(rows: list[tuple], columns: list[str], keys: list[str]) -> dict:
    """Exception cost per (currency, key) and per currency, from the rows."""
    at = {c: columns.index(c) for c in ("currency", "cost", "keys")}
    sums: dict = defaultdict(lambda: D(0))
    for row in rows:
        for key in row[at["keys"]].split(","):
            assert key in keys
            sums[(row[at["currency"]], key)] += row[at["cost"]]
        sums[(row[at["currency"]], "")] += row[at["cost"]]
    return {k: v for k, v in sums.items() if v != 0}


def uncovered(table_rows: list[tuple], columns: list[str], keys: list[str]) -> dict:
    at = columns.index("currency")
    return {
        (row[at], key): row[columns.index(f"uncovered:{key}" if key else "uncovered")]
        for row in table_rows
        for key in [*keys, ""]
        if row[columns.index(f"uncovered:{key}" if key else "uncovered")] != 0
    }


def test_every_period_of_the_generated_company_agrees(company: tuple[Store, RuleSet]) -> None:
    store, rules = company
    keys = rules.tags.required
    for period in PERIODS:
        cover = coverage(store, rules, periods=(period, period))
        listed = exceptions(store, rules, (period, period), top=None)
        assert per_key(listed.rows, listed.columns, keys) == uncovered(
            cover.rows, cover.columns, keys
        ), period
        assert {c: (t.cost, t.by_key) for c, t in listed.totals.items()} == {
            "USD": (
                cover.rows[0][cover.columns.index("uncovered")],
                {k: cover.rows[0][cover.columns.index(f"uncovered:{k}")] for k in keys},
            )
        }


def test_charges_without_a_resource_are_exceptions_of_their_own_kind(
    company: tuple[Store, RuleSet],
) -> None:
    store, rules = company
    cover = coverage(store, rules, periods=("2024-10", "2024-10"))
    assert cover.columns == [
        "currency", "cost", "tag:team", "tag:env", "tag:cost_center", "all_keys",
        "uncovered:team", "uncovered:env", "uncovered:cost_center", "uncovered",
    ]  # fmt: skip
    assert [cover.rows[0][1], *cover.rows[0][6:]] == [
        D("227688.9161534344744"),
        D("33688.5718889746394"),
        D("16791.1826877289623"),
        D("74153.6238627767063"),
        D("86187.9231343372363"),
    ]
    listed = exceptions(store, rules, ("2024-10", "2024-10"), top=None)
    at = {c: listed.columns.index(c) for c in listed.columns}
    # Support fees and corrections carry no tags and have no resource to tag: each is its own
    # exception, with the owner its account's mapping gives.
    assert [
        (r[at["name"]], r[at["account_name"]], r[at["service"]], r[at["cost"]],
         r[at["keys"]], r[at["likely_owner"]])
        for r in listed.rows
        if r[at["kind"]] == "no-resource"
    ] == [
        ("AWS Support (Business) monthly fee", "acme-management", "AWS Support (Business)",
         D("4765.7"), "team,env,cost_center", "platform"),
        ("Professional Direct support plan", "az-corp-it", "Azure Support", D("632.8"),
         "team,env,cost_center", "platform"),
        ("Enhanced Support monthly fee", "acme-analytics-prod", "Cloud Support", D("492.26"),
         "team,env,cost_center", "data"),
        ("Correction: data transfer overcharge in 2024-09", "acme-ml-prod", "Networking",
         D("-59.88"), "team,env,cost_center", "ml"),
        ("Correction: data transfer overcharge in 2024-09", "web-stage", "AWS Data Transfer",
         D("-62.09"), "team,env,cost_center", "web"),
        ("Correction: data transfer overcharge in 2024-09", "acme-search-prod", "Networking",
         D("-130.49"), "team,env,cost_center", "search"),
        ("Correction: data transfer overcharge in 2024-09", "security-tooling",
         "AWS Data Transfer", D("-293.49"), "team,env,cost_center", "security"),
        ("Correction: data transfer overcharge in 2024-09", "az-data-dev", "Bandwidth",
         D("-591.13"), "team,env,cost_center", "data"),
    ]  # fmt: skip
    assert listed.totals["USD"].rows == 767


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(
        st.builds(
            Line,
            account=st.sampled_from(["a1", "a2"]),
            billed=st.decimals(-100, 1000, places=6).map(str),
            resource=st.sampled_from([None, "r-1", "r-2", "r'3"]),
            service=st.sampled_from(["Compute", "Support"]),
            period=st.sampled_from(["2024-09", "2024-10"]),
            tags=st.dictionaries(
                st.sampled_from(["team", "Team", "env", "owner"]),
                st.sampled_from(["web", "Web ", "o'brien", "x;\n\x00", "", "prod", "qa"]),
                max_size=3,
            ),
        ),
        min_size=1,
        max_size=20,
    ),
    allowed=st.lists(st.sampled_from(["web", "o'brien", "x;\n\x00", "prod"]), unique=True),
)
def test_coverage_and_exceptions_agree_on_any_lines(lines: list[Line], allowed: list[str]) -> None:
    tags = {"required": ["team", "env"], "keys": {"team": {"aliases": ["owner"], "case": "keep",
            "allowed": allowed}}}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        rules = load_rules(write_rules(Path(tmp), {"tags.yaml": yaml.safe_dump(tags)}))
    con = costs_connection(lines)
    for period in ("2024-09", "2024-10"):
        usage = usage_lines(con, rules, f"x_BillingPeriod = '{period}'")
        cover = coverage_of(con, rules, usage)
        listed = exceptions_of(con, rules, usage, top=None)
        assert per_key(listed.rows, listed.columns, ["team", "env"]) == uncovered(
            cover.rows, cover.columns, ["team", "env"]
        )
        # A value not allowed is quoted back exactly as it is, whatever it holds.
        for row in listed.rows:
            for problem in row[-1].split("; "):
                assert problem in ("missing team", "missing env") or problem.startswith(
                    ("team=", "env=")
                )


def test_weeks_and_days_agree_and_add_up(company: tuple[Store, RuleSet]) -> None:
    from cloudtally.query.periods import parse_range

    store, rules = company
    keys = rules.tags.required
    # The five ranges split the days 2024-10-01..2024-11-03 (by charge day, not billing period).
    whole = coverage(store, rules, periods=parse_range("2024-10-01..2024-11-03"))
    at = whole.columns.index("cost")
    parts = ["2024-10-01..2024-10-06", "2024-W41", "2024-W42", "2024-W43", "2024-W44"]
    total = D(0)
    for text in parts:
        when = parse_range(text)
        cover = coverage(store, rules, periods=when)
        listed = exceptions(store, rules, when, top=None)
        assert per_key(listed.rows, listed.columns, keys) == uncovered(
            cover.rows, cover.columns, keys
        ), text
        total += cover.rows[0][at]
    assert total == whole.rows[0][at]
