"""The server computes a lake-only answer once per catalog generation: a new ingest starts
afresh, and a question names everything else its answer depends on."""

from __future__ import annotations

from pathlib import Path

from cloudtally.ingest.pipeline import ingest
from cloudtally.store import Store
from cloudtally.web.serving import REMEMBERED, ServingStore
from tests.query.lake import Day, write_days


def test_an_answer_is_kept_until_the_lake_changes(tmp_path: Path) -> None:
    store = ServingStore(tmp_path / "lake")  # what the server reads through
    writer = Store(tmp_path / "lake")  # what `cloudtally ingest` writes with
    ingest(writer, [write_days(tmp_path / "a.csv", [Day("2024-10-01", "1")])])
    calls: list[str] = []

    def total(question: str) -> object:
        calls.append(question)
        return store.connect().execute("SELECT sum(BilledCost) FROM costs").fetchone()

    assert store.remembered("q", lambda: total("q")) == store.remembered("q", lambda: total("q"))
    assert calls == ["q"]
    store.remembered("other", lambda: total("other"))
    assert calls == ["q", "other"]
    ingest(writer, [write_days(tmp_path / "b.csv", [Day("2024-11-01", "2")])])
    # A new generation: the answer is computed again, on the new data.
    assert str(store.remembered("q", lambda: total("q"))[0]) == "3.000000000000000000"  # type: ignore[index]
    assert calls == ["q", "other", "q"]


def test_only_the_latest_questions_are_kept(tmp_path: Path) -> None:
    store = ServingStore(tmp_path / "lake")
    ingest(Store(tmp_path / "lake"), [write_days(tmp_path / "a.csv", [Day("2024-10-01", "1")])])
    for n in range(REMEMBERED + 1):
        store.remembered(n, lambda n=n: n)  # type: ignore[misc]
    assert store.remembered(0, lambda: "again") == "again"  # the oldest was let go
    assert store.remembered(REMEMBERED, lambda: "again") == REMEMBERED
