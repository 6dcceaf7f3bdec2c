"""AWS report manifests: which data files make up one delivery of a billing period.

AWS delivers a period's Cost and Usage Report as several files plus a manifest, and delivers the
period again (a new assembly) each time the bill is updated; the old assembly's files stay in
S3 next to the new ones. The manifest of the latest delivery names the files that belong
together, so a folder of CUR files must be read through its manifest, not file by file.

- Legacy CUR: `<report>/<yyyymmdd-yyyymmdd>/<report>-Manifest.json` with `reportKeys` (S3 keys
  of the data files, under `<assemblyId>/`), `billingPeriod` and `assemblyId` (AWS CUR user
  guide, "Report delivery").
- CUR 2.0 (Data Exports): `<export>/metadata/BILLING_PERIOD=<yyyy-mm>/<export>-Manifest.json`
  with `dataFiles` (S3 URIs under `<export>/data/BILLING_PERIOD=<yyyy-mm>/`) and
  `billingPeriod`.

The keys name S3 objects; a downloaded copy keeps some tail of those paths. A data file is
found by the longest tail of its key that exists next to the manifest (or, for CUR 2.0, next to
one of the manifest folder's parents).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cloudtally.errors import IngestError

# How far above the manifest's folder a data file may be found: CUR 2.0 keeps the manifest in
# `<export>/metadata/BILLING_PERIOD=.../`, two levels below the `<export>/data/...` files.
_PARENT_LEVELS = 2


@dataclass(frozen=True)
class CurManifest:
    """What a manifest says about one delivery."""

    path: Path
    files: list[Path]
    billing_period: tuple[str, str] | None  # (start, end) as the manifest writes them
    assembly_id: str | None  # legacy CUR only


def is_manifest(path: Path) -> bool:
    """A CUR or Data Exports manifest, by its name (`<report>-Manifest.json`).

    >>> is_manifest(Path("cur-Manifest.json")), is_manifest(Path("manifest.json"))
    (True, False)
    """
    return path.name.endswith("-Manifest.json")


def expand_manifest(path: Path) -> list[Path]:
    """The data files a manifest names, resolved next to it, in the manifest's order.

    Raises IngestError naming the manifest, and the file, when the manifest cannot be read or
    one of its files is not there.
    """
    return read_manifest(path).files


def read_manifest(path: Path) -> CurManifest:
    """Read a legacy CUR or CUR 2.0 manifest and find its data files on disk."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IngestError(
            f"{path}: not a readable report manifest ({exc}). Re-download it from the report's "
            "S3 folder."
        ) from None
    keys = document.get("reportKeys") if isinstance(document, dict) else None
    if keys is None and isinstance(document, dict):
        keys = document.get("dataFiles")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise IngestError(
            f"{path}: a report manifest lists its data files under `reportKeys` (CUR) or "
            "`dataFiles` (Data Exports); this one has neither. Is it the right file?"
        )
    files = []
    for key in keys:
        found = _locate(path, key)
        if found is None:
            raise IngestError(
                f"{path}: the manifest lists {key}, which is not next to it (looked for "
                f"{PurePosixPath(_object_key(key)).name} under {path.parent}). Download the "
                "whole delivery folder, or ingest the data files you have without the manifest."
            )
        files.append(found)
    period = document.get("billingPeriod")
    billing_period = (
        (str(period.get("start")), str(period.get("end"))) if isinstance(period, dict) else None
    )
    assembly = document.get("assemblyId")
    return CurManifest(
        path=path,
        files=files,
        billing_period=billing_period,
        assembly_id=str(assembly) if assembly else None,
    )


def _object_key(key: str) -> str:
    """The S3 object key of a manifest entry (Data Exports writes `s3://bucket/key`)."""
    if key.startswith("s3://"):
        return key[len("s3://") :].partition("/")[2]
    return key.lstrip("/")


def _locate(manifest: Path, key: str) -> Path | None:
    parts = PurePosixPath(_object_key(key)).parts
    if not parts or ".." in parts:
        return None
    folders = [manifest.parent, *list(manifest.parent.parents)[:_PARENT_LEVELS]]
    for start in range(len(parts)):  # the longest tail of the key first
        tail = Path(*parts[start:])
        for folder in folders:
            candidate = folder / tail
            if candidate.is_file():
                return candidate
    return None
