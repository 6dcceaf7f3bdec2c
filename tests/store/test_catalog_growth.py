"""The catalog every command reads holds the live state only: the history of ingested files
(the manifest) is appended to manifest.jsonl, which no query parses. So catalog.json does not
grow with ingests, and a damaged history leaves every cost command working."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from cloudtally.errors import StoreError
from cloudtally.ingest.pipeline import ingest
from cloudtally.store import Store
from cloudtally.store.catalog import FORMAT_VERSION
from tests.allocate.lake import Line, write_focus_csv
from tests.conftest import FOCUS_10, Run


def delivery(folder: Path, n: int) -> Path:
    """The n-th restated delivery of one account-period (a distinct file each time)."""
    folder.mkdir(parents=True, exist_ok=True)
    return write_focus_csv(
        folder / f"export-{n}.csv",
        [Line(billed=f"1{n}.25", service="Compute"), Line(billed="20.50", service="Storage")],
    )


def test_catalog_size_follows_the_live_data_not_the_history(store: Store, tmp_path: Path) -> None:
    sizes = []
    for n in range(1, 7):
        ingest(store, [delivery(tmp_path / "in", n)])
        sizes.append(store.catalog_path.stat().st_size)
    # Each delivery replaced the one before: one live file, whatever the history.
    assert len(store.catalog().live_files()) == 1
    assert "manifest" not in json.loads(store.catalog_path.read_text())
    assert len(set(sizes[1:])) == 1, sizes  # the first has no retired file yet
    history = store.manifest()
    assert [Path(e.path).name for e in history] == [f"export-{n}.csv" for n in range(1, 7)]
    assert [e.totals["USD"]["BilledCost"] for e in history] == [
        Decimal(f"{30 + n}.75") for n in range(1, 7)
    ]
    assert len(store.manifest_path.read_text().splitlines()) == 6


def test_commands_do_not_read_the_history(
    store: Store, cli: Callable[..., Run], tmp_path: Path
) -> None:
    ingest(store, [FOCUS_10])
    committed = store.catalog().manifest_size
    assert committed == store.manifest_path.stat().st_size
    store.manifest_path.write_bytes(b"#" * committed)  # the history is garbage now
    assert cli("sql", "SELECT sum(BilledCost) FROM costs").stdout == "20.52022672899\n"
    assert cli("costs", "--by", "provider", "-f", "csv").exit_code == 0
    with pytest.raises(StoreError) as damaged:
        store.manifest()
    assert str(damaged.value).startswith(
        f"{store.manifest_path}, line 1: the manifest entry is unreadable ("
    )
    assert str(damaged.value).endswith(
        "). The lake itself is intact; restore the manifest from a backup to see its history."
    )


def test_entries_of_an_interrupted_ingest_are_ignored_then_cut(
    store: Store, tmp_path: Path
) -> None:
    ingest(store, [delivery(tmp_path / "in", 1)])
    committed = store.manifest_path.read_bytes()
    # An ingest appended its entry, then died before swapping the catalog.
    with open(store.manifest_path, "ab") as fh:
        fh.write(b'{"half written')
    assert [Path(e.path).name for e in store.manifest()] == ["export-1.csv"]
    ingest(store, [delivery(tmp_path / "in", 2)])
    text = store.manifest_path.read_bytes()
    assert text.startswith(committed)
    assert b"half written" not in text
    assert [Path(e.path).name for e in store.manifest()] == ["export-1.csv", "export-2.csv"]
    assert store.manifest_count() == 2


def test_a_format_2_catalog_moves_its_history_out_on_the_next_write(
    store: Store, tmp_path: Path
) -> None:
    ingest(store, [delivery(tmp_path / "in", 1)])
    # Rewrite the store as format 2 wrote it: the manifest inside catalog.json.
    entries = [json.loads(line) for line in store.manifest_path.read_text().splitlines()]
    on_disk = json.loads(store.catalog_path.read_text())
    on_disk.update(format_version=2, manifest=entries)
    del on_disk["manifest_size"]
    store.catalog_path.write_text(json.dumps(on_disk))
    store.manifest_path.unlink()
    assert [Path(e.path).name for e in store.manifest()] == ["export-1.csv"]
    ingest(store, [delivery(tmp_path / "in", 2)])
    upgraded = json.loads(store.catalog_path.read_text())
    assert upgraded["format_version"] == FORMAT_VERSION == 5
    assert "manifest" not in upgraded
    assert [Path(e.path).name for e in store.manifest()] == ["export-1.csv", "export-2.csv"]
    assert store.manifest_count() == 2


def test_the_newest_entries_are_read_from_the_end_of_a_long_history(
    store: Store, tmp_path: Path
) -> None:
    ingest(store, [delivery(tmp_path / "in", 1)])
    (entry,) = store.manifest()
    # A history of 5,000 ingests (over 64 KiB, so the tail is read in several blocks).
    lines = [
        entry.model_copy(update={"path": f"/exports/delivery-{n}.csv"}).model_dump_json()
        for n in range(5000)
    ]
    text = ("\n".join(lines) + "\n").encode()
    store.manifest_path.write_bytes(text + b'{"half written')
    on_disk = json.loads(store.catalog_path.read_text())
    on_disk["manifest_size"] = len(text)
    store.catalog_path.write_text(json.dumps(on_disk))
    del on_disk["manifest_entries"]  # not recorded: counted from the file
    store.catalog_path.write_text(json.dumps(on_disk))
    assert store.manifest_count() == 5000
    assert [e.path for e in store.manifest(last=3)] == [
        "/exports/delivery-4997.csv",
        "/exports/delivery-4998.csv",
        "/exports/delivery-4999.csv",
    ]
    assert len(store.manifest(last=400)) == 400
    assert store.manifest(last=0) == []
    assert len(store.manifest(last=9000)) == 5000
