"""The published targets, on the generated company (`cloudtally sample OUT --months 13
--scale 1 --seed 7`): month-end MAPE at most half the run-rate's, 80% intervals holding the
actual 75-85% of the time."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from cloudtally.forecast.backtest import backtest_lake
from cloudtally.ingest.pipeline import ingest
from cloudtally.sample import generate_sample
from cloudtally.store import Store
from tests.conftest import Run


@pytest.fixture(scope="module")
def acme(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("acme13")
    generate_sample(root / "exports", months=13, scale=1, seed=7)
    ingest(Store(root / "lake"), [root / "exports"])
    return root / "lake"


@pytest.mark.parametrize("by", [[], ["service"], ["account"]])
def test_backtest_meets_the_targets(acme: Path, by: list[str]) -> None:
    result = backtest_lake(Store(acme), by)
    assert result.months[0] == "2023-12" and result.months[-1] == "2024-10"
    model, run_rate = result.score("model"), result.score("run-rate")
    assert model.mape <= 0.5 * run_rate.mape, (model, run_rate)
    assert model.coverage_80 is not None and 0.75 <= model.coverage_80 <= 0.85, model
    assert model.coverage_95 is not None and 0.85 <= model.coverage_95 <= 1.0, model


def test_backtest_command_prints_the_comparison(acme: Path, cli: Callable[..., Run]) -> None:
    run = cli("forecast", "backtest", "--months", "3", "--format", "json", data=acme)
    assert run.exit_code == 0, run.output
    data = json.loads(run.stdout)
    assert data["months"] == ["2024-08", "2024-09", "2024-10"]
    assert data["days"] == [2, 8, 15, 22, 28]
    assert [(s["method"], s["horizon"], s["points"]) for s in data["scores"]] == [
        ("model", 0, 15),
        ("run-rate", 0, 15),
        ("seasonal-naive", 0, 15),
    ]
    table = cli("forecast", "backtest", "--months", "3", data=acme)
    assert table.exit_code == 0
    assert "x run-rate's" in table.stdout
