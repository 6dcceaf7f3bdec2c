"""Columns with allowed values hold only values the FOCUS spec allows, spelled as it spells
them (it is case-sensitive), after ingest from every format: checked on the FOCUS export.
focus-validator 2.2.1 cannot see this (its allowed-values rule passes when any row holds an
allowed value), so these tests read every row themselves."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from cloudtally.export.focus import export_focus
from cloudtally.focus.canonical import CANONICAL_VERSION
from cloudtally.focus.spec import allowed_values
from cloudtally.ingest.pipeline import ingest
from cloudtally.store import Store
from tests.conftest import FOCUS_10, ROOT

ALLOWED = allowed_values(CANONICAL_VERSION)


def outside_allowed_values(path: Path) -> dict[str, list[str]]:
    """Values of a FOCUS file's allowed-value columns that the spec does not allow (it is
    case-sensitive). focus-validator 2.2.1 passes a column if any row holds an allowed value,
    so this reads every row itself."""
    relation = (
        f"read_csv('{path}', all_varchar = true, nullstr = ['', 'NULL'])"
        if path.suffix == ".csv"
        else f"'{path}'"
    )
    present = {row[0] for row in duckdb.sql(f"DESCRIBE SELECT * FROM {relation}").fetchall()}
    found = {}
    for column, allowed in ALLOWED.items():
        if column not in present:
            continue
        listed = ", ".join("'" + v + "'" for v in allowed)
        bad = duckdb.sql(
            f'SELECT DISTINCT "{column}" FROM {relation} '
            f'WHERE "{column}" IS NOT NULL AND "{column}" NOT IN ({listed}) ORDER BY 1'
        ).fetchall()
        if bad:
            found[column] = [b[0] for b in bad]
    return found


NATIVE = ROOT / "tests" / "fixtures" / "native"
FIXTURES = sorted(
    str(p.relative_to(NATIVE))
    for p in NATIVE.rglob("*")
    if p.suffix in (".csv", ".parquet", ".jsonl") and "headers" not in p.parts
)


@pytest.mark.parametrize("fixture", FIXTURES)
def test_native_exports_hold_only_allowed_values(tmp_path: Path, fixture: str) -> None:
    store = Store(tmp_path / "lake")
    ingest(store, [NATIVE / fixture])
    exported = tmp_path / "focus.parquet"
    export_focus(store, exported)
    assert outside_allowed_values(exported) == {}


def test_the_focus_10_source_has_a_value_the_spec_does_not_allow() -> None:
    """What the validator does not see, and the export fixes: `Usage-based` (7 OCI rows)."""
    assert outside_allowed_values(FOCUS_10) == {"ChargeFrequency": ["Usage-based"]}


def test_the_focus_10_export_holds_only_allowed_values(tmp_path: Path) -> None:
    store = Store(tmp_path / "lake")
    ingest(store, [FOCUS_10])
    exported = tmp_path / "focus.parquet"
    export_focus(store, exported)
    assert outside_allowed_values(exported) == {}
