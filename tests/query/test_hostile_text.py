"""Text from users and data never becomes SQL: quotes, semicolons, newlines, Unicode and NULs
in every option that reaches a query give a correct answer or a clear error, never SQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import lake_snapshot
from tests.query.lake import Day, day_store

HOSTILE = [
    "'",
    "''",
    '"',
    "';--",
    "'); COPY (SELECT 1) TO 'pwned.csv'; --",
    "\n",
    "\x00",
    "ü€𝄞",
    "\\",
    "[/]",
]
text = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=12),
)


@pytest.fixture
def tagged(store, tmp_path: Path, cli):  # type: ignore[no-untyped-def]
    day_store(store, tmp_path, [Day("2024-10-01", "5", tags={"o'brien": "a;b", "team": "x'y"})])
    return cli


def test_a_quote_in_a_tag_key_is_a_key(tagged) -> None:  # type: ignore[no-untyped-def]
    result = tagged("costs", "--by", "tag:o'brien", "-f", "json")
    assert [(r["tag:o'brien"], r["BilledCost"]) for r in json.loads(result.stdout)] == [
        ("a;b", "5")
    ]
    result = tagged("costs", "--by", "service", "--where", "team=x'y", "-f", "json")
    assert [r["BilledCost"] for r in json.loads(result.stdout)] == ["5"]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(key=text, value=text)
def test_hostile_text_never_runs(
    tagged, data_dir: Path, tmp_path: Path, monkeypatch, key: str, value: str
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    before = lake_snapshot(data_dir)
    for args in (
        ["costs", "--by", f"tag:{key}", "-f", "json"],
        ["costs", "--by", "service", "--where", f"team={value}", "-f", "json"],
        ["costs", "--by", "service", "--where", f"tag:{key}={value}", "-f", "json"],
        ["movers", "--by", f"tag:{key}", "--period", "2024-10", "-f", "json"],
        ["explain", "--baseline", "2024-10-01", "--compare", "2024-10-01", "--by", f"tag:{key}", "--where", f"service={value}", "-f", "json"],
    ):  # fmt: skip
        result = tagged(*args)
        # Either an answer or one clear error: never a traceback, and nothing written anywhere.
        assert result.exit_code in (0, 1), result.output
        if result.exit_code == 0:
            json.loads(result.stdout)
        else:
            assert result.stderr.startswith("Error: ")
    assert not (tmp_path / "pwned.csv").exists()
    assert lake_snapshot(data_dir) == before
