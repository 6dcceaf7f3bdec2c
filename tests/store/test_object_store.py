"""A lake in an object store (`--data-dir s3://bucket/lake`), against a real S3 API server on
127.0.0.1 (moto's server; s3fs speaks to it over HTTP as to AWS): every answer equals the same
commands' answers on a local lake, the objects are the local layout, a second writer and bad
input change nothing."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import duckdb
import pytest
from click.testing import CliRunner

from cloudtally.cli import app
from cloudtally.errors import StoreError
from cloudtally.store import Store
from tests.conftest import BUCKET, ROOT, SAMPLES, Run, hide_filesystem_library

FOCUS_12 = SAMPLES / "focus" / "1.2"
RULES = ROOT / "examples" / "rules"


def run(data_dir: str | Path, *args: str | Path) -> Run:
    result = CliRunner().invoke(
        app, ["--data-dir", str(data_dir), *map(str, args)], catch_exceptions=False
    )
    return Run(result.exit_code, result.stdout, result.stderr)


def objects(client: boto3.client, prefix: str) -> dict[str, bytes]:
    """Every object under `prefix` with its bytes."""
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
    return {
        o["Key"].removeprefix(prefix): client.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read()
        for o in listed
    }


def refused_while_held(
    lake: str, hold: Callable[[bytes], object], stored: Callable[[], dict[str, bytes]]
) -> None:
    """With `.lock` held by another process (`hold` puts it), an ingest into `lake` is refused
    naming the holder, and changes none of the objects (`stored`)."""
    assert run(lake, "ingest", FOCUS_12 / "aws.csv").exit_code == 0
    holder = {"host": "builder-7", "pid": 4242, "since": "2026-12-04T08:00:00+00:00"}
    hold(json.dumps(holder).encode())
    before = stored()
    refused = run(lake, "ingest", FOCUS_12 / "gcp.csv")
    assert refused.exit_code == 1
    assert refused.stderr.strip() == (
        f"Error: {lake} is being written by another cloudtally process "
        "(process 4242 on builder-7, since 2026-12-04T08:00:00+00:00); wait for it to finish "
        f"and run again. If that process is gone, delete {lake}/.lock."
    )
    assert stored() == before


def lake_files(local: Path) -> set[str]:
    """The files of a local lake an object store's lake has too (not its lock, state database
    or work folders), relative to it."""
    return {
        str(p.relative_to(local))
        for p in local.rglob("*")
        if p.is_file()
        and p.name not in (".lock", "state.duckdb")
        and p.relative_to(local).parts[0] not in ("tmp", "staging")
    }


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("company") / "exports"
    made = run(folder.parent / "unused", "sample", folder, "--months", "2", "--scale", "0.2")
    assert made.exit_code == 0, made.output
    return folder


# Commands whose JSON answers must be the same on both lakes, after the same steps.
STEPS: list[tuple[str, ...]] = [
    ("ingest", "{exports}"),
    ("allocate", "--rules", str(RULES)),
    (
        "anomalies",
        "detect",
        "--rules",
        str(RULES / "monitors.yaml"),
        "--since",
        "2024-10-01",
        "--until",
        "2024-10-30",
    ),
]
QUESTIONS: list[tuple[str, ...]] = [
    ("costs", "--by", "provider", "-f", "json"),
    ("costs", "--by", "service", "--period", "2024-10", "--top", "5", "-f", "json"),
    ("showback", "--by", "team", "--period", "2024-10", "-f", "json"),
    ("tags", "coverage", "--rules", str(RULES), "--by", "month", "-f", "json"),
    ("anomalies", "list", "-f", "json"),
    ("check", "--today", "2024-11-01", "-f", "json"),
    ("sql", "SELECT count(*) AS n, sum(BilledCost) AS c FROM allocated_costs", "-f", "json"),
]


@pytest.fixture(scope="module")
def lakes(
    s3: boto3.client, exports: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, str]:
    """The same steps on a local lake and on one in S3."""
    local = tmp_path_factory.mktemp("local") / "lake"
    remote = f"s3://{BUCKET}/company"
    for step in STEPS:
        args = [a.format(exports=exports) for a in step]
        for lake in (local, remote):
            done = run(lake, *args)
            assert done.exit_code == 0, (lake, done.output)
    return local, remote


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda q: " ".join(q[:2]))
def test_every_answer_equals_the_local_lake_s(
    lakes: tuple[Path, str], question: tuple[str, ...]
) -> None:
    local, remote = lakes
    here, there = run(local, *question), run(remote, *question)
    assert there.exit_code == here.exit_code
    assert _timeless(json.loads(there.stdout)) == _timeless(json.loads(here.stdout))
    assert there.stdout != "[]\n"


def _timeless(value: object) -> object:
    """`value` without the clock times a run records (`detected_at`): the two lakes' runs
    were seconds apart."""
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if k != "detected_at"}
    return value


def test_the_monthly_pack_holds_the_local_lake_s_numbers(
    lakes: tuple[Path, str], tmp_path: Path
) -> None:
    local, remote = lakes
    for lake, out in ((local, tmp_path / "here"), (remote, tmp_path / "there")):
        made = run(lake, "report", "monthly", "--period", "2024-10", "--rules", RULES, "--out", out)
        assert made.exit_code == 0, made.output
    here = sorted(p.relative_to(tmp_path / "here") for p in (tmp_path / "here" / "data").rglob("*"))
    assert len(here) > 5
    for name in here:
        assert (tmp_path / "there" / name).read_bytes() == (tmp_path / "here" / name).read_bytes()


def test_the_objects_are_the_local_layout_and_nothing_stays_behind(
    lakes: tuple[Path, str], s3: boto3.client
) -> None:
    local, _ = lakes
    stored = objects(s3, "company/")
    names = {n for n in stored if n != "state.duckdb"}
    here = lake_files(local)
    # The same files (names carry the ingest's id and a random token: compare their folders).
    assert sorted(str(Path(n).parent) for n in names) == sorted(str(Path(n).parent) for n in here)
    assert "state.duckdb" in stored  # the anomalies, put back after `detect`
    catalog = json.loads(stored["catalog.json"])
    live = {f["path"] for p in catalog["partitions"] for f in p["files"]}
    assert live <= names
    # Nothing of the lake is kept in the local work folder.
    work = Path(os.environ["CLOUDTALLY_CACHE_DIR"])
    assert [p for p in work.rglob("*.parquet")] == []


def test_the_sample_totals_reconcile_to_the_last_digit(s3: boto3.client) -> None:
    lake = f"s3://{BUCKET}/samples"
    first = run(lake, "ingest", FOCUS_12)
    assert first.exit_code == 0, first.output
    total = run(lake, "sql", "SELECT sum(BilledCost)::VARCHAR AS c FROM costs", "-f", "json")
    assert json.loads(total.stdout) == [{"c": "95337.889502113315500000"}]
    again = run(lake, "ingest", FOCUS_12)
    assert again.exit_code == 0
    assert "Nothing to do: 3 file(s) already ingested, unchanged." in again.output


def paths_asked(monkeypatch: pytest.MonkeyPatch, filesystem: type, method: str) -> list[str]:
    """The paths the filesystem's async `method` is called with from now on (in order)."""
    asked: list[str] = []
    original = getattr(filesystem, method)

    async def counted(self: object, path: str, *args: object, **kwargs: object) -> object:
        asked.append(path)
        return await original(self, path, *args, **kwargs)

    monkeypatch.setattr(filesystem, method, counted)
    return asked


