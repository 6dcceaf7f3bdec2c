"""A successful run on Spark shows the CLI's output, not the JVM's logs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cloudtally.sample.generator import generate_sample
from tests.engine.conftest import cloudtally_process

pytest.importorskip("pyspark")


def test_a_typed_export_ingests_on_spark_without_the_jvms_codegen_errors(tmp_path: Path) -> None:
    """A typed Parquet export makes the converter's projection too large for Spark's whole-stage
    code generation: Spark runs it without generated code and used to print the compiler's
    failure, ~300 lines of Java stack trace, on a run that succeeded."""
    generate_sample(tmp_path / "export", months=1, scale=0.01, fmt="parquet")
    export = tmp_path / "export" / "aws" / "2024-10.parquet"
    lake = tmp_path / "lake"
    args = ["--data-dir", str(lake), "--engine", "spark", "--spark-master", "local[1]"]
    run = cloudtally_process(
        [*args, "ingest", "--no-progress", str(export)], dict(os.environ), timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Ingest id " in run.stdout
    assert "ERROR" not in run.stderr
    assert "\tat org." not in run.stderr
    assert "CodeGenerator" not in run.stderr
