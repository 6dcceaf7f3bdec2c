"""One ownership model: owners from a current allocation, else from normalised tags."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from tests.allocate.lake import write_rules
from tests.query.lake import Day, day_store, write_days

SPELLINGS = [
    Day("2024-10-01", "1", tags={"team": "payments"}),
    Day("2024-10-01", "2", tags={"Team": "Payments"}),
    Day("2024-10-01", "4", tags={"TEAM": "PAYMENTS"}),
    Day("2024-10-01", "8", tags={"team": "payments "}),
    Day("2024-10-01", "16", tags={" team ": "web"}),
    Day("2024-10-01", "32", tags={"owner": "Web"}),
    Day("2024-10-01", "64", tags={}, resource=None, category="Tax"),
]


@pytest.fixture
def spellings(store, tmp_path: Path, cli):  # type: ignore[no-untyped-def]
    day_store(store, tmp_path, SPELLINGS)
    return cli


def _rows(result) -> list[tuple[object, ...]]:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, result.output
    return [tuple(r.values()) for r in json.loads(result.stdout)]


def test_tag_spellings_are_one_team(spellings) -> None:  # type: ignore[no-untyped-def]
    rows = _rows(spellings("costs", "--by", "team", "-f", "json"))
    assert [r[:3] for r in rows] == [
        (None, "USD", "96"),  # the tax line and `owner` (not an alias without tags.yaml)
        ("web", "USD", "16"),
        ("payments", "USD", "15"),
    ]
    # tag:KEY folds the key's case and spaces too, and agrees with `team`.
    rows = _rows(spellings("costs", "--by", "tag:Team", "-f", "json"))
    assert [r[:3] for r in rows] == [
        (None, "USD", "96"),
        ("web", "USD", "16"),
        ("payments", "USD", "15"),
    ]


def test_tags_yaml_aliases_fold_into_the_team(spellings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rules = write_rules(tmp_path / "rules", {"tags.yaml": "keys:\n  team:\n    aliases: [owner]\n"})
    rows = _rows(spellings("costs", "--by", "team", "--rules", rules, "-f", "json"))
    assert [r[:3] for r in rows] == [
        (None, "USD", "64"),
        ("web", "USD", "48"),
        ("payments", "USD", "15"),
    ]
    # A filter value is normalised like the tags.
    rows = _rows(
        spellings(
            "costs", "--by", "service", "--where", "team=Payments ", "--rules", rules, "-f", "json"
        )
    )
    assert [r[:3] for r in rows] == [("Compute", "USD", "15")]
    movers = _rows(
        spellings(
            "movers", "--by", "team", "--rules", rules, "--period", "2024-10-01", "-f", "json"
        )
    )
    assert [(m[0], m[3]) for m in movers] == [(None, "64"), ("web", "48"), ("payments", "15")]


ALLOCATION = """\
shared_pools:
  - id: tax
    match: {charge_category: [Tax]}
    split: direct_cost
"""


def test_a_current_allocation_owns_the_lines_and_a_stale_one_is_said(  # type: ignore[no-untyped-def]
    spellings, tmp_path: Path, store
) -> None:
    rules = write_rules(
        tmp_path / "rules",
        {"tags.yaml": "keys:\n  team:\n    aliases: [owner]\n", "allocation.yaml": ALLOCATION},
    )
    assert spellings("allocate", "--rules", rules).exit_code == 0
    result = spellings("costs", "--by", "team", "-f", "json")
    # The tax pool (64) is shared over web (48/63) and payments (15/63), exactly.
    assert [r[:3] for r in _rows(result)] == [
        ("web", "USD", "96.761904761905"),
        ("payments", "USD", "30.238095238095"),
    ]
    assert result.stderr == ""
    showback = json.loads(
        spellings("showback", "--by", "team", "--period", "2024-10", "-f", "json").stdout
    )
    assert [(r["team"], r["total"]) for r in showback] == [
        ("web", "96.761904761905"),
        ("payments", "30.238095238095"),
    ]
    # New data after the allocation: owners come from the tags again, and the user is told.
    from cloudtally.ingest.pipeline import ingest

    ingest(
        store,
        [
            write_days(
                tmp_path / "more.csv",
                [Day("2024-10-02", "1", tags={"team": "web"}, provider="gcp")],
            )
        ],
    )
    result = spellings("costs", "--by", "team", "-f", "json")
    assert [r[:3] for r in _rows(result)] == [
        (None, "USD", "64"),
        ("web", "USD", "49"),
        ("payments", "USD", "15"),
    ]
    assert result.stderr.startswith("Note: allocated_costs is older than the lake")


def test_explain_by_team_after_allocate(spellings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rules = write_rules(tmp_path / "rules", {"allocation.yaml": ALLOCATION})
    assert spellings("allocate", "--rules", rules).exit_code == 0
    result = spellings(
        "explain",
        "--baseline",
        "2024-10-01",
        "--compare",
        "2024-10-01",
        "--by",
        "team",
        "-f",
        "json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["change_per_day"] == "0"


def test_a_scoped_viewer_sees_only_their_teams(spellings, store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from cloudtally.query.costs import grouped_costs
    from cloudtally.query.ownership import Scope, ScopeError

    rules = write_rules(
        tmp_path / "rules",
        {"tags.yaml": "keys:\n  team:\n    aliases: [owner]\n", "allocation.yaml": ALLOCATION},
    )
    assert spellings("allocate", "--rules", rules).exit_code == 0
    web = Scope(teams=("web",))
    table = grouped_costs(store, ["service"], scope=web)
    # web's own 48 and its share of the tax pool (the tax line is billed under Compute).
    assert [(r[0], r[2]) for r in table.rows] == [("Compute", Decimal("96.761904761905"))]
    assert table.total_by_currency == {"USD": Decimal("96.761904761905")}
    by_team = grouped_costs(store, ["team"], scope=web)
    assert [r[0] for r in by_team.rows] == ["web"]
    with pytest.raises(ScopeError) as refused:
        grouped_costs(store, ["service"], filters={"team": ["payments"]}, scope=web)
    assert str(refused.value) == "team 'payments' is outside what you may see (web)."
    # Nobody scoped sees unallocated lines (before allocation they are the untagged ones).
    assert grouped_costs(store, ["team"], filters={"team": ["Web "]}, scope=web).rows[0][0] == "web"
