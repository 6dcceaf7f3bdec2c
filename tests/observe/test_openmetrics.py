"""OpenMetrics for Prometheus and Grafana: exact values, bounded labels, a real scrape."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from cloudtally.observe.openmetrics import render
from tests.conftest import ROOT
from tests.query.lake import Day, day_store

LINES = [
    *(
        Day("2024-10-02", "1", service=f"svc-{n:02d}", resource=f"r{n}", tags={"team": "web"})
        for n in range(12)
    ),
    Day("2024-10-02", "5", service="big", resource="b", tags={"team": "data"}),
    Day(
        "2024-10-03", "1", service="big", resource="b", tags={"team": "data"}
    ),  # the incomplete day
]


def test_exact_values_and_bounded_labels(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    day_store(store, tmp_path, LINES)
    text = render(store, now=datetime(2024, 10, 5, 0, tzinfo=UTC)).decode()
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    services = [line for line in lines if 'dimension="service"' in line]
    assert len(services) == 11  # ten largest and (other)
    assert (
        'cloudtally_daily_cost{currency="USD",day="2024-10-02",dimension="service",value="big"} 5.0'
        in services
    )
    assert (
        'cloudtally_daily_cost{currency="USD",day="2024-10-02",dimension="service",value="(other)"} 3.0'
        in services
    )
    assert (
        'cloudtally_daily_cost{currency="USD",day="2024-10-02",dimension="team",value="web"} 12.0'
        in lines
    )
    assert 'cloudtally_month_to_date_cost{currency="USD",period="2024-10"} 18.0' in lines
    assert 'cloudtally_data_freshness_hours{provider="aws"} 24.0' in lines
    assert text.endswith("# EOF\n")


def test_a_real_scrape(store, tmp_path: Path, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    day_store(store, tmp_path, LINES)
    server = subprocess.Popen(
        [sys.executable, "-m", "cloudtally", "--data-dir", str(data_dir), "metrics", "serve", "--port", "0"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        url = re.search(r"(http://127\.0\.0\.1:\d+/metrics)", line)
        assert url, line
        with urllib.request.urlopen(url.group(1), timeout=30) as response:
            assert (
                response.headers["Content-Type"]
                == "application/openmetrics-text; version=1.0.0; charset=utf-8"
            )
            body = response.read().decode()
        assert 'cloudtally_month_to_date_cost{currency="USD",period="2024-10"} 18.0' in body
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_grafana_dashboard_reads_series_that_exist(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    day_store(store, tmp_path, LINES)
    names = set(re.findall(r"^# TYPE (\w+) ", render(store).decode(), re.M))
    dashboard = json.loads((ROOT / "docs" / "grafana-dashboard.json").read_text())
    used = {
        m
        for p in dashboard["panels"]
        for t in p["targets"]
        for m in re.findall(r"cloudtally_\w+", t["expr"])
    }
    assert used and used <= names


def test_budget_burn_from_the_rules_folder(store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    day_store(store, tmp_path, LINES)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "budgets.yaml").write_text(
        "budgets:\n  - {id: web, scope: {team: web}, monthly: 48}\n"
    )
    text = render(store, now=datetime(2024, 10, 5, 0, tzinfo=UTC), rules_dir=rules).decode()
    # October so far: web 12 of its 48 (the forecast is the model's, so only its presence).
    assert 'cloudtally_budget_used_ratio{budget="web",currency="USD",period="2024-10"} 0.25' in text
    assert re.search(
        r'cloudtally_budget_forecast_ratio\{budget="web",currency="USD",period="2024-10"\} [0-9.]+\n',
        text,
    )
    # Without the rules folder the families are there, empty; the lake has no commitments.
    bare = render(store, now=datetime(2024, 10, 5, 0, tzinfo=UTC)).decode()
    assert "# TYPE cloudtally_budget_used_ratio gauge" in bare
    assert "cloudtally_budget_used_ratio{" not in bare
    assert "cloudtally_commitment_utilization_ratio{" not in bare


def test_commitment_utilization_as_the_command_gives_it(tmp_path: Path) -> None:
    from cloudtally.commitments.utilization import utilization
    from cloudtally.ingest.pipeline import ingest
    from cloudtally.sample import generate_sample
    from cloudtally.store import Store

    generate_sample(tmp_path / "exports", months=1, scale=0.05, seed=5, commitments=True)
    store = Store(tmp_path / "lake")
    ingest(store, [tmp_path / "exports"])
    text = render(store, now=datetime(2024, 11, 1, tzinfo=UTC)).decode()
    rows = utilization(store, period="2024-10", by="period").records()
    assert len(rows) == 3
    for r in rows:
        line = (
            f'cloudtally_commitment_utilization_ratio{{commitment="{r["commitment_name"]}",'
            f'period="2024-10",provider="{r["provider"]}"}} {float(r["utilization"])}'
        )
        assert line in text
