"""Folders with report manifests are read through them: superseded deliveries are skipped."""

from __future__ import annotations

from pathlib import Path

from cloudtally.ingest.pipeline import ingest
from cloudtally.store import Store
from tests.ingest.formats.test_aws_cur import (
    LEGACY,
    lake_totals,
    native_totals,
    split_legacy,
    write_json,
)


def manifest(folder: Path, assembly: str, parts: list[Path]) -> Path:
    return write_json(
        folder / "myreport-Manifest.json",
        {
            "assemblyId": assembly,
            "billingPeriod": {"start": "20240301T000000.000Z", "end": "20240401T000000.000Z"},
            "reportKeys": [f"cur/myreport/20240301-20240401/{assembly}/{p.name}" for p in parts],
        },
    )


def two_deliveries(period: Path) -> tuple[list[Path], list[Path]]:
    """A report's period folder holding an old delivery (one part) and the latest (two): the
    old one's parts and the latest one's."""
    old = split_legacy(period / "0aa00000-old", ["myreport-00001.csv.gz"])
    new = split_legacy(period / "1bb11111-new", ["myreport-00001.csv.gz", "myreport-00002.csv.gz"])
    # AWS leaves each assembly's own manifest inside it, and the period's current one above.
    manifest(period / "0aa00000-old", "0aa00000-old", old)
    manifest(period / "1bb11111-new", "1bb11111-new", new)
    manifest(period, "1bb11111-new", new)
    return old, new


def test_a_cur_folder_counts_only_the_latest_assembly(store: Store, tmp_path: Path) -> None:
    old, new = two_deliveries(tmp_path / "cur" / "myreport" / "20240301-20240401")
    report = ingest(store, [tmp_path / "cur"])
    assert lake_totals(store) == native_totals(LEGACY)
    assert report.stored == [p.resolve() for p in new]
    assert report.skipped == [(old[0], "not in the latest delivery its report manifest names")]
    # The two parts feed the same account-period, as their manifest says: no note about it.
    assert report.several == []


def test_a_manifest_given_as_a_path_is_expanded(store: Store, tmp_path: Path) -> None:
    period = tmp_path / "myreport" / "20240301-20240401"
    new = split_legacy(period / "1bb11111-new", ["myreport-00001.csv.gz", "myreport-00002.csv.gz"])
    path = manifest(period, "1bb11111-new", new)
    report = ingest(store, [path])
    assert lake_totals(store) == native_totals(LEGACY)
    assert report.several == []


def test_actual_and_amortized_views_of_one_period_are_refused_together(cli, data_dir) -> None:
    from tests.conftest import ROOT, lake_snapshot

    azure = ROOT / "tests" / "fixtures" / "native" / "azure"
    actual, amortized = azure / "ea-actual-small.csv", azure / "ea-amortized-small.csv"
    result = cli("ingest", actual, amortized)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {actual} (actual) and {amortized} (amortized) are different cost views of "
        "azure/8611537/2023-09: ingesting both would count the same usage twice. Ingest one "
        "view (amortized for showback, actual to match the invoice).\n"
    )
    assert lake_snapshot(data_dir) == {}
    # One after the other is a restatement: the later view replaces the earlier.
    assert cli("ingest", actual).exit_code == 0
    assert cli("ingest", amortized).exit_code == 0


def pattern_named_exports(folder: Path) -> tuple[list[Path], list[tuple[object, ...]]]:
    """Exports whose names read as patterns (`aws[1].csv`, `_az{1,2}.csv`, and to Hadoop
    `g\\c.csv`, whose backslash escapes the `c`) beside files those patterns match, holding
    other samples; the three to ingest, and the lines (source file, provider, count, cost)
    they hold."""
    samples = Path(__file__).resolve().parents[2] / "samples" / "focus" / "1.2"
    folder.mkdir()
    names = {
        "aws[1].csv": "aws",
        "aws1.csv": "gcp",
        "_az{1,2}.csv": "azure",
        "_az1.csv": "aws",
        "g\\c.csv": "gcp",
        "gc.csv": "azure",
    }
    for name, sample in names.items():
        (folder / name).write_bytes((samples / f"{sample}.csv").read_bytes())
    given = ["aws[1].csv", "_az{1,2}.csv", "g\\c.csv"]
    return [folder / name for name in given], [
        (str(folder / "_az{1,2}.csv"), "azure", 1000, "38965.314794127360000000"),
        (str(folder / "aws[1].csv"), "aws", 1000, "25993.813466032605000000"),
        (str(folder / "g\\c.csv"), "gcp", 1000, "30378.761241953350500000"),
    ]


# The lines of a lake by source file.
BY_SOURCE = (
    "SELECT x_SourceFile, x_Provider, count(*), sum(BilledCost)::VARCHAR FROM costs "
    "GROUP BY ALL ORDER BY 1"
)


def test_a_file_whose_name_reads_as_a_pattern_is_read_itself(store: Store, tmp_path: Path) -> None:
    """`aws[1].csv` beside `aws1.csv`: the readers take `[1]` as a pattern, which matches the
    other file. Each file's lines are its own (the gcp sample was read as `aws[1].csv`)."""
    exports, lines = pattern_named_exports(tmp_path / "exports")
    report = ingest(store, exports)
    assert sorted(Path(p).name for p in report.stored) == ["_az{1,2}.csv", "aws[1].csv", "g\\c.csv"]
    assert store.connect().execute(BY_SOURCE).fetchall() == lines
