"""DuckDB's errors on a user's SQL, said as what to do next: which command creates a view that
does not exist yet, which columns are close to one that does not exist, how to keep a DECIMAL
result in range.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import duckdb

from cloudtally.store.sandbox import first_line

# Views a command publishes (the derived datasets), with the command that creates each. A
# module that publishes a new dataset adds its line.
VIEW_MAKERS = {
    "allocated_costs": "cloudtally allocate --rules DIR",
    "commitments_cube": "cloudtally ingest PATH",
}

_MISSING_TABLE = re.compile(r'Table with name "?([^"!\s]+)"? does not exist', re.IGNORECASE)
_MISSING_COLUMN = re.compile(
    r'Referenced column "([^"]+)" not found|does not have a column named "([^"]+)"'
)
_DECIMAL = re.compile(
    r"Overflow in (?:\w+ )*(?:of )?DECIMAL|Overflow in HUGEINT|"
    r"Could not cast value .* to DECIMAL|DECIMAL.*out of range",
    re.IGNORECASE,
)
_PERMISSION = re.compile(r'Cannot access (?:file|directory) "([^"]*)"')


def explain_sql_error(exc: duckdb.Error, con: duckdb.DuckDBPyConnection, lake: Path | str) -> str:
    """One message for a failed user query: what failed and what to do."""
    text = first_line(exc)
    if match := _MISSING_TABLE.search(text):
        return _missing_view(match.group(1), con)
    if match := _MISSING_COLUMN.search(text):
        return _missing_column(match.group(1) or match.group(2), con)
    if _DECIMAL.search(text):
        cause = text.split(": ", 1)[-1].split(" You might want", 1)[0].rstrip(" .;")
        return (
            f"SQL failed: a DECIMAL result is out of range ({cause}). Costs are "
            "DECIMAL(38,18), exact with up to 20 digits before the point: cast to DOUBLE for "
            "an approximate result (CAST(BilledCost AS DOUBLE)), or to fewer decimals to stay "
            "exact (CAST(BilledCost AS DECIMAL(38,6)))."
        )
    if match := _PERMISSION.search(text):
        return (
            f"`cloudtally sql` reads only the lake's files (under {lake}): {match.group(1)} "
            "is refused. Query the views (`costs`, ...) instead."
        )
    return f"SQL failed: {text}"


def _views(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal "
        "UNION SELECT table_name FROM duckdb_tables() ORDER BY 1"
    ).fetchall()
    return [name for (name,) in rows]


def _missing_view(name: str, con: duckdb.DuckDBPyConnection) -> str:
    views = _views(con)
    if name.lower() in VIEW_MAKERS:
        return (
            f"The view {name} does not exist yet: `{VIEW_MAKERS[name.lower()]}` creates it. "
            f"The views now: {', '.join(views)}."
        )
    close = difflib.get_close_matches(name.lower(), [*views, *VIEW_MAKERS], n=1)
    hint = f" Did you mean {close[0]}?" if close else ""
    return f"There is no view {name}.{hint} The views: {', '.join(views)}."


def _missing_column(name: str, con: duckdb.DuckDBPyConnection) -> str:
    columns = sorted(
        {
            c
            for (c,) in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE NOT internal"
            ).fetchall()
        }
    )
    by_lower = {c.lower(): c for c in columns}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=5, cutoff=0.6)
    names = [by_lower[c] for c in close]
    hint = f" Close names: {', '.join(names)}." if names else ""
    return (
        f"Column {name} does not exist.{hint} "
        '`cloudtally sql "DESCRIBE costs"` lists the columns of a view.'
    )
