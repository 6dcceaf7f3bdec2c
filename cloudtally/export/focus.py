"""Export the canonical data as a FOCUS 1.2 Cost and Usage dataset (Parquet or CSV).

The canonical lake already is FOCUS 1.2; the export only chooses the file shape: Tags as JSON
text, datetimes as ISO 8601 UTC in CSV, and the `x_` extension columns after the FOCUS ones.
Costs are written exactly as stored.
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from cloudtally.errors import ExportError, UnsupportedError
from cloudtally.export.target import check_target, write_marker
from cloudtally.focus.canonical import CANONICAL, CANONICAL_VERSION, DECIMAL, TIMESTAMP
from cloudtally.sqltext import literal
from cloudtally.store import Store

SUPPORTED_EXPORT_VERSIONS = (CANONICAL_VERSION,)
FILE_FORMATS = ("parquet", "csv")


@dataclass
class ExportReport:
    files: list[Path]
    rows: int


def export_focus(
    store: Store,
    out: Path,
    *,
    version: str = CANONICAL_VERSION,
    periods: tuple[str, str] | None = None,
    file_format: str | None = None,
    extensions: bool = True,
    overwrite: bool = False,
) -> ExportReport:
    """Write the lake (or some billing periods of it) as a FOCUS dataset.

    `out` ending in `.parquet` or `.csv` is one file; anything else is a folder with one file
    per provider and billing period.
    """
    if version not in SUPPORTED_EXPORT_VERSIONS:
        raise UnsupportedError(
            f"Export to FOCUS {version} is not supported; supported: "
            f"{', '.join(SUPPORTED_EXPORT_VERSIONS)}."
        )
    single = out.suffix.lower() in (".parquet", ".csv")
    fmt = file_format or (out.suffix.lower().lstrip(".") if single else "parquet")
    if fmt not in FILE_FORMATS:
        raise ExportError(f"Unknown file format {fmt!r}; use one of {', '.join(FILE_FORMATS)}.")
    check_target(store, out, single=single, overwrite=overwrite)
    con = store.connect()
    available = [r[0] for r in con.execute("SELECT column_name FROM (DESCRIBE costs)").fetchall()]
    select = _select(available, fmt, extensions)
    # Periods are bound parameters, never SQL text.
    where, bounds = ("x_BillingPeriod BETWEEN ? AND ?", list(periods)) if periods else ("true", [])
    rows = con.execute(f"SELECT count(*) FROM costs WHERE {where}", bounds).fetchone()[0]  # type: ignore[index]
    if rows == 0:
        raise ExportError("Nothing to export: the lake has no rows for that selection.")
    options = "FORMAT parquet, COMPRESSION zstd" if fmt == "parquet" else "FORMAT csv, HEADER true"
    order = "x_Provider, x_BillingPeriod, BillingAccountId, SubAccountId, ServiceName, ChargePeriodStart"
    temp = out.with_name(f".{out.name}.tmp-{secrets.token_hex(4)}")
    try:
        if single:
            con.execute(
                f"COPY (SELECT {select} FROM costs WHERE {where} ORDER BY {order}) "
                f"TO {literal(str(temp))} ({options})",
                bounds,
            )
            os.replace(temp, out)
            return ExportReport(files=[out], rows=rows)
        temp.mkdir(parents=True)
        groups = con.execute(
            f"SELECT DISTINCT x_Provider, x_BillingPeriod FROM costs WHERE {where} ORDER BY ALL",
            bounds,
        ).fetchall()
        files = []
        for provider, period in groups:
            name = f"focus-{version}-{provider}-{period}.{fmt}"
            con.execute(
                f"COPY (SELECT {select} FROM costs WHERE {where} AND x_Provider = ? "
                f"AND x_BillingPeriod = ? ORDER BY {order}) TO {literal(str(temp / name))} "
                f"({options})",
                [*bounds, provider, period],
            )
            files.append(out / name)
        write_marker(temp, [f.name for f in files], focus_version=version)
        _swap_folder(temp, out)
        return ExportReport(files=files, rows=rows)
    finally:
        if temp.exists():
            shutil.rmtree(temp) if temp.is_dir() else temp.unlink()


def _select(available: list[str], fmt: str, extensions: bool) -> str:
    parts = []
    for column in CANONICAL:
        if column.name.startswith("x_"):
            continue
        name = f'"{column.name}"'
        if column.name == "Tags":
            parts.append(f"CAST(to_json({name}) AS VARCHAR) AS {name}")
        elif column.focus_type == "JSON":
            parts.append(f"CAST({name} AS VARCHAR) AS {name}")
        elif column.sql_type == TIMESTAMP and fmt == "csv":
            parts.append(f"strftime({name}, '%Y-%m-%dT%H:%M:%SZ') AS {name}")
        elif column.sql_type == DECIMAL and fmt == "csv":
            # Exact text without the storage scale's trailing zeros.
            parts.append(
                f"CASE WHEN {name} IS NULL THEN NULL ELSE rtrim(rtrim(CAST({name} AS VARCHAR), '0'), '.') END AS {name}"
            )
        else:
            parts.append(name)
    if extensions:
        parts.extend(f'"{c}"' for c in available if c.startswith("x_"))
    return ", ".join(parts)


def _swap_folder(new: Path, out: Path) -> None:
    """Put a finished folder in place; an existing one is replaced only once the new is whole."""
    if out.exists():
        old = out.with_name(f".{out.name}.old-{secrets.token_hex(4)}")
        os.replace(out, old)
        os.replace(new, out)
        shutil.rmtree(old) if old.is_dir() else old.unlink()
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        os.replace(new, out)
