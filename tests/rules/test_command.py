"""`cloudtally rules check`: a clean folder passes; a broken one lists every problem, exit 1."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import ROOT, Run
from tests.rules.test_rules_folder import folder_with


def test_the_example_rules_folder_is_clean(cli: Callable[..., Run]) -> None:
    result = cli("rules", "check", "--rules", ROOT / "examples" / "rules")
    assert (result.exit_code, result.stdout) == (
        0,
        f"Rules folder {ROOT / 'examples' / 'rules'}: 6 file(s), no problems (tags.yaml, "
        "allocation.yaml, mappings/accounts.csv, mappings/teams.csv, metrics/network-gb.csv, "
        "monitors.yaml).\n",
    )


def test_a_broken_folder_lists_every_problem(cli: Callable[..., Run], tmp_path: Path) -> None:
    folder = folder_with(
        tmp_path,
        **{
            "tags.yaml": "required: [team]\nrequired: [env]\n",
            "monitors.yaml": "monitors: [{name: all, notify: [pager]}]\n",
            "metrics/tickets.csv": "period,team,value\n2024-10,web,Infinity\n",
        },
    )
    result = cli("rules", "check", "--rules", folder)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: 3 problems in rules folder {folder}:\n"
        f"  {folder / 'tags.yaml'}:2: required: given twice (also on line 1); keep one\n"
        f"  {folder / 'metrics' / 'tickets.csv'}:2: value: 'Infinity' is not a finite number\n"
        f"  {folder / 'monitors.yaml'}:1: monitors.0.notify.0: monitor 'all' notifies unknown "
        "destination 'pager' (destinations: none)\n"
    )
