"""Symbolic links in an export folder are not followed out of it unless --follow-symlinks is
given, and a file that is not recognised is never quoted beyond what names the problem."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cloudtally.errors import IngestError
from cloudtally.ingest.pipeline import ingest
from cloudtally.store import Store
from tests.conftest import SAMPLES, lake_snapshot

AWS_12 = SAMPLES / "focus" / "1.2" / "aws.csv"
SECRET = "root:x:0:0:SECRET-MARKER:/root:/bin/bash\n"
NOT_FOLLOWED = "not followed (pass --follow-symlinks to read what it points to)"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A file outside every export folder (a stand-in for /etc/passwd)."""
    path = tmp_path / "elsewhere" / "passwd"
    path.parent.mkdir()
    path.write_text(SECRET, encoding="utf-8")
    return path


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    folder.mkdir()
    shutil.copy(AWS_12, folder / "aws.csv")
    return folder


def test_a_link_out_of_the_folder_is_skipped_and_not_read(cli, exports: Path, secret: Path) -> None:
    link = exports / "evil.csv"
    link.symlink_to(secret)
    result = cli("ingest", "--no-progress", exports)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        f"Skipped {link}: a symbolic link out of {exports}; {NOT_FOLLOWED}"
    )
    assert "SECRET" not in result.output and "root:x" not in result.output
    assert result.stdout.splitlines()[1].startswith("Ingested 1 file(s) (focus-1.2 x1): 1,000 rows")


def test_a_linked_folder_out_of_the_export_is_skipped(
    store: Store, exports: Path, secret: Path
) -> None:
    (exports / "more").symlink_to(secret.parent, target_is_directory=True)
    report = ingest(store, [exports])
    assert report.stored == [(exports / "aws.csv").resolve()]
    assert report.skipped == [
        (exports / "more", f"{exports / 'more'}: a symbolic link out of {exports}; {NOT_FOLLOWED}")
    ]


def test_a_folder_of_outside_links_only_says_so(cli, tmp_path: Path, secret: Path) -> None:
    folder = tmp_path / "only-links"
    folder.mkdir()
    (folder / "costs.csv").symlink_to(secret)
    result = cli("ingest", folder)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {folder}: the folder holds no billing files (.csv, .csv.gz, .parquet) (1 "
        "symbolic link(s) out of it not followed; pass --follow-symlinks to read them).\n"
    )


def test_links_inside_the_folder_are_followed(store: Store, exports: Path) -> None:
    (exports / "sub").mkdir()
    (exports / "sub" / "same.csv").symlink_to(exports / "aws.csv")
    report = ingest(store, [exports])
    assert report.stored == [(exports / "aws.csv").resolve()]  # one file, read once
    assert report.skipped == []


def test_follow_symlinks_reads_what_links_point_to(cli, tmp_path: Path, exports: Path) -> None:
    outside = tmp_path / "elsewhere-exports"
    outside.mkdir()
    shutil.copy(SAMPLES / "focus" / "1.2" / "gcp.csv", outside / "gcp.csv")
    (exports / "gcp.csv").symlink_to(outside / "gcp.csv")
    (exports / "loop").symlink_to(tmp_path, target_is_directory=True)  # a cycle, walked once
    result = cli("ingest", "--no-progress", "--follow-symlinks", exports)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith("Ingested 2 file(s) (focus-1.2 x2): 2,000 rows")


def test_a_manifest_part_linked_out_of_the_folder_is_refused(
    store: Store, tmp_path: Path, secret: Path
) -> None:
    from tests.ingest.formats.test_aws_cur import split_legacy, write_json

    period = tmp_path / "cur" / "r" / "20240301-20240401"
    (part,) = split_legacy(period / "abc", ["r-00001.csv.gz"])
    link = period / "abc" / "r-00002.csv.gz"
    link.symlink_to(secret)
    keys = [f"p/r/20240301-20240401/abc/{name}" for name in ("r-00001.csv.gz", link.name)]
    write_json(period / "r-Manifest.json", {"reportKeys": keys})
    with pytest.raises(IngestError) as error:
        ingest(store, [tmp_path / "cur"])
    assert str(error.value) == (
        f"{link}: a report manifest in {tmp_path / 'cur'} names it, and it is a symbolic link "
        "out of the folder; not followed. Copy the file into the folder, or pass "
        "--follow-symlinks to read it."
    )
    assert part.exists() and store.catalog().partitions == []


def test_a_manifest_given_by_name_does_not_lead_out_of_its_folder(
    store: Store, tmp_path: Path, secret: Path
) -> None:
    from tests.ingest.formats.test_aws_cur import write_json

    period = tmp_path / "exports" / "cur" / "r" / "20240301-20240401"
    period.mkdir(parents=True)
    link = period / "r-00001.csv.gz"
    link.symlink_to(secret)
    manifest = write_json(period / "r-Manifest.json", {"reportKeys": [f"p/{link.name}"]})
    with pytest.raises(IngestError) as error:
        ingest(store, [manifest])
    assert str(error.value) == (
        f"{link}: the manifest {manifest} names it, and it is a symbolic link out of "
        f"{tmp_path / 'exports' / 'cur'}; not followed. Copy the file there, or pass "
        "--follow-symlinks to read it."
    )


def test_a_named_file_that_is_not_an_export_is_not_quoted(cli, data_dir, secret: Path) -> None:
    result = cli("ingest", secret)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {secret}: the first line has no delimiter (, ; tab or |), so this is not a CSV "
        "billing export.\n"
    )
    assert lake_snapshot(data_dir) == {}


def test_an_unknown_header_is_quoted_only_when_it_reads_as_one(cli, tmp_path: Path) -> None:
    from cloudtally.ingest.formats import Converter

    known = ", ".join(sorted(Converter.registry))
    path = tmp_path / "keys.csv"
    path.write_text("aws_secret_access_key=abc123,token=xyz\n1,2\n", encoding="utf-8")
    result = cli("ingest", path)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {path}: not a billing format cloudtally knows (its first line, 2 fields, does "
        f"not read as a billing header). Supported: {known}; force one with --format NAME.\n"
    )
