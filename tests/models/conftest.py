"""The generated company's CSV export and the CLI's answer on it (ingested and allocated),
shared by the dbt flavours' tests, which compare what the warehouse computes with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from cloudtally.allocate.engine import allocate
from cloudtally.ingest.pipeline import ingest
from cloudtally.rules.allocation import load_rules
from cloudtally.sample import generate_sample
from cloudtally.store import Store

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "examples" / "rules"
DBT_VENV = ROOT / ".venv-dbt"


@pytest.fixture(scope="session")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("warehouse-export") / "export"
    generate_sample(folder, months=2, scale=0.02, seed=5, fmt="csv")
    respell_charge_frequency(folder / "gcp" / "2024-10.csv")
    return folder


def respell_charge_frequency(csv: Path) -> None:
    """FOCUS 1.0 exports spell `Usage-based`: ingest writes the spec's spelling and keeps the
    source's in x_SourceValues, which the models must carry to allocated_costs as the CLI does."""
    text = csv.read_text(encoding="utf-8")
    assert text.count(",Usage-Based,") == 194
    csv.write_text(text.replace(",Usage-Based,", ",Usage-based,"), encoding="utf-8")


@pytest.fixture(scope="session")
def cli_store(tmp_path_factory: pytest.TempPathFactory, export: Path) -> Store:
    """The CLI's lake over the export, allocated by the example rules."""
    store = Store(tmp_path_factory.mktemp("warehouse-cli") / "lake")
    ingest(store, [export])
    allocate(store, load_rules(RULES))
    return store


def model_showback(warehouse: duckdb.DuckDBPyConnection, by: str, period: str) -> list[Any]:
    """The showback model's rows for one dimension and period, in `cloudtally showback`'s
    order (its rows' first five columns)."""
    return warehouse.execute(
        "SELECT k, currency, direct, shared, total FROM showback "
        "WHERE dimension = ? AND period = ? "
        "ORDER BY currency, k = '(unallocated)', total DESC, k",
        [by, period],
    ).fetchall()
