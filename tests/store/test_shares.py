"""Shares are of the period asked for, not of the whole lake (the numbers from the report
that found it: `cloudtally sample OUT --months 6 --scale 1 --seed 7`, 2024-10)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from cloudtally.sample import generate_sample
from tests.conftest import Run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def six_months(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("six")
    generate_sample(root / "out", months=6, scale=1, seed=7)
    return root


def test_costs_shares_are_of_the_period(
    six_months: Path, cli: Callable[..., Run], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    assert cli("ingest", "--no-progress", six_months / "out", data=data).exit_code == 0
    result = cli("costs", "--by", "provider", "--period", "2024-10", "--format", "csv", data=data)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "provider,currency,BilledCost,share",
        "aws,USD,192287.2108566053744,0.7903728447145685",
        "azure,USD,33929.7415731193,0.1394640145234352",
        "gcp,USD,17069.7598383911,0.0701631407619963",
    ]
    # The same in user SQL: a window with PARTITION BY under a filter on the folder column.
    result = cli(
        "sql",
        "SELECT x_Provider, round(100 * sum(BilledCost) / sum(sum(BilledCost)) OVER "
        "(PARTITION BY BillingCurrency), 1) AS pct FROM costs "
        "WHERE x_BillingPeriod = '2024-10' GROUP BY x_Provider, BillingCurrency ORDER BY 1",
        "--format",
        "csv",
        data=data,
    )
    assert result.stdout.splitlines() == ["x_Provider,pct", "aws,79.0", "azure,13.9", "gcp,7.0"]
