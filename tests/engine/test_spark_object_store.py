"""Spark on a lake in S3 (`--engine spark --data-dir s3://...`), on a Spark cluster (a
standalone master and worker on 127.0.0.1, its executors JVMs of their own): the executors read
and write the objects through Hadoop's S3A connector (the jars `make spark-jars` fetches)
against the S3 API on 127.0.0.1 and stage the new files in the store, never on the driver's
disk, and hash them there; the rows and answers equal the default engine's on the same lake.
(`local[*]` takes the same path: each Spark run here is two JVMs' start, so the cluster alone
is run.)"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner

from cloudtally.cli import app
from cloudtally.store import Store
from tests.conftest import BUCKET, ROOT, SAMPLES
from tests.engine.conftest import MASTER, cloudtally_process, spark_missing

pytestmark = [pytest.mark.spark, pytest.mark.slow]

JARS = ROOT / ".spark-jars"
RULES = ROOT / "examples" / "rules"
OPENCOST = ROOT / "tests" / "fixtures" / "opencost" / "allocation-namespace-1d.json"
OCI = ROOT / "tests" / "fixtures" / "native" / "oci" / "cost-report-sample.csv"


@pytest.fixture(scope="module")
def spark_env(s3: boto3.client) -> dict[str, str]:
    """The environment of a cloudtally process whose Spark session reaches the S3 API: the
    connector's jars and settings given the way a user gives them (PYSPARK_SUBMIT_ARGS)."""
    jars = sorted(JARS.glob("*.jar"))
    missing = spark_missing() or (None if len(jars) == 2 else f"no S3A jars in {JARS}")
    if missing:
        if os.environ.get("CLOUDTALLY_REQUIRE_SPARK"):
            pytest.fail(f"CLOUDTALLY_REQUIRE_SPARK is set but {missing} (`make spark-jars`).")
        pytest.skip(missing)
    settings = {
        "endpoint": os.environ["AWS_ENDPOINT_URL"],
        "path.style.access": "true",
        "connection.ssl.enabled": "false",
        "aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        "access.key": os.environ["AWS_ACCESS_KEY_ID"],
        "secret.key": os.environ["AWS_SECRET_ACCESS_KEY"],
        # hadoop-aws 3.3 reads these as plain numbers; the Hadoop inside Spark 4 gives them as
        # durations ("60s") by default.
        "threads.keepalivetime": "60",
        "connection.timeout": "200000",
        "connection.establish.timeout": "30000",
        "connection.ttl": "300000",
        "connection.request.timeout": "0",
        "connection.acquisition.timeout": "60000",
        "connection.idle.time": "60000",
        "multipart.purge.age": "86400",
    }
    conf = " ".join(f"--conf spark.hadoop.fs.s3a.{k}={v}" for k, v in settings.items())
    return {
        **os.environ,
        "PYSPARK_SUBMIT_ARGS": f"--jars {','.join(map(str, jars))} {conf} pyspark-shell",
    }


# The driver reads no lake file's bytes to record its sha256: the executors hash them.
DRIVER_HASHES_NOTHING = """
from cloudtally.store.store import Store

def refused(self, path):
    raise AssertionError(f"the driver read {path} to hash it")

Store.file_sha256 = refused

# Nor is an export in the store fetched whole (report manifests are): the driver reads its
# header from a copy of the object's ends, the rest of that copy is a hole, and the executors
# hash the object and read its rows where it is.
import os
import cloudtally.ingest.remote as remote

fetched = remote.RemoteSources.fetch

def manifests_only(self, files, reporter):
    for file in files:
        if file in self._pending and not remote.is_manifest(file):
            raise AssertionError(f"the driver fetched {file} whole")
    return fetched(self, files, reporter)

remote.RemoteSources.fetch = manifests_only

# (CLOUDTALLY_TEST_REWRITE=KEY: that object is written again once the executors read it)
if os.environ.get("CLOUDTALLY_TEST_REWRITE"):
    import boto3

    refuse_changed = remote.RemoteSources.refuse_changed

    def written_again_first(self, files):
        bucket, key = os.environ["CLOUDTALLY_TEST_REWRITE"].split("/", 1)
        boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=b"written again")
        return refuse_changed(self, files)

    remote.RemoteSources.refuse_changed = written_again_first
"""


def spark_run(
    env: dict[str, str], lake: str, *args: str | Path, master: str = MASTER
) -> subprocess.CompletedProcess[str]:
    return cloudtally_process(
        ["--engine", "spark", "--spark-master", master, "--data-dir", lake, *map(str, args)],
        env,
        timeout=600,
        prelude=DRIVER_HASHES_NOTHING,
    )


