"""`generate_sample`: FOCUS 1.2 Cost and Usage exports for a made-up company.

The rows are made in DuckDB, never in Python: a table of resources (1,640 per unit of scale)
is expanded over the days of each billing month, and every random choice is a hash of
(seed, resource, day). Same arguments, same bytes; memory stays flat at any scale.

Money is exact: quantities are rounded to at most 6 places and unit prices carry at most 10,
so every cost is an exact DECIMAL product, and every derived charge (tax, credit, fee) is an
exact decimal rounded to 10 places or to cents, never a float.

One file per provider and billing period, as providers deliver them::

    OUT/aws/2024-09.parquet  OUT/azure/2024-09.parquet  OUT/gcp/2024-09.parquet

What the data holds (`acme.py` describes the company): compute with quieter weekends,
storage that grows smoothly, noisy data transfer, ~3%/month growth, a support fee on day 1,
daily taxes, credits, a savings plan (daily purchase, covered usage, the unused rest), a few
corrections of the previous period, tags with key and value variants and an untagged share,
and three planted anomalies listed in the summary.

This module turns the arguments into a window of months and writes the files; the pieces
live beside it: `window.py` (the months and their days), `tables.py` (the working tables,
built once), `charges.py` (the SQL of each kind of charge), `sql.py` (the FOCUS columns the
charges share), `writers.py` (Parquet, CSV, gzip CSV) and `engine.py` (the private DuckDB).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb

from cloudtally.errors import CloudtallyError
from cloudtally.sample.acme import ACME
from cloudtally.sample.charges import Charges
from cloudtally.sample.contracts import write_contract_commitments
from cloudtally.sample.engine import connect, one
from cloudtally.sample.organisation import Organisation, Provider
from cloudtally.sample.tables import create_tables, size_commitments, size_reservations
from cloudtally.sample.window import Window, add_months
from cloudtally.sample.writers import FORMATS, write_rows

# A 31-day month at scale 1 has about 50k rows, and rows grow linearly with scale:
# `generate_sample(out, months=1, scale=200)` writes about 10.2M rows (the benchmark size).
BENCHMARK_SCALE = 200

Totals = dict[str, dict[str, Decimal]]  # currency -> BilledCost | EffectiveCost -> total


class SampleError(CloudtallyError, ValueError):
    """Arguments `cloudtally sample` cannot generate data for."""


@dataclass(frozen=True)
class PlantedAnomaly:
    """A deliberate change in the data that an anomaly detector should find."""

    date: date  # the first day it shows
    dimension: str  # what to group by to see it: `team` (the tag) or `ServiceName`
    value: str
    description: str
    kind: str  # spike | level-shift | new-service
    days: int | None = None  # how long it lasts; None: it stays


@dataclass(frozen=True)
class SampleFile:
    path: Path
    provider: str
    billing_period: str
    rows: int
    totals: Totals


@dataclass
class SampleSummary:
    """What `generate_sample` wrote. `totals` is exact: an ingest reconciles to it."""

    out_dir: Path
    files: list[SampleFile] = field(default_factory=list)
    rows: int = 0
    totals: Totals = field(default_factory=dict)
    anomalies: list[PlantedAnomaly] = field(default_factory=list)
    contract_files: list[Path] = field(default_factory=list)  # with `commitments` only


# --------------------------------------------------------------------------------------------
# Entry point


def generate_sample(
    out_dir: Path,
    *,
    months: int = 6,
    scale: float = 1.0,
    seed: int = 42,
    end_month: str = "2024-10",
    fmt: str = "parquet",
    organisation: Organisation = ACME,
    commitments: bool = False,
) -> SampleSummary:
    """Write FOCUS 1.2 Cost and Usage files for a made-up company, one per provider and month.

    Args:
        out_dir: folder to write `<provider>/<YYYY-MM>.<ext>` into (created if missing).
        months: how many billing months, ending with `end_month`.
        scale: size of the company; rows grow linearly (1: ~50k rows a month, 200: ~10M).
        seed: the same seed and arguments give byte-identical files.
        end_month: the last billing month, YYYY-MM.
        fmt: `parquet` (DECIMAL(38,18) money, UTC timestamps), `csv` or `csv.gz` (text).
        organisation: the company; `acme.ACME` unless a test builds its own.
        commitments: also the organisation's reservations (unused hours, an upfront purchase)
            and a FOCUS 1.3 Contract Commitment file per provider with every commitment's
            term (`<provider>/contract_commitments.csv`). Changes the totals; windows of at
            most 12 months.

    Returns:
        The files written with their rows and exact totals, and the planted anomalies.

    Raises:
        SampleError: an argument is out of range, or `out_dir` is a file.
    """
    _validate(months, scale, seed, fmt)
    if commitments and months > 12:
        raise SampleError(
            f"--commitments writes reservations with 1-year terms that start with the window: "
            f"use at most 12 --months, not {months}."
        )
    window = _window(end_month, months, organisation)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise SampleError(f"{out_dir} exists and is not a folder; choose another output path.")
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = SampleSummary(out_dir=out_dir, anomalies=_anomalies(organisation, window))
    resources = max(1, round(organisation.resources_per_scale * scale))
    # Scratch space next to the output, not in /tmp: at benchmark scales DuckDB may spill
    # gigabytes, and /tmp is often a small tmpfs. Ingest skips it (no billing file names).
    work = Path(tempfile.mkdtemp(prefix=".cloudtally-sample-", dir=out_dir))
    try:
        con = connect(work)
        try:
            create_tables(con, organisation, window, seed, resources, reservations=commitments)
            plans = size_commitments(con, organisation)
            reserved = size_reservations(con, organisation, window) if commitments else []
            charges = Charges(organisation, window, seed, scale, plans, tuple(reserved))
            for first in window.months:
                for provider in organisation.providers:
                    written = _write_file(con, charges, provider, first, out_dir, fmt)
                    summary.files.append(written)
                    summary.rows += written.rows
                    _add_totals(summary.totals, written.totals)
            if commitments:
                summary.contract_files = write_contract_commitments(
                    out_dir, organisation, window, plans, reserved
                )
        finally:
            con.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return summary


def _validate(months: object, scale: object, seed: object, fmt: str) -> None:
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= 120:
        raise SampleError(f"--months must be a whole number from 1 to 120, not {months!r}.")
    if (
        isinstance(scale, bool)
        or not isinstance(scale, int | float)
        or not math.isfinite(scale)
        or scale <= 0
    ):
        raise SampleError(
            f"--scale must be a number above 0, not {scale!r}: 1 gives about 50k rows a month, "
            f"{BENCHMARK_SCALE} about 10M."
        )
    if scale > 5000:
        raise SampleError(f"--scale {scale} is too large: at most 5000 (about 250M rows a month).")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise SampleError(f"--seed must be a whole number from 0 to 2**63-1, not {seed!r}.")
    if fmt not in FORMATS:
        raise SampleError(f"Unknown file format {fmt!r}: use one of {', '.join(FORMATS)}.")


def _add_totals(into: Totals, more: Totals) -> None:
    for currency, metrics in more.items():
        slot = into.setdefault(currency, {})
        for metric, value in metrics.items():
            slot[metric] = slot.get(metric, Decimal(0)) + value


# --------------------------------------------------------------------------------------------
# The window: which months, and when the anomalies happen


def _window(end_month: str, months: int, org: Organisation) -> Window:
    match = re.fullmatch(r"(\d{4})-(\d{2})", str(end_month).strip())
    if not match or not 1 <= int(match.group(2)) <= 12 or not 2000 <= int(match.group(1)) < 2200:
        raise SampleError(
            f"--end-month {end_month!r} is not a month: use YYYY-MM from 2000-01 to 2199-12, "
            "for example 2024-10."
        )
    last = date(int(match.group(1)), int(match.group(2)), 1)
    firsts = tuple(add_months(last, -k) for k in reversed(range(months)))
    # The slower anomalies start a month before the end, so both sides of them are visible.
    before_last = firsts[-2] if months >= 2 else last
    plan = org.anomalies
    return Window(
        months=firsts,
        spike_start=last.replace(day=plan.spike_day_of_month),
        level_shift=before_last.replace(day=plan.level_shift_day_of_month),
        new_service=before_last.replace(day=plan.new_service_day_of_month),
    )


def _anomalies(org: Organisation, window: Window) -> list[PlantedAnomaly]:
    plan = org.anomalies
    return [
        PlantedAnomaly(
            window.new_service,
            "ServiceName",
            plan.new_service,
            f"New service: {plan.new_service} appears and ramps up over "
            f"{plan.new_service_ramp_days} days.",
            "new-service",
        ),
        PlantedAnomaly(
            window.level_shift,
            "ServiceName",
            plan.level_shift_service,
            f"Level shift: {plan.level_shift_service} usage x{plan.level_shift_factor:g} from "
            "this day on (debug logging left on).",
            "level-shift",
        ),
        PlantedAnomaly(
            window.spike_start,
            "team",
            plan.spike_team,
            f"Spike: {plan.spike_service} of team {plan.spike_team} x{plan.spike_copies + 1} "
            f"for {plan.spike_days} days (runaway autoscaling).",
            "spike",
            plan.spike_days,
        ),
    ]


# --------------------------------------------------------------------------------------------
# One provider-month file


def _write_file(
    con: duckdb.DuckDBPyConnection,
    charges: Charges,
    provider: Provider,
    first: date,
    out_dir: Path,
    fmt: str,
) -> SampleFile:
    month = first.strftime("%Y-%m")
    costed = charges.costed_rows(provider, first)
    con.execute(
        f"""
        CREATE OR REPLACE TABLE sample_agg AS
        SELECT account_idx, d.day_number AS day_number, service_idx, count(*) AS rows,
               sum(billed_cost) AS billed, sum(effective_cost) AS effective,
               sum(list_cost) AS listed, sum(contracted_cost) AS contracted
        FROM ({costed}) GROUP BY ALL
        """
    )
    con.execute(f"CREATE OR REPLACE TABLE sample_extra AS {charges.corrections(provider, first)}")
    for query in (
        *charges.commitment_rows(provider, month),
        *charges.reservation_rows(provider, first),
        charges.support(provider, first),
        charges.taxes(provider),  # taxes the rows above, so it comes after them
        *charges.credits(provider),
    ):
        con.execute(f"INSERT INTO sample_extra {query}")
    # The small rows come out of joins and aggregates in thread order: sort them.
    con.execute(
        "CREATE OR REPLACE TABLE sample_extra_sorted AS SELECT * FROM sample_extra ORDER BY ALL"
    )
    target = out_dir / provider.key / f"{month}{FORMATS[fmt]}"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    query = f"{charges.usage_rows(provider, costed)}\nUNION ALL\nSELECT * FROM sample_extra_sorted"
    try:
        rows = write_rows(con, query, partial, fmt)
        totals = _totals(con, rows, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)  # never a half-written file under the final name
    return SampleFile(target, provider.key, month, rows, totals)


def _totals(con: duckdb.DuckDBPyConnection, written: int, path: Path) -> Totals:
    expected, billed, effective = one(
        con,
        """
        SELECT sum(n), sum(billed), sum(effective) FROM (
            SELECT rows AS n, billed, effective FROM sample_agg
            UNION ALL
            SELECT count(*), sum(BilledCost), sum(EffectiveCost) FROM sample_extra)
        """,
    )
    if int(expected or 0) != written:
        raise CloudtallyError(
            f"{path}: wrote {written} rows but generated {expected}; please report this."
        )
    zero = Decimal(0)
    return {"USD": {"BilledCost": billed or zero, "EffectiveCost": effective or zero}}
