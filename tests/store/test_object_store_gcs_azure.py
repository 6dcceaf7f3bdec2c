"""A lake in Cloud Storage (`gs://`) and in Azure Blob Storage (`az://`, `abfss://`), against
emulators on 127.0.0.1 that gcsfs and adlfs speak to over HTTP as to the clouds
(gcp-storage-emulator, Azurite): the answers equal a local lake's, the objects are the local
layout, a second writer changes nothing, the state database is put back and not over another's.

The objects are looked at through each cloud's own client library (another process's view),
not through the filesystem cloudtally writes with."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cloudtally.errors import StoreError
from cloudtally.store import Store
from tests.conftest import AZURITE_ACCOUNT, BUCKET
from tests.store.test_object_store import (
    FOCUS_12,
    RULES,
    _timeless,
    lake_files,
    paths_asked,
    refused_while_held,
    run,
)

TOTAL = "95337.889502113315500000"  # the three FOCUS 1.2 samples' BilledCost, as on S3
STEPS: list[tuple[str | Path, ...]] = [
    ("ingest", FOCUS_12),
    ("allocate", "--rules", RULES),
    ("anomalies", "detect", "--rules", RULES / "monitors.yaml"),
]
QUESTIONS: list[tuple[str, ...]] = [
    ("costs", "-f", "json"),
    ("costs", "--by", "service", "--top", "5", "-f", "json"),
    ("showback", "--by", "team", "-f", "json"),
    ("anomalies", "list", "-f", "json"),
]
# What gcp-storage-emulator (2026.7.19) does not do as Cloud Storage does: it ignores the
# preconditions of an upload (`ifGenerationMatch=0`, which is how gcsfs creates an object only
# if there is none), so a create-only write replaces an object that is there.
NO_CREATE_ONLY = (
    "gcp-storage-emulator ignores ifGenerationMatch=0 (Cloud Storage's create-only upload): "
    "a create over an existing object replaces it there"
)


@dataclass
class Container:
    """A bucket or container of an emulated store: its URI, and its objects as the cloud's
    client library reads and writes them."""

    scheme: str
    uri: str  # scheme://bucket-or-container, without a folder
    client: Any  # google.cloud.storage.Bucket or azure.storage.blob.ContainerClient

    def objects(self, folder: str) -> dict[str, bytes]:
        """Every object under `folder` with its bytes, by its name relative to the folder."""
        prefix = f"{folder}/"
        if self.scheme == "gs":
            return {
                b.name.removeprefix(prefix): b.download_as_bytes()
                for b in self.client.list_blobs(prefix=prefix)
            }
        return {
            b.name.removeprefix(prefix): self.client.download_blob(b.name).readall()
            for b in self.client.list_blobs(name_starts_with=prefix)
        }

    def put(self, key: str, data: bytes) -> None:
        if self.scheme == "gs":
            self.client.blob(key).upload_from_string(data)
        else:
            self.client.upload_blob(key, data, overwrite=True)

    def delete(self, key: str) -> None:
        if self.scheme == "gs":
            self.client.blob(key).delete()
        else:
            self.client.delete_blob(key)


@pytest.fixture(scope="module", params=["gs", "az", "abfss"])
def container(request: pytest.FixtureRequest) -> Iterator[Container]:
    """gs://finops (gcp-storage-emulator), az://finops and the same container as Hadoop names
    it, abfss://finops@devstoreaccount1.dfs.core.windows.net (Azurite)."""
    scheme = request.param
    if scheme == "gs":
        yield Container(scheme, f"gs://{BUCKET}", request.getfixturevalue("gcs"))
    else:
        client = request.getfixturevalue("azurite")
        uri = (
            f"az://{BUCKET}"
            if scheme == "az"
            else f"abfss://{BUCKET}@{AZURITE_ACCOUNT}.dfs.core.windows.net"
        )
        yield Container(scheme, uri, client)
        for blob in client.list_blobs():  # (az:// and abfss:// name the same container)
            client.delete_blob(blob.name)


