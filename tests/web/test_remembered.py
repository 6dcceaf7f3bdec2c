"""The server computes a lake-only answer once per catalog generation: a new ingest starts
afresh, and a question names everything else its answer depends on."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cloudtally.errors import QueryError
from cloudtally.ingest.pipeline import ingest
from cloudtally.query.ownership import EVERYTHING, Scope
from cloudtally.query.periods import parse_periods
from cloudtally.rules.allocation import load_rules_cached
from cloudtally.store import Store
from cloudtally.store.catalog import Catalog
from cloudtally.web.app import create_app
from cloudtally.web.context import viewer_scopes
from cloudtally.web.serving import REMEMBERED, ServingStore, Warmer, WarmView
from tests.query.lake import Day, write_days
from tests.web.company import RULES, Company
from tests.web.conftest import bearer


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


def _wait_for(condition: Callable[[], bool], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the warmer did not finish in time"
        time.sleep(0.05)


def test_the_server_warms_each_new_generation_before_anyone_asks(own_company: Company) -> None:
    app = create_app(own_company.lake, rules_dir=RULES, warm=True)
    warmer: Warmer = app.app.app.state.warmer
    store = warmer.store
    rules = load_rules_cached(RULES)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        _wait_for(lambda: warmer.warmed == store.generation_key())
        tags = ("tags page", rules.sha256, parse_periods("2024-10"), "EffectiveCost", EVERYTHING)
        kept = store._answers
        assert tags in kept
        # The page's answer is the kept one: its coverage shows on the page as computed.
        overall = kept[tags][0]
        shown = client.get("/tags", headers=bearer(own_company, "alice"))
        assert shown.status_code == 200
        first = overall.columns[2]
        assert first.startswith("tag:"), overall.columns
        assert f'{first} · {overall.rows[0][0]}</div><div class="value">' in shown.text
        assert f"{float(overall.rows[0][2]):.1%}</div>" in shown.text
        assert any(isinstance(q, tuple) and q[:1] == ("kpis",) for q in kept), list(kept)
        # And for each viewer's scope, as their requests ask (wendy: teams web and Data).
        wendy = Scope(teams=("web", "data"))
        assert viewer_scopes(store, RULES) == [Scope(teams=("payments",)), wendy]
        assert ("tags page", rules.sha256, parse_periods("2024-10"), "EffectiveCost", wendy) in kept
        assert store._key == store.generation_key()

        before = warmer.warmed
        ingest(
            Store(own_company.lake),
            [write_days(own_company.lake.parent / "n.csv", [Day("2024-11-01", "5")])],
        )
        _wait_for(lambda: warmer.warmed not in (None, before))
        tags = ("tags page", rules.sha256, parse_periods("2024-11"), "EffectiveCost", EVERYTHING)
        assert tags in store._answers
    assert not warmer._thread.is_alive()  # type: ignore[union-attr]


def test_a_failing_warm_task_does_not_stop_the_others(tmp_path: Path) -> None:
    ingest(Store(tmp_path / "lake"), [write_days(tmp_path / "a.csv", [Day("2024-10-01", "1")])])
    store = ServingStore(tmp_path / "lake")
    ran: list[str] = []

    def broken(view: WarmView) -> None:
        raise QueryError("no rules folder")

    def total(view: WarmView) -> None:
        found = view.store.connect().execute("SELECT sum(BilledCost) FROM costs").fetchone()
        ran.append(str(found[0]))  # type: ignore[index]

    warmer = Warmer(store, None, [broken, total])
    assert warmer.warm_once() is True
    assert ran == ["1.000000000000000000"]
    assert warmer.warm_once() is False  # nothing new: nothing done again
    assert ran == ["1.000000000000000000"]


def test_a_request_reads_the_catalog_once(
    own_company: Company, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However many questions a page asks, they come from one catalog generation, read once
    (an object store's lake is asked for it once per request)."""
    app = create_app(own_company.lake, rules_dir=RULES)
    store: ServingStore = app.app.app.state.serving.store
    reads: list[int] = []
    read = store._read_catalog

    def counted() -> Catalog:
        catalog = read()
        reads.append(catalog.generation)
        return catalog

    monkeypatch.setattr(store, "_read_catalog", counted)
    generation = Store(own_company.lake).catalog().generation
    with TestClient(app, base_url="http://127.0.0.1") as client:
        for path in ("/api/costs?by=team&period=2024-10", "/tags", "/kpis", "/allocation", "/"):
            reads.clear()
            answered = client.get(path, headers=bearer(own_company, "alice"))
            assert answered.status_code == 200, path
            assert reads == [generation], path


def test_a_request_on_a_replaced_generation_leaves_the_newer_one_kept(tmp_path: Path) -> None:
    """A slow request pinned to generation N asks again after N+1 was loaded: it is answered
    from N, and what the server keeps for N+1 stays."""
    store = ServingStore(tmp_path / "lake")
    writer = Store(tmp_path / "lake")
    ingest(writer, [write_days(tmp_path / "a.csv", [Day("2024-10-01", "1")])])
    total = "SELECT sum(BilledCost)::VARCHAR FROM costs"
    with store.pinned():  # the slow request
        assert store.connect().execute(total).fetchall() == [("1.000000000000000000",)]
        ingest(writer, [write_days(tmp_path / "b.csv", [Day("2024-11-01", "2")])])
        # Meanwhile another request (a thread of its own) loads N+1 and keeps an answer.
        newer: list[object] = []

        def other_request() -> None:
            newer.append(store.connect().execute(total).fetchall())
            newer.append(store.remembered("q", lambda: "from N+1"))

        worker = threading.Thread(target=other_request)
        worker.start()
        worker.join()
        assert newer == [[("3.000000000000000000",)], "from N+1"]
        live = store._key
        # The slow request's next questions: from its own generation...
        assert store.connect().execute(total).fetchall() == [("1.000000000000000000",)]
        assert store.remembered("q", lambda: "from N") == "from N"
        # ...and N+1's connection and answers are still the ones kept.
        assert store._key == live
        assert dict(store._answers) == {"q": "from N+1"}
    assert store.remembered("q", lambda: "again") == "from N+1"
