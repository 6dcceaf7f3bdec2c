"""The dashboard in a real browser: Debian's Chromium driven by Playwright, against a real
server on 127.0.0.1. Screenshots of the main pages land in test-artifacts/screenshots/."""

from __future__ import annotations

import csv
import io
import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cloudtally.web.app import create_app
from tests.conftest import ROOT
from tests.web.company import RULES, Company, cli

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's chromium (.ci/run installs it)"
    ),
]


@pytest.fixture(scope="module")
def lake(company: Company, tmp_path_factory: pytest.TempPathFactory) -> Company:
    return company.copy(tmp_path_factory.mktemp("browser") / "lake")


@pytest.fixture(scope="module")
def server(lake: Company) -> Iterator[str]:
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(
        create_app(lake.lake, rules_dir=RULES), host="127.0.0.1", port=port, log_level="warning"
    )
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not running.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield launched
        launched.close()


class Session:
    """A signed-in browser tab that fails the test on any console error (a CSP violation,
    a chart that did not render)."""

    def __init__(self, browser: Any, base: str, token: str) -> None:
        self.context = browser.new_context(
            viewport={"width": 1360, "height": 900}, accept_downloads=True
        )
        # The machine may be busy: a page is slow before it is wrong.
        self.context.set_default_timeout(180_000)
        self.page = self.context.new_page()
        self.base = base
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(f"{base}/signin")
        self.page.fill("input[name=token]", token)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(f"{base}/")

    def go(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def charts_drawn(self) -> None:
        count = self.page.locator("[data-chart]").count()
        self.page.wait_for_function(
            f"document.querySelectorAll('[data-chart].chart-ready').length === {count}",
            timeout=60_000,
        )
        assert self.page.locator("[data-chart] svg").count() == count

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()
        assert self.errors == []


def test_drill_down_filter_and_a_csv_that_adds_up(browser: Any, server: str, lake: Company) -> None:
    admin = Session(browser, server, lake.tokens["alice"])
    admin.charts_drawn()
    admin.shot("overview")
    admin.go("/explorer?period=2024-10")
    admin.charts_drawn()
    for level, expected in (("provider", "aws"), ("account", None), ("service", None)):
        link = admin.page.locator("[data-testid=drill]").first
        value = link.inner_text()
        if expected:
            assert value == expected
        link.click()
        admin.page.wait_for_load_state()
        assert f"{level}=" in admin.page.url
    assert "by=resource" in admin.page.url
    admin.charts_drawn()
    admin.shot("explorer")
    # Change a filter: the metric (the select submits its form).
    admin.page.select_option("select[name=metric]", "BilledCost")
    admin.page.wait_for_url("**metric=BilledCost**")
    admin.charts_drawn()
    with admin.page.expect_download() as download:
        admin.page.click("[data-testid=csv]")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    total = sum((Decimal(r["BilledCost"]) for r in rows), Decimal(0))
    query = dict(p.split("=", 1) for p in admin.page.url.split("?", 1)[1].split("&"))
    from urllib.parse import unquote_plus

    where = [f"{k}={unquote_plus(query[k])}" for k in ("provider", "account", "service")]
    printed = json.loads(
        cli(lake.lake, "costs", "--by", "provider", "--period", "2024-10", "--metric",
            "BilledCost", *(a for w in where for a in ("--where", w)), "--format", "json")
    )  # fmt: skip
    assert [Decimal(r["BilledCost"]) for r in printed] == [total]
    assert total > 0
    admin.close()


def test_acknowledge_an_anomaly(browser: Any, server: str, lake: Company) -> None:
    admin = Session(browser, server, lake.tokens["fin"])
    admin.go("/anomalies")
    admin.shot("anomalies")
    admin.page.locator("[data-testid=anomalies] a").first.click()
    admin.page.wait_for_load_state()
    anomaly_id = admin.page.url.rsplit("/", 1)[1]
    assert admin.page.locator("[data-testid=status]").inner_text() == "open"
    admin.page.click("[data-testid=ack]")
    admin.page.wait_for_load_state()
    assert admin.page.locator("[data-testid=status]").inner_text() == "acknowledged"
    admin.shot("anomaly")
    listed = json.loads(cli(lake.lake, "anomalies", "list", "--format", "json"))
    assert next(a for a in listed if a["id"] == anomaly_id)["status"] == "acknowledged"
    admin.close()


def test_the_main_pages(browser: Any, server: str, lake: Company) -> None:
    admin = Session(browser, server, lake.tokens["alice"])
    for name, path in (
        ("tags", "/tags"),
        ("allocation", "/allocation"),
        ("data-health", "/health/data"),
        ("docs", "/docs/dashboard"),
    ):
        response = admin.go(path)
        assert response.status == 200, name
        admin.charts_drawn()
        admin.shot(name)
    assert admin.page.locator("[data-testid=unallocated]").count() == 0  # (docs page now)
    admin.go("/allocation")
    assert admin.page.locator("[data-testid=unallocated]").count() == 1
    admin.close()


def test_a_scoped_viewer_cannot_reach_another_team(
    browser: Any, server: str, lake: Company
) -> None:
    viewer = Session(browser, server, lake.tokens["pat"])
    viewer.charts_drawn()
    viewer.shot("overview-viewer")
    nav = viewer.page.locator("header nav").inner_text()
    assert "Data health" not in nav
    response = viewer.go("/explorer?h=owner&by=service&team=web")
    assert response.status == 403
    assert "team 'web' is outside what you may see (payments)." in viewer.page.inner_text("main")
    viewer.shot("forbidden")
    assert viewer.go("/health/data").status == 403
    viewer.go("/allocation")
    assert viewer.page.locator("[data-testid=unallocated]").count() == 0
    teams = viewer.page.locator("[data-testid=showback] tbody tr td:first-child").all_inner_texts()
    assert teams == ["payments"]
    # A 403 page logs a console error for the failed navigation: expected here.
    viewer.errors = [e for e in viewer.errors if "403" not in e]
    viewer.close()
