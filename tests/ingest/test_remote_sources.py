"""Billing exports read where the clouds deliver them: `cloudtally ingest s3://bucket/cur/`,
against a real S3 API on 127.0.0.1 (moto's server; s3fs speaks to it over HTTP as to AWS). The
lake gets what a local copy of the folder gives, the objects are named by their URIs wherever
a file would be, only what discovery keeps is fetched, and bad input changes nothing."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
from pathlib import Path

import boto3
import pytest

from cloudtally.errors import IngestError
from cloudtally.ingest.pipeline import ingest
from cloudtally.store import Store
from tests.conftest import BUCKET, hide_filesystem_library, lake_snapshot
from tests.ingest.formats.test_aws_cur import LEGACY, lake_totals, native_totals, split_legacy
from tests.ingest.test_discovery import manifest, two_deliveries
from tests.store.test_object_store import FOCUS_12, paths_asked, run


def upload(s3: boto3.client, folder: Path, prefix: str) -> list[str]:
    """Every file under `folder` as an object under `prefix`; their keys."""
    keys = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        key = f"{prefix}/{path.relative_to(folder).as_posix()}"
        s3.upload_file(str(path), BUCKET, key)
        keys.append(key)
    return keys


def answers(lake: Path) -> dict[str, object]:
    questions = {
        "services": ("costs", "--by", "service", "-f", "json"),
        "accounts": ("costs", "--by", "billing_account", "--by", "provider", "-f", "json"),
    }
    return {name: json.loads(run(lake, *args).stdout) for name, args in questions.items()}


def sources_left(cache: Path) -> list[Path]:
    return sorted((cache / "sources").rglob("*")) if (cache / "sources").exists() else []


def test_a_folder_in_s3_gives_the_lake_its_local_copy_gives(
    s3: boto3.client, tmp_path: Path
) -> None:
    upload(s3, FOCUS_12, "exports/focus12")
    from_s3, from_disk = tmp_path / "from-s3", tmp_path / "from-disk"
    stored = run(from_s3, "ingest", f"s3://{BUCKET}/exports/focus12/")
    assert stored.exit_code == 0, stored.stderr
    assert stored.stdout.startswith(
        "Ingested 3 file(s) (focus-1.2 x3): 3,000 rows, 1 billing period(s) 2026-05, "
        "6 billing account(s), providers aws, azure, gcp."
    )
    assert run(from_disk, "ingest", FOCUS_12).exit_code == 0
    assert answers(from_s3) == answers(from_disk)
    # The lake names each line's file, and the manifest each source, by its URI.
    named = run(
        from_s3, "sql", "SELECT x_SourceFile, count(*) AS n FROM costs GROUP BY 1 ORDER BY 1",
        "-f", "json",
    )  # fmt: skip
    assert json.loads(named.stdout) == [
        {"x_SourceFile": f"s3://{BUCKET}/exports/focus12/{name}.csv", "n": 1000}
        for name in ("aws", "azure", "gcp")
    ]
    entries = [json.loads(line) for line in (from_s3 / "manifest.jsonl").read_text().splitlines()]
    assert [(e["path"], e["size"]) for e in entries] == [
        (f"s3://{BUCKET}/exports/focus12/{p.name}", p.stat().st_size)
        for p in sorted(FOCUS_12.glob("*.csv"))
    ]
    # The same bytes are the same source, wherever they are read from.
    for again in (f"s3://{BUCKET}/exports/focus12", FOCUS_12):
        unchanged = run(from_s3, "ingest", again)
        assert unchanged.exit_code == 0
        assert "Nothing to do: 3 file(s) already ingested, unchanged." in unchanged.stdout
    # The copies the command fetched are gone with it.
    assert sources_left(Path(os.environ["CLOUDTALLY_CACHE_DIR"])) == []


def test_a_cur_folder_in_s3_fetches_only_the_delivery_its_manifest_names(
    s3: boto3.client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Years of deliveries sit in a report's folder: the superseded ones are never fetched."""
    import s3fs

    local = tmp_path / "bucket"
    period = local / "cur" / "myreport" / "20240301-20240401"
    two_deliveries(period)
    (period / "notes.md").write_text("not a billing file")
    upload(s3, local / "cur", "cur-deliveries/cur")
    fetched = paths_asked(monkeypatch, s3fs.S3FileSystem, "_get_file")
    store = Store(tmp_path / "lake")
    uri = f"s3://{BUCKET}/cur-deliveries/cur"
    report = ingest(store, [Path(uri)])
    assert lake_totals(store) == native_totals(LEGACY)
    at = f"{uri}/myreport/20240301-20240401"
    assert report.stored == [f"{at}/1bb11111-new/myreport-0000{n}.csv.gz" for n in (1, 2)]
    assert report.skipped == [
        (
            f"{at}/0aa00000-old/myreport-00001.csv.gz",
            "not in the latest delivery its report manifest names",
        )
    ]
    key = f"{BUCKET}/cur-deliveries/cur/myreport/20240301-20240401"
    assert sorted(fetched) == sorted(
        [  # the three manifests whole, then the files of the latest delivery
            f"{key}/myreport-Manifest.json",
            f"{key}/0aa00000-old/myreport-Manifest.json",
            f"{key}/1bb11111-new/myreport-Manifest.json",
            f"{key}/1bb11111-new/myreport-00001.csv.gz",
            f"{key}/1bb11111-new/myreport-00002.csv.gz",
        ]
    )


