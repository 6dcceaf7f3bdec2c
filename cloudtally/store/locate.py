"""Finding data dirs: a command that only reads refuses a `--data-dir` that does not exist (it
would otherwise report an empty lake, or create the folder) and names the data dirs nearby."""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from cloudtally.errors import StoreError

if TYPE_CHECKING:
    from cloudtally.store.store import Store

CATALOG = "catalog.json"
# Folders looked into per level (a home folder can hold thousands of entries).
_SCAN_LIMIT = 500


def require_data_dir(store: Store, data_dir: Path) -> None:
    """Refuse a data dir that does not exist (`data_dir`: as given), naming the data dirs
    near it."""
    if store.objects:
        if not store.exists():
            raise StoreError(
                f"--data-dir {store.where} holds no lake (no catalog.json there). Check the "
                f"URI, or create one with `cloudtally --data-dir {store.where} ingest EXPORTS`."
            )
        return
    if data_dir.exists():
        return
    found = nearby_data_dirs(data_dir)
    shown = ", ".join(_shown(p) for p in found)
    where = f" Data dirs nearby: {shown}." if found else " No data dir was found nearby."
    raise StoreError(
        f"--data-dir {_shown(data_dir)} does not exist.{where} Pass an existing one with "
        f"--data-dir (or CLOUDTALLY_DATA_DIR), or create this one with "
        f"`cloudtally --data-dir {_shown(data_dir)} ingest EXPORTS`."
    )


def nearby_data_dirs(path: Path, limit: int = 5) -> list[Path]:
    """Data dirs (folders holding a catalog) near `path`: beside it (and one level further
    down), in the working directory and beside it; the names closest to `path`'s first.
    The file system's root is not searched."""
    path = Path(os.path.abspath(path))
    anchor = path.parent
    while not anchor.exists() and anchor != anchor.parent:
        anchor = anchor.parent
    cwd = Path.cwd()
    found: set[Path] = set()
    for root, depth in ((anchor, 2 if anchor == path.parent else 1), (cwd, 1), (cwd.parent, 1)):
        if root != root.parent:
            found.update(_catalogs_under(root, depth))
    return sorted(
        found,
        key=lambda p: (-difflib.SequenceMatcher(None, p.name, path.name).ratio(), str(p)),
    )[:limit]


def _catalogs_under(root: Path, depth: int) -> list[Path]:
    found = []
    level = [root]
    for _ in range(depth + 1):
        below = []
        for folder in level:
            if (folder / CATALOG).is_file():
                found.append(folder)
            try:
                with os.scandir(folder) as entries:
                    for n, entry in enumerate(entries):
                        if n >= _SCAN_LIMIT:
                            break
                        if entry.is_dir(follow_symlinks=False):
                            below.append(Path(entry.path))
            except OSError:
                continue
        level = below
    return found


def _shown(path: Path) -> str:
    """`path` relative to the working directory when it is under it."""
    absolute = Path(os.path.abspath(path))
    try:
        return str(absolute.relative_to(Path.cwd())) or "."
    except ValueError:
        return str(absolute)
