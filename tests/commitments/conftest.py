from __future__ import annotations

import pytest

from cloudtally.ingest.pipeline import ingest
from cloudtally.sample import generate_sample
from cloudtally.store import Store

ACME_ARGS = {"months": 2, "scale": 0.3, "seed": 7, "commitments": True}


@pytest.fixture(scope="session")
def acme(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Acme Retail with commitments (`sample --commitments`), two months, ingested."""
    root = tmp_path_factory.mktemp("acme-commitments")
    summary = generate_sample(root / "export", **ACME_ARGS)  # type: ignore[arg-type]
    store = Store(root / "lake")
    ingest(store, [root / "export"])
    store.contract_files = summary.contract_files  # type: ignore[attr-defined]
    store.export_dir = root / "export"  # type: ignore[attr-defined]
    return store