def test_the_catalog_records_the_files_sizes_and_a_question_asks_the_store_for_none(
    s3: boto3.client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A lake file never changes once written: the catalog records its size, and a reader
    opens it without asking the store for its metadata first (one request per file). The
    catalog itself is fetched once per command."""
    import s3fs

    lake = f"s3://{BUCKET}/sizes"
    asked = paths_asked(monkeypatch, s3fs.S3FileSystem, "_info")  # HEAD
    fetched = paths_asked(monkeypatch, s3fs.S3FileSystem, "_cat_file")  # GET of a whole object
    assert run(lake, "ingest", FOCUS_12).exit_code == 0
    # (an ingest reads the catalog once: under the lock, then it knows what it commits)
    assert fetched == [f"{BUCKET}/sizes/catalog.json", f"{BUCKET}/sizes/.lock"]
    # (the files it wrote are read back, for the daily cube, at the size they were written)
    assert [p for p in asked if "/lake/" in p] == []
    asked.clear()
    fetched.clear()
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="sizes/lake/")["Contents"]
    catalog = json.loads(s3.get_object(Bucket=BUCKET, Key="sizes/catalog.json")["Body"].read())
    assert catalog["file_sizes"] == {o["Key"].removeprefix("sizes/"): o["Size"] for o in listed}
    assert len(catalog["file_sizes"]) == 18  # 6 files of lines, 12 summary parts
    answer = run(lake, "costs", "--by", "service", "-f", "json")
    assert answer.exit_code == 0, answer.output
    assert json.loads(answer.stdout)[0] == {
        "service": "Azure Monitor",
        "currency": "USD",
        "BilledCost": "13595.3065941",
        "share": 0.1426012959286102,
    }
    assert [p for p in asked if "/lake/" in p] == []
    assert fetched == [f"{BUCKET}/sizes/catalog.json"]
    # A local lake's catalog has no sizes to record.
    assert run(tmp_path / "local", "ingest", FOCUS_12 / "aws.csv").exit_code == 0
    assert "file_sizes" not in json.loads((tmp_path / "local" / "catalog.json").read_text())


def test_sql_reads_the_lake_s_files_under_both_their_names(s3: boto3.client) -> None:
    """DuckDB names a file of an s3a:// lake s3:// once s3fs has listed it (its first
    protocol): the fence lets both names of the lake's files through, and nothing else."""
    lake = f"s3a://{BUCKET}/hadoop-named"
    assert run(lake, "ingest", FOCUS_12 / "aws.csv").exit_code == 0
    counted = run(lake, "sql", "SELECT count(*) AS n FROM costs", "-f", "json")
    assert counted.exit_code == 0, counted.output
    assert json.loads(counted.stdout) == [{"n": 1000}]
    outside = f"s3://{BUCKET}/hadoop-named/manifest.jsonl"
    refused = run(lake, "sql", f"SELECT * FROM read_csv('{outside}')")
    assert refused.exit_code == 1
    assert refused.stderr.strip() == (
        f"Error: `cloudtally sql` reads only the lake's files (under {lake}/lake): {outside} "
        "is refused. Query the views (`costs`, ...) instead."
    )


