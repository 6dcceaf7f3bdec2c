"""Where `cloudtally export` may write: never the data dir, inside it or above it, and with
`--overwrite` only a folder export wrote itself (it leaves MARKER in each, listing its files),
so an overwrite can never delete the lake or someone's own files."""

from __future__ import annotations

import json
from pathlib import Path

from cloudtally.errors import ExportError
from cloudtally.store import Store

# In every folder export writes: the files it wrote (`--overwrite` replaces only such folders).
MARKER = ".cloudtally-export.json"


def check_target(store: Store, out: Path, *, single: bool, overwrite: bool) -> None:
    """Refuse a target that would put the lake at risk or delete what export did not write."""
    target, data_dir = out.resolve(), store.data_dir.resolve()
    where = (
        "is the data dir"
        if target == data_dir
        else f"is inside the data dir {store.data_dir}"
        if data_dir in target.parents
        else f"holds the data dir {store.data_dir}"
        if target in data_dir.parents
        else None
    )
    if where:
        raise ExportError(f"{out} {where}: export to a path outside it.")
    if not out.exists():
        return
    if single:
        if out.is_dir():
            raise ExportError(f"{out} is a folder; give a file path ending in .parquet or .csv.")
        if not overwrite:
            raise ExportError(f"{out} already exists; choose another path or pass --overwrite.")
        return
    if not out.is_dir():
        raise ExportError(f"{out} is a file; give a folder path (or one ending in .parquet).")
    present = sorted(p.name for p in out.iterdir())
    if not present:
        return
    if not overwrite:
        raise ExportError(f"{out} already exists; choose another path or pass --overwrite.")
    written = marker_files(out)
    if written is None:
        raise ExportError(
            f"{out} was not written by `cloudtally export` (it has no {MARKER}); --overwrite "
            "replaces only folders export wrote. Choose another path."
        )
    others = [name for name in present if name != MARKER and name not in written]
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        raise ExportError(
            f"{out} holds files `cloudtally export` did not write ({shown}); --overwrite "
            "would delete them. Move them out or choose another path."
        )


def write_marker(folder: Path, files: list[str], **about: str) -> None:
    """Mark a folder as an export: the files it wrote, so an overwrite deletes only those."""
    text = json.dumps({"written_by": "cloudtally export", **about, "files": files})
    (folder / MARKER).write_text(text + "\n", encoding="utf-8")


def marker_files(folder: Path) -> set[str] | None:
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        return {str(name) for name in marker["files"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None
