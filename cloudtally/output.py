"""Rendering results: a readable rich table by default, `json` and `csv` for machines.

Money stays exact in json and csv (decimal strings, trailing zeros dropped); tables round
money columns to cents for reading."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.table import Table


class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def exact(value: Decimal) -> str:
    """A decimal as plain text without trailing zeros.

    >>> exact(Decimal("20.520226728990000000")), exact(Decimal("100.000")), exact(Decimal("0E-18"))
    ('20.52022672899', '100', '0')
    """
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def plain(value: Any) -> Any:
    """A JSON-ready value: exact decimals as strings, timestamps in ISO 8601."""
    if isinstance(value, Decimal):
        return exact(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _cell(value: Any, money: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:,.2f}" if money else exact(value)
    if isinstance(value, float):
        return f"{value:.1%}" if money is None else f"{value:,.4g}"
    return str(plain(value))


def render(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    fmt: OutputFormat = OutputFormat.table,
    *,
    title: str | None = None,
    money_columns: Sequence[str] = (),
    share_columns: Sequence[str] = (),
    console: Console | None = None,
) -> None:
    """Print rows in the chosen format to stdout."""
    if fmt is OutputFormat.json:
        data = [dict(zip(columns, (plain(v) for v in row), strict=True)) for row in rows]
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    if fmt is OutputFormat.csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if v is None else plain(v) for v in row])
        sys.stdout.write(buffer.getvalue())
        return
    table = Table(title=title, title_justify="left", header_style="bold")
    for name in columns:
        numeric = name in money_columns or name in share_columns
        table.add_column(name, justify="right" if numeric else "left")
    for row in rows:
        cells = []
        for name, value in zip(columns, row, strict=True):
            if name in share_columns and isinstance(value, float | Decimal):
                cells.append(f"{float(value):.1%}")
            else:
                cells.append(_cell(value, name in money_columns))
        table.add_row(*cells)
    (console or Console(soft_wrap=True, width=max(Console().width, 100))).print(table)