@pytest.fixture(scope="module")
def local_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The steps on a local lake."""
    lake = tmp_path_factory.mktemp("local") / "lake"
    for step in STEPS:
        done = run(lake, *step)
        assert done.exit_code == 0, done.output
    return lake


@pytest.fixture(scope="module")
def lakes(container: Container, local_lake: Path) -> tuple[Path, str]:
    """The same steps on a local lake and on one in the store."""
    remote = f"{container.uri}/steps"
    for step in STEPS:
        done = run(remote, *step)
        assert done.exit_code == 0, done.output
    return local_lake, remote


# The steps and their answers on gs:// and az:// (abfss:// names az://finops again, its
# account from the host name: the tests after these take it too).
ON_GS_AND_AZ = pytest.mark.parametrize("container", ["gs", "az"], indirect=True)


@ON_GS_AND_AZ
@pytest.mark.parametrize("question", QUESTIONS, ids=lambda q: " ".join(q[:-2]))
def test_every_answer_equals_the_local_lake_s(
    lakes: tuple[Path, str], question: tuple[str, ...]
) -> None:
    local, remote = lakes
    here, there = run(local, *question), run(remote, *question)
    assert (there.exit_code, here.exit_code) == (0, 0), there.output
    assert _timeless(json.loads(there.stdout)) == _timeless(json.loads(here.stdout))
    assert there.stdout != "[]\n"


@ON_GS_AND_AZ
def test_the_objects_are_the_local_layout_and_the_state_is_put_back(
    lakes: tuple[Path, str], container: Container
) -> None:
    local, _ = lakes
    stored = container.objects("steps")
    here = lake_files(local)
    names = {n for n in stored if n != "state.duckdb"}
    # The same files (names carry the ingest's id and a random token: compare their folders).
    assert sorted(str(Path(n).parent) for n in names) == sorted(str(Path(n).parent) for n in here)
    catalog = json.loads(stored["catalog.json"])
    assert {f["path"] for p in catalog["partitions"] for f in p["files"]} <= names
    # The anomalies `detect` found, in the state database it put back.
    assert _rows(stored["state.duckdb"], "SELECT count(*) FROM anomalies") == [(9,)]
    assert list(Path(os.environ["CLOUDTALLY_CACHE_DIR"]).rglob("*.parquet")) == []


def test_the_totals_reconcile_and_a_second_ingest_changes_nothing(container: Container) -> None:
    lake = f"{container.uri}/samples"
    assert run(lake, "ingest", FOCUS_12).exit_code == 0
    total = run(lake, "sql", "SELECT sum(BilledCost)::VARCHAR AS c FROM costs", "-f", "json")
    assert total.exit_code == 0, total.output
    assert json.loads(total.stdout) == [{"c": TOTAL}]
    before = container.objects("samples")
    again = run(lake, "ingest", FOCUS_12)
    assert again.exit_code == 0
    assert "Nothing to do: 3 file(s) already ingested, unchanged." in again.output
    assert container.objects("samples") == before


def test_a_second_writer_is_refused_and_changes_nothing(container: Container) -> None:
    if container.scheme == "gs":
        pytest.skip(NO_CREATE_ONLY)
    lake = f"{container.uri}/locked"
    refused_while_held(
        lake, lambda held: container.put("locked/.lock", held), lambda: container.objects("locked")
    )
    container.delete("locked/.lock")
    assert run(lake, "ingest", FOCUS_12 / "gcp.csv").exit_code == 0
    assert ".lock" not in container.objects("locked")  # a writer removes its lock


@pytest.mark.parametrize("first", ["no state yet", "a state put back before"])
def test_a_state_put_back_meanwhile_is_not_overwritten(container: Container, first: str) -> None:
    if container.scheme == "gs" and first == "no state yet":
        pytest.skip(NO_CREATE_ONLY)  # (the first put-back creates the object only if none is)
    folder = f"state-race-{len(first)}"
    lake = f"{container.uri}/{folder}"
    store = Store(lake)
    if first == "a state put back before":
        with store.state() as con:
            con.execute("CREATE TABLE kept AS SELECT 1 AS n")
        assert _rows(container.objects(folder)["state.duckdb"], "SHOW TABLES") == [("kept",)]
    _refused_over_another_copy(store, container, folder)


def test_a_writer_whose_lock_was_deleted_by_hand_does_not_replace_another_s_commit(
    container: Container,
) -> None:
    lake = f"{container.uri}/stolen"
    assert run(lake, "ingest", FOCUS_12 / "aws.csv").exit_code == 0
    store = Store(lake)
    with store.writing() as catalog:
        # Someone deletes the lock by hand; a second writer takes it and commits.
        container.delete("stolen/.lock")
        theirs = b'{"host": "other", "pid": 1, "since": "now", "token": "t"}'
        container.put("stolen/.lock", theirs)
        committed = container.objects("stolen")["catalog.json"]
        container.put("stolen/catalog.json", committed + b"\n")
        with pytest.raises(StoreError) as raised:
            store.commit(catalog)
    assert str(raised.value) == (
        f"{lake}/catalog.json was replaced by another cloudtally process while this one held "
        "the lock (was .lock deleted by hand?); this run's changes were not made live. Run again."
    )
    stored = container.objects("stolen")
    assert stored["catalog.json"] == committed + b"\n"  # the other writer's commit stands
    assert stored[".lock"] == theirs  # and its lock too


@ON_GS_AND_AZ
def test_a_move_in_the_store_copies_whole_then_deletes(container: Container) -> None:
    """How a file Spark staged in the store reaches its lake name (`Store.into_lake`): on
    Azure the copy runs in the background, and the source goes only once it is complete."""
    objects = Store(f"{container.uri}/moved").objects
    assert objects is not None
    data = os.urandom(3 << 20)  # (more than one block of each library's transfers)
    container.put("moved/staging/00000/part.parquet", data)
    objects.move("staging/00000/part.parquet", "lake/x_Provider=aws/a.parquet")
    assert container.objects("moved") == {"lake/x_Provider=aws/a.parquet": data}
    if container.scheme != "gs":
        copied = container.client.get_blob_client("moved/lake/x_Provider=aws/a.parquet")
        assert copied.get_blob_properties().copy.status == "success"
    with pytest.raises(StoreError) as raised:
        objects.move("staging/00000/part.parquet", "lake/b.parquet")
    assert str(raised.value).startswith(f"--data-dir {container.uri}/moved cannot be reached (")


@pytest.mark.parametrize("container", ["az"], indirect=True)
@pytest.mark.parametrize(
    ("reported", "outcome"),
    [
        (["pending", "pending", "success"], None),
        (["failed"], "failed: simulated"),
        (["pending"] * 3, "pending: simulated"),  # still pending when the wait is over
    ],
    ids=["pending-then-done", "failed", "timed-out"],
)
def test_a_move_on_azure_deletes_the_source_only_once_the_copy_completed(
    container: Container,
    monkeypatch: pytest.MonkeyPatch,
    reported: list[str],
    outcome: str | None,
) -> None:
    """Azurite finishes a copy before answering; Azure may not (`copy.status` "pending"). The
    copy's status as Azure would report it is put on Azurite's real answers."""
    from azure.storage.blob.aio import BlobClient

    import cloudtally.store.objects as objects_module

    folder = f"moved-{len(reported)}-{outcome is None}"
    objects = Store(f"{container.uri}/{folder}").objects
    assert objects is not None
    container.put(f"{folder}/staging/part.parquet", b"PAR1 bytes")
    statuses, aborted = list(reported), []
    properties = BlobClient.get_blob_properties

    async def as_azure_would(self: BlobClient, **kwargs: Any) -> Any:
        found = await properties(self, **kwargs)
        found.copy.status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
        found.copy.status_description = "simulated"
        return found

    async def abort(self: BlobClient, copy_id: str, **kwargs: Any) -> None:
        aborted.append(copy_id)

    monkeypatch.setattr(BlobClient, "get_blob_properties", as_azure_would)
    monkeypatch.setattr(BlobClient, "abort_copy", abort)
    monkeypatch.setattr(
        objects_module, "COPY_WAIT_SECONDS", 0 if "pending:" in str(outcome) else 60
    )
    if outcome is None:
        objects.move("staging/part.parquet", "lake/a.parquet")
        assert container.objects(folder) == {"lake/a.parquet": b"PAR1 bytes"}
        assert aborted == []
        return
    with pytest.raises(StoreError) as raised:
        objects.move("staging/part.parquet", "lake/a.parquet")
    assert str(raised.value) == (
        f"{container.uri}/{folder}/lake/a.parquet: the store's copy of it did not complete "
        f"({outcome}); run the command again."
    )
    assert container.objects(folder)["staging/part.parquet"] == b"PAR1 bytes"  # kept
    assert len(aborted) == (1 if outcome.startswith("pending") else 0)


def test_a_lake_named_gcs_is_read_as_gs(gcs: Any) -> None:
    """gcsfs lists a file of a gcs:// lake as gs://: `sql` reads it under both names."""
    lake = f"gcs://{BUCKET}/other-name"
    assert run(lake, "ingest", FOCUS_12 / "gcp.csv").exit_code == 0
    counted = run(lake, "sql", "SELECT count(*) AS n FROM costs", "-f", "json")
    assert counted.exit_code == 0, counted.output
    assert json.loads(counted.stdout) == [{"n": 1000}]


