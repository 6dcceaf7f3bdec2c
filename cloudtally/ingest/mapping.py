"""Bill mappings: a YAML file that says how any CSV or Parquet bill (a SaaS vendor's usage
export, a data platform's invoice lines, an internal platform's chargeback) becomes FOCUS rows.

    name: acme-monitoring
    types: {usage_date: date}
    constants: {ProviderName: Acme Monitoring, ChargeCategory: Usage}
    currency: USD
    columns:
      BilledCost: amount
      ChargePeriodStart: usage_date
      ChargePeriodEnd: usage_date + INTERVAL 1 DAY
    units: {host-hours: Hours}
    tags: {team: team}

`load_mapping` reads and checks the file on its own (keys, FOCUS column names, expressions,
mandatory columns); `MappingConverter` (ingest/formats/mapped.py) checks it against each bill.
docs/mappings.md is the user's reference.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from cloudtally.focus.canonical import CANONICAL, DECIMAL, EXTENSIONS, TIMESTAMP
from cloudtally.ingest.safe_sql import Expression, ExpressionError, parse_expression
from cloudtally.rules.yaml_loader import Problems, line_of

# How a bill's column is read: the type its text is parsed as.
SOURCE_TYPES: dict[str, str] = {
    "text": "VARCHAR",
    "decimal": DECIMAL,
    "integer": "BIGINT",
    "date": "DATE",
    "timestamp": TIMESTAMP,
}
SourceType = Literal["text", "decimal", "integer", "date", "timestamp"]

FOCUS_NAMES = [c.name for c in CANONICAL if not c.name.startswith("x_")]
# FOCUS columns that must hold a value on every row (Mandatory, nulls not allowed).
REQUIRED = [
    c.name for c in CANONICAL if c.mandatory and not c.allows_nulls and c.name in FOCUS_NAMES
]
# Columns a mapping may leave out because another column gives them (FOCUS: without
# discounts or negotiated prices, every cost metric equals the billed cost).
DEFAULTS: dict[str, str] = {
    "PublisherName": "ProviderName",
    "InvoiceIssuerName": "ProviderName",
    "EffectiveCost": "BilledCost",
    "ListCost": "BilledCost",
    "ContractedCost": "BilledCost",
}
UNIT_COLUMNS = ("PricingUnit", "ConsumedUnit")


class MappingModel(BaseModel):
    """The file as written."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    description: str = ""
    types: dict[str, SourceType] = {}
    constants: dict[str, StrictStr | StrictInt] = {}
    columns: dict[str, StrictStr] = {}
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    units: dict[str, StrictStr] = {}
    tags: dict[str, StrictStr] = {}
    keep: list[str] | None = None


@dataclass(frozen=True)
class BillMapping:
    """A checked mapping: for each column it gives, a constant text or an expression."""

    path: Path
    model: MappingModel
    node: yaml.Node | None
    constants: dict[str, str]
    expressions: dict[str, Expression]  # FOCUS or x_ column -> expression
    tags: dict[str, Expression]
    sha256: str  # of the mapping file's bytes

    @property
    def name(self) -> str:
        return self.model.name

    def where(self, *location: str) -> str:
        """`file:line: key:` of a key, for messages."""
        return f"{self.path}:{line_of(self.node, location)}: {'.'.join(location)}:"

    def gives(self, column: str) -> bool:
        return column in self.constants or column in self.expressions

    def source_columns(self) -> dict[str, tuple[str, ...]]:
        """Every bill column the mapping names -> where it is named (a key path)."""
        named: dict[str, tuple[str, ...]] = {}
        for column, expression in self.expressions.items():
            for name in expression.columns:
                named.setdefault(name, ("columns", column))
        for key, expression in self.tags.items():
            for name in expression.columns:
                named.setdefault(name, ("tags", key))
        for name in self.model.types:
            named.setdefault(name, ("types", name))
        for n, name in enumerate(self.model.keep or []):
            named.setdefault(name, ("keep", str(n)))
        return named


def load_mapping(path: Path) -> BillMapping:
    """Read and check a mapping file; every problem is reported at once, with its line."""
    problems = Problems()
    model, node = problems.load(path, MappingModel, empty_ok=False)
    problems.raise_if_any(path)
    assert model is not None

    def add(location: tuple[str, ...], message: str) -> None:
        problems.add(path, node, location, message)

    extension_names = set(EXTENSIONS)
    for section in ("constants", "columns"):
        for column in getattr(model, section):
            if column.startswith("x_"):
                if column in extension_names:
                    add((section, column), f"{column} is set by cloudtally; choose another name")
                continue
            if column not in FOCUS_NAMES:
                close = difflib.get_close_matches(column, FOCUS_NAMES, n=1)
                hint = f"; did you mean {close[0]}?" if close else ""
                add((section, column), f"not a FOCUS 1.2 column{hint}")
            elif column == "Tags":
                add((section, column), "give tags under `tags:` (tag key: expression)")
    for column in set(model.constants) & set(model.columns):
        add(("columns", column), "given under both `constants` and `columns`; keep one")
    if model.currency is not None and "BillingCurrency" in {*model.constants, *model.columns}:
        add(("currency",), "BillingCurrency is also given under constants or columns; keep one")
    expressions: dict[str, Expression] = {}
    for column, text in model.columns.items():
        try:
            expressions[column] = parse_expression(text)
        except ExpressionError as exc:
            add(("columns", column), f"{exc}")
    tags: dict[str, Expression] = {}
    for key, text in model.tags.items():
        try:
            tags[key] = parse_expression(text)
        except ExpressionError as exc:
            add(("tags", key), f"{exc}")
    constants = {c: str(v) for c, v in model.constants.items()}
    if model.currency is not None:
        constants["BillingCurrency"] = model.currency
    given = {*constants, *model.columns}
    left_empty = [
        column
        for column in REQUIRED
        if column not in given and not (column in DEFAULTS and DEFAULTS[column] in given)
    ]
    if left_empty:
        plural = "s" if len(left_empty) > 1 else ""
        add(
            ("columns",) if "columns" in model.model_fields_set else (),
            f"the mapping leaves the mandatory FOCUS column{plural} {', '.join(left_empty)} "
            "empty; give each under `columns` (an expression) or `constants` (a value)",
        )
    if model.units and not any(c in given for c in UNIT_COLUMNS):
        add(("units",), "units rewrite PricingUnit and ConsumedUnit; the mapping gives neither")
    problems.raise_if_any(path)
    return BillMapping(
        path=path,
        model=model,
        node=node,
        constants=constants,
        expressions=expressions,
        tags=tags,
        sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
    )


def mapped_source_id(file_sha256: str, mapping: BillMapping) -> str:
    """What identifies a bill read through a mapping: the bill's bytes and the mapping's. The
    same bill given again with a changed mapping is a new delivery of its account-periods (it
    replaces them); with the same mapping, it changes nothing."""
    return hashlib.sha256(f"{file_sha256}:{mapping.sha256}".encode()).hexdigest()
