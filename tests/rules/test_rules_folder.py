"""A rules folder is checked whole: every file, schema and semantics, reported at once with
file, line and key; numbers in metric files are finite and storable."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudtally.errors import RuleError
from cloudtally.rules.allocation import load_rules
from tests.allocate.lake import write_rules
from tests.allocate.test_engine import ACCOUNTS, TAGS, TEAMS

ALLOCATION = """\
dimensions:
  team: [rules, tag, mapping:accounts]
shared_pools:
  - id: support
    match: {service: Support}
    split: metric
    metric: metrics/tickets.csv
"""
MONITORS = """\
monitors:
  - name: services
    dimensions: [ServiceName]
    notify: [finops-slack, pager]
  - name: services
    dimensions: [SubAccountId]
teams:
  ml: {notify: [ml-slack]}
destinations:
  finops-slack: {type: slack, url_env: SLACK_URL}
"""


def folder_with(tmp_path: Path, **files: str) -> Path:
    base = {
        "tags.yaml": TAGS,
        "allocation.yaml": ALLOCATION,
        "mappings/accounts.csv": ACCOUNTS,
        "mappings/teams.csv": TEAMS,
        "metrics/tickets.csv": "period,team,value\n2024-10,web,3\n2024-10,data,1\n",
    }
    return write_rules(tmp_path / "rules", {**base, **files})


def test_every_file_of_the_folder_is_checked_at_once(tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        **{
            "tags.yaml": TAGS.replace("  team: {", "  team: {alias: [x], "),
            "mappings/teams.csv": "team,cost_centre\nweb,CC-1\n",
            "metrics/tickets.csv": "period,team,value\n2024-10,web,NaN\n2024-10,data,1e50\n",
            "monitors.yaml": MONITORS,
            "allocation.yaml": ALLOCATION.replace("tag, mapping:accounts", "mapping:nope"),
        },
    )
    with pytest.raises(RuleError) as caught:
        load_rules(folder)
    tags, allocation = folder / "tags.yaml", folder / "allocation.yaml"
    teams, metric = folder / "mappings" / "teams.csv", folder / "metrics" / "tickets.csv"
    monitors = folder / "monitors.yaml"
    assert str(caught.value) == (
        f"8 problems in rules folder {folder}:\n"
        f"  {tags}:3: keys.team.alias: unknown key (check its spelling)\n"
        f"  {teams}:1: cost_centre: unknown column; use team, product, cost_center, env, "
        "effective_from, effective_to, name or note\n"
        f"  {allocation}:2: dimensions.team.1: no mapping table mappings/nope.csv "
        "(have: accounts, teams)\n"
        f"  {metric}:2: value: 'NaN' is not a finite number\n"
        f"  {metric}:3: value: '1e50' is too large (metric values must be below 1e20)\n"
        f"  {monitors}:4: monitors.0.notify.1: monitor 'services' notifies unknown destination "
        "'pager' (destinations: finops-slack)\n"
        f"  {monitors}:5: monitors.1.name: monitor 'services' is defined more than once "
        "(also monitors.0)\n"
        f"  {monitors}:8: teams.ml.notify.0: team 'ml' notifies unknown destination 'ml-slack' "
        "(destinations: finops-slack)"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("NaN", "'NaN' is not a finite number"),
        ("Infinity", "'Infinity' is not a finite number"),
        ("-inf", "'-inf' is not a finite number"),
        ("1e50", "'1e50' is too large (metric values must be below 1e20)"),
        ("0.0000000000000000001", "'0.0000000000000000001' has more than 18 decimal places"),
        ("-2", "'-2' is negative"),
        ("many", "'many' is not a number"),
    ],
)
def test_metric_values_must_be_finite_and_storable(
    tmp_path: Path, value: str, message: str
) -> None:
    folder = folder_with(
        tmp_path, **{"metrics/tickets.csv": f"period,team,value\n2024-10,web,{value}\n"}
    )
    with pytest.raises(RuleError) as caught:
        load_rules(folder)
    assert str(caught.value) == (
        f"1 problem in rules folder {folder}:\n"
        f"  {folder / 'metrics' / 'tickets.csv'}:2: value: {message}"
    )


def test_a_metric_file_outside_the_folder_is_refused_unread(tmp_path: Path) -> None:
    (tmp_path / "secret.csv").write_text("root:x:0:0\n")
    folder = folder_with(
        tmp_path, **{"allocation.yaml": ALLOCATION.replace("metrics/tickets.csv", "../secret.csv")}
    )
    with pytest.raises(RuleError) as caught:
        load_rules(folder)
    assert str(caught.value) == (
        f"1 problem in rules folder {folder}:\n"
        f"  {folder / '../secret.csv'}: metric file outside the rules folder {folder}"
    )


def test_binary_csv_files_are_reported(tmp_path: Path) -> None:
    folder = folder_with(tmp_path)
    (folder / "mappings" / "teams.csv").write_bytes(b"team,cost_center\nweb,\xff\n")
    (folder / "metrics" / "tickets.csv").write_bytes(b"period,team,value\n\xff\xfe,web,1\n")
    with pytest.raises(RuleError) as caught:
        load_rules(folder)
    assert str(caught.value) == (
        f"2 problems in rules folder {folder}:\n"
        f"  {folder / 'mappings' / 'teams.csv'}:1: not UTF-8 text\n"
        f"  {folder / 'metrics' / 'tickets.csv'}:1: not UTF-8 text"
    )