def test_the_gcs_emulator_still_ignores_create_only_uploads(gcs: Any) -> None:
    """The reason the tests above skip on gs://, checked: when this fails, the emulator honours
    `ifGenerationMatch=0` and NO_CREATE_ONLY's skips can go."""
    import fsspec

    fs = fsspec.filesystem("gcs", skip_instance_cache=True)
    fs.pipe_file(f"{BUCKET}/create-only/.lock", b"first", mode="create")
    fs.pipe_file(f"{BUCKET}/create-only/.lock", b"second", mode="create")  # (Cloud Storage: 412)
    assert gcs.blob("create-only/.lock").download_as_bytes() == b"second"


def _rows(database: bytes, sql: str) -> list[tuple[Any, ...]]:
    """The rows `sql` gives on a copy of a DuckDB database's bytes."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "state.duckdb"
        path.write_bytes(database)
        con = duckdb.connect(str(path), read_only=True)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()


def test_a_state_put_back_in_the_window_after_the_check_is_not_overwritten(
    container: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The put-back's condition is the store's (If-Match on Azure), not a comparison made
    before the write: another process's copy landing between the two is not overwritten."""
    if container.scheme == "gs":
        pytest.skip("on GCS the state database's version is compared, then it is written")
    folder = "state-window"
    lake = f"{container.uri}/{folder}"
    store = Store(lake)
    with store.state() as con:
        con.execute("CREATE TABLE kept AS SELECT 1 AS n")
    assert store.objects is not None
    seen = store.objects.version("state.duckdb")
    # Every comparison now sees the version this process copied down, as if the other
    # process's write came just after it.
    monkeypatch.setattr(type(store.objects), "version", lambda self, path: seen)
    _refused_over_another_copy(store, container, folder)


