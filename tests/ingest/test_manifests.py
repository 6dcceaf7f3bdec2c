"""Hostile or damaged AWS report manifests: one message naming the manifest, the field and what
to do, exit 1, never a traceback, and nothing stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from cloudtally.errors import IngestError
from cloudtally.ingest.formats.aws_manifest import read_manifest
from tests.conftest import lake_snapshot

AGAIN = "Re-download the manifest from the report's S3 folder."
NOT_JSON = "which is not a JSON number (JSON has no NaN or Infinity). " + AGAIN
DEEP = 100_000

CASES = {
    "nan": (
        '{"reportKeys": [], "billingPeriod": {"start": NaN, "end": "20240401T000000.000Z"}}',
        f"field billingPeriod.start is NaN, {NOT_JSON}",
    ),
    "infinity": ('{"reportKeys": ["a.csv", -Infinity]}', f"field reportKeys[1] is -Infinity, {NOT_JSON}"),
    "nested nan": (
        '{"reportKeys": [], "columns": [{"category": "lineItem", "size": [1, {"x": NaN}]}]}',
        f"field columns[0].size[1].x is NaN, {NOT_JSON}",
    ),
    "1e50 key": (
        '{"reportKeys": [1e50]}',
        f"field reportKeys[0] is 1e+50; each entry is the S3 key of a data file (text). {AGAIN}",
    ),
    "1e50 period": (
        '{"reportKeys": [], "billingPeriod": {"start": 1e50, "end": "20240401T000000.000Z"}}',
        f"field billingPeriod.start is 1e+50; a report manifest has a date (text) there. {AGAIN}",
    ),
    "1e50 assembly": (
        '{"reportKeys": [], "assemblyId": 1e50}',
        f"field assemblyId is 1e+50; a report manifest has text there. {AGAIN}",
    ),
    "no period end": (
        '{"dataFiles": [], "billingPeriod": {"start": "2024-03-01T00:00:00.000Z"}}',
        f"field billingPeriod.end is missing; a report manifest has a date (text) there. {AGAIN}",
    ),
    "period a list": (
        '{"dataFiles": [], "billingPeriod": ["2024-03"]}',
        "field billingPeriod is a list; a report manifest has an object with start and end "
        f"there. {AGAIN}",
    ),
    "deep lists": (
        '{"reportKeys": ' + "[" * DEEP + "]" * DEEP + "}",
        "the JSON is nested deeper than Python reads, far deeper than a report manifest is; it "
        f"is not one. {AGAIN}",
    ),
    "deep objects": (
        '{"a":' * DEEP + "1" + "}" * DEEP,
        "the JSON is nested deeper than Python reads, far deeper than a report manifest is; it "
        f"is not one. {AGAIN}",
    ),
    "huge integer": (
        '{"reportKeys": [' + "9" * 5000 + "]}",
        f"holds a number of thousands of digits; it is not a report manifest. {AGAIN}",
    ),
    "not an object": (
        "[1, 2]",
        f"a report manifest is a JSON object; this one is a list. Is it the right file? {AGAIN}",
    ),
    "cut short": (
        '{"reportKeys": ["a.csv"',
        "not a readable report manifest (Expecting ',' delimiter: line 1 column 24 (char 23)). "
        + AGAIN,
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_manifest_is_named_with_its_field(tmp_path: Path, case: str) -> None:
    content, message = CASES[case]
    manifest = tmp_path / "myreport-Manifest.json"
    manifest.write_text(content, encoding="utf-8")
    with pytest.raises(IngestError) as error:
        read_manifest(manifest)
    assert str(error.value) == f"{manifest}: {message}"


@pytest.mark.parametrize("case", ["nan", "deep objects", "1e50 key"])
def test_bad_manifest_in_a_folder_fails_the_command_cleanly(
    cli, data_dir: Path, tmp_path: Path, case: str
) -> None:
    content, message = CASES[case]
    folder = tmp_path / "cur" / "myreport" / "20240301-20240401"
    folder.mkdir(parents=True)
    manifest = folder / "myreport-Manifest.json"
    manifest.write_text(content, encoding="utf-8")
    (folder / "myreport-00001.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    result = cli("ingest", tmp_path / "cur")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"Error: {manifest}: {message}\n"
    assert lake_snapshot(data_dir) == {}


def test_a_manifest_far_larger_than_any_is_refused_unread(tmp_path: Path) -> None:
    manifest = tmp_path / "myreport-Manifest.json"
    with open(manifest, "wb") as fh:
        fh.truncate(65 << 20)  # sparse: 65 MiB on paper, nothing to read
    with pytest.raises(IngestError) as error:
        read_manifest(manifest)
    assert str(error.value) == (
        f"{manifest}: 68,157,440 bytes is far more than a report manifest holds; it is not one. "
        f"{AGAIN}"
    )
