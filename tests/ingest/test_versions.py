"""Two versions of one export in one folder (the shipped FOCUS 1.2 and 1.3 samples hold the same
accounts and period) are refused together, naming both paths; one after the other, the later
replaces the earlier, as a restated export does. Nothing is counted twice."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from cloudtally.store import Store
from tests.conftest import FOCUS_10, SAMPLES, lake_snapshot

FOCUS = SAMPLES / "focus"
ACCOUNTS = {
    "aws": "aws/100000000001/2026-05, aws/100000000002/2026-05",
    "azure": "azure/8a1b2c3d-0000-4a00-9000-000000000001/2026-05, "
    "azure/8a1b2c3d-0000-4a00-9000-000000000002/2026-05",
    "gcp": "gcp/01A2B3-C4D5E6-F70819/2026-05, gcp/11C2D3-E4F506-A7B8C9/2026-05",
}
REFUSED = (
    "Error: Files in different formats hold the same account-periods: they are versions of one "
    "export, and ingesting them together would count that cost twice.\n"
    + "".join(
        f"  {FOCUS / '1.2' / name}.csv (focus-1.2) and {FOCUS / '1.3' / name}.csv (focus-1.3) "
        f"hold {held}\n"
        for name, held in ACCOUNTS.items()
    )
    + "Ingest one version; ingesting another later replaces it, as a restated export does.\n"
)
# The exact sum of the 1.3 sample's three cost files (BilledCost = EffectiveCost there).
FOCUS_13 = Decimal("86624.543741494532174")


def totals(store: Store) -> tuple[Decimal, Decimal, int]:
    billed, effective, rows = store.sql(  # type: ignore[misc]
        "SELECT sum(BilledCost), sum(EffectiveCost), count(*) FROM costs"
    ).fetchone()
    return billed.normalize(), effective.normalize(), rows


def test_the_samples_folder_is_refused_naming_both_versions(cli, data_dir: Path) -> None:
    result = cli("ingest", "--no-progress", SAMPLES)
    assert result.exit_code == 1
    assert result.stderr == REFUSED
    assert lake_snapshot(data_dir) == {}


def test_a_version_already_ingested_counts_when_given_again(cli, data_dir: Path) -> None:
    assert cli("ingest", FOCUS / "1.2").exit_code == 0
    before = lake_snapshot(data_dir)
    result = cli("ingest", "--no-progress", FOCUS)
    assert (result.exit_code, result.stderr) == (1, REFUSED)
    assert lake_snapshot(data_dir) == before


def test_one_version_per_account_period_is_counted_once(cli, data_dir: Path) -> None:
    assert cli("ingest", FOCUS / "1.0", FOCUS / "1.3").exit_code == 0
    # 20.52022672899 + 86624.543741494532174 and 14.97651418586 + 86624.543741494532174
    assert totals(Store(data_dir)) == (
        Decimal("86645.063968223522174"),
        Decimal("86639.520255680392174"),
        4000,
    )


def test_the_later_version_replaces_the_earlier(cli, data_dir: Path) -> None:
    assert cli("ingest", FOCUS / "1.2").exit_code == 0
    result = cli("ingest", "--no-progress", FOCUS / "1.3")
    assert result.exit_code == 0
    assert "Replaced 6 account-period(s) with the new delivery: " in result.stdout
    assert totals(Store(data_dir)) == (FOCUS_13, FOCUS_13, 3000)
    # And the other way round: the 1.2 export, given later, is the later delivery.
    assert cli("ingest", FOCUS / "1.2", FOCUS_10).exit_code == 0
    assert totals(Store(data_dir))[2] == 4000
