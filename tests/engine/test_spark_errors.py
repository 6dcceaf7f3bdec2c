"""`--engine spark` without what it needs says how to get it, and changes nothing."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cloudtally.cli import app
from cloudtally.engine import SparkEngine, engine_for
from cloudtally.errors import StoreError, UnsupportedError
from cloudtally.ingest.pipeline import ingest
from cloudtally.store import Store
from tests.conftest import hide_filesystem_library
from tests.engine.conftest import cloudtally_process
from tests.store.test_catalog_pin import restate_twice

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "focus" / "1.2" / "aws.csv"


def test_without_pyspark_the_message_says_how_to_install_it(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    run = cloudtally_process(
        ["--data-dir", str(lake), "--engine", "spark", "ingest", str(SAMPLE)],
        dict(os.environ),
        block_pyspark=True,
    )
    assert run.returncode == 1
    assert run.stderr.strip() == (
        "Error: --engine spark needs PySpark, which is not installed. Install the Spark extra "
        "with `pip install 'cloudtally[spark]'` (PySpark) and a Java runtime 17 or newer "
        "(Debian/Ubuntu: `apt-get install default-jre-headless`), or run without --engine spark."
    )
    assert "Traceback" not in run.stderr
    assert not (lake / "catalog.json").exists()


def test_without_java_the_message_says_how_to_install_it(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = str(Path(sys.executable).parent)  # python, but no java
    lake = tmp_path / "lake"
    run = cloudtally_process(
        ["--data-dir", str(lake), "--engine", "spark", "ingest", str(SAMPLE)], env
    )
    assert run.returncode == 1
    assert run.stderr.startswith(
        "Error: --engine spark needs a Java runtime, and none was found (no `java` on PATH, "
        "JAVA_HOME unset). Install the Spark extra"
    )
    assert "Traceback" not in run.stderr
    assert not (lake / "catalog.json").exists()


def test_a_command_that_does_not_run_on_spark_says_so(tmp_path: Path) -> None:
    run = cloudtally_process(
        ["--data-dir", str(tmp_path), "--engine", "spark", "sql", "SELECT 1"], dict(os.environ)
    )
    assert run.returncode == 1
    assert run.stderr.strip() == (
        "Error: `cloudtally sql` runs on the embedded engine only; run it without --engine "
        "spark (commands on Spark: ingest, allocate, costs, showback, chargeback, movers)."
    )


def test_an_unknown_engine_gets_a_suggestion() -> None:
    with pytest.raises(UnsupportedError) as raised:
        engine_for("sprak")
    assert str(raised.value) == (
        "Unknown engine 'sprak'. Did you mean 'spark'? Known engines: duckdb, spark."
    )
    assert engine_for("spark", "local[2]") == SparkEngine("local[2]")


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        (
            "az://c/lake",
            "on --engine spark give the container as Hadoop names it: "
            "abfss://CONTAINER@ACCOUNT.dfs.core.windows.net/FOLDER.",
        ),
        (
            "abfss://c@acct.dfs.core.windows.net/lake",
            "a lake in abfss:// needs its filesystem library: `pip install 'cloudtally[azure]'`.",
        ),
    ],
)
def test_an_object_store_lake_spark_cannot_use_is_refused_and_nothing_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uri: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    hide_filesystem_library(monkeypatch, "abfs", "adlfs")
    result = CliRunner().invoke(
        app, ["--data-dir", uri, "--engine", "spark", "ingest", str(SAMPLE)]
    )
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: --data-dir {uri}: {message}"
    assert list(tmp_path.iterdir()) == []  # no local folder named `az:`


@pytest.mark.spark
def test_a_damaged_lake_is_named_as_on_duckdb_and_left_as_it_is(
    tmp_path: Path, spark_engine: SparkEngine
) -> None:
    lake = tmp_path / "lake"
    ingested = CliRunner().invoke(app, ["--data-dir", str(lake), "ingest", str(SAMPLE)])
    assert ingested.exit_code == 0, ingested.output
    live = Store(lake).catalog().live_files()
    (lake / live[0]).unlink()  # a file Spark cannot reach
    catalog = (lake / "catalog.json").read_bytes()

    def costs(engine: str) -> str:
        result = CliRunner().invoke(
            app,
            ["--data-dir", str(lake), "--engine", engine, "--spark-master", spark_engine.master,
             "costs", "--by", "service"],
        )  # fmt: skip
        assert result.exit_code == 1
        return result.output

    on_spark = costs("spark")
    assert on_spark == costs("duckdb")
    assert on_spark.startswith(f"Error: Lake file {live[0]} (aws/")
    assert on_spark.endswith(
        f"is missing. Run `cloudtally ingest --repair` to rewrite it from its source ({SAMPLE}).\n"
    )
    assert "Traceback" not in on_spark
    assert (lake / "catalog.json").read_bytes() == catalog


def test_a_command_whose_generation_went_away_is_told_to_run_again_as_on_duckdb(
    tmp_path: Path, spark_engine: SparkEngine
) -> None:
    lake = tmp_path / "lake"
    store = Store(lake, spark_engine)
    ingest(Store(lake), [SAMPLE])
    with store.pinned():
        store.catalog()
        restate_twice(lake, tmp_path)  # another process: the generation read is gone
        with pytest.raises(StoreError) as refused:
            store.connect()
    assert str(refused.value) == (
        "The lake changed while this command ran (it read generation 1; generation 3 is live "
        "now: another ingest or allocation made newer data live meanwhile). Run the command "
        "again."
    )
