from __future__ import annotations

import importlib
import logging
import os
import shutil
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner

from cloudtally.cli import app
from cloudtally.store import Store

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
FOCUS_10 = SAMPLES / "focus" / "1.0" / "focus10_sample_1000.csv"
BUCKET = "finops"


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def store(data_dir: Path) -> Store:
    return Store(data_dir)


@pytest.fixture
def cli(data_dir: Path) -> Callable[..., Run]:
    """Run the CLI in-process against the test's data dir."""

    def run(*args: str | Path, data: Path | None = None) -> Run:
        runner = CliRunner()
        result = runner.invoke(
            app,
            ["--data-dir", str(data or data_dir), *map(str, args)],
            catch_exceptions=False,
        )
        return Run(result.exit_code, result.stdout, result.stderr)

    return run


@pytest.fixture
def sample_copy(tmp_path: Path) -> Callable[[Path, str], Path]:
    """Copy a shipped sample under a new name (a restated delivery has another path)."""

    def copy(source: Path, name: str) -> Path:
        target = tmp_path / "in" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
        return target

    return copy


def lake_snapshot(data_dir: Path) -> dict[str, bytes]:
    """Every file of a data dir with its bytes (to prove a failed run changed nothing).

    Left out: the writer's `.lock` and `tmp/`, the spill space of running processes (a test
    that runs the CLI in-process holds its spill folder until the test session ends)."""
    if not data_dir.exists():
        return {}
    return {
        str(p.relative_to(data_dir)): p.read_bytes()
        for p in sorted(data_dir.rglob("*"))
        if p.is_file() and p.name != ".lock" and p.relative_to(data_dir).parts[0] != "tmp"
    }


@pytest.fixture(scope="session")
def company(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The generated company, allocated, with anomalies and users (tests/web/company.py);
    built once per session, read-only (copy it to change it)."""
    from tests.web.company import build_company

    return build_company(tmp_path_factory.mktemp("web-company"))


def hide_filesystem_library(monkeypatch: pytest.MonkeyPatch, protocol: str, module: str) -> None:
    """Make fsspec's filesystem for `protocol` look not installed (its library, `module`, is
    in the dev dependencies): as on a machine without the extra."""
    registry = importlib.import_module("fsspec.registry")  # (fsspec.registry: a mapping)
    monkeypatch.setitem(sys.modules, module, None)  # (importing it raises ImportError)
    monkeypatch.delitem(registry._registry, protocol, raising=False)


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[boto3.client]:
    """An S3 API on 127.0.0.1 with the bucket `finops`, and the environment that points the
    AWS libraries at it (and cloudtally's work folders at a temporary folder)."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    environment = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "CLOUDTALLY_CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
    }
    saved = {name: os.environ.get(name) for name in environment}
    os.environ.update(environment)
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket=BUCKET)
    try:
        yield client
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        server.stop()
