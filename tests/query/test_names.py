"""The name shown beside a key (an account's, a region's) is one answer: the name on the key's
latest day, the greatest of two seen the same day; the lake and the daily cube agree."""

from __future__ import annotations

from pathlib import Path

from cloudtally.query.costs import grouped_costs
from cloudtally.query.movers import top_movers
from cloudtally.query.periods import parse_range
from cloudtally.store import Store
from tests.query.lake import Day, day_store
from tests.query.test_cube import LakeOnly

LINES = [
    Day("2024-09-30", "4", account="111", account_name="payments-old"),
    Day("2024-10-01", "1", account="111", account_name="payments-old"),
    Day("2024-10-03", "2", account="111", account_name="payments-prod"),
    Day("2024-10-04", "3", account="111", account_name=""),  # no name that day
    Day("2024-10-02", "5", account="222", account_name="web-a"),
    Day("2024-10-02", "6", account="222", account_name="web-b"),
    Day("2024-10-01", "7", account="333", account_name=""),  # never named
]


def test_an_account_shows_its_latest_name(store: Store, tmp_path: Path) -> None:
    day_store(store, tmp_path, LINES)
    expected = [
        ("222", "web-b", "USD"),
        ("333", None, "USD"),
        ("111", "payments-prod", "USD"),
    ]
    for where in (store, LakeOnly(store.data_dir)):
        rows = grouped_costs(where, ["account"], when=parse_range("2024-10")).rows
        assert [row[:3] for row in rows] == expected
    # September alone: the name of September's last day.
    rows = grouped_costs(store, ["account"], when=parse_range("2024-09")).rows
    assert [row[:2] for row in rows] == [("111", "payments-old")]
    movers = top_movers(store, ["account"], period="2024-10")
    assert [row[:2] for row in movers.rows] == [
        ("222", "web-b"),
        ("333", None),
        ("111", "payments-prod"),
    ]