def test_a_damaged_export_in_s3_is_named_by_its_uri_and_changes_nothing(
    s3: boto3.client, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    assert run(lake, "ingest", FOCUS_12 / "aws.csv").exit_code == 0
    before = lake_snapshot(lake)
    with open(FOCUS_12 / "azure.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    rows[1][rows[0].index("BilledCost")] = "twelve"
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    s3.put_object(Bucket=BUCKET, Key="damaged/azure.csv", Body=text.getvalue().encode())
    failed = run(lake, "ingest", f"s3://{BUCKET}/damaged/")
    assert failed.exit_code == 1
    assert failed.stderr == (
        f"Error: s3://{BUCKET}/damaged/azure.csv: line 2, column BilledCost: 'twelve' is not a "
        "number. Fix or remove the value and run again.\n"
    )
    assert lake_snapshot(lake) == before


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            f"s3://{BUCKET}/no-such-prefix/",
            f"s3://{BUCKET}/no-such-prefix: no such file or folder. Check the path and run again.",
        ),
        (
            "s3://no-such-bucket/cur",
            "s3://no-such-bucket/cur: no such file or folder. Check the path and run again.",
        ),
        (
            "https://example.com/cur.csv",
            "https://example.com/cur.csv: cloudtally reads billing exports from a local path "
            "or an object store (s3://, s3a://, gs://, gcs://, abfs://, abfss://, az://), not "
            "https://.",
        ),
    ],
)
def test_an_export_location_that_holds_nothing_is_named(
    s3: boto3.client, tmp_path: Path, given: str, message: str
) -> None:
    lake = tmp_path / "lake"
    assert run(lake, "ingest", FOCUS_12 / "aws.csv").exit_code == 0
    before = lake_snapshot(lake)
    failed = run(lake, "ingest", given)
    assert (failed.exit_code, failed.stderr) == (1, f"Error: {message}\n")
    assert lake_snapshot(lake) == before


def test_an_object_store_without_its_library_says_which_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    hide_filesystem_library(monkeypatch, "gcs", "gcsfs")
    failed = run(tmp_path / "lake", "ingest", "gs://billing/exports/")
    assert (failed.exit_code, failed.stderr) == (
        1,
        "Error: gs://billing/exports: reading exports from gs:// needs its filesystem "
        "library: `pip install 'cloudtally[gcs]'`.\n",
    )
    assert not (tmp_path / "lake" / "catalog.json").exists()


