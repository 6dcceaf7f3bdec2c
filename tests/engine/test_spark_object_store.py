"""Spark on a lake in S3 (`--engine spark --data-dir s3://...`): Spark reads and writes the
objects through Hadoop's S3A connector (the jars `make spark-jars` fetches), against the S3 API
on 127.0.0.1; its rows and answers equal the default engine's on the same lake."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner

from cloudtally.cli import app
from tests.conftest import BUCKET, ROOT, SAMPLES
from tests.engine.conftest import MASTER, cloudtally_process, spark_missing

pytestmark = [pytest.mark.spark, pytest.mark.slow]

JARS = ROOT / ".spark-jars"
RULES = ROOT / "examples" / "rules"


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


def on_spark(env: dict[str, str], lake: str, *args: str | Path) -> str:
    done = cloudtally_process(
        ["--engine", "spark", "--spark-master", MASTER, "--data-dir", lake, *map(str, args)],
        env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def on_duckdb(lake: str, *args: str | Path) -> str:
    result = CliRunner().invoke(app, ["--data-dir", lake, *map(str, args)])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("spark-company") / "exports"
    CliRunner().invoke(
        app,
        [
            "--data-dir",
            str(folder.parent / "unused"),
            "sample",
            str(folder),
            "--months",
            "2",
            "--scale",
            "0.2",
        ],
    )
    assert (folder / "aws").is_dir()
    return folder


def test_spark_ingests_into_s3_and_the_default_engine_reads_the_same_lake(
    spark_env: dict[str, str], s3: boto3.client
) -> None:
    lake = f"s3://{BUCKET}/spark-samples"
    on_spark(spark_env, lake, "ingest", SAMPLES / "focus" / "1.2")
    total = on_duckdb(
        lake, "sql", "SELECT count(*) AS n, sum(BilledCost)::VARCHAR AS c FROM costs", "-f", "json"
    )
    assert json.loads(total) == [{"n": 3000, "c": "95337.889502113315500000"}]
    checked = json.loads(on_duckdb(lake, "check", "--only", "lake-files", "-f", "json"))
    assert [c["status"] for c in checked] == ["PASS"]
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="spark-samples/lake/")["Contents"]
    folders = Counter(str(Path(o["Key"]).parent.relative_to("spark-samples")) for o in listed)
    assert folders == {  # a file per account-period, the summaries' parts per partition
        "lake/x_Provider=aws/x_BillingPeriod=2026-05": 2,
        "lake/x_Provider=azure/x_BillingPeriod=2026-05": 2,
        "lake/x_Provider=gcp/x_BillingPeriod=2026-05": 2,
        "lake/_derived/costs_cube": 6,
        "lake/_derived/commitments_cube": 6,
    }


def test_spark_allocates_and_answers_as_the_default_engine(
    spark_env: dict[str, str], exports: Path
) -> None:
    lake = f"s3://{BUCKET}/spark-company"
    on_spark(spark_env, lake, "ingest", exports)
    on_spark(spark_env, lake, "allocate", "--rules", RULES)
    # (One question: each Spark run is a JVM's start. The costs cube and the lake's rows that
    # `costs` reads are compared by the default engine's `check` below and by test_differential.)
    question = ("showback", "--by", "team", "--period", "2024-10", "-f", "json")
    spark = json.loads(on_spark(spark_env, lake, *question))
    assert spark == json.loads(on_duckdb(lake, *question))
    assert len(spark) > 3
    checked = json.loads(on_duckdb(lake, "check", "--only", "lake-files", "-f", "json"))
    assert [c["status"] for c in checked] == ["PASS"]


def test_writing_from_a_cluster_is_refused_before_anything_starts(s3: boto3.client) -> None:
    result = CliRunner().invoke(
        app,
        [
            "--engine",
            "spark",
            "--spark-master",
            "spark://127.0.0.1:7077",
            "--data-dir",
            f"s3://{BUCKET}/cluster",
            "ingest",
            str(SAMPLES / "focus" / "1.2"),
        ],
    )
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: --data-dir s3://{BUCKET}/cluster: writing an object store's lake on a Spark "
        "cluster (--spark-master spark://127.0.0.1:7077) is not supported yet: new files are "
        "staged on the driver. Run ingest and allocate with --spark-master 'local[*]' or on "
        "the default engine; questions (costs, showback, chargeback, movers) run on the cluster."
    )
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="cluster/")
