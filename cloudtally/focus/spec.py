"""FOCUS columns by version, read from the specification's column list.

`focus_columns.tsv` is derived from the FinOps Foundation FOCUS specification (CC-BY-4.0):
versions 1.0-1.2 parsed at their release tags, 1.3 from the spec's column files.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources

SUPPORTED_VERSIONS = ("1.0", "1.1", "1.2", "1.3")
COST_AND_USAGE = "CostAndUsage"


@dataclass(frozen=True)
class FocusColumn:
    """One column of one FOCUS version's Cost and Usage dataset."""

    name: str
    version: str
    requirement: str  # Mandatory | Conditional | Recommended
    data_type: str  # Decimal | String | Date/Time | JSON
    allows_nulls: bool

    @property
    def mandatory(self) -> bool:
        return self.requirement == "Mandatory"


@cache
def _all_columns() -> tuple[FocusColumn, ...]:
    text = resources.files("cloudtally.focus").joinpath("focus_columns.tsv").read_text("utf-8")
    rows = csv.DictReader(text.splitlines(), delimiter="\t")
    return tuple(
        FocusColumn(
            name=row["column"],
            version=row["version"],
            requirement=row["requirement"],
            data_type=row["data_type"],
            allows_nulls=row["allows_nulls"] == "True",
        )
        for row in rows
        if row["dataset"] == COST_AND_USAGE
    )


@cache
def columns(version: str) -> dict[str, FocusColumn]:
    """The Cost and Usage columns of a FOCUS version, by name.

    >>> len(columns("1.0")), len(columns("1.2"))
    (43, 57)
    """
    found = {c.name: c for c in _all_columns() if c.version == version}
    if not found:
        raise KeyError(f"unknown FOCUS version {version!r}")
    return found


@cache
def allowed_values(version: str) -> dict[str, tuple[str, ...]]:
    """The columns of a FOCUS version whose values the spec lists, with those values. They are
    case-sensitive: `Usage-based` is not an allowed ChargeFrequency, `Usage-Based` is.

    `focus_allowed_values.tsv` is written by `scripts/focus_allowed_values.py` from the
    specification's column files at each release tag.

    >>> allowed_values("1.2")["ChargeFrequency"]
    ('One-Time', 'Recurring', 'Usage-Based')
    """
    text = resources.files("cloudtally.focus").joinpath("focus_allowed_values.tsv")
    found: dict[str, list[str]] = {}
    for row in csv.DictReader(text.read_text("utf-8").splitlines(), delimiter="\t"):
        if row["version"] == version:
            found.setdefault(row["column"], []).append(row["value"])
    if not found:
        raise KeyError(f"no allowed values known for FOCUS version {version!r}")
    return {column: tuple(values) for column, values in found.items()}


def added_in(version: str) -> frozenset[str]:
    """Columns a version added to the one before it.

    >>> sorted(added_in("1.3"))[:2]
    ['AllocatedMethodDetails', 'AllocatedMethodId']
    """
    index = SUPPORTED_VERSIONS.index(version)
    if index == 0:
        return frozenset(columns(version))
    return frozenset(columns(version)) - frozenset(columns(SUPPORTED_VERSIONS[index - 1]))


def detect_version(header: list[str] | set[str]) -> str:
    """The FOCUS version whose columns a header carries.

    The newest version whose added columns appear in the header wins.

    >>> detect_version(["BilledCost", "EffectiveCost", "ChargePeriodStart", "BillingPeriodStart",
    ...                 "BillingAccountId", "ChargeCategory", "SkuMeter"])
    '1.1'
    """
    present = set(header)
    found = "1.0"
    for version in SUPPORTED_VERSIONS[1:]:
        if added_in(version) & present:
            found = version
    return found
