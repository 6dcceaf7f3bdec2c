"""Re-ingest changes nothing; a restated delivery replaces its account-period as a whole."""

from __future__ import annotations

import csv
import re
from decimal import Decimal
from pathlib import Path

from cloudtally.ingest.pipeline import ingest
from cloudtally.store import Store
from tests.conftest import FOCUS_10, SAMPLES, lake_snapshot

AWS_12 = SAMPLES / "focus" / "1.2" / "aws.csv"


def billed(store: Store) -> dict[str, Decimal]:
    rows = store.sql(
        "SELECT BillingAccountId, sum(BilledCost) FROM costs GROUP BY 1 ORDER BY 1"
    ).fetchall()
    return {account: total.normalize() for account, total in rows}


def rewrite(source: Path, target: Path, change) -> Path:  # type: ignore[no-untyped-def]
    """Copy a CSV, passing each row through `change` (which may drop it by returning None)."""
    with open(source, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = [r for r in (change(row) for row in reader) if r is not None]
        fields = reader.fieldnames
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields or [])
        writer.writeheader()
        writer.writerows(rows)
    return target


def test_ingesting_the_same_file_twice_changes_nothing(cli, data_dir: Path) -> None:
    assert cli("ingest", FOCUS_10).exit_code == 0
    before = lake_snapshot(data_dir)
    again = cli("ingest", FOCUS_10)
    assert again.exit_code == 0
    assert again.stdout == "Nothing to do: 1 file(s) already ingested, unchanged.\n"
    assert lake_snapshot(data_dir) == before


def test_same_content_under_another_name_is_not_counted_twice(store: Store, sample_copy) -> None:
    ingest(store, [AWS_12])
    ingest(store, [sample_copy(AWS_12, "renamed.csv")])
    assert store.sql("SELECT count(*) FROM costs").fetchone() == (1000,)


def test_restated_period_replaces_the_account_period(store: Store, tmp_path: Path) -> None:
    ingest(store, [AWS_12])
    # The restated export: one account's usage rows cost 1 more each, one row removed.
    seen = []

    def restate(row: dict) -> dict | None:
        if row["BillingAccountId"] == "100000000001" and row["ChargeCategory"] == "Usage":
            if not seen:
                seen.append(row)
                return None
            row["BilledCost"] = str(Decimal(row["BilledCost"]) + 1)
        return row

    restated = rewrite(AWS_12, tmp_path / "restated" / "aws.csv", restate)
    report = ingest(store, [restated])
    usage = sum(
        1
        for r in csv.DictReader(open(restated, encoding="utf-8"))
        if r["BillingAccountId"] == "100000000001" and r["ChargeCategory"] == "Usage"
    )
    assert billed(store) == {
        "100000000001": (
            Decimal("12375.4809370615425") - Decimal(seen[0]["BilledCost"]) + usage
        ).normalize(),
        "100000000002": Decimal("13618.3325289710625"),
    }
    assert store.sql("SELECT count(*) FROM costs").fetchone() == (999,)
    assert [k.label() for k in report.replaced] == [
        "aws/100000000001/2026-05",
        "aws/100000000002/2026-05",
    ]
    # The old files left the view; they stay on disk one generation for readers mid-query,
    # and the next ingest deletes them.
    # (The daily cube of the costs, lake/_derived/, is rebuilt and retired with them.)
    catalog = store.catalog()
    retired = [f for f in catalog.retired_files if "/_derived/" not in f]
    assert len(catalog.live_files()) == 2 and len(retired) == 2
    assert len(cost_files(store)) == 4
    ingest(store, [FOCUS_10])
    assert len(cost_files(store)) == 6  # 2 live + 4 new, 0 retired


def test_a_delivery_of_one_account_leaves_other_accounts_alone(
    store: Store, tmp_path: Path
) -> None:
    ingest(store, [AWS_12])
    only_one = rewrite(
        AWS_12,
        tmp_path / "one" / "aws.csv",
        lambda r: r if r["BillingAccountId"] == "100000000002" else None,
    )
    ingest(store, [only_one])
    assert billed(store) == {
        "100000000001": Decimal("12375.4809370615425"),
        "100000000002": Decimal("13618.3325289710625"),
    }


