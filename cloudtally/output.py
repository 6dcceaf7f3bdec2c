"""Rendering results: a readable rich table by default, `json` and `csv` for machines.

Money stays exact in json and csv (decimal strings, trailing zeros dropped); tables round
money columns to cents for reading, and never cut a number short: on a terminal a column
too narrow for it wraps, and into a file or a pipe the table takes the width it needs.

Data is data. Values (tag values, account names, paths, user input) are shown as plain text
everywhere: never read as rich markup (`[/]`, `[link=...]`), and control characters (ANSI
escapes, carriage returns, bidirectional overrides) are shown as `\\xNN` escapes instead of
being sent to the terminal. CSV cells that a spreadsheet would run as a formula are
neutralised (see `csv_cell`); `--csv-raw` or `CLOUDTALLY_CSV_RAW=1` turns that off for
programs that read the CSV.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import IO, Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

CSV_RAW_ENV = "CLOUDTALLY_CSV_RAW"
_CSV_RAW_META = "cloudtally.csv_raw"


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


# C0 and C1 control characters (ESC starts every ANSI sequence), DEL, and the Unicode
# bidirectional overrides and isolates that reorder what a terminal shows.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_BUT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def visible(text: object, *, lines: bool = False) -> str:
    """Text that is safe to show on a terminal: control characters become visible escapes.

    With `lines`, newlines are kept (a multi-line message); otherwise they are escaped too,
    so one value stays on one line.

    >>> visible("prod\\x1b[31m red\\r\\n")
    'prod\\\\x1b[31m red\\\\x0d\\\\x0a'
    >>> visible("a\\nb", lines=True)
    'a\\nb'
    """
    return (_CONTROL_BUT_NEWLINE if lines else _CONTROL).sub(_escaped, str(text))


def echo(text: object = "", *, err: bool = False) -> None:
    """Print a line that may hold data: never interpreted, control characters escaped."""
    click.echo(visible(text, lines=True), err=err)


def text(value: object, style: str = "") -> Text:
    """A rich `Text` that shows `value` literally (no markup), for tables and consoles."""
    if isinstance(value, Text):
        return value
    return Text(visible(value), style=style)


# --------------------------------------------------------------------------------------------
# CSV

# A number as a spreadsheet reads it: a cell like this is data even when it starts with - or +.
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
# The OWASP CSV-injection rule: a cell starting with one of these can run as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_raw() -> bool:
    """Whether CSV cells are written unneutralised (`--csv-raw` or CLOUDTALLY_CSV_RAW=1)."""
    if os.environ.get(CSV_RAW_ENV, "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.find_root().meta.get(_CSV_RAW_META))


def set_csv_raw(ctx: click.Context, _param: Any, value: bool) -> None:
    """Click callback of `--csv-raw`."""
    if value:
        ctx.find_root().meta[_CSV_RAW_META] = True


def csv_cell(value: Any, *, raw: bool = False) -> str:
    """One CSV cell: exact decimals, maps, lists and structs as JSON, formulas neutralised.

    A text cell starting with =, +, -, @, tab or CR is prefixed with a single quote so a
    spreadsheet shows it as text instead of running it (OWASP). Numbers stay numbers: a
    decimal value, or text that is entirely one number (-12.50, +3, 1e5), is written as is.

    >>> [csv_cell(v) for v in (Decimal("-12.50"), "-12.50", "=1+2", "-2+3", "@SUM(A1)", "a=b")]
    ['-12.5', '-12.50', "'=1+2", "'-2+3", "'@SUM(A1)", 'a=b']
    >>> csv_cell({"team": "=cmd"}), csv_cell("=1+2", raw=True)
    ('{"team": "=cmd"}', '=1+2')
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Decimal | int | float):
        return str(plain(value))
    if isinstance(value, dict | list | tuple):
        return json.dumps(plain(value), ensure_ascii=False)
    cell = str(plain(value))
    if not raw and cell.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def write_csv(
    handle: IO[str],
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    raw: bool | None = None,
) -> None:
    """Write a header and rows as CSV (every CSV cloudtally writes goes through here)."""
    raw = csv_raw() if raw is None else raw
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow([csv_cell(c, raw=raw) for c in columns])
    for row in rows:
        writer.writerow([csv_cell(v, raw=raw) for v in row])


# --------------------------------------------------------------------------------------------
# Tables


def _cell(value: Any, money: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:,.2f}" if money else exact(value)
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, dict | list | tuple):
        return json.dumps(plain(value), ensure_ascii=False)
    return str(plain(value))


TEXT_MIN_WIDTH = 8  # a text column is never squeezed narrower than this (or its longest cell)


def table_console(console: Console | None = None, *, min_width: int = 100) -> Console:
    """The console tables print on: the terminal's width (at least `min_width`), or, into a
    file or a pipe, as wide as the table needs so that nothing is cut."""
    if console is not None:
        return console
    probe = Console()
    if not probe.is_terminal:
        return Console(soft_wrap=True, width=1_000_000)
    return Console(soft_wrap=True, width=max(probe.width, min_width))


def render(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    fmt: OutputFormat = OutputFormat.table,
    *,
    title: str | Text | None = None,
    money_columns: Sequence[str] = (),
    share_columns: Sequence[str] = (),
    console: Console | None = None,
) -> None:
    """Print rows in the chosen format to stdout.

    Cells are shown literally; a cell that is a rich `Text` keeps its style (for statuses).
    """
    if fmt is OutputFormat.json:
        data = [dict(zip(columns, (plain(v) for v in row), strict=True)) for row in rows]
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    if fmt is OutputFormat.csv:
        buffer = io.StringIO()
        write_csv(buffer, columns, rows)
        sys.stdout.write(buffer.getvalue())
        return
    body: list[list[Text]] = []
    for row in rows:
        cells = []
        for name, value in zip(columns, row, strict=True):
            if isinstance(value, Text):
                cells.append(value)
            elif name in share_columns and isinstance(value, float | Decimal):
                cells.append(text(f"{float(value):.1%}"))
            else:
                cells.append(text(_cell(value, name in money_columns)))
        body.append(cells)
    table = Table(
        title=None if title is None else text(title),
        title_justify="left",
        header_style="bold",
    )
    numeric = [name in money_columns or name in share_columns for name in columns]
    widest = [max((cells[n].cell_len for cells in body), default=0) for n in range(len(columns))]
    # A number is never cut: its column is at least as wide as its longest cell. Text columns
    # wrap (fold, never an ellipsis) and share what is left, down to 1 character each.
    out = table_console(console)
    frame = 3 * len(columns) + 1  # borders and padding
    fixed = frame + sum(w for w, num in zip(widest, numeric, strict=True) if num)
    texts = numeric.count(False)
    room = max((out.width - fixed) // texts, 1) if texts else 0
    if console is None and fixed + texts > out.width:  # wider than the terminal: let it wrap
        out = Console(soft_wrap=True, width=fixed + texts)
    for n, name in enumerate(columns):
        table.add_column(
            text(name),
            justify="right" if numeric[n] else "left",
            overflow="fold",
            min_width=widest[n] if numeric[n] else min(widest[n], TEXT_MIN_WIDTH, room),
            no_wrap=numeric[n],
        )
    for cells in body:
        table.add_row(*cells)
    out.print(table)
