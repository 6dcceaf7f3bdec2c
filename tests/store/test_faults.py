"""Faults leave a way out: each process spills into its own folder (a writer's clean-up no
longer pulls a reader's spill files away), `check` verifies every live file against what the
catalog recorded, a damaged file is named with how to repair it, `export --overwrite` deletes
only folders export wrote, and Ctrl-C or a full disk is one message with the store unchanged."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from cloudtally.ingest.pipeline import ingest
from cloudtally.store import Store
from tests.conftest import FOCUS_10, SAMPLES, Run

AWS_12 = SAMPLES / "focus" / "1.2" / "aws.csv"
AWS_FILE_ROWS = 942


def fingerprint(data_dir: Path) -> dict[str, str]:
    """Every file of the data dir (spill folders and the lock aside) with its sha256."""
    return {
        str(p.relative_to(data_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(data_dir.rglob("*"))
        if p.is_file() and p.name != ".lock" and "tmp" not in p.relative_to(data_dir).parts
    }


def aws_file(store: Store) -> tuple[Path, str]:
    """The live file of FOCUS_10's AWS account-period, and its path as the catalog has it."""
    (part,) = [f for p in store.catalog().partitions if p.key.provider == "aws" for f in p.files]
    return store.data_dir / part.path, part.path


def cloudtally(data_dir: Path, *args: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "cloudtally", "--data-dir", str(data_dir), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


# -- spill folders ------------------------------------------------------------------------------

READER = """
import sys
from cloudtally.store import Store
con = Store(sys.argv[1]).connect()
print(con.execute("SELECT current_setting('temp_directory')").fetchone()[0], flush=True)
sys.stdin.readline()
for setting in ("memory_limit = '50MB'", "threads = 1", "preserve_insertion_order = false",
                "enable_progress_bar = false"):
    con.execute("SET " + setting)
# Sorting 3M rows in 50 MB spills into the temp directory.
print(con.execute(
    "SELECT count(*), sum(r) FROM (SELECT range AS r FROM range(3000000) ORDER BY hash(range))"
).fetchone(), flush=True)
sys.stdin.readline()
"""


def reader(data_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", READER, str(data_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_each_process_spills_into_its_own_folder_and_a_writer_leaves_them(
    store: Store,
) -> None:
    ingest(store, [FOCUS_10])
    # What a process killed mid-query left behind: a folder whose lock nobody holds, and a
    # spill file of a version before per-process folders.
    stale = store.tmp_dir / "999999-deadbeef"
    stale.mkdir(parents=True)
    (stale / "duckdb_temp_block-1.block").write_bytes(b"x" * 100)
    (store.tmp_dir / "999999-deadbeef.lock").write_bytes(b"")
    (store.tmp_dir / "duckdb_temp_storage_S32K-0.tmp").write_bytes(b"x")
    readers = [reader(store.data_dir) for _ in range(2)]
    folders = [Path(r.stdout.readline().strip()) for r in readers]  # type: ignore[union-attr]
    assert folders[0] != folders[1]
    assert all(f.parent == store.tmp_dir and f.is_dir() for f in folders)
    # A writer recovers from interrupted runs: the stale folder goes, the live ones stay.
    writer = cloudtally(store.data_dir, "ingest", "--no-progress", AWS_12)
    assert writer.wait() == 0, writer.stderr.read()  # type: ignore[union-attr]
    own = {p.name for p in store.tmp_dir.iterdir() if p.name.startswith(f"{os.getpid()}-")}
    assert sorted(p.name for p in store.tmp_dir.iterdir() if p.name not in own) == sorted(
        [folders[0].name, folders[1].name, f"{folders[0].name}.lock", f"{folders[1].name}.lock"]
    )
    # The readers spill into their folders and finish.
    for r in readers:
        r.stdin.write("\n")  # type: ignore[union-attr]
        r.stdin.flush()  # type: ignore[union-attr]
    for r in readers:
        line = r.stdout.readline().strip()  # type: ignore[union-attr]
        assert line == "(3000000, 4499998500000)", r.stderr.read()  # type: ignore[union-attr]
        r.stdin.write("\n")  # type: ignore[union-attr]
        r.stdin.flush()  # type: ignore[union-attr]
        assert r.wait() == 0, r.stderr.read()  # type: ignore[union-attr]
    # Each owner removed its folder when it exited.
    assert {p.name for p in store.tmp_dir.iterdir()} == own


# -- damaged live files -----------------------------------------------------------------------


def repair(source: Path = FOCUS_10) -> str:
    return f"Run `cloudtally ingest --repair` to rewrite it from its source ({source})."


def test_check_finds_a_file_whose_totals_were_changed(
    store: Store, cli: Callable[..., Run]
) -> None:
    ingest(store, [FOCUS_10])
    path, relative = aws_file(store)
    tampered = path.with_name("tampered.parquet")
    duckdb.connect().execute(
        f"COPY (SELECT * REPLACE (BilledCost * 2 AS BilledCost) FROM read_parquet('{path}')) "
        f"TO '{tampered}' (FORMAT parquet)"
    )
    os.replace(tampered, path)
    result = cli("check", "--only", "lake-files", "--format", "csv")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[1] == (
        f'lake-files,error,FAIL,1,,,aws,1234567890123,,2024-09,,,"{relative} sums BilledCost '
        f"USD to 36.0132772368; the catalog recorded 18.0066386184. {repair()} (aws, billing "
        'account 1234567890123, 2024-09)"'
    )


def test_check_finds_a_file_changed_with_its_totals_kept(
    store: Store, cli: Callable[..., Run]
) -> None:
    ingest(store, [FOCUS_10])
    path, relative = aws_file(store)
    tampered = path.with_name("tampered.parquet")
    duckdb.connect().execute(
        f"COPY (SELECT * REPLACE ('Someone else' AS ServiceName) FROM read_parquet('{path}')) "
        f"TO '{tampered}' (FORMAT parquet)"
    )
    os.replace(tampered, path)
    result = cli("check", "--only", "lake-files", "--format", "csv")
    assert result.exit_code == 1
    assert f"{relative} has changed since it was ingested (its bytes differ)." in result.stdout


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        ("delete", "is missing"),
        ("zero", "is not a readable Parquet file (its first or last bytes are not PAR1)"),
        ("truncate", "is not a readable Parquet file (its first or last bytes are not PAR1)"),
    ],
)
def test_a_damaged_file_is_named_by_check_and_every_command(
    store: Store, cli: Callable[..., Run], damage: str, problem: str
) -> None:
    ingest(store, [FOCUS_10])
    path, relative = aws_file(store)
    if damage == "delete":
        path.unlink()
    elif damage == "zero":
        path.write_bytes(b"\0" * path.stat().st_size)
    else:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    result = cli("check", "--format", "csv")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[1] == (
        f'lake-files,error,FAIL,1,,,aws,1234567890123,,2024-09,,,"{relative} {problem}. '
        f'{repair()} (aws, billing account 1234567890123, 2024-09)"'
    )
    message = f"Error: Lake file {relative} (aws/1234567890123/2024-09) {problem}. {repair()}\n"
    for command in (
        ("costs",),
        ("movers",),
        ("sql", "SELECT count(*) FROM costs"),
        ("export", store.data_dir.parent / "out"),
    ):
        result = cli(*command)
        assert (result.exit_code, result.stderr) == (1, message), command