def test_multi_file_delivery_keeps_unchanged_parts(store: Store, tmp_path: Path) -> None:
    """Two files of one delivery; later only part 2 changes and both are given again."""
    part1 = rewrite(
        AWS_12, tmp_path / "d" / "part1.csv", lambda r: r if r["ServiceName"] < "AmazonS" else None
    )
    part2 = rewrite(
        AWS_12, tmp_path / "d" / "part2.csv", lambda r: r if r["ServiceName"] >= "AmazonS" else None
    )
    ingest(store, [tmp_path / "d"])
    assert store.sql("SELECT count(*) FROM costs").fetchone() == (1000,)

    def bump(row: dict) -> dict:
        row["BilledCost"] = str(Decimal(row["BilledCost"]) * 2)
        return row

    rewrite(part2, part2, bump)
    report = ingest(store, [tmp_path / "d"])
    assert report.unchanged == [part1]
    assert store.sql("SELECT count(*) FROM costs").fetchone() == (1000,)
    doubled = sum(Decimal(r["BilledCost"]) for r in csv.DictReader(open(part2, encoding="utf-8")))
    first = sum(Decimal(r["BilledCost"]) for r in csv.DictReader(open(part1, encoding="utf-8")))
    assert store.sql("SELECT sum(BilledCost) FROM costs").fetchone()[0] == first + doubled  # type: ignore[index]


def test_other_periods_and_providers_stay(store: Store) -> None:
    ingest(store, [FOCUS_10])
    ingest(store, [AWS_12])
    periods = store.sql(
        "SELECT x_Provider, x_BillingPeriod, count(*) FROM costs GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert periods == [
        ("aws", "2024-09", 942),
        ("aws", "2026-05", 1000),
        ("azure", "2024-09", 51),
        ("oci", "2024-09", 6),
        ("oci", "2024-10", 1),
    ]


def test_a_copy_given_in_the_same_call_is_read_once(cli, data_dir: Path, sample_copy) -> None:
    copy = sample_copy(AWS_12, "copy-of-aws.csv")
    result = cli("ingest", AWS_12, copy)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0] == f"Skipped {copy}: same content as {AWS_12}"
    store = Store(data_dir)
    assert store.sql("SELECT count(*) FROM costs").fetchone() == (1000,)
    assert billed(store) == {
        "100000000001": Decimal("12375.4809370615425"),
        "100000000002": Decimal("13618.3325289710625"),
    }


def test_several_files_feeding_one_account_period_are_pointed_out(cli, tmp_path: Path) -> None:
    part1 = rewrite(
        AWS_12, tmp_path / "d" / "a.csv", lambda r: r if r["ServiceName"] < "AmazonS" else None
    )
    part2 = rewrite(
        AWS_12, tmp_path / "d" / "b.csv", lambda r: r if r["ServiceName"] >= "AmazonS" else None
    )
    result = cli("ingest", part1, part2)
    assert result.exit_code == 0
    notes = [line for line in result.stdout.splitlines() if line.startswith("Note:")]
    assert notes == [
        f"Note: aws/{account}/2026-05 holds the sum of 2 files of this delivery ({part1}, "
        f"{part2}). "
        "If they are versions of one export rather than its parts, ingest the newest alone "
        "(`cloudtally check` reports the duplicate line items)."
        for account in ("100000000001", "100000000002")
    ]


def cost_files(store: Store) -> list[Path]:
    """The costs' Parquet files on disk (not the derived datasets')."""
    return [p for p in store.lake_dir.rglob("*.parquet") if "_derived" not in p.parts]


def test_accounts_whose_ids_write_alike_keep_files_of_their_own(
    store: Store, tmp_path: Path
) -> None:
    """A lake file is named after its billing account: ids that differ only in what a file
    name cannot hold (`#1`, `$1`, `_1`, `1`) each keep a file, and each its own total."""
    with open(SAMPLES / "focus" / "1.2" / "aws.csv", newline="") as fh:
        header, *rows = list(csv.reader(fh))
    column = header.index("BilledCost")
    account = header.index("BillingAccountId")
    ids = ["100000000001", "_100000000001", "#100000000001", "$100000000001"]
    for n, row in enumerate(rows):
        row[account] = ids[n % 4]
    path = tmp_path / "accounts.csv"
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([header, *rows])
    ingest(store, [path])
    expected = {
        i: sum((Decimal(r[column]) for n, r in enumerate(rows) if n % 4 == ids.index(i)), Decimal())
        for i in ids
    }
    found = store.sql("SELECT BillingAccountId, sum(BilledCost) FROM costs GROUP BY 1").fetchall()
    assert {a: Decimal(c).normalize() for a, c in found} == {
        a: c.normalize() for a, c in expected.items()
    }
    names = sorted(
        re.sub(r"-\d{8}T\d{6}Z-[0-9a-f]{6}-\d{5}\.parquet$", "", p.name)
        for p in (store.data_dir / "lake").glob("x_Provider=*/*/*.parquet")
    )
    # (the plain id; the others what is plain of them and a hash of the id: $, _, #)
    assert names == [
        "100000000001",
        "100000000001-2cc59bde",
        "100000000001-539783d8",
        "100000000001-89d425b5",
    ]