def test_repair_fetches_a_damaged_file_s_source_again_from_s3(
    s3: boto3.client, tmp_path: Path
) -> None:
    upload(s3, FOCUS_12, "exports/repair")
    lake = tmp_path / "lake"
    assert run(lake, "ingest", f"s3://{BUCKET}/exports/repair/gcp.csv").exit_code == 0
    before = answers(lake)
    [damaged] = sorted((lake / "lake").glob("x_Provider=gcp/*/*.parquet"))[:1]
    damaged.write_bytes(b"not parquet")
    repaired = run(lake, "ingest", "--repair")
    assert repaired.exit_code == 0, repaired.stderr
    assert "Repaired 2 account-period(s) from their sources" in repaired.stdout
    assert answers(lake) == before


def test_a_daily_ingest_of_a_folder_fetches_only_what_is_new(
    s3: boto3.client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lake's manifest records each object's URI, size and ETag: an object it read before
    is known without fetching it; a new or replaced one is fetched."""
    import s3fs

    fetched = paths_asked(monkeypatch, s3fs.S3FileSystem, "_get_file")
    lake, local = tmp_path / "lake", tmp_path / "local"
    for name in ("aws", "azure"):
        s3.upload_file(str(FOCUS_12 / f"{name}.csv"), BUCKET, f"daily/{name}.csv")
    folder = f"s3://{BUCKET}/daily/"
    assert run(lake, "ingest", folder).exit_code == 0
    assert sorted(fetched) == [f"{BUCKET}/daily/aws.csv", f"{BUCKET}/daily/azure.csv"]
    fetched.clear()
    again = run(lake, "ingest", folder)
    assert "Nothing to do: 2 file(s) already ingested, unchanged." in again.stdout
    assert fetched == []
    entries = [json.loads(line) for line in (lake / "manifest.jsonl").read_text().splitlines()]
    assert [(e["path"], e["outcome"], e["source_etag"]) for e in entries] == [
        (f"{folder}{name}.csv", "stored", s3.head_object(Bucket=BUCKET, Key=key)["ETag"][1:-1])
        for name in ("aws", "azure")
        for key in [f"daily/{name}.csv"]
    ]
    # A restated Azure export and a new GCP one: those two are fetched, AWS's is not.
    with open(FOCUS_12 / "azure.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    rows[1][rows[0].index("BilledCost")] = "1000.5"
    restated = tmp_path / "azure.csv"
    with open(restated, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    s3.upload_file(str(restated), BUCKET, "daily/azure.csv")
    s3.upload_file(str(FOCUS_12 / "gcp.csv"), BUCKET, "daily/gcp.csv")
    fetched.clear()
    later = run(lake, "ingest", folder)
    assert later.exit_code == 0, later.stderr
    assert "Skipped 1 unchanged file(s)." in later.stdout
    assert sorted(fetched) == [f"{BUCKET}/daily/azure.csv", f"{BUCKET}/daily/gcp.csv"]
    for step in ([FOCUS_12 / "aws.csv", FOCUS_12 / "azure.csv"], [restated, FOCUS_12 / "gcp.csv"]):
        assert run(local, "ingest", *step).exit_code == 0
    assert answers(lake) == answers(local)
    # A FOCUS 1.3 version of the AWS export beside the unfetched 1.2 one: both are named,
    # the 1.2 one by the format the manifest recorded.
    s3.upload_file(str(FOCUS_12.parent / "1.3" / "aws.csv"), BUCKET, "daily/v13/aws.csv")
    fetched.clear()
    clash = run(lake, "ingest", folder)
    assert clash.exit_code == 1
    assert (
        f"  {folder}aws.csv (focus-1.2) and {folder}v13/aws.csv (focus-1.3) hold "
        "aws/100000000001/2026-05, aws/100000000002/2026-05\n"
    ) in clash.stderr
    assert fetched == [f"{BUCKET}/daily/v13/aws.csv"]


def test_objects_whose_names_no_file_can_have_are_skipped_and_named(
    s3: boto3.client, tmp_path: Path
) -> None:
    """A folder's marker object (the consoles' "Create folder"), a key with `..`, `.` or an
    empty part, a part over 255 bytes: none is read, none is written outside the work folder,
    each is named with why; the rest of the folder is ingested."""
    aws = (FOCUS_12 / "aws.csv").read_bytes()
    keys = {
        "odd/": b"",
        "odd/aws.csv": aws,
        "odd/x/../gcp.csv": aws,
        "odd//azure.csv": aws,
        "odd/" + "n" * 300 + ".csv": aws,
        "odd/../../../../../../escape-Manifest.json": b'{"reportKeys": []}',
    }
    for key, body in keys.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    lake = tmp_path / "lake"
    report = ingest(Store(lake), [Path(f"s3://{BUCKET}/odd/")])
    folder = f"s3://{BUCKET}/odd"
    assert report.stored == [f"{folder}/aws.csv"]
    why = (
        "its name has an empty, '.' or '..' part (or one over 255 bytes), or is a folder of "
        "other objects too, which a file's name cannot be; not read. Copy it to a plain name to "
        "ingest it."
    )
    skipped = [  # (in the order of their keys)
        f"{folder}/../../../../../../escape-Manifest.json",
        f"{folder}//azure.csv",
        f"{folder}/{'n' * 300}.csv",
        f"{folder}/x/../gcp.csv",
    ]
    assert report.skipped == [(uri, f"{uri}: {why}") for uri in skipped]
    cache = Path(os.environ["CLOUDTALLY_CACHE_DIR"])
    assert not (cache.parent / "escape-Manifest.json").exists()
    assert sources_left(cache) == []
    for key in keys:
        s3.delete_object(Bucket=BUCKET, Key=key)


def test_a_folder_without_billing_files_and_a_manifest_named_alone(
    s3: boto3.client, tmp_path: Path
) -> None:
    s3.put_object(Bucket=BUCKET, Key="notes/readme.md", Body=b"not a bill")
    lake = tmp_path / "lake"
    empty = run(lake, "ingest", f"s3://{BUCKET}/notes/")
    assert (empty.exit_code, empty.stderr) == (
        1,
        f"Error: s3://{BUCKET}/notes: the folder holds no billing files (.csv, .csv.gz, "
        ".parquet).\n",
    )
    # A manifest given by its URI is read as a local one is: its files found beside it.
    local = tmp_path / "bucket"
    period = local / "alone" / "myreport" / "20240301-20240401"
    new = split_legacy(period / "1bb11111-new", ["myreport-00001.csv.gz", "myreport-00002.csv.gz"])
    manifest(period, "1bb11111-new", new)
    upload(s3, local / "alone", "alone")
    store = Store(lake)
    named = f"s3://{BUCKET}/alone/myreport/20240301-20240401/myreport-Manifest.json"
    report = ingest(store, [Path(named)])
    assert lake_totals(store) == native_totals(LEGACY)
    assert report.stored == [
        f"s3://{BUCKET}/alone/myreport/20240301-20240401/1bb11111-new/myreport-0000{n}.csv.gz"
        for n in (1, 2)
    ]


def test_repair_says_when_the_store_cannot_be_reached(
    s3: boto3.client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload(s3, FOCUS_12, "exports/unreachable")
    lake = tmp_path / "lake"
    assert run(lake, "ingest", f"s3://{BUCKET}/exports/unreachable/gcp.csv").exit_code == 0
    [damaged] = sorted((lake / "lake").glob("x_Provider=gcp/*/*.parquet"))[:1]
    damaged.write_bytes(b"not parquet")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    failed = run(lake, "ingest", "--repair")
    assert failed.exit_code == 1
    assert failed.stderr.startswith(
        f"Error: s3://{BUCKET}/exports/unreachable/gcp.csv cannot be read (Could not connect "
    )
    assert failed.stderr.endswith(
        "Check the bucket's name, the credentials and the endpoint (for S3: AWS_PROFILE or "
        "AWS_ACCESS_KEY_ID, AWS_ENDPOINT_URL); nothing was stored.\n"
    )


@pytest.mark.parametrize("given", ["az://finops/exports/", "abfs://finops/exports/aws.csv"])
def test_spark_is_told_to_name_an_azure_container_as_hadoop_does(
    tmp_path: Path, given: str
) -> None:
    """Spark's executors read the objects, and Hadoop names a container with its account: an
    `az://` URI is refused before anything is fetched or stored (Spark is not started)."""
    from cloudtally.engine import engine_for
    from cloudtally.errors import UnsupportedError

    store = Store(tmp_path / "lake", engine_for("spark"))
    with pytest.raises(UnsupportedError) as refused:
        ingest(store, [Path(given)])
    assert str(refused.value) == (
        f"{given.rstrip('/')}: on --engine spark give the container as Hadoop names it: "
        "abfss://CONTAINER@ACCOUNT.dfs.core.windows.net/FOLDER."
    )
    assert not (tmp_path / "lake").exists()


def test_an_object_ingested_through_a_mapping_is_read_again_without_it(
    s3: boto3.client, tmp_path: Path
) -> None:
    """What a bill gave through a mapping is not what the object is: the lake's record of it
    does not stand for the object without that mapping."""
    examples = Path(__file__).resolve().parents[2] / "examples" / "mappings"
    s3.upload_file(str(examples / "saas-monitoring.csv"), BUCKET, "saas/saas-monitoring.csv")
    lake = tmp_path / "lake"
    uri = f"s3://{BUCKET}/saas/saas-monitoring.csv"
    mapped = run(lake, "ingest", "--mapping", examples / "saas-monitoring.yaml", uri)
    assert mapped.exit_code == 0, mapped.stderr
    entries = [json.loads(line) for line in (lake / "manifest.jsonl").read_text().splitlines()]
    assert "source_etag" not in entries[0]
    plain = run(lake, "ingest", uri)
    assert plain.exit_code == 1
    assert plain.stderr.startswith(f"Error: {uri}: not a billing format cloudtally knows")


# The export written again while it is fetched: another file, or the same one with one
# project's name changed (the same size: only its ETag tells).
REWRITTEN = {
    "another size": (FOCUS_12 / "aws.csv").read_bytes(),
    "the same size": (FOCUS_12 / "gcp.csv")
    .read_bytes()
    .replace(b"examplecorp-staging-552831", b"examplecorp-staging-552832"),
}


@pytest.mark.parametrize("rewritten", REWRITTEN, ids=list(REWRITTEN))
def test_an_object_written_again_while_it_is_fetched_records_no_etag(
    rewritten: str, s3: boto3.client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ETag listed is recorded only when the object is still that one once fetched (its
    size and a HEAD's ETag): else the bytes read may be another's, and the next run reads it
    again."""
    import s3fs

    key = "rewritten/gcp.csv"
    s3.upload_file(str(FOCUS_12 / "gcp.csv"), BUCKET, key)
    original = s3fs.S3FileSystem._get_file

    async def written_again_first(
        self: object, path: str, *args: object, **kwargs: object
    ) -> object:
        s3.put_object(Bucket=BUCKET, Key=key, Body=REWRITTEN[rewritten])
        return await original(self, path, *args, **kwargs)

    monkeypatch.setattr(s3fs.S3FileSystem, "_get_file", written_again_first)
    lake = tmp_path / "lake"
    assert run(lake, "ingest", f"s3://{BUCKET}/rewritten/").exit_code == 0
    [entry] = [json.loads(line) for line in (lake / "manifest.jsonl").read_text().splitlines()]
    assert entry["size"] == len(REWRITTEN[rewritten])
    assert entry["sha256"] == hashlib.sha256(REWRITTEN[rewritten]).hexdigest()
    assert "source_etag" not in entry
    # Given again, it is fetched (not taken as known by an ETag it never had) and unchanged.
    monkeypatch.setattr(s3fs.S3FileSystem, "_get_file", original)
    fetched = paths_asked(monkeypatch, s3fs.S3FileSystem, "_get_file")
    again = run(lake, "ingest", f"s3://{BUCKET}/rewritten/")
    assert "Nothing to do: 1 file(s) already ingested, unchanged." in again.stdout
    assert fetched == [f"{BUCKET}/{key}"]