def test_a_restated_export_replaces_its_objects(s3: boto3.client, tmp_path: Path) -> None:
    lake = f"s3://{BUCKET}/restated"
    export = tmp_path / "aws.csv"
    source = (FOCUS_12 / "aws.csv").read_text()
    export.write_text(source)
    assert run(lake, "ingest", export).exit_code == 0
    before = {n for n in objects(s3, "restated/") if n.startswith("lake/x_")}
    header, *rows = source.splitlines(keepends=True)
    export.write_text(header + "".join(rows[:-1]))  # the provider restates: one line fewer
    assert run(lake, "ingest", export).exit_code == 0
    assert run(lake, "ingest", FOCUS_12 / "gcp.csv").exit_code == 0  # a commit later
    after = {n for n in objects(s3, "restated/") if n.startswith("lake/x_Provider=aws")}
    assert len(after) == 2 and not after & before  # the first delivery's files are gone
    rows_now = run(
        lake, "sql", "SELECT count(*) AS n FROM costs WHERE x_Provider = 'aws'", "-f", "json"
    )
    assert json.loads(rows_now.stdout) == [{"n": len(rows) - 1}]


def test_a_second_writer_is_refused_and_changes_nothing(s3: boto3.client) -> None:
    lake = f"s3://{BUCKET}/locked"
    refused_while_held(
        lake,
        lambda held: s3.put_object(Bucket=BUCKET, Key="locked/.lock", Body=held),
        lambda: objects(s3, "locked/"),
    )
    s3.delete_object(Bucket=BUCKET, Key="locked/.lock")
    assert run(lake, "ingest", FOCUS_12 / "gcp.csv").exit_code == 0
    assert ".lock" not in objects(s3, "locked/")  # a writer removes its lock


