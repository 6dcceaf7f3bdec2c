"""Shared by the commitment tests: the FOCUS examples as stores, and the row builder that wrote
them (tests/fixtures/commitments/make_spec_examples.py) for tests that need rows of their own."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

from cloudtally.ingest.pipeline import ingest
from cloudtally.output import exact
from cloudtally.store import Store
from tests.conftest import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "commitments"
NATIVE_AWS = ROOT / "tests" / "fixtures" / "native" / "aws" / "legacy" / "synthetic-2024-03.csv"


def builder() -> ModuleType:
    """The fixture script as a module (it is a script, so it is not on the import path)."""
    name = "make_spec_examples"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, FIXTURES / "make_spec_examples.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def store_of(path: Path, *files: Path) -> Store:
    store = Store(path)
    ingest(store, list(files))
    return store


def shown(value: Any) -> Any:
    """A value as JSON output shows it: decimals as exact text."""
    return exact(value) if isinstance(value, Decimal) else value


def pick(records: list[dict[str, Any]], *names: str) -> list[dict[str, Any]]:
    return [{n: shown(r[n]) for n in names} for r in records]


def json_rows(run: Callable[..., Any], *args: str) -> list[dict[str, Any]]:
    result = run(*args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["rows"]
