from __future__ import annotations

import copy
import importlib
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """`values` in the environment for the block, and in fsspec's configuration, which reads
    its `FSSPEC_<PROTOCOL>_<OPTION>` variables once, when it is imported (as a new process
    started with them would)."""
    import fsspec.config

    saved = {name: os.environ.get(name) for name in values}
    saved_conf = copy.deepcopy(fsspec.config.conf)
    os.environ.update(values)
    fsspec.config.set_conf_env(fsspec.config.conf)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        fsspec.config.conf.clear()
        fsspec.config.conf.update(saved_conf)


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

    port = free_port()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    pointed = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "CLOUDTALLY_CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
    }
    try:
        with environment(pointed):
            client = boto3.client("s3", endpoint_url=endpoint)
            client.create_bucket(Bucket=BUCKET)
            yield client
    finally:
        server.stop()


@pytest.fixture(scope="module")
def gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Cloud Storage JSON API on 127.0.0.1 (gcp-storage-emulator, in this process) with the
    bucket `finops`, and the environment that points gcsfs at it: the emulator's address, no
    credentials (`token="anon"` through fsspec's configuration). Yields the bucket as the
    Cloud Storage client library sees it (another process's view of the objects)."""
    from gcp_storage_emulator.server import create_server

    port = free_port()
    logging.getLogger("gcp_storage_emulator").setLevel(logging.WARNING)
    server = create_server("127.0.0.1", port, in_memory=True, default_bucket=BUCKET)
    server.start()
    pointed = {
        "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{port}",
        "FSSPEC_GCS_TOKEN": "anon",
        # gcsfs >= 2026.1 asks a gRPC API (Storage Control) for each bucket's layout, which the
        # emulator does not serve (every call then waits for its timeout): its plain HTTP
        # filesystem instead. gcsfs reads this when it is imported.
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
        "CLOUDTALLY_CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
    }
    try:
        with environment(pointed):
            import gcsfs
            import gcsfs.core
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import storage

            if gcsfs.GCSFileSystem is not gcsfs.core.GCSFileSystem:
                pytest.fail(
                    "gcsfs was imported before GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false was set: "
                    "its gRPC filesystem cannot reach the emulator."
                )
            client = storage.Client(project="cloudtally", credentials=AnonymousCredentials())
            yield client.bucket(BUCKET)
    finally:
        server.stop()


AZURITE = ROOT / ".azurite" / "node_modules" / ".bin" / "azurite-blob"
# Azurite's development account and its key, which Azurite's documentation publishes (it opens
# nothing but the emulator).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Azure Blob Storage on 127.0.0.1 (Azurite, `make azurite`, in memory) with the container
    `finops`, and the environment that points adlfs at it (AZURE_STORAGE_CONNECTION_STRING).
    Yields the container as the Azure client library sees it. Without Node.js or Azurite the
    tests are skipped, or fail when CLOUDTALLY_REQUIRE_AZURITE is set (as in CI)."""
    missing = (
        "Azurite is not installed (`make azurite`, which needs npm)"
        if not AZURITE.exists()
        else "Node.js (`node`) is not on the PATH"
        if shutil.which("node") is None
        else None
    )
    if missing:
        if os.environ.get("CLOUDTALLY_REQUIRE_AZURITE"):
            pytest.fail(f"CLOUDTALLY_REQUIRE_AZURITE is set but {missing}.")
        pytest.skip(missing)
    from azure.storage.blob import BlobServiceClient

    port = free_port()
    folder = tmp_path_factory.mktemp("azurite")
    log = folder / "azurite.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            # (--skipApiVersionCheck: the client library may be newer than the emulator)
            [
                AZURITE,
                *("--blobHost", "127.0.0.1", "--blobPort", str(port)),
                *("--inMemoryPersistence", "--skipApiVersionCheck", "--disableTelemetry"),
            ],
            cwd=folder,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while b"successfully listens" not in log.read_bytes():
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Azurite did not start: {log.read_text()}")
            time.sleep(0.1)
        connection = (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
        )
        pointed = {
            "AZURE_STORAGE_CONNECTION_STRING": connection,
            "CLOUDTALLY_CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
        }
        with environment(pointed):
            container = BlobServiceClient.from_connection_string(connection).get_container_client(
                BUCKET
            )
            container.create_container()
            yield container
    finally:
        server.terminate()
        server.wait(timeout=30)