def test_the_ends_of_an_export_say_what_the_whole_file_says(
    s3: boto3.client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On Spark the driver reads only an export's ends (`fetch_ends`): the head for its
    header (a longer head for a header line over 64 KiB), the tail for a Parquet file's
    footer, however long. What they tell (`inspect` without the hash) is what the whole file
    tells; a small object is fetched whole."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq
    import s3fs

    from cloudtally.ingest.remote import PARTIAL_FROM, TAIL_BYTES, remote_sources
    from cloudtally.ingest.source import inspect
    from cloudtally.progress import Reporter

    plain = FOCUS_12 / "aws.csv"
    gzipped = tmp_path / "aws.csv.gz"
    gzipped.write_bytes(gzip.compress(plain.read_bytes(), compresslevel=0))  # (as big)
    parquet = tmp_path / "aws.parquet"
    pq.write_table(pcsv.read_csv(plain), parquet, row_group_size=10)  # (100 row groups)
    assert pq.ParquetFile(parquet).metadata.serialized_size > TAIL_BYTES
    wide = tmp_path / "wide.csv"  # (4,000 more columns: a header line of 130 KiB)
    lines = plain.read_text().splitlines()
    more = "".join(f",x_Column{n:04d}_with_a_long_name_of_its_own" for n in range(4000))
    wide.write_text("\n".join([lines[0] + more] + [row + "," * 4000 for row in lines[1:]]))
    small = tmp_path / "small.csv"
    small.write_bytes(b"".join(plain.read_bytes().splitlines(keepends=True)[:3]))
    whole_files = [plain, gzipped, parquet, wide, small]
    for path in whole_files:
        s3.upload_file(str(path), BUCKET, f"ends/{path.name}")
    ranges = paths_asked(monkeypatch, s3fs.S3FileSystem, "_cat_file")
    reporter = Reporter(enabled=False)
    with remote_sources() as sources:
        copies = sources.local(
            [Path(f"s3://{BUCKET}/ends/{p.name}") for p in whole_files],
            reporter,
        )
        assert sources.fetch_ends(copies) == copies[:4]
        # (the head and tail; the Parquet footer on its own; the longer head)
        assert len(ranges) == 2 + 2 + 3 + 3
        for copy, path in zip(copies[:4], whole_files[:4], strict=True):
            assert copy.stat().st_size == path.stat().st_size
        ends = [inspect(copy, content_hash=False) for copy in copies[:4]]
        assert len(ends[3].columns) == len(ends[0].columns) + 4000
        sources.fetch(copies, reporter)
        assert [c.read_bytes() for c in copies] == [p.read_bytes() for p in whole_files]
        for seen, copy, path in zip(ends, copies[:4], whole_files[:4], strict=True):
            whole = inspect(copy)
            assert whole.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
            assert (seen.container, seen.columns, seen.column_types) == (
                whole.container,
                whole.columns,
                whole.column_types,
            )
            assert (seen.compression, seen.size, seen.origin, seen.etag, seen.sha256) == (
                whole.compression,
                whole.size,
                whole.origin,
                whole.etag,
                "",
            )
    assert small.stat().st_size <= PARTIAL_FROM < plain.stat().st_size


def test_an_etag_is_one_string_whichever_call_gave_it(
    s3: boto3.client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listing and a HEAD may write one ETag differently (adlfs before 2026.5 lists it
    without the quotes its HEAD gives): it is the same object, recorded, and not fetched again."""
    import s3fs

    s3.upload_file(str(FOCUS_12 / "gcp.csv"), BUCKET, "quoted/gcp.csv")
    asked = s3fs.S3FileSystem._info

    async def unquoted(self: object, path: str, *args: object, **kwargs: object) -> object:
        info = dict(await asked(self, path, *args, **kwargs))
        if "ETag" in info:  # (a folder has none)
            info["ETag"] = str(info["ETag"]).strip('"')
        return info

    monkeypatch.setattr(s3fs.S3FileSystem, "_info", unquoted)
    lake = tmp_path / "lake"
    assert run(lake, "ingest", f"s3://{BUCKET}/quoted/").exit_code == 0
    [entry] = [json.loads(line) for line in (lake / "manifest.jsonl").read_text().splitlines()]
    etag = s3.head_object(Bucket=BUCKET, Key="quoted/gcp.csv")["ETag"]
    assert entry["source_etag"] == etag.strip('"')
    fetched = paths_asked(monkeypatch, s3fs.S3FileSystem, "_get_file")
    again = run(lake, "ingest", f"s3://{BUCKET}/quoted/")
    assert "Nothing to do: 1 file(s) already ingested, unchanged." in again.stdout
    assert fetched == []


def test_an_object_deleted_once_fetched_is_ingested_with_no_etag(
    s3: boto3.client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bytes are here: an object gone before its ETag is asked again is ingested, and
    its ETag not recorded."""
    import s3fs

    s3.upload_file(str(FOCUS_12 / "gcp.csv"), BUCKET, "gone/gcp.csv")
    original = s3fs.S3FileSystem._get_file

    async def deleted_after(self: object, path: str, *args: object, **kwargs: object) -> object:
        done = await original(self, path, *args, **kwargs)
        s3.delete_object(Bucket=BUCKET, Key="gone/gcp.csv")
        return done

    monkeypatch.setattr(s3fs.S3FileSystem, "_get_file", deleted_after)
    lake = tmp_path / "lake"
    result = run(lake, "ingest", f"s3://{BUCKET}/gone/")
    assert result.exit_code == 0, result.output
    [entry] = [json.loads(line) for line in (lake / "manifest.jsonl").read_text().splitlines()]
    assert entry["sha256"] == hashlib.sha256((FOCUS_12 / "gcp.csv").read_bytes()).hexdigest()
    assert "source_etag" not in entry


def test_an_object_cut_short_after_its_listing_is_fetched_whole_not_by_its_ends(
    s3: boto3.client,
) -> None:
    """The ends of an object shorter than listed cannot be read where they were: it is left
    to the whole fetch, which finds it written again (no ETag; on Spark the ingest stops)."""
    from cloudtally.ingest.remote import remote_sources
    from cloudtally.progress import Reporter

    s3.upload_file(str(FOCUS_12 / "aws.csv"), BUCKET, "cut/aws.csv")
    reporter = Reporter(enabled=False)
    with remote_sources() as sources:
        [copy] = sources.local([Path(f"s3://{BUCKET}/cut/aws.csv")], reporter)
        data = (FOCUS_12 / "aws.csv").read_bytes()
        s3.put_object(Bucket=BUCKET, Key="cut/aws.csv", Body=data[: len(data) // 2])
        assert sources.fetch_ends([copy]) == []
        sources.fetch([copy], reporter)
        assert copy.read_bytes() == data[: len(data) // 2]
        assert sources.etags[str(copy)] == ""
        with pytest.raises(IngestError) as refused:
            sources.refuse_changed([copy])
    assert str(refused.value).startswith(
        f"s3://{BUCKET}/cut/aws.csv: the object was written again while it was being ingested"
    )
