"""Typed results: what a question's query function returns and every surface renders.

A `Result` is rows with named, typed columns (each with its meaning), totals, notes, and the
SQL over the lake's views that reproduces the rows. The CLI renders it as a table, JSON or CSV
(`render_result`); a report or a page reads the same object.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from cloudtally.output import OutputFormat, plain, render

Kind = Literal["text", "money", "fraction", "quantity", "count", "date", "json"]


@dataclass(frozen=True)
class Column:
    """A result column: its name, what kind of value it holds and what it means."""

    name: str
    kind: Kind
    meaning: str
    table: bool = True  # shown in the table view (JSON and CSV carry every column)


@dataclass
class Result:
    """Rows answering one question, with their columns, totals and how to reproduce them."""

    title: str
    columns: list[Column]
    rows: list[tuple[Any, ...]]
    totals: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    sql: str = ""  # SQL over the lake's views (`cloudtally sql`) that gives the rows
    fraction_totals: set[str] = field(default_factory=set)  # totals that are fractions

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def records(self) -> list[dict[str, Any]]:
        """The rows as dicts (column name -> value)."""
        return [dict(zip(self.names, row, strict=True)) for row in self.rows]

    def column(self, name: str) -> list[Any]:
        at = self.names.index(name)
        return [row[at] for row in self.rows]


def fraction(numerator: Decimal | None, denominator: Decimal | None) -> Decimal | None:
    """An exact ratio rounded to 6 places, or None when the denominator is 0 or missing.

    >>> fraction(Decimal("0.75"), Decimal("1.00")), fraction(Decimal(1), Decimal(3))
    (Decimal('0.750000'), Decimal('0.333333'))
    """
    if numerator is None or denominator is None or denominator == 0:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.000001"))


def render_result(result: Result, fmt: OutputFormat | str, *, show_sql: bool = False) -> None:
    """Print a result: a table with its totals and notes, or JSON (rows, totals, notes) or CSV
    (rows only). Fractions show as percentages in tables and as numbers in JSON and CSV."""
    fmt = OutputFormat(fmt)
    if show_sql:
        sys.stdout.write(result.sql.strip() + "\n")
        return
    if fmt is OutputFormat.json:
        document = {
            "title": result.title,
            "columns": [
                {"name": c.name, "kind": c.kind, "meaning": c.meaning} for c in result.columns
            ],
            "rows": [dict(zip(result.names, map(plain, r), strict=True)) for r in result.rows],
            "totals": plain(result.totals),
            "notes": result.notes,
        }
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
        return
    if fmt is OutputFormat.csv:
        rows = [tuple(_csv_cell(v) for v in row) for row in result.rows]
        render(result.names, rows, fmt)
        return
    shown = [n for n, c in enumerate(result.columns) if c.table]
    names = [result.columns[n].name for n in shown]
    money = [c.name for c in result.columns if c.kind == "money"]
    shares = [c.name for c in result.columns if c.kind == "fraction"]
    rows = [tuple(_table_cell(row[n]) for n in shown) for row in result.rows]
    render(names, rows, fmt, title=result.title, money_columns=money, share_columns=shares)
    for name, value in result.totals.items():
        if name in result.fraction_totals and value is not None:
            text = f"{float(value):.1%}"
        else:
            text = _total_text(value)
        sys.stdout.write(f"{name}: {text}\n")
    for note in result.notes:
        sys.stdout.write(f"Note: {note}\n")


def _csv_cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(plain(value), separators=(",", ":"))
    return value


def _table_cell(value: Any) -> Any:
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_total_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(str(plain(v)) for v in value)
    return value


def _total_text(value: Any) -> str:
    if value is None:
        return "n/a"  # a fraction not given (commitments.fractions), say
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_total_text(v)}" for k, v in value.items())
    return str(plain(value))
