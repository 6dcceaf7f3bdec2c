"""The FOCUS 1.3 Contract Commitment dataset: the terms of the contracts behind the commitments
(what was committed, from when to when, at what cost). It is not cost: its rows go to a dataset
of their own beside the costs, the view `contract_commitments`, which `cloudtally commitments`
reads for terms and end dates (a commitment's ContractCommitmentId is the CommitmentDiscountId
of its cost rows, and appears in the Cost and Usage dataset's ContractApplied column).

A delivery replaces what an earlier one said about the same contracts: the rows of every
ContractId (and ContractCommitmentId) it holds are replaced; other contracts are kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import duckdb

from cloudtally.errors import IngestError
from cloudtally.focus.canonical import DECIMAL, STRING, TIMESTAMP
from cloudtally.ingest.formats.base import Converter, extension_name, literal, quote
from cloudtally.ingest.source import SourceFile

if TYPE_CHECKING:
    from cloudtally.store import Store
    from cloudtally.store.catalog import Catalog

DATASET = "contract_commitments"

# FOCUS 1.3, Contract Commitment dataset: every column is mandatory (its presence); these are
# the types the dataset stores them as.
COLUMNS: dict[str, str] = {
    "ContractCommitmentId": STRING,
    "ContractCommitmentType": STRING,
    "ContractCommitmentCategory": STRING,
    "ContractCommitmentDescription": STRING,
    "ContractCommitmentCost": DECIMAL,
    "ContractCommitmentQuantity": DECIMAL,
    "ContractCommitmentUnit": STRING,
    "ContractCommitmentPeriodStart": TIMESTAMP,
    "ContractCommitmentPeriodEnd": TIMESTAMP,
    "ContractId": STRING,
    "ContractPeriodStart": TIMESTAMP,
    "ContractPeriodEnd": TIMESTAMP,
    "BillingCurrency": STRING,
}
# The columns the specification does not allow to be null.
NOT_NULL = (
    "ContractCommitmentId",
    "ContractCommitmentType",
    "ContractCommitmentCategory",
    "ContractCommitmentPeriodStart",
    "ContractCommitmentPeriodEnd",
    "ContractId",
    "ContractPeriodStart",
    "ContractPeriodEnd",
)
# What tells this dataset from a Cost and Usage export (which has charge periods instead).
MARKERS = {"ContractCommitmentId", "ContractCommitmentPeriodStart", "ContractPeriodStart"}


class ContractCommitmentConverter(Converter):
    """The FOCUS 1.3 Contract Commitment dataset, stored as the dataset `contract_commitments`
    (a view of that name), not in `costs`. Columns keep their FOCUS names; money and
    quantities are exact decimals, the periods UTC timestamps. A new delivery replaces the
    rows of the contracts (ContractId) it describes."""

    name = "focus-contract-commitment"
    description = "FOCUS 1.3 Contract Commitment dataset (stored beside the costs)"
    dataset: ClassVar[str] = DATASET

    @classmethod
    def matches(cls, source: SourceFile) -> bool:
        present = set(source.columns)
        return len(present & MARKERS) >= 2 and "ChargePeriodStart" not in present

    @property
    def source_format(self) -> str:
        return "focus-1.3-contract-commitment"

    def validate(self) -> None:
        duplicated = sorted({c for c in self.source.columns if self.source.columns.count(c) > 1})
        if duplicated:
            raise IngestError(
                f"{self.source.label}: column {duplicated[0]!r} appears more than once in the "
                "header. Remove the duplicate and run again."
            )
        missing = [c for c in COLUMNS if c not in self.source.columns]
        if missing:
            raise IngestError(
                f"{self.source.label}: a FOCUS 1.3 Contract Commitment dataset must have the "
                f"column{'s' if len(missing) > 1 else ''} {', '.join(missing)}, which "
                f"{'are' if len(missing) > 1 else 'is'} missing. Export the whole dataset and "
                "run again."
            )

    def reader_types(self) -> dict[str, str]:
        return {c: t for c, t in COLUMNS.items() if t in (DECIMAL, TIMESTAMP)}

    def expressions(self) -> dict[str, str]:
        return {c: f"CAST({quote(c)} AS {t})" for c, t in COLUMNS.items()}

    def extra_columns(self) -> dict[str, str]:
        return {extension_name(c): quote(c) for c in self.source.columns if c not in COLUMNS}

    @classmethod
    def mapping(cls) -> list[tuple[str, str]]:
        rows = [
            (name, f"same column; {'exact DECIMAL(38,18)' if t == DECIMAL else t}")
            for name, t in COLUMNS.items()
        ]
        rows.append(("x_<column>", "any other source column"))
        rows.append(("x_SourceFile, x_IngestId", "the file and the ingest run the row came from"))
        return rows

    # -- a dataset beside the costs ---------------------------------------------------------

    def stage_beside(self, con: duckdb.DuckDBPyConnection, target: Path, ingest_id: str) -> int:
        """Read the file once into `target` (Parquet) with typed columns; refuse null keys."""
        exprs = self.expressions()
        parts = [f"{e} AS {quote(c)}" for c, e in exprs.items()]
        parts += [f"{e} AS {quote(c)}" for c, e in self.extra_columns().items()]
        parts += [
            f"{literal(self.source.label)} AS x_SourceFile",
            f"{literal(ingest_id)} AS x_IngestId",
        ]
        select = f"SELECT {', '.join(parts)} FROM {self.read_sql()}"
        con.execute(f"COPY ({select}) TO {literal(str(target))} (FORMAT parquet)")
        staged = f"read_parquet({literal(str(target))})"
        rows = con.execute(f"SELECT count(*) FROM {staged}").fetchall()[0][0]
        if rows == 0:
            raise IngestError(
                f"{self.source.label}: the file has a header but no rows. Re-download the export."
            )
        for column in NOT_NULL:
            found = con.execute(
                f"SELECT n FROM (SELECT row_number() OVER () AS n, {quote(column)} AS v "
                f"FROM {staged}) WHERE v IS NULL ORDER BY n LIMIT 1"
            ).fetchall()
            if found:
                raise IngestError(
                    f"{self.source.label}: data row {found[0][0]}, column {column} is empty; "
                    "FOCUS requires it on every Contract Commitment row. Fix the export."
                )
        backwards = con.execute(
            f"SELECT n, ContractCommitmentId FROM (SELECT row_number() OVER () AS n, * "
            f"FROM {staged}) WHERE ContractCommitmentPeriodEnd < ContractCommitmentPeriodStart "
            "ORDER BY n LIMIT 1"
        ).fetchall()
        if backwards:
            raise IngestError(
                f"{self.source.label}: data row {backwards[0][0]} ({backwards[0][1]}): "
                "ContractCommitmentPeriodEnd is before ContractCommitmentPeriodStart. Fix the "
                "export."
            )
        return int(rows)

    @classmethod
    def publish_beside(
        cls,
        store: Store,
        catalog: Catalog,
        staged: list[tuple[SourceFile, Path]],
        ingest_id: str,
    ) -> tuple[Catalog, int]:
        """The catalog with the dataset rewritten: the kept rows of earlier deliveries and the
        new rows, in one Parquet file moved into the lake (not yet committed)."""
        con = store.engine()
        new = " UNION ALL BY NAME ".join(
            f"SELECT * FROM read_parquet({literal(str(path))})" for _, path in staged
        )
        twice = con.execute(
            f"SELECT ContractCommitmentId, count(*) FROM ({new}) GROUP BY ALL HAVING count(*) > 1 "
            "ORDER BY 1 LIMIT 1"
        ).fetchall()
        if twice:
            paths = " and ".join(str(s.path) for s, _ in staged)
            raise IngestError(
                f"{paths}: ContractCommitmentId {twice[0][0]!r} appears on {twice[0][1]} rows. "
                "A delivery describes each commitment once: ingest one version of the dataset."
            )
        relation = new
        existing = catalog.derived.get(DATASET)
        if existing is not None and existing.files:
            listed = ", ".join(literal(store.location(f)) for f in existing.files)
            old = f"SELECT * FROM read_parquet([{listed}], union_by_name = true)"
            relation = (
                f"SELECT * FROM ({old}) WHERE ContractId NOT IN (SELECT ContractId FROM ({new})) "
                f"AND ContractCommitmentId NOT IN (SELECT ContractCommitmentId FROM ({new})) "
                f"UNION ALL BY NAME {new}"
            )
        folder = store.staging_for(DATASET)
        target = folder / "contract_commitments.parquet"
        con.execute(
            f"COPY (SELECT * FROM ({relation}) ORDER BY ContractId, ContractCommitmentId) "
            f"TO {literal(str(target))} (FORMAT parquet)"
        )
        rows = con.execute(f"SELECT count(*) FROM {literal(str(target))}").fetchall()[0][0]
        catalog = store.with_derived(catalog, DATASET, [target], rows=int(rows))
        return catalog, int(rows)
