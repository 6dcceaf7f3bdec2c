"""One local Spark session for the whole test run (its start is the expensive part)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys

import pytest

from cloudtally.engine import SparkEngine

MASTER = "local[2]"


def spark_missing() -> str | None:
    """Why Spark cannot run here, or None."""
    if importlib.util.find_spec("pyspark") is None:
        return "PySpark is not installed (pip install 'cloudtally[spark]')"
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        return "no Java runtime (apt-get install default-jre-headless)"
    return None


@pytest.fixture(scope="session")
def spark_engine() -> SparkEngine:
    missing = spark_missing()
    if missing:
        if os.environ.get("CLOUDTALLY_REQUIRE_SPARK"):
            pytest.fail(f"CLOUDTALLY_REQUIRE_SPARK is set but {missing}.")
        pytest.skip(missing)
    from cloudtally.engine.spark import spark_session

    spark_session(MASTER)
    return SparkEngine(MASTER)


def cloudtally_process(
    args: list[str],
    env: dict[str, str],
    block_pyspark: bool = False,
    timeout: int = 120,
    prelude: str = "",
) -> subprocess.CompletedProcess[str]:
    """The CLI in a fresh interpreter (a missing package or Java is a process-wide fact, and
    the JVM's own output reaches only a process's stderr), after the Python in `prelude`."""
    if block_pyspark:
        prelude += "\nimport sys; sys.modules['pyspark'] = None"
    code = (
        f"{prelude}\nimport sys; sys.argv = ['cloudtally', *{args!r}]\n"
        "from cloudtally.cli import main; main()"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=timeout
    )
