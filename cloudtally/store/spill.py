"""Spill folders: where DuckDB writes what does not fit in memory, one folder per process.

Each process gets `<data dir>/tmp/<pid>-<token>/` and holds an exclusive lock on the file
`<pid>-<token>.lock` beside it for as long as it runs; it removes both when it exits. Any
process may remove a folder whose lock nobody holds (its owner died, e.g. `kill -9`), and
nothing else: a writer cleaning up no longer deletes the spill files of a reader still at work.

A data dir that cannot be written (a read-only mount) spills to a private folder under the
system's temporary directory instead.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import IO

# data dir -> this process's spill folder in it
_OWNED: dict[Path, Path] = {}
_LOCKS: list[IO[bytes]] = []


def spill_folder(data_dir: Path) -> Path:
    """This process's spill folder for `data_dir` (made on first use)."""
    folder = _OWNED.get(data_dir)
    if folder is not None and folder.is_dir():
        return folder
    tmp = data_dir / "tmp"
    try:
        folder = _claim(tmp)
    except OSError:
        folder = Path(tempfile.mkdtemp(prefix="cloudtally-spill-"))
        atexit.register(shutil.rmtree, folder, True)
    _OWNED[data_dir] = folder
    return folder


def remove_stale(tmp: Path) -> list[Path]:
    """Remove the spill folders in `tmp` whose owner is gone; the folders removed."""
    removed: list[Path] = []
    if not tmp.is_dir():
        return removed
    owned = set(_OWNED.values())
    for entry in sorted(tmp.iterdir()):
        if entry.suffix == ".lock" or entry in owned:
            continue
        lock = entry.with_name(entry.name + ".lock")
        if lock.exists() and _held(lock):
            continue
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:  # spill files of versions before per-process folders
            entry.unlink(missing_ok=True)
        lock.unlink(missing_ok=True)
        removed.append(entry)
    for lock in tmp.glob("*.lock"):
        if not lock.with_suffix("").exists() and not _held(lock):
            lock.unlink(missing_ok=True)
    return removed


def _claim(tmp: Path) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    name = f"{os.getpid()}-{secrets.token_hex(4)}"
    # The lock is taken on a file under a private name, then renamed into place, so no other
    # process ever sees the lock file unheld while its owner lives.
    pending = tmp / f".{name}.lock"
    handle = open(pending, "wb")  # noqa: SIM115 - held until the process exits
    fcntl.flock(handle, fcntl.LOCK_EX)
    lock = tmp / f"{name}.lock"
    os.replace(pending, lock)
    folder = tmp / name
    folder.mkdir()
    _LOCKS.append(handle)
    atexit.register(_release, folder, lock, handle)
    return folder


def _release(folder: Path, lock: Path, handle: IO[bytes]) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    lock.unlink(missing_ok=True)
    handle.close()


def _held(lock: Path) -> bool:
    """Whether a live process holds `lock`."""
    try:
        with open(lock, "rb") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(handle, fcntl.LOCK_UN)
            return False
    except FileNotFoundError:
        return False