def test_bad_input_changes_no_object(s3: boto3.client, tmp_path: Path) -> None:
    lake = f"s3://{BUCKET}/bad"
    assert run(lake, "ingest", FOCUS_12 / "aws.csv").exit_code == 0
    before = objects(s3, "bad/")
    broken = tmp_path / "azure.csv"
    with open(FOCUS_12 / "azure.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    rows[1][rows[0].index("BilledCost")] = "twelve"
    with open(broken, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    failed = run(lake, "ingest", broken)
    here = run(tmp_path / "local", "ingest", broken)  # the same message as on a local lake
    assert failed.exit_code == here.exit_code == 1
    assert failed.stderr == here.stderr
    assert "BilledCost" in failed.stderr and "Traceback" not in failed.output
    assert objects(s3, "bad/") == before


def test_a_lake_that_is_not_there_is_named(s3: boto3.client) -> None:
    missing = run(f"s3://{BUCKET}/nothing-here", "costs", "--by", "provider")
    assert missing.exit_code == 1
    assert missing.stderr.strip() == (
        f"Error: --data-dir s3://{BUCKET}/nothing-here holds no lake (no catalog.json there). "
        f"Check the URI, or create one with `cloudtally --data-dir s3://{BUCKET}/nothing-here "
        "ingest EXPORTS`."
    )
    no_bucket = run("s3://no-such-bucket/lake", "ingest", FOCUS_12 / "aws.csv")
    assert no_bucket.exit_code == 1
    assert no_bucket.stderr.startswith(
        "Error: --data-dir s3://no-such-bucket/lake cannot be reached ("
    )
    assert "Traceback" not in no_bucket.output


def test_a_store_without_its_filesystem_library_says_which_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hide_filesystem_library(monkeypatch, "gcs", "gcsfs")
    result = run("gs://finops-billing/lake", "costs")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: --data-dir gs://finops-billing/lake: a lake in gs:// needs its filesystem "
        "library: `pip install 'cloudtally[gcs]'`."
    )


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (
            "hdfs://namenode/lake",
            "hdfs:// is not a lake location cloudtally can use. Give a "
            "local folder or an object store (s3://, s3a://, gs://, gcs://, abfs://, abfss://, "
            "az://).",
        ),
        (
            "s3://finops",
            "give a folder inside the bucket or container (e.g. "
            "s3://finops/cloudtally), not its root.",
        ),
    ],
)
def test_a_location_that_cannot_hold_a_lake_is_refused(
    uri: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run(uri, "ingest", FOCUS_12 / "aws.csv")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: --data-dir {uri}: {message}"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("first", ["no state yet", "a state put back before"])
def test_a_state_put_back_meanwhile_is_not_overwritten(s3: boto3.client, first: str) -> None:
    lake = f"s3://{BUCKET}/state-race-{len(first)}"
    key = f"state-race-{len(first)}/state.duckdb"
    store = Store(lake)
    if first == "a state put back before":
        with store.state() as con:
            con.execute("CREATE TABLE kept AS SELECT 1 AS n")
        assert "kept" in _tables(s3, key)
    with pytest.raises(StoreError) as raised, store.state() as con:
        con.execute("CREATE TABLE mine AS SELECT 2 AS n")
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"another process's copy")
    assert str(raised.value) == (
        f"{lake}/state.duckdb was changed by another cloudtally process while this one worked; "
        "nothing of this run was saved to it. Run again."
    )
    stored = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert stored == b"another process's copy"


def _tables(s3: boto3.client, key: str) -> set[str]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "state.duckdb"
        path.write_bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        con = duckdb.connect(str(path), read_only=True)
        try:
            return {name for (name,) in con.execute("SHOW TABLES").fetchall()}
        finally:
            con.close()


def test_missing_credentials_are_named(s3: boto3.client, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = run(f"s3://{BUCKET}/company", "costs", "--by", "provider")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: --data-dir s3://{BUCKET}/company cannot be reached (Unable to locate "
        "credentials). Check the bucket's name, the credentials and the endpoint (for S3: "
        "AWS_PROFILE or AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL)."
    )


def test_a_writer_whose_lock_was_deleted_by_hand_does_not_replace_another_s_commit(
    s3: boto3.client,
) -> None:
    lake = f"s3://{BUCKET}/stolen"
    assert run(lake, "ingest", FOCUS_12 / "aws.csv").exit_code == 0
    store = Store(lake)
    with store.writing() as catalog:
        # Someone deletes the lock by hand; a second writer takes it and commits.
        s3.delete_object(Bucket=BUCKET, Key="stolen/.lock")
        theirs = b'{"host": "other", "pid": 1, "since": "now", "token": "t"}'
        s3.put_object(Bucket=BUCKET, Key="stolen/.lock", Body=theirs)
        committed = s3.get_object(Bucket=BUCKET, Key="stolen/catalog.json")["Body"].read()
        s3.put_object(Bucket=BUCKET, Key="stolen/catalog.json", Body=committed + b"\n")
        with pytest.raises(StoreError) as raised:
            store.commit(catalog)
    assert str(raised.value) == (
        f"{lake}/catalog.json was replaced by another cloudtally process while this one held "
        "the lock (was .lock deleted by hand?); this run's changes were not made live. Run again."
    )
    stored = objects(s3, "stolen/")
    assert stored["catalog.json"] == committed + b"\n"  # the other writer's commit stands
    assert stored[".lock"] == theirs  # and its lock too