def _refused_over_another_copy(store: Store, container: Container, folder: str) -> None:
    """Another process puts its copy of the state database back while `store` uses it: the
    put-back is refused, and the other copy stays."""
    with pytest.raises(StoreError) as raised, store.state() as con:
        con.execute("CREATE TABLE mine AS SELECT 2 AS n")
        container.put(f"{folder}/state.duckdb", b"another process's copy")
    assert str(raised.value) == (
        f"{store.where}/state.duckdb was changed by another cloudtally process while this one "
        "worked; nothing of this run was saved to it. Run again."
    )
    assert container.objects(folder) == {"state.duckdb": b"another process's copy"}


def test_exports_in_the_store_are_ingested_and_not_fetched_again(
    container: Container, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ingest gs://...`, `az://...`, `abfss://...`: the samples' totals, the lines named by
    their objects' URIs (an abfss:// URI with its account), and a second ingest fetches
    nothing (the objects' generation or ETag recorded in the manifest)."""
    import adlfs
    import gcsfs

    for path in sorted(FOCUS_12.glob("*.csv")):
        container.put(f"exports/{path.name}", path.read_bytes())
    if container.scheme == "gs":
        fetched = paths_asked(monkeypatch, gcsfs.GCSFileSystem, "_get_file")
    else:  # (adlfs binds its get_file to its own _get_file)
        fetched = []
        original = adlfs.AzureBlobFileSystem.get_file

        def counted(self: object, path: str, *args: object, **kwargs: object) -> object:
            fetched.append(path)
            return original(self, path, *args, **kwargs)

        monkeypatch.setattr(adlfs.AzureBlobFileSystem, "get_file", counted)
    lake, exports = tmp_path / "lake", f"{container.uri}/exports/"
    assert run(lake, "ingest", exports).exit_code == 0
    named = run(
        lake,
        "sql",
        "SELECT x_SourceFile AS f, sum(BilledCost)::VARCHAR AS c FROM costs GROUP BY 1",
        "-f",
        "json",
    )
    rows = json.loads(named.stdout)
    assert sorted(r["f"] for r in rows) == [f"{exports}{n}.csv" for n in ("aws", "azure", "gcp")]
    total = run(lake, "sql", "SELECT sum(BilledCost)::VARCHAR AS c FROM costs", "-f", "json")
    assert json.loads(total.stdout) == [{"c": TOTAL}]
    assert len(fetched) == 3
    fetched.clear()
    again = run(lake, "ingest", exports)
    assert "Nothing to do: 3 file(s) already ingested, unchanged." in again.stdout
    assert fetched == []
    for path in FOCUS_12.glob("*.csv"):
        container.delete(f"exports/{path.name}")