def test_a_file_damaged_inside_is_named_when_a_query_reads_it(
    store: Store, cli: Callable[..., Run]
) -> None:
    ingest(store, [FOCUS_10])
    path, relative = aws_file(store)
    (offset, size) = (
        duckdb.connect()
        .execute(
            "SELECT data_page_offset, total_compressed_size FROM parquet_metadata(?) "
            "WHERE path_in_schema = 'BilledCost'",
            [str(path)],
        )
        .fetchone()
    )  # type: ignore[misc]
    data = bytearray(path.read_bytes())
    for n in range(offset + 40, offset + size - 40):  # the footer stays whole
        data[n] ^= 0xFF
    path.write_bytes(bytes(data))
    # (by resource: a question the daily cube cannot answer, so the lake's files are read)
    result = cli("costs", "--by", "resource")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"Error: Lake file {relative} (aws/1234567890123/2024-09) cannot be read (Invalid Input "
        f'Error: Failed to read file "{path}": ZSTD Decompression failure). '
    )
    assert result.stderr.endswith(f"{repair()}\n")
    result = cli("check", "--only", "lake-files", "--format", "csv")
    assert f"{relative} is not a readable Parquet file (Invalid Input Error:" in result.stdout


# -- repair ---------------------------------------------------------------------------------