def on_spark(env: dict[str, str], lake: str, *args: str | Path, master: str = MASTER) -> str:
    done = spark_run(env, lake, *args, master=master)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def cluster(spark_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark standalone cluster on 127.0.0.1: a master and one worker (2 cores), whose
    executors are JVMs of their own, started by the worker; its master URL."""
    import pyspark

    home = Path(pyspark.__file__).parent
    logs = tmp_path_factory.mktemp("spark-cluster")
    env = {**spark_env, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1"}
    env.pop("PYSPARK_SUBMIT_ARGS")
    port = free_port()
    master = f"spark://127.0.0.1:{port}"
    daemons: list[subprocess.Popen[bytes]] = []

    def start(name: str, *args: str) -> None:
        with (logs / f"{name}.log").open("wb") as log:
            daemons.append(
                subprocess.Popen(
                    [str(home / "bin" / "spark-class"), *args],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def wait_for(text: str) -> None:
        deadline = time.monotonic() + 90
        while text not in (logs / "master.log").read_text(errors="replace"):
            if time.monotonic() > deadline or any(d.poll() is not None for d in daemons):
                pytest.fail(f"the Spark cluster did not start:\n{_logs(logs)}")
            time.sleep(0.5)

    try:
        start(
            "master",
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(free_port()),
        )
        wait_for("I have been elected leader")
        start(
            "worker",
            "org.apache.spark.deploy.worker.Worker",
            master,
            "--host",
            "127.0.0.1",
            "--cores",
            "2",
            "--memory",
            "2g",
            "--webui-port",
            str(free_port()),
            "--work-dir",
            str(logs / "work"),
        )
        wait_for("Registering worker")
        yield master
    finally:
        for daemon in daemons:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(daemon.pid, signal.SIGTERM)
            daemon.wait(timeout=30)


def _logs(folder: Path) -> str:
    return "\n".join(f.read_text(errors="replace")[-2000:] for f in sorted(folder.glob("*.log")))


def on_duckdb(lake: str, *args: str | Path) -> str:
    result = CliRunner().invoke(app, ["--data-dir", lake, *map(str, args)])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_a_spark_cluster_writes_the_lake_staging_in_the_store_and_answers_as_duckdb(
    spark_env: dict[str, str], cluster: str, s3: boto3.client, tmp_path: Path
) -> None:
    # (a space in the lake's name: Spark gives the files' names back percent-encoded)
    lake = f"s3://{BUCKET}/spark cluster"
    samples = SAMPLES / "focus" / "1.2"
    # Stopped (killed) once its files are staged: the executors wrote them in the store, the
    # driver's work folder holds none.
    crashed = spark_run(
        {**spark_env, "CLOUDTALLY_CRASH_AT": "after-stage"},
        lake,
        "ingest",
        samples,
        master=cluster,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr[-3000:]
    keys = sorted(
        o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="spark cluster/")["Contents"]
    )
    staged = [k.split("/", 3)[3] for k in keys if k.startswith("spark cluster/staging/")]
    assert staged == [f"{n:05d}/split/{m:05d}.parquet" for n in range(3) for m in range(2)]
    assert len(keys) == len(staged) + 1 and "spark cluster/.lock" in keys
    assert list(Store(lake).data_dir.rglob("*.parquet")) == []
    # The lock it left is removed by hand (as the refusal says); the next writer clears what
    # was staged, and the cluster ingests and allocates.
    s3.delete_object(Bucket=BUCKET, Key="spark cluster/.lock")
    # The exports where the cloud delivers them: the executors read them there (no shared
    # mount). (OpenCost's API JSON is flattened by Python on the driver, then read by them.)
    for path in sorted(samples.glob("*.csv")):
        s3.upload_file(str(path), BUCKET, f"exports for spark/{path.name}")
    exports = f"s3://{BUCKET}/exports for spark/"
    on_spark(spark_env, lake, "ingest", exports, OPENCOST, master=cluster)
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="spark cluster/lake/")["Contents"]
    folders = Counter(str(Path(o["Key"]).parent.relative_to("spark cluster")) for o in listed)
    assert folders == {  # a file per account-period, the summaries' parts per partition
        "lake/x_Provider=aws/x_BillingPeriod=2026-05": 2,
        "lake/x_Provider=azure/x_BillingPeriod=2026-05": 2,
        "lake/x_Provider=gcp/x_BillingPeriod=2026-05": 2,
        "lake/_derived/costs_cube": 6,
        "lake/_derived/commitments_cube": 6,
        "lake/_derived/k8s_allocations": 1,
    }
    # Each file's sha256 in the catalog is its bytes' (the executors hashed them: see
    # DRIVER_HASHES_NOTHING).
    catalog = json.loads(
        s3.get_object(Bucket=BUCKET, Key="spark cluster/catalog.json")["Body"].read()
    )
    recorded = {f["path"]: f["sha256"] for p in catalog["partitions"] for f in p["files"]}
    assert len(recorded) == 6
    assert recorded == {
        path: hashlib.sha256(
            s3.get_object(Bucket=BUCKET, Key=f"spark cluster/{path}")["Body"].read()
        ).hexdigest()
        for path in recorded
    }
    on_spark(spark_env, lake, "allocate", "--rules", RULES, master=cluster)
    total = on_duckdb(
        lake,
        "sql",
        "SELECT count(*) AS n, sum(BilledCost)::VARCHAR AS c FROM costs "
        "WHERE x_BillingPeriod = '2026-05'",
        "-f",
        "json",
    )
    assert json.loads(total) == [{"n": 3000, "c": "95337.889502113315500000"}]
    files = on_duckdb(
        lake, "sql", "SELECT DISTINCT x_SourceFile FROM costs ORDER BY 1", "-f", "csv"
    )
    assert files.splitlines() == [
        "x_SourceFile",
        *(f"{exports}{name}.csv" for name in ("aws", "azure", "gcp")),
    ]
    # Each export's id is its bytes' sha256 (the executors hashed the objects).
    manifest = s3.get_object(Bucket=BUCKET, Key="spark cluster/manifest.jsonl")["Body"].read()
    sources = {e["path"]: e["sha256"] for e in map(json.loads, manifest.splitlines())}
    assert {p: sources[f"{exports}{p.name}"] for p in samples.glob("*.csv")} == {
        p: hashlib.sha256(p.read_bytes()).hexdigest() for p in samples.glob("*.csv")
    }
    # (One question: each Spark run is a JVM's start. The costs cube and the lake's rows that
    # `costs` reads are compared by the default engine's `check` below and by test_differential.)
    question = ("showback", "--by", "team", "--period", "2026-05", "-f", "json")
    spark = json.loads(on_spark(spark_env, lake, *question, master=cluster))
    assert spark == json.loads(on_duckdb(lake, *question))
    assert [row["team"] for row in spark] == ["data", "payments", "platform", "(unallocated)"]
    checked = json.loads(on_duckdb(lake, "check", "--only", "lake-files", "-f", "json"))
    assert [c["status"] for c in checked] == ["PASS"]
    allocations = "SELECT * EXCLUDE (x_IngestId) FROM k8s_allocations ORDER BY ALL"
    local = tmp_path / "local"
    on_duckdb(str(local), "ingest", OPENCOST)
    stored = json.loads(on_duckdb(lake, "sql", allocations, "-f", "json"))
    assert stored == json.loads(on_duckdb(str(local), "sql", allocations, "-f", "json"))
    assert len(stored) == 8
    keys = [
        o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="spark cluster/")["Contents"]
    ]
    assert [k for k in keys if not k.startswith("spark cluster/lake/")] == [
        "spark cluster/catalog.json",
        "spark cluster/manifest.jsonl",
    ]
    assert list(Store(lake).data_dir.rglob("*.parquet")) == []
    # A native export (OCI's cost report, whose check of its currencies reads every row): the
    # check runs on the executors too, and the rows are the default engine's.
    s3.upload_file(str(OCI), BUCKET, f"exports for spark/oci/{OCI.name}")
    on_spark(spark_env, lake, "ingest", f"{exports}oci/", master=cluster)
    on_duckdb(str(local), "ingest", OCI)
    oci = (
        "SELECT * EXCLUDE (x_IngestId, x_SourceFile{}) FROM costs WHERE x_Provider = 'oci' "
        "ORDER BY ALL"
    )
    # (x_SourceValues: the column of allocated lakes' lines; `local` was never allocated)
    stored = json.loads(on_duckdb(lake, "sql", oci.format(", x_SourceValues"), "-f", "json"))
    assert stored == json.loads(on_duckdb(str(local), "sql", oci.format(""), "-f", "json"))
    assert len(stored) == 506
    # An export written again while the executors read it: the ingest is refused, nothing
    # stored (the driver's header and the executors' rows may be of different bytes).
    late = "exports for spark/late/gcp.csv"
    changed = (samples / "gcp.csv").read_bytes().replace(b"552831", b"552832")
    s3.put_object(Bucket=BUCKET, Key=late, Body=changed)
    before = s3.get_object(Bucket=BUCKET, Key="spark cluster/catalog.json")["Body"].read()
    refused = spark_run(
        {**spark_env, "CLOUDTALLY_TEST_REWRITE": f"{BUCKET}/{late}"},
        lake,
        "ingest",
        f"s3://{BUCKET}/{late}",
        master=cluster,
    )
    assert refused.returncode == 1, refused.stderr[-3000:]
    assert refused.stderr.strip().splitlines()[-1] == (
        f"Error: s3://{BUCKET}/{late}: the object was written again while it was being "
        "ingested (its ETag changed); nothing was stored. Run the ingest again once the export "
        "is delivered."
    )
    assert s3.get_object(Bucket=BUCKET, Key="spark cluster/catalog.json")["Body"].read() == before