def test_threads_writing_the_state_keep_every_change(s3: boto3.client) -> None:
    lake = f"s3://{BUCKET}/threads"
    store = Store(lake)

    def write(n: int) -> None:
        with store.state() as con:
            con.execute(f"CREATE TABLE t{n} AS SELECT {n} AS n")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, range(4)))
    assert _tables(s3, "threads/state.duckdb") == {"t0", "t1", "t2", "t3"}
    with store.reading_state() as first, store.reading_state() as second:
        assert first is not None and second is not None and first != second
        assert first.exists() and second.exists()
    assert not first.exists() and not second.exists()  # each reader's copy is removed


def test_the_dashboard_does_not_serve_a_replaced_lake_s_answers(s3: boto3.client) -> None:
    from cloudtally.web.serving import ServingStore

    lake = f"s3://{BUCKET}/remade"
    assert run(lake, "ingest", FOCUS_12 / "aws.csv").exit_code == 0
    served = ServingStore(lake)
    total = "SELECT sum(BilledCost)::VARCHAR FROM costs"

    def answer() -> str:
        return str(served.sql(total).rows[0][0])

    first = served.remembered("total", answer)
    # The lake is made again from scratch, from another export, to the same generation.
    for name in objects(s3, "remade/"):
        s3.delete_object(Bucket=BUCKET, Key=f"remade/{name}")
    assert run(lake, "ingest", FOCUS_12 / "gcp.csv").exit_code == 0
    second = served.remembered("total", answer)
    assert second != first
    assert (
        second
        == json.loads(run(lake, "sql", total, "-f", "json").stdout)[0][
            "CAST(sum(BilledCost) AS VARCHAR)"
        ]
    )


def test_an_idle_dashboard_asks_the_store_one_head_per_look(
    s3: boto3.client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The warmer looks for a new generation with one HEAD of catalog.json (every 5 s on an
    object store), and reads the catalog only when it changed."""
    import time

    import s3fs

    from cloudtally.web.serving import WARM_OBJECT_STORE_EVERY_SECONDS, ServingStore, Warmer

    lake = f"s3://{BUCKET}/idle"
    assert run(lake, "ingest", FOCUS_12 / "aws.csv").exit_code == 0
    asked = paths_asked(monkeypatch, s3fs.S3FileSystem, "_info")  # HEAD
    fetched = paths_asked(monkeypatch, s3fs.S3FileSystem, "_cat_file")  # GET
    store = ServingStore(lake)
    assert Warmer(store, None, []).every == WARM_OBJECT_STORE_EVERY_SECONDS
    warmer = Warmer(store, None, [], every=0.05)

    def wait_for(done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + 30
        while not done():
            assert time.monotonic() < deadline, "the warmer did not warm in time"
            time.sleep(0.02)

    warmer.start()
    try:
        wait_for(lambda: warmer.warmed is not None)
        first = warmer.warmed
        asked.clear()
        fetched.clear()
        time.sleep(0.6)
        assert fetched == []
        assert set(asked) == {f"{BUCKET}/idle/catalog.json"} and len(asked) >= 5
        # A commit: the next look sees a new ETag, and the new generation is warmed.
        assert run(lake, "ingest", FOCUS_12 / "gcp.csv").exit_code == 0
        wait_for(lambda: warmer.warmed not in (None, first))
    finally:
        warmer.stop()


def test_a_cache_folder_whose_path_reads_as_a_pattern_is_refused(
    s3: boto3.client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An object store's lake stages its files in the cache folder, read back by pattern
    (`split/*.parquet`): a cache folder whose path holds `[` is refused, said so, before
    anything is written."""
    cache = tmp_path / "cache[1]"
    monkeypatch.setenv("CLOUDTALLY_CACHE_DIR", str(cache))
    result = run(f"s3://{BUCKET}/cached", "ingest", FOCUS_12 / "aws.csv")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: The cache folder {cache} (CLOUDTALLY_CACHE_DIR): the path holds [, which "
        "DuckDB's file readers take as a pattern, so the lake's files could not be read as "
        "themselves. Choose a path without [ * ?.\n"
    )
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="cached/")