def costs_total(cli: Callable[..., Run]) -> str:
    result = cli("sql", "SELECT count(*), sum(BilledCost) FROM costs", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    return result.stdout


def double_billed_cost(path: Path) -> None:
    tampered = path.with_name("tampered.parquet")
    duckdb.connect().execute(
        f"COPY (SELECT * REPLACE (BilledCost * 2 AS BilledCost) FROM read_parquet('{path}')) "
        f"TO '{tampered}' (FORMAT parquet)"
    )
    os.replace(tampered, path)


def test_ingest_repair_rewrites_a_changed_file_from_where_its_source_was(
    store: Store, cli: Callable[..., Run]
) -> None:
    ingest(store, [FOCUS_10])
    before = costs_total(cli)
    assert before == "count_star(),sum(BilledCost)\n1000,20.52022672899\n"
    path, _ = aws_file(store)
    double_billed_cost(path)
    assert cli("check", "--only", "lake-files").exit_code == 1
    # Re-ingesting the source as before says "unchanged": the damage is not a missing file.
    assert "already ingested, unchanged" in cli("ingest", FOCUS_10).stdout
    result = cli("ingest", "--repair")
    assert result.exit_code == 0, result.stderr
    # The source fed four account-periods: all four are rewritten from it.
    assert (
        "Repaired 4 account-period(s) from their sources: aws/1234567890123/2024-09, "
        "azure//providers/Microsoft.Billing/billingAccounts/8611537/2024-09, "
        "oci/20209880/2024-09, oci/20209880/2024-10\n"
    ) in result.stdout
    assert cli("check", "--only", "lake-files").exit_code == 0
    assert costs_total(cli) == before
    assert [e.outcome for e in store.manifest()] == ["stored", "repaired"]
    assert cli("ingest", "--repair").stdout == (
        "Nothing to repair: every live file holds what was ingested.\n"
    )


def test_reingesting_the_source_rewrites_a_missing_file(
    store: Store, cli: Callable[..., Run]
) -> None:
    ingest(store, [FOCUS_10])
    before = costs_total(cli)
    path, _ = aws_file(store)
    path.unlink()
    result = cli("ingest", FOCUS_10)
    assert result.exit_code == 0, result.stderr
    assert "Repaired 4 account-period(s)" in result.stdout
    assert costs_total(cli) == before
    assert cli("check", "--only", "lake-files").exit_code == 0


def test_a_repair_keeps_the_other_files_of_the_account_period(
    store: Store, cli: Callable[..., Run], tmp_path: Path
) -> None:
    header, *lines = AWS_12.read_text().splitlines(keepends=True)
    halves = tmp_path / "delivery"
    halves.mkdir()
    first, second = halves / "part-1.csv", halves / "part-2.csv"
    first.write_text(header + "".join(lines[: len(lines) // 2]))
    second.write_text(header + "".join(lines[len(lines) // 2 :]))
    ingest(store, [first, second])
    before = costs_total(cli)
    assert before.splitlines()[1].startswith("1000,")
    # An account-period fed by both halves.
    sha = {hashlib.sha256(f.read_bytes()).hexdigest(): f for f in (first, second)}
    shared = next(p for p in store.catalog().partitions if len(p.files) == 2)
    by_source = {sha[f.source_sha256]: store.data_dir / f.path for f in shared.files}
    damaged, kept = by_source[first], by_source[second]
    kept_bytes = kept.read_bytes()
    damaged.write_bytes(b"\0" * 64)
    result = cli("ingest", "--repair", first)
    assert result.exit_code == 0, result.stderr
    assert costs_total(cli) == before
    assert kept.read_bytes() == kept_bytes
    assert cli("check", "--only", "lake-files").exit_code == 0


def test_a_repair_without_its_source_is_refused_and_changes_nothing(
    store: Store, cli: Callable[..., Run], tmp_path: Path
) -> None:
    copy = tmp_path / "export.csv"
    shutil.copy(FOCUS_10, copy)
    ingest(store, [copy])
    copy.unlink()
    path, relative = aws_file(store)
    double_billed_cost(path)
    before = fingerprint(store.data_dir)
    result = cli("ingest", "--repair")
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: Cannot repair {relative}: its source (last seen at {copy}) is gone or has "
        "changed. Give the source file: `cloudtally ingest --repair PATH`. Nothing was "
        "changed.\n",
    )
    assert fingerprint(store.data_dir) == before
    # The same bytes under another name will do.
    result = cli("ingest", "--repair", FOCUS_10)
    assert result.exit_code == 0, result.stderr
    assert cli("check", "--only", "lake-files").exit_code == 0


# -- export --overwrite -------------------------------------------------------------------------


def test_export_overwrites_only_what_export_wrote(
    store: Store, cli: Callable[..., Run], tmp_path: Path
) -> None:
    ingest(store, [FOCUS_10])
    before = fingerprint(store.data_dir)
    data = store.data_dir
    for target, message in [
        (data / "lake", f"{data / 'lake'} is inside the data dir {data}"),
        (data, f"{data} is the data dir"),
        (data.parent, f"{data.parent} holds the data dir {data}"),
        (
            data / "lake" / "x.parquet",
            f"{data / 'lake' / 'x.parquet'} is inside the data dir {data}",
        ),
    ]:
        result = cli("export", target, "--overwrite")
        assert result.stderr == f"Error: {message}: export to a path outside it.\n"
    assert fingerprint(data) == before
    # A folder export did not write is left alone.
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    result = cli("export", mine, "--overwrite")
    assert result.stderr == (
        f"Error: {mine} was not written by `cloudtally export` (it has no "
        ".cloudtally-export.json); --overwrite replaces only folders export wrote. Choose "
        "another path.\n"
    )
    assert (mine / "notes.txt").read_text() == "keep"
    # An export is marked, and can be overwritten...
    out = tmp_path / "out"
    assert cli("export", out).exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        ".cloudtally-export.json",
        "focus-1.2-aws-2024-09.parquet",
        "focus-1.2-azure-2024-09.parquet",
        "focus-1.2-oci-2024-09.parquet",
        "focus-1.2-oci-2024-10.parquet",
    ]
    assert cli("export", out, "--overwrite", "--period", "2024-10").exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        ".cloudtally-export.json",
        "focus-1.2-oci-2024-10.parquet",
    ]
    # ...unless someone put their own files in it.
    (out / "analysis.xlsx").write_text("mine")
    result = cli("export", out, "--overwrite")
    assert result.stderr == (
        f"Error: {out} holds files `cloudtally export` did not write (analysis.xlsx); "
        "--overwrite would delete them. Move them out or choose another path.\n"
    )
    assert (out / "analysis.xlsx").exists()


def test_export_bi_never_replaces_the_lake_and_takes_any_folder_name(
    store: Store, cli: Callable[..., Run], tmp_path: Path
) -> None:
    ingest(store, [FOCUS_10])
    before = fingerprint(store.data_dir)
    data = store.data_dir
    for target, where in [
        (data, "is the data dir"),
        (data.parent, f"holds the data dir {data}"),
        (data / "lake", f"is inside the data dir {data}"),
    ]:
        result = cli("export", "--bi", target, "--overwrite")
        assert result.stderr == f"Error: {target} {where}: export to a path outside it.\n"
    assert fingerprint(data) == before
    out = tmp_path / "o'brien's star"
    result = cli("export", "--bi", out)
    assert result.exit_code == 0, result.stderr
    assert ".cloudtally-export.json" in {p.name for p in out.iterdir()}
    fact = out / "fact_daily_cost.parquet"
    (rows,) = (
        duckdb.connect().execute("SELECT count(*) FROM read_parquet(?)", [str(fact)]).fetchone()
    )  # type: ignore[misc]
    assert rows > 0


# -- Ctrl-C and a full disk --------------------------------------------------------------------


# Ctrl-C landing while a library runs Python code that turns the KeyboardInterrupt into an
# error of its own: DuckDB, importing a module it needs when the interrupt came, said the
# module was not installed (seen once in CI, as a traceback and exit 1).
CONVERTED = """
import os, signal, sys
import cloudtally.ingest.pipeline as pipeline

found = pipeline.discover

def discover(*args, **kwargs):
    try:
        os.kill(os.getpid(), signal.SIGINT)
        sum(range(1000))  # (Python's handler runs here)
    except KeyboardInterrupt:
        raise ModuleNotFoundError("No module named 'pandas': it is not installed.") from None
    return found(*args, **kwargs)

pipeline.discover = discover
sys.argv = ["cloudtally", "--data-dir", sys.argv[1], "ingest", sys.argv[2]]
from cloudtally.cli import main
main()
"""


def test_ctrl_c_that_a_library_turned_into_its_own_error_is_still_an_interrupt(
    store: Store,
) -> None:
    ingest(store, [FOCUS_10])
    before = fingerprint(store.data_dir)
    done = subprocess.run(
        [sys.executable, "-c", CONVERTED, str(store.data_dir), str(FOCUS_10)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (130, "Interrupted; the store is unchanged.\n")
    assert fingerprint(store.data_dir) == before


def test_ctrl_c_during_an_ingest_is_one_message_and_changes_nothing(
    store: Store, tmp_path: Path
) -> None:
    from cloudtally.sample import generate_sample

    ingest(store, [FOCUS_10])
    before = fingerprint(store.data_dir)
    generate_sample(tmp_path / "big", months=1, scale=1, seed=3)
    process = cloudtally(store.data_dir, "ingest", "--no-progress", tmp_path / "big")
    deadline = time.monotonic() + 60
    while not any(store.staging_dir.glob("*/*")) and time.monotonic() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert (process.returncode, stderr) == (130, "Interrupted; the store is unchanged.\n")
    assert fingerprint(store.data_dir) == before
    assert not any(store.staging_dir.glob("*/*"))


def test_ctrl_c_during_a_query_is_one_message(store: Store) -> None:
    ingest(store, [FOCUS_10])
    process = cloudtally(
        store.data_dir, "sql", "SELECT count(*) FROM range(1000000000000) WHERE hash(range) = 0"
    )
    # The command has connected once its spill folder exists; then the query runs.
    deadline = time.monotonic() + 60
    while not any(store.tmp_dir.glob(f"{process.pid}-*.lock")) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert (process.returncode, stdout, stderr) == (
        130,
        "",
        "Interrupted; the store is unchanged.\n",
    )


DISK_FULL = """
import hashlib, json, os, subprocess, sys
from pathlib import Path
mount, focus10, aws12 = map(Path, sys.argv[1:4])
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], check=True)
data = mount / "data"
def run(*args):
    p = subprocess.run([sys.executable, "-m", "cloudtally", "--data-dir", str(data), *args],
                       capture_output=True, text=True)
    return p.returncode, p.stderr
def fingerprint():
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(data.rglob("*"))
            if p.is_file() and p.name != ".lock" and "tmp" not in p.parts}
first = run("ingest", "--no-progress", str(focus10))
before = fingerprint()
# Fill the disk, leaving 200 KB: enough to start an ingest, not to finish it.
with open(mount / "filler", "wb") as fh:
    free = os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize
    fh.write(b"\\0" * (free - 200_000))
second = run("ingest", "--no-progress", str(aws12))
print(json.dumps({"first": first, "second": second, "same": fingerprint() == before,
                  "staging": [str(p) for p in (data / "staging").rglob("*")]}))
"""


def test_a_full_disk_is_one_message_and_changes_nothing(tmp_path: Path) -> None:
    if (
        shutil.which("unshare") is None
        or subprocess.run(
            ["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True
        ).returncode
    ):
        pytest.skip("needs `unshare` (util-linux) and user namespaces to mount a small tmpfs")
    import json

    mount = tmp_path / "small"
    mount.mkdir()
    result = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", sys.executable, "-c", DISK_FULL,
         str(mount), str(FOCUS_10), str(AWS_12)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["first"] == [0, ""]
    code, stderr = outcome["second"]
    assert code == 1
    assert stderr.startswith("Error: The disk is full")
    assert stderr.endswith("; the store is unchanged. Free some space and run the command again.\n")
    assert "Traceback" not in stderr
    assert outcome["same"] is True
    assert outcome["staging"] == []
