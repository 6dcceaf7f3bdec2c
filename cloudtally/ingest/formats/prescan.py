"""A cheap read of a native export before conversion, for what only the whole file shows."""

from __future__ import annotations

import duckdb

from cloudtally.errors import IngestError
from cloudtally.ingest.formats.base import Converter, quote
from cloudtally.store.store import MEMORY_LIMIT


def scan_account_periods(
    converter: Converter, currency_column: str, aggregates: dict[str, str] | None = None
) -> list[dict[str, object]]:
    """Read the file once, before conversion, for what only the whole file shows: the billing
    currencies of each account-period, plus any `aggregates` (name -> SQL aggregate).

    Raises IngestError when an account-period is billed in more than one currency (an invoice
    has one currency: such a file is two exports concatenated, or damaged). A file DuckDB cannot
    read is left to the conversion, whose error message names the line and column; on the
    converter's `connection` (Spark: the executors read the file again to convert it, and the
    scan's answer decides how) a failure is raised.

    The scan reads only the columns it needs (DuckDB pushes the projection into the reader), in
    an engine of its own that touches nothing but the source file, or on the converter's
    `connection` (Spark's executors, reading the file where it is).
    """
    exprs = converter.expressions()
    extra = "".join(f", {sql} AS {quote(name)}" for name, sql in (aggregates or {}).items())
    sql = (
        f"SELECT {exprs['BillingAccountId']} AS account, {exprs['x_BillingPeriod']} AS period, "
        f"list(DISTINCT {exprs['BillingCurrency']} ORDER BY {exprs['BillingCurrency']}) "
        f"AS currencies{extra} FROM {converter.read_sql()} AS src GROUP BY ALL"
    )
    own = converter.connection is None
    con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT}) if own else converter.connection
    try:
        if own:
            con.execute("SET TimeZone = 'UTC'")
        cursor = con.execute(sql)
        names = [d[0] for d in cursor.description or []]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    except duckdb.Error:
        if not own:
            raise
        return []
    finally:
        if own:
            con.close()
    for row in rows:
        currencies = sorted(c for c in row["currencies"] or [] if c is not None)
        if len(currencies) > 1:
            raise IngestError(
                f"{converter.source.label}: column {currency_column} holds "
                f"{' and '.join(currencies)} for billing account {row['account']} in "
                f"{row['period']}; one account's invoice has one currency. The file mixes "
                "exports: split it by currency (or re-export) and run again."
            )
    return rows
