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
PARENT_LEVELS = 2


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
    """Read a legacy CUR or CUR 2.0 manifest and find its data files on disk.

    Every problem is an IngestError naming the manifest, the field and what to do: JSON that
    does not parse, NaN or Infinity (not JSON, though Python reads them), nesting deeper than a
    manifest has, or a field of the wrong type (a number where a key or a date belongs).
    """
    document = _load(path)
    if not isinstance(document, dict):
        raise IngestError(
            f"{path}: a report manifest is a JSON object; this one is {_shown(document)}. "
            f"Is it the right file? {_REDOWNLOAD}"
        )
    field = "reportKeys" if "reportKeys" in document else "dataFiles"
    keys = document.get(field)
    if not isinstance(keys, list):
        raise IngestError(
            f"{path}: a report manifest lists its data files under `reportKeys` (CUR) or "
            "`dataFiles` (Data Exports); this one has neither. Is it the right file?"
        )
    for n, key in enumerate(keys):
        if not isinstance(key, str):
            raise IngestError(
                f"{path}: field {field}[{n}] is {_shown(key)}; each entry is the S3 key of a "
                f"data file (text). {_REDOWNLOAD}"
            )
    period = document.get("billingPeriod")
    billing_period = None
    if period is not None:
        if not isinstance(period, dict):
            raise _bad_field(path, "billingPeriod", period, "an object with start and end")
        for bound in ("start", "end"):
            if not isinstance(period.get(bound), str):
                raise _bad_field(
                    path, f"billingPeriod.{bound}", period.get(bound, _MISSING), "a date (text)"
                )
        billing_period = (period["start"], period["end"])
    assembly = document.get("assemblyId")
    if assembly is not None and not isinstance(assembly, str):
        raise _bad_field(path, "assemblyId", assembly, "text")
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
    return CurManifest(
        path=path,
        files=files,
        billing_period=billing_period,
        assembly_id=assembly or None,
    )


# A manifest lists a delivery's files and columns: kilobytes, a few megabytes for thousands of
# parts. Anything far larger is not a manifest, and is not read into memory.
_MAX_BYTES = 64 << 20


class _NotFinite:
    """What `NaN`, `Infinity` and `-Infinity` parse to: JSON has no such numbers."""

    def __init__(self, text: str) -> None:
        self.text = text


def _load(path: Path) -> object:
    redownload = _REDOWNLOAD
    try:
        size = path.stat().st_size
        if size > _MAX_BYTES:
            raise IngestError(
                f"{path}: {size:,} bytes is far more than a report manifest holds; it is not "
                f"one. {redownload}"
            )
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise IngestError(f"{path}: not a readable report manifest ({exc}). {redownload}") from None
    try:
        document = json.loads(text, parse_constant=_NotFinite)
    except RecursionError:
        raise IngestError(
            f"{path}: the JSON is nested deeper than Python reads, far deeper than a report "
            f"manifest is; it is not one. {redownload}"
        ) from None
    except json.JSONDecodeError as exc:
        raise IngestError(f"{path}: not a readable report manifest ({exc}). {redownload}") from None
    except ValueError:  # an integer of more digits than Python converts
        raise IngestError(
            f"{path}: holds a number of thousands of digits; it is not a report manifest. "
            f"{redownload}"
        ) from None
    found = _find_not_finite(document)
    if found is not None:
        where, value = found
        raise IngestError(
            f"{path}: field {where} is {value.text}, which is not a JSON number (JSON has no "
            f"NaN or Infinity). {redownload}"
        )
    return document


def _find_not_finite(document: object) -> tuple[str, _NotFinite] | None:
    """The first NaN or Infinity in a parsed document, with its field path (`a.b[2]`)."""
    pending: list[tuple[str, object]] = [("", document)]
    while pending:
        where, value = pending.pop()
        if isinstance(value, _NotFinite):
            return where or "(the document)", value
        if isinstance(value, dict):
            children = [(f"{where}.{k}" if where else str(k), v) for k, v in value.items()]
        elif isinstance(value, list):
            children = [(f"{where}[{n}]", v) for n, v in enumerate(value)]
        else:
            continue
        pending.extend(reversed(children))
    return None


_MISSING = object()


def _shown(value: object) -> str:
    """A JSON value in a message, never longer than a short number."""
    if value is _MISSING:
        return "missing"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        text = repr(value)
        return text if len(text) <= 30 else f"a number of {len(text)} digits"
    if isinstance(value, dict):
        return "an object"
    return "a list" if isinstance(value, list) else "text"


def _bad_field(path: Path, field: str, value: object, expected: str) -> IngestError:
    return IngestError(
        f"{path}: field {field} is {_shown(value)}; a report manifest has {expected} there. "
        + _REDOWNLOAD
    )


_REDOWNLOAD = "Re-download the manifest from the report's S3 folder."


def _object_key(key: str) -> str:
    """The S3 object key of a manifest entry (Data Exports writes `s3://bucket/key`)."""
    if key.startswith("s3://"):
        return key[len("s3://") :].partition("/")[2]
    return key.lstrip("/")


def _locate(manifest: Path, key: str) -> Path | None:
    parts = PurePosixPath(_object_key(key)).parts
    if not parts or ".." in parts:
        return None
    folders = [manifest.parent, *list(manifest.parent.parents)[:PARENT_LEVELS]]
    for start in range(len(parts)):  # the longest tail of the key first
        tail = Path(*parts[start:])
        for folder in folders:
            candidate = folder / tail
            if candidate.is_file():
                return candidate
    return None
