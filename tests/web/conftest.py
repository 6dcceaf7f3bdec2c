from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cloudtally.web.app import create_app
from tests.web.company import RULES, Company


@pytest.fixture
def own_company(company: Company, tmp_path: Path) -> Company:
    """A private copy, for tests that change the state database or the lake."""
    return company.copy(tmp_path / "lake")


def client_for(company: Company) -> TestClient:
    return TestClient(
        create_app(company.lake, rules_dir=RULES),
        raise_server_exceptions=False,
        base_url="http://127.0.0.1",
    )


@pytest.fixture(scope="session")
def shared_client(company: Company) -> Iterator[TestClient]:
    """A client over the shared company, for tests that only read."""
    with client_for(company) as client:
        yield client


@pytest.fixture
def client(own_company: Company) -> Iterator[TestClient]:
    with client_for(own_company) as client:
        yield client


def bearer(company: Company, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {company.tokens[name]}"}
