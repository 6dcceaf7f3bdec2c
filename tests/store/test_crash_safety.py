"""kill -9 at any moment leaves the previous state intact and readable; the next run recovers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from cloudtally.store import Store
from cloudtally.store.faults import POINTS
from tests.conftest import FOCUS_10, SAMPLES

AWS_12 = SAMPLES / "focus" / "1.2" / "aws.csv"
BEFORE = Decimal("20.52022672899")
AFTER = BEFORE + Decimal("25993.813466032605")


def run_ingest(data_dir: Path, *paths: Path, crash_at: str | None = None) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("CLOUDTALLY_CRASH_AT", None)
    if crash_at:
        env["CLOUDTALLY_CRASH_AT"] = crash_at
    return subprocess.Popen(
        [sys.executable, "-m", "cloudtally", "--data-dir", str(data_dir), "ingest", "--no-progress", *map(str, paths)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip


def total(data_dir: Path, relation: str = "costs") -> Decimal:
    value = Store(data_dir).sql(f"SELECT sum(BilledCost) FROM {relation}").fetchone()[0]  # type: ignore[index]
    return Decimal(value).normalize()


def parquet_files(data_dir: Path) -> set[str]:
    return {str(p.relative_to(data_dir)) for p in (data_dir / "lake").rglob("*.parquet")}


@pytest.mark.parametrize("point", POINTS)
def test_kill_at_each_step(tmp_path: Path, point: str) -> None:
    data_dir = tmp_path / "lake"
    assert run_ingest(data_dir, FOCUS_10).wait() == 0
    process = run_ingest(data_dir, AWS_12, crash_at=point)
    assert process.wait() == -signal.SIGKILL
    # Readable right away, without recovery, and either wholly before or wholly after.
    committed = point in ("after-catalog", "after-gc")
    assert total(data_dir) == (AFTER if committed else BEFORE)
    # The daily cube is of the same generation: it sums the lines readers see.
    assert total(data_dir, "costs_cube") == (AFTER if committed else BEFORE)
    # The next run recovers without help: same result as if nothing had crashed.
    finish = run_ingest(data_dir, AWS_12)
    assert finish.wait() == 0, finish.stderr.read()  # type: ignore[union-attr]
    assert total(data_dir) == total(data_dir, "costs_cube") == AFTER
    store = Store(data_dir)
    catalog = store.catalog()
    assert parquet_files(data_dir) == set(catalog.all_files()) | set(catalog.retired_files)
    assert not store.staging_dir.exists() or not any(store.staging_dir.iterdir())


def test_kill_at_random_moments(tmp_path: Path) -> None:
    """A larger file killed after several delays: never a half state."""
    big = tmp_path / "big.csv"
    lines = AWS_12.read_text(encoding="utf-8").splitlines(keepends=True)
    with open(big, "w", encoding="utf-8") as fh:
        fh.write(lines[0])
        for _ in range(150):
            fh.writelines(lines[1:])
    big_total = BEFORE + 150 * Decimal("25993.813466032605")
    data_dir = tmp_path / "lake"
    assert run_ingest(data_dir, FOCUS_10).wait() == 0
    outcomes = set()
    for delay in (0.3, 0.8, 1.5, 2.5):
        process = run_ingest(data_dir, big)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        seen = total(data_dir)
        assert seen in (BEFORE, big_total)
        outcomes.add(seen)
        if seen == big_total:
            break
    assert run_ingest(data_dir, big).wait() == 0
    assert total(data_dir) == big_total
    catalog = Store(data_dir).catalog()
    assert parquet_files(data_dir) == set(catalog.all_files()) | set(catalog.retired_files)


def test_a_second_writer_is_refused_while_one_runs(tmp_path: Path) -> None:
    data_dir = tmp_path / "lake"
    store = Store(data_dir)
    with store.writing():
        process = run_ingest(data_dir, FOCUS_10)
        assert process.wait() == 1
        assert process.stderr.read().decode() == (  # type: ignore[union-attr]
            f"Error: {data_dir} is being written by another cloudtally process; wait for it "
            "to finish and run again.\n"
        )
