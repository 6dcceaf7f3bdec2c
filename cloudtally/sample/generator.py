"""`generate_sample`: FOCUS 1.2 Cost and Usage exports for a made-up company.

The rows are made in DuckDB, never in Python: a table of resources (1,640 per unit of scale)
is expanded over the days of each billing month, and every random choice is a hash of
(seed, resource, day). Same arguments, same bytes; memory stays flat at any scale.

Money is exact: quantities are rounded to at most 6 places and unit prices carry at most 10,
so every cost is an exact DECIMAL product, and every derived charge (tax, credit, fee) is an
exact decimal rounded to 10 places or to cents, never a float.

One file per provider and billing period, as providers deliver them::

    OUT/aws/2024-09.parquet  OUT/azure/2024-09.parquet  OUT/gcp/2024-09.parquet

What the data holds (`organisation.py` describes the company): compute with quieter weekends,
storage that grows smoothly, noisy data transfer, ~3%/month growth, a support fee on day 1,
daily taxes, credits, a savings plan (daily purchase, covered usage, the unused rest), a few
corrections of the previous period, tags with key and value variants and an untagged share,
and three planted anomalies listed in the summary.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from cloudtally.errors import CloudtallyError
from cloudtally.focus.canonical import CANONICAL_BY_NAME, DECIMAL, FOCUS_COLUMNS, TIMESTAMP
from cloudtally.ingest.formats.base import literal, quote
from cloudtally.sample.organisation import (
    ACME,
    Account,
    Organisation,
    Provider,
    SavingsPlan,
    Service,
    sku_id,
)

FORMATS = {"parquet": ".parquet", "csv": ".csv", "csv.gz": ".csv.gz"}

# A 31-day month at scale 1 has about 50k rows, and rows grow linearly with scale:
# `generate_sample(out, months=1, scale=200)` writes about 10.2M rows (the benchmark size).
BENCHMARK_SCALE = 200

MEMORY_LIMIT = os.environ.get("CLOUDTALLY_MEMORY_LIMIT", "1GB")

Totals = dict[str, dict[str, Decimal]]  # currency -> BilledCost | EffectiveCost -> total

_EPOCH = date(1970, 1, 1)
_RESOURCES = "sample_work.main.sample_resources"  # in the scratch file: see `_connect`


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
) -> SampleSummary:
    """Write FOCUS 1.2 Cost and Usage files for a made-up company, one per provider and month.

    Args:
        out_dir: folder to write `<provider>/<YYYY-MM>.<ext>` into (created if missing).
        months: how many billing months, ending with `end_month`.
        scale: size of the company; rows grow linearly (1: ~50k rows a month, 200: ~10M).
        seed: the same seed and arguments give byte-identical files.
        end_month: the last billing month, YYYY-MM.
        fmt: `parquet` (DECIMAL(38,18) money, UTC timestamps), `csv` or `csv.gz` (text).
        organisation: the company; `organisation.ACME` unless a test builds its own.

    Returns:
        The files written with their rows and exact totals, and the planted anomalies.

    Raises:
        SampleError: an argument is out of range, or `out_dir` is a file.
    """
    _validate(months, scale, seed, fmt)
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
        con = _connect(work)
        try:
            builder = _Builder(con, organisation, window, seed, scale)
            builder.create_tables(resources)
            for first in window.months:
                for provider in organisation.providers:
                    written = builder.write(provider, first, out_dir, fmt)
                    summary.files.append(written)
                    summary.rows += written.rows
                    _add_totals(summary.totals, written.totals)
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


@dataclass(frozen=True)
class _Window:
    months: tuple[date, ...]  # the first day of each billing month, oldest first
    spike_start: date
    level_shift: date
    new_service: date

    @property
    def start(self) -> date:
        return self.months[0]

    @property
    def end(self) -> date:  # exclusive
        return _add_months(self.months[-1], 1)


def _add_months(first: date, n: int) -> date:
    index = first.year * 12 + first.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def _window(end_month: str, months: int, org: Organisation) -> _Window:
    match = re.fullmatch(r"(\d{4})-(\d{2})", str(end_month).strip())
    if not match or not 1 <= int(match.group(2)) <= 12 or not 2000 <= int(match.group(1)) < 2200:
        raise SampleError(
            f"--end-month {end_month!r} is not a month: use YYYY-MM from 2000-01 to 2199-12, "
            "for example 2024-10."
        )
    last = date(int(match.group(1)), int(match.group(2)), 1)
    firsts = tuple(_add_months(last, -k) for k in reversed(range(months)))
    # The slower anomalies start a month before the end, so both sides of them are visible.
    before_last = firsts[-2] if months >= 2 else last
    plan = org.anomalies
    return _Window(
        months=firsts,
        spike_start=last.replace(day=plan.spike_day_of_month),
        level_shift=before_last.replace(day=plan.level_shift_day_of_month),
        new_service=before_last.replace(day=plan.new_service_day_of_month),
    )


def _anomalies(org: Organisation, window: _Window) -> list[PlantedAnomaly]:
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
# The engine and the file writers


def _connect(work: Path) -> duckdb.DuckDBPyConnection:
    """A private DuckDB for generating: bounded memory, spilling and working tables in `work`.

    Not `Store`: the generator writes billing exports, not the lake. The resources table
    lives in a scratch database file because only file databases take a ROW_GROUP_SIZE (the
    small tables stay in memory: every commit to a file costs an fsync). Small row groups
    matter twice: DuckDB scans a table in parallel by row groups (the resources table
    is small in rows but expands 31-fold), and the ordered Parquet writer holds each finished
    batch until its turn, so 2,048 resources (~63k rows) a batch keep it within 1 GB, where
    122,880 (the default) stalls it on memory.
    """
    con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "temp_directory": str(work)})
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")  # the CLI prints its own summary
    # Same arguments, same bytes: the big query has no join (a join makes DuckDB write
    # Parquet in thread order) and keeps insertion order; the small ones are sorted.
    con.execute("SET preserve_insertion_order = true")
    scratch = literal(str(work / "sample.duckdb"))
    con.execute(f"ATTACH {scratch} AS sample_work (STORAGE_VERSION 'v1.2.0', ROW_GROUP_SIZE 2048)")
    # Random streams: `sample_hash(hash(seed, thing), salt)`. DuckDB's multi-argument hash
    # mixes its arguments cheaply, so hash(s, r, 1) and hash(s, r, 2) share most bits (their
    # uniforms correlate at 0.97); hashing the combined key again with the salt makes them
    # independent.
    con.execute("CREATE MACRO sample_hash(key, salt) AS hash(xor(key, CAST(salt AS UBIGINT)))")
    # A uniform in (0, 1) from 21 bits of a 64-bit hash: k = 0, 1, 2 gives three per hash.
    con.execute(
        "CREATE MACRO sample_u(h, k) AS "
        "(CAST((h >> (21 * k)) & 2097151 AS DOUBLE) + 0.5) / 2097152.0"
    )
    return con


def _one(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[Any, ...]:
    """The single row a statement returns (fetched to the end, as DuckDB 2 wants)."""
    rows = con.execute(sql).fetchall()
    assert len(rows) == 1, sql
    return tuple(rows[0])


def _table(con: duckdb.DuckDBPyConnection, name: str, rows: list[dict[str, Any]]) -> None:
    con.register(f"{name}_arrow", pa.Table.from_pylist(rows))
    con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_arrow")
    con.unregister(f"{name}_arrow")


def _copy(con: duckdb.DuckDBPyConnection, query: str, target: Path, fmt: str) -> int:
    """Write the rows of `query` to `target` in `fmt`; the number of rows written."""
    if fmt == "parquet":
        options = "FORMAT parquet, COMPRESSION zstd"
    elif fmt == "csv.gz" and hasattr(os, "mkfifo"):
        return _copy_csv_gzip(con, _csv_select(query), target)
    else:
        options = f"FORMAT csv, HEADER true, COMPRESSION {'gzip' if fmt == 'csv.gz' else 'none'}"
        query = _csv_select(query)
    (rows,) = _one(con, f"COPY ({query}) TO {literal(str(target))} ({options})")
    return int(rows)


def _copy_csv_gzip(con: duckdb.DuckDBPyConnection, query: str, target: Path) -> int:
    """COPY rows as gzip CSV: DuckDB writes plain CSV into a pipe, ISA-L compresses it.

    DuckDB's own gzip is single-threaded zlib: writing 10M rows took 241 s with it and 76 s
    this way (2 cores). A pipe also needs no temporary file of gigabytes.
    The threaded writer puts mtime 0 in the header, so the bytes stay reproducible.
    """
    with tempfile.TemporaryDirectory(prefix=".cloudtally-pipe-", dir=target.parent) as tmp:
        pipe = Path(tmp) / "rows.csv"
        os.mkfifo(pipe)
        errors: list[BaseException] = []
        compressor = threading.Thread(target=_gzip_pipe, args=(pipe, target, errors), daemon=True)
        compressor.start()
        try:
            (rows,) = _one(
                con,
                f"COPY ({query}) TO {literal(str(pipe))} "
                "(FORMAT csv, HEADER true, USE_TMP_FILE false)",
            )
        finally:
            _release_reader(pipe)
            compressor.join()
    if errors:
        raise errors[0]
    return int(rows)


def _gzip_pipe(pipe: Path, target: Path, errors: list[BaseException]) -> None:
    from isal import igzip_threaded

    try:
        with open(pipe, "rb") as rows:
            try:
                with igzip_threaded.open(target, "wb", compresslevel=2, threads=2) as out:
                    shutil.copyfileobj(rows, out, 1 << 22)
            except BaseException as exc:  # keep reading, or DuckDB blocks on a full pipe
                errors.append(exc)
                while rows.read(1 << 22):
                    pass
    except BaseException as exc:
        errors.append(exc)


def _release_reader(pipe: Path) -> None:
    """If DuckDB failed before opening the pipe, the reader still waits in open(): an empty
    writer lets it see end-of-file. No reader left (ENXIO) is the normal case."""
    with contextlib.suppress(OSError):
        os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))


# --------------------------------------------------------------------------------------------
# SQL building blocks

# What each output column is stored as: the canonical type, except the JSON columns, which
# exports ship as JSON object text.
_FILE_TYPES = {
    name: "VARCHAR"
    if CANONICAL_BY_NAME[name].focus_type == "JSON"
    else CANONICAL_BY_NAME[name].sql_type
    for name in FOCUS_COLUMNS
}


def _focus_select(exprs: dict[str, str], from_sql: str) -> str:
    """SELECT the 57 FOCUS columns in canonical order and file types; missing ones are NULL."""
    unknown = set(exprs) - set(FOCUS_COLUMNS)
    assert not unknown, unknown
    cols = ",\n    ".join(
        f"CAST({exprs.get(name, 'NULL')} AS {_FILE_TYPES[name]}) AS {quote(name)}"
        for name in FOCUS_COLUMNS
    )
    return f"SELECT\n    {cols}\n{from_sql}"


def _csv_select(query: str) -> str:
    """The rows as export text: ISO 8601 UTC times, plain decimals without trailing zeros."""
    cols = []
    for name in FOCUS_COLUMNS:
        col = quote(name)
        if _FILE_TYPES[name] == DECIMAL:
            cols.append(f"rtrim(rtrim(CAST({col} AS VARCHAR), '0'), '.') AS {col}")
        elif _FILE_TYPES[name] == TIMESTAMP:
            cols.append(f"strftime({col}, '%Y-%m-%dT%H:%M:%SZ') AS {col}")
        else:
            cols.append(col)
    return f"SELECT {', '.join(cols)} FROM ({query})"


def _money(value: Decimal) -> str:
    return f"CAST({literal(str(value))} AS DECIMAL(38,18))"


def _provider_columns(provider: Provider) -> dict[str, str]:
    return {
        "ProviderName": literal(provider.name),
        "PublisherName": literal(provider.name),
        "InvoiceIssuerName": literal(provider.name),
        "BillingAccountId": literal(provider.billing_account_id),
        "BillingAccountName": literal(provider.billing_account_name),
        "BillingAccountType": literal(provider.billing_account_type),
        "BillingCurrency": "'USD'",
        "PricingCurrency": "'USD'",
    }


def _account_day_columns(provider: Provider) -> dict[str, str]:
    """Who and when, for rows joined to an account `a` and a day `d` (the small rows)."""
    return {
        **_provider_columns(provider),
        "InvoiceId": "a.invoice_prefix || d.invoice_suffix",
        "SubAccountId": "a.sub_account_id",
        "SubAccountName": "a.sub_account_name",
        "SubAccountType": "a.sub_account_type",
        "BillingPeriodStart": "d.billing_start",
        "BillingPeriodEnd": "d.billing_end",
        "ChargePeriodStart": "d.charge_start",
        "ChargePeriodEnd": "d.charge_end",
    }


def _costs(billed: str, effective: str, listed: str, contracted: str) -> dict[str, str]:
    return {
        "BilledCost": billed,
        "EffectiveCost": effective,
        "ListCost": listed,
        "ContractedCost": contracted,
        "PricingCurrencyEffectiveCost": effective,
    }


def _service(service_name: str, category: str, subcategory: str) -> dict[str, str]:
    return {
        "ServiceName": literal(service_name),
        "ServiceCategory": literal(category),
        "ServiceSubcategory": literal(subcategory),
    }


def _commitment(sp: SavingsPlan, status: str | None, quantity: str) -> dict[str, str]:
    return {
        "CommitmentDiscountId": literal(sp.id),
        "CommitmentDiscountName": literal(sp.name),
        "CommitmentDiscountCategory": "'Spend'",
        "CommitmentDiscountType": literal(sp.type),
        "CommitmentDiscountStatus": literal(status) if status else "NULL",
        "CommitmentDiscountQuantity": quantity,
        "CommitmentDiscountUnit": "'USD'",
    }


def _pattern_sql(pattern: str, fields: dict[str, str]) -> str:
    """A name pattern as SQL: `acme-{team}-{n}` -> `'acme-' || team || '-' || ...`."""
    parts = [
        fields[piece] if i % 2 else literal(piece)
        for i, piece in enumerate(re.split(r"\{(\w+)\}", pattern))
        if i % 2 or piece
    ]
    return " || ".join(parts) or "''"


def _by_service(org: Organisation, render: Callable[[Service], str]) -> str:
    whens = " ".join(f"WHEN {i} THEN {render(s)}" for i, s in enumerate(org.services))
    return f"CASE service_idx {whens} END"


def _env_case(values: dict[str, Any]) -> str:
    whens = " ".join(f"WHEN {literal(k)} THEN {v!r}" for k, v in values.items())
    return f"CASE a.env {whens} END"


def _slots(weights: list[float], count: int) -> list[int]:
    """Spread `count` slots over items by weight (largest remainder): the item of each slot."""
    total = sum(weights)
    exact = [w * count / total for w in weights]
    sizes = [int(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: sizes[i] - exact[i])
    for i in by_remainder[: count - sum(sizes)]:
        sizes[i] += 1
    return [i for i, size in enumerate(sizes) for _ in range(size)]


def _eligible(service: Service, account: Account) -> bool:
    if service.provider != account.provider:
        return False
    if account.services is not None:
        return service.name in account.services
    return service.teams is None or account.team is None or account.team in service.teams


def _tags_sql() -> str:
    """Tags as JSON object text, with the key and value variants real estates have."""
    title = "upper(left(team, 1)) || substr(team, 2)"
    value = (
        "CASE WHEN lowercase_tags THEN team WHEN u_value < 0.02 THEN upper(team) "
        f"WHEN u_value < 0.04 THEN {title} WHEN u_value < 0.06 THEN team || ' ' ELSE team END"
    )
    team = (
        f"CASE WHEN u_key < 0.76 THEN '\"team\":\"' || {value} || '\"' "
        'WHEN u_key < 0.88 THEN CASE WHEN lowercase_tags THEN \'"team":"\' ELSE \'"Team":"\' END'
        f" || {value} || '\"' ELSE '\"owner\":\"team-' || team || '\"' END"
    )
    env_value = (
        "CASE WHEN u_env_key > 0.95 THEN CASE env WHEN 'prod' THEN 'production' "
        "WHEN 'stage' THEN 'staging' ELSE 'development' END ELSE env END"
    )
    env = (
        'CASE WHEN u_env_key < 0.8 THEN \'"env":"\' ELSE \'"environment":"\' END || '
        f"{env_value} || '\"'"
    )
    return (
        "CASE WHEN u_tagged < p_no_tags THEN NULL ELSE '{' || concat_ws(',', "
        f"CASE WHEN u_tagged >= p_no_tags + p_no_team THEN {team} END, {env}, "
        "CASE WHEN u_product < 0.85 THEN '\"product\":\"' || product || '\"' END, "
        "CASE WHEN u_cost_center < 0.7 THEN '\"cost-center\":\"' || cost_center || '\"' END"
        ") || '}' END"
    )


# --------------------------------------------------------------------------------------------
# The builder: tables once, then one COPY per provider-month


class _Builder:
    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        org: Organisation,
        window: _Window,
        seed: int,
        scale: float,
    ) -> None:
        self.con, self.org, self.window, self.seed, self.scale = con, org, window, seed, scale
        self.commitments: dict[str, tuple[SavingsPlan, Decimal, Decimal]] = {}

    def create_tables(self, resources: int) -> None:
        self._load_dimensions()
        self._create_days()
        self._create_resources(resources)
        self._size_commitments()

    # -- dimensions ---------------------------------------------------------------------------

    def _load_dimensions(self) -> None:
        org, habits = self.org, self.org.habits
        providers = {p.key: p for p in org.providers}
        regions = {(r.provider, r.id): r for r in org.regions}
        sps = {sp.provider: sp for sp in org.savings_plans}
        accounts = []
        for i, a in enumerate(org.accounts):
            p, sp = providers[a.provider], sps.get(a.provider)
            accounts.append(
                {
                    "account_idx": i,
                    "provider": a.provider,
                    "sub_account_id": a.id,
                    "sub_account_name": a.name,
                    "sub_account_type": p.sub_account_type,
                    "invoice_prefix": p.invoice_prefix,
                    "env": a.env,
                    "team": a.team,
                    "regions": list(a.regions),
                    "region_names": [regions[(a.provider, r)].name for r in a.regions],
                    "region_zones": [list(regions[(a.provider, r)].zones) for r in a.regions],
                    "p_no_tags": habits.untagged[a.env][0] + a.untagged_boost,
                    "p_no_team": habits.untagged[a.env][1],
                    "lowercase_tags": p.lowercase_tag_keys,
                    "contracted_share": str(1 - p.negotiated_discount),
                    "sp_rate": str(sp.rate) if sp else None,
                    "sp_coverage": sp.coverage if sp else 0.0,
                }
            )
        _table(self.con, "sample_accounts", accounts)
        teams = [
            {"team": t.key, "cost_center": t.cost_center, "products": list(t.products)}
            for t in org.teams
        ]
        _table(self.con, "sample_teams", teams)
        plan = org.anomalies
        services = [
            {
                "service_idx": i,
                "service_name": s.name,
                "service_category": s.category,
                "service_subcategory": s.subcategory,
                "resource_type": s.resource_type,
                "unit": s.unit,
                "shape": ("hours", "storage", "usage").index(s.shape),
                "base_lo": s.base[0],
                "base_hi": s.base[1],
                "weekend": s.weekend,
                "noise": s.noise,
                "always_on": s.always_on,
                "spot_share": s.spot_share,
                "commitment_eligible": s.commitment_eligible,
                "regional": s.regional,
                "zonal": s.zonal,
                "places": s.quantity_places,
                "skus": len(s.skus),
                "stem": s.stem,
                "is_new": s.name == plan.new_service,
                "level_shift": s.name == plan.level_shift_service,
                "spike_service": s.name == plan.spike_service,
            }
            for i, s in enumerate(org.services)
        ]
        _table(self.con, "sample_services", services)
        skus = []
        for i, s in enumerate(org.services):
            for j, k in enumerate(s.skus):
                sid = sku_id(s.provider, s.name, k.name)
                skus.append(
                    {
                        "service_idx": i,
                        "sku_idx": j,
                        "sku_id": sid,
                        "sku_meter": k.meter,
                        "sku_details": None if k.details == "{}" else k.details,
                        "list_price": k.list_price,
                        "price_id_standard": f"{sid}.OnDemand",
                        "price_id_dynamic": f"{sid}.Spot",
                        "price_id_committed": f"{sid}.SavingsPlan",
                        "desc_standard": f"{s.name}: {k.name} ({s.unit}), on-demand rate",
                        "desc_dynamic": f"{s.name}: {k.name} ({s.unit}), spot rate",
                        "desc_committed": f"{s.name}: {k.name} ({s.unit}), covered by a savings plan",
                    }
                )
        _table(self.con, "sample_skus", skus)
        account_slots = _slots([a.weight for a in org.accounts], 10_000)
        _table(
            self.con,
            "sample_account_slots",
            [{"slot": n, "account_idx": i} for n, i in enumerate(account_slots)],
        )
        service_slots: list[dict[str, object]] = []
        for i, account in enumerate(org.accounts):
            eligible = [j for j, s in enumerate(org.services) if _eligible(s, account)]
            picks = _slots([org.services[j].weight for j in eligible], 1000)
            service_slots += (
                {"account_idx": i, "slot": n, "service_idx": eligible[k]}
                for n, k in enumerate(picks)
            )
        _table(self.con, "sample_service_slots", service_slots)

    def _days(self, first: date) -> list[dict[str, Any]]:
        """The days of a billing month with what the rows need to know about them."""
        w, plan = self.window, self.org.anomalies
        following = _add_months(first, 1)
        spike_end = w.spike_start + timedelta(days=plan.spike_days)
        return [
            {
                "day": day,
                "day_number": (day - _EPOCH).days,
                "weekend": day.isoweekday() >= 6,
                "tau": (w.end - day).days / 30.4375,  # months before the end of the window
                "days_in_month": (following - first).days,
                "level_shift_on": day >= w.level_shift,
                "spike_on": w.spike_start <= day < spike_end,
                "charge_start": day,
                "charge_end": day + timedelta(days=1),
                "billing_start": first,
                "billing_end": following,
                "invoice_suffix": f"{first:%y%m}0001",
            }
            for day in (first + timedelta(days=n) for n in range((following - first).days))
        ]

    def _create_days(self) -> None:
        """The days as a table, for the small rows (taxes, fees, commitments) to join to."""
        rows = [day for first in self.window.months for day in self._days(first)]
        _table(self.con, "sample_days_raw", rows)
        stamps = ("charge_start", "charge_end", "billing_start", "billing_end")
        self.con.execute(
            "CREATE TABLE sample_days AS SELECT * REPLACE ("
            + ", ".join(f"CAST(CAST({c} AS TIMESTAMP) AS TIMESTAMPTZ) AS {c}" for c in stamps)
            + "), strftime(billing_start, '%Y-%m') AS month FROM sample_days_raw ORDER BY day"
        )

    def _days_sql(self, first: date, where: str = "") -> str:
        """The month's days as a constant list of structs: the big query expands resources
        over it with `unnest`, because a join there would cost the deterministic order."""

        def item(d: dict[str, Any]) -> str:
            values = {
                "day_number": str(d["day_number"]),
                "weekend": str(d["weekend"]).lower(),
                "tau": f"CAST({d['tau']!r} AS DOUBLE)",
                "days_in_month": str(d["days_in_month"]),
                "level_shift_on": str(d["level_shift_on"]).lower(),
                "spike_on": str(d["spike_on"]).lower(),
                **{
                    k: f"TIMESTAMPTZ '{d[k]} 00:00:00+00'"
                    for k in ("charge_start", "charge_end", "billing_start", "billing_end")
                },
                "invoice_suffix": literal(d["invoice_suffix"]),
            }
            return "{" + ", ".join(f"'{k}': {v}" for k, v in values.items()) + "}"

        days = "[" + ", ".join(item(d) for d in self._days(first)) + "]"
        return f"list_filter({days}, lambda x: {where})" if where else days

    # -- resources ----------------------------------------------------------------------------

    def _create_resources(self, count: int) -> None:
        """One row per resource: everything about it that does not change from day to day,
        including its account, service and SKU strings (the big query joins nothing)."""
        org, seed, w, habits = self.org, self.seed, self.window, self.org.habits
        plan = org.anomalies
        growth = org.monthly_growth
        # Resources older than the growth horizon exist on every day of any window.
        baseline = (1 + growth) ** -org.growth_horizon_months
        end_number = (w.end - _EPOCH).days
        intro_number = (w.new_service - _EPOCH).days
        teams = "[" + ", ".join(literal(t.key) for t in org.teams) + "]"
        fields = {
            "account": "sub_account_id",
            "region": "coalesce(region_id, 'global')",
            "zone": "coalesce(az, region_id, 'global')",
            "team": "team",
            "env": "env",
            "stem": "stem",
            "n": "lpad(CAST(rid AS VARCHAR), 6, '0')",
            "hex8": "substr(hex, 18, 8)",
            "hex17": "substr(hex, 1, 17)",
        }
        names = _by_service(org, lambda s: _pattern_sql(s.name_pattern, fields))
        ids = _by_service(
            org, lambda s: _pattern_sql(s.resource_id, {**fields, "name": "resource_name"})
        )
        schedule = {
            key: _env_case({env: values[n] for env, values in habits.schedules.items()})
            for n, key in enumerate(("wk_lo", "wk_span", "we_lo", "we_span"))
        }
        list_price = "CAST(k.list_price AS DECIMAL(38,10))"

        def price(share: str) -> str:
            return (
                f"CAST(round({list_price} * CAST({share} AS DECIMAL(18,10)), 10) AS DECIMAL(18,10))"
            )

        def u(h: str, k: int) -> str:
            return f"sample_u(p.{h}, {k})"

        self.con.execute(
            f"""
            CREATE TABLE {_RESOURCES} AS
            WITH picked AS (
                SELECT r.range AS rid, acs.account_idx, ss.service_idx,
                       sample_hash(hash({seed}, r.range), 13) AS h_place,
                       sample_hash(hash({seed}, r.range), 14) AS h_owner,
                       sample_hash(hash({seed}, r.range), 15) AS h_tags,
                       sample_hash(hash({seed}, r.range), 16) AS h_tags2,
                       sample_hash(hash({seed}, r.range), 17) AS h_shape,
                       sample_hash(hash({seed}, r.range), 18) AS h_birth
                FROM range({count}) AS r
                JOIN sample_account_slots AS acs
                  ON acs.slot = CAST(sample_hash(hash({seed}, r.range), 11) % 10000 AS BIGINT)
                JOIN sample_service_slots AS ss
                  ON ss.account_idx = acs.account_idx
                 AND ss.slot = CAST(sample_hash(hash({seed}, r.range), 12) % 1000 AS BIGINT)
            ), described AS (
                SELECT p.rid, p.account_idx, p.service_idx, a.provider, a.sub_account_id,
                       a.sub_account_name, a.sub_account_type, a.invoice_prefix, a.env,
                       a.p_no_tags, a.p_no_team, a.lowercase_tags, a.contracted_share, a.sp_rate,
                       s.service_name, s.service_category, s.service_subcategory,
                       s.resource_type, s.unit, s.stem, s.shape, s.weekend, s.noise, s.places,
                       s.level_shift, s.spike_service, s.zonal,
                       CASE WHEN s.is_new THEN {plan.new_service_ramp_days} ELSE 0 END AS ramp_days,
                       CAST(floor({u("h_place", 2)} * s.skus) AS BIGINT) AS sku_idx,
                       -- the account's primary region most of the time, or any of its regions
                       CASE WHEN NOT s.regional THEN NULL WHEN {u("h_place", 0)} < 0.8 THEN 1
                            ELSE 1 + CAST(floor({u("h_place", 0)} * 997) AS BIGINT) % len(a.regions)
                       END AS region_pos,
                       a.regions, a.region_names, a.region_zones, {u("h_place", 1)} AS u_zone,
                       coalesce(a.team, {teams}[1 + CAST(floor({u("h_owner", 0)} * {len(org.teams)}) AS BIGINT)]) AS team,
                       {u("h_owner", 1)} AS u_product_pick,
                       s.always_on OR (s.shape = 0 AND {u("h_owner", 2)} < {_env_case(habits.always_on_share)}) AS always_on,
                       {schedule["wk_lo"]} AS wk_lo, {schedule["wk_span"]} AS wk_span,
                       {schedule["we_lo"]} AS we_lo, {schedule["we_span"]} AS we_span,
                       s.base_lo * pow(s.base_hi / s.base_lo, {u("h_shape", 0)}) AS base,
                       0.01 + 0.05 * {u("h_shape", 1)} AS growth,
                       s.spot_share > 0 AND a.env <> 'prod'
                           AND {u("h_shape", 2)} < s.spot_share AS spot_candidate,
                       s.commitment_eligible AND a.env = 'prod' AND {u("h_birth", 2)} < a.sp_coverage
                           AND {u("h_birth", 0)} < {baseline!r} AS cover_candidate,
                       CASE WHEN s.is_new THEN {intro_number}
                            WHEN {u("h_birth", 0)} < {baseline!r} THEN -1000000
                            ELSE {end_number} - CAST(ceil(ln({u("h_birth", 0)}) / -ln({1 + growth!r}) * 30.4375) AS INTEGER)
                       END AS birth_number,
                       {u("h_tags", 0)} AS u_tagged, {u("h_tags", 1)} AS u_key,
                       {u("h_tags", 2)} AS u_value, {u("h_tags2", 0)} AS u_env_key,
                       {u("h_tags2", 1)} AS u_product, {u("h_tags2", 2)} AS u_cost_center,
                       md5({literal(str(seed))} || '-' || CAST(p.rid AS VARCHAR)) AS hex
                FROM picked AS p
                JOIN sample_accounts AS a USING (account_idx)
                JOIN sample_services AS s USING (service_idx)
            ), placed AS (
                SELECT d.*,
                       d.regions[d.region_pos] AS region_id,
                       d.region_names[d.region_pos] AS region_name,
                       CASE WHEN d.zonal AND len(d.region_zones[d.region_pos]) > 0
                            THEN d.region_zones[d.region_pos][1 + CAST(floor(d.u_zone * len(d.region_zones[d.region_pos])) AS BIGINT)]
                       END AS az,
                       t.cost_center,
                       t.products[1 + CAST(floor(d.u_product_pick * len(t.products)) AS BIGINT)] AS product,
                       d.always_on AND NOT d.spot_candidate AND d.cover_candidate AS covered,
                       d.spot_candidate AND NOT d.always_on AS spot,
                       d.spike_service AND d.team = {literal(plan.spike_team)} AS spike
                FROM described AS d JOIN sample_teams AS t USING (team)
            ), named AS (
                SELECT *, {names} AS resource_name FROM placed
            )
            SELECT n.rid, n.provider, n.account_idx, n.service_idx, n.birth_number, n.shape,
                   n.weekend, n.noise, n.places, n.base, n.growth, n.level_shift, n.ramp_days,
                   n.spike, n.covered, n.region_id, n.region_name, n.az, n.resource_name,
                   n.team, n.env, n.stem, n.hex, n.sub_account_id, n.sub_account_name,
                   n.sub_account_type, n.invoice_prefix, n.service_name, n.service_category,
                   n.service_subcategory, n.resource_type, n.unit,
                   k.sku_id, k.sku_meter, k.sku_details, k.price_id_standard, k.desc_standard,
                   CASE WHEN n.always_on THEN 24 ELSE n.wk_lo END AS wk_lo,
                   CASE WHEN n.always_on THEN 0 ELSE n.wk_span END AS wk_span,
                   CASE WHEN n.always_on THEN 24 ELSE n.we_lo END AS we_lo,
                   CASE WHEN n.always_on THEN 0 ELSE n.we_span END AS we_span,
                   {ids} AS resource_id,
                   CASE WHEN n.covered THEN 2 WHEN n.spot THEN 1 ELSE 0 END AS pricing,
                   CASE WHEN n.covered THEN k.price_id_committed WHEN n.spot THEN k.price_id_dynamic
                        ELSE k.price_id_standard END AS sku_price_id,
                   CASE WHEN n.covered THEN k.desc_committed WHEN n.spot THEN k.desc_dynamic
                        ELSE k.desc_standard END AS charge_description,
                   CAST(k.list_price AS DECIMAL(18,10)) AS list_price,
                   {price("n.contracted_share")} AS standard_price,
                   CASE WHEN n.spot THEN {price(repr(str(habits.spot_price)))}
                        ELSE {price("n.contracted_share")} END AS contracted_price,
                   CASE WHEN n.covered THEN {price("n.sp_rate")} END AS committed_price,
                   {_tags_sql()} AS tags
            FROM named AS n
            JOIN sample_skus AS k USING (service_idx, sku_idx)
            ORDER BY n.rid
            """
        )

    def _size_commitments(self) -> None:
        """Size each savings plan from the usage it covers.

        Covered resources are always on, exist on every day of any window and are never
        spiked, so the covered usage is the same every day; the daily commitment is that over
        the plan's utilisation, rounded up to a cent, and the rest shows as an Unused row.
        """
        for sp in self.org.savings_plans:
            (used,) = _one(
                self.con,
                "SELECT coalesce(sum(CAST(24 AS DECIMAL(38,6)) * committed_price), 0) "
                f"FROM {_RESOURCES} WHERE covered AND provider = {literal(sp.provider)}",
            )
            if used > 0:
                daily = (used / sp.utilisation).quantize(Decimal("0.01"), rounding=ROUND_CEILING)
                self.commitments[sp.provider] = (sp, daily, used)

    # -- one provider-month file --------------------------------------------------------------

    def write(self, provider: Provider, first: date, out_dir: Path, fmt: str) -> SampleFile:
        month = first.strftime("%Y-%m")
        con = self.con
        costed = self._costed_rows(provider, first)
        con.execute(
            f"""
            CREATE OR REPLACE TABLE sample_agg AS
            SELECT account_idx, d.day_number AS day_number, service_idx, count(*) AS rows,
                   sum(billed_cost) AS billed, sum(effective_cost) AS effective,
                   sum(list_cost) AS listed, sum(contracted_cost) AS contracted
            FROM ({costed}) GROUP BY ALL
            """
        )
        con.execute(f"CREATE OR REPLACE TABLE sample_extra AS {self._corrections(provider, first)}")
        for query in (
            *self._commitment_rows(provider, month),
            self._support(provider, first),
            self._taxes(provider),  # taxes the rows above, so it comes after them
            *self._credits(provider),
        ):
            con.execute(f"INSERT INTO sample_extra {query}")
        # The small rows come out of joins and aggregates in thread order: sort them.
        con.execute(
            "CREATE OR REPLACE TABLE sample_extra_sorted AS SELECT * FROM sample_extra ORDER BY ALL"
        )
        target = out_dir / provider.key / f"{month}{FORMATS[fmt]}"
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        query = f"{self._usage(provider, costed)}\nUNION ALL\nSELECT * FROM sample_extra_sorted"
        try:
            rows = _copy(con, query, partial, fmt)
            totals = self._totals(rows, target)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, target)  # never a half-written file under the final name
        return SampleFile(target, provider.key, month, rows, totals)

    def _totals(self, written: int, path: Path) -> Totals:
        expected, billed, effective = _one(
            self.con,
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

    # -- resource rows: the big, streamed part -------------------------------------------------

    def _costed_rows(self, provider: Provider, first: date) -> str:
        """Resource-day rows with quantity and the four costs (exact DECIMAL(38,16) products),
        plus the spike's extra instances. Resources are expanded over the days with `unnest`."""
        plan, seed = self.org.anomalies, self.seed
        of_provider = f"provider = {literal(provider.key)}"
        hours = (
            "CASE WHEN d.weekend THEN we_lo + floor(we_span * sample_u(h1, 0)) "
            "ELSE wk_lo + floor(wk_span * sample_u(h1, 0)) END"
        )
        # Log-normal noise with mean 1; z is Irwin-Hall of three uniforms, scaled to sd 1.
        z = "(sample_u(h1, 1) + sample_u(h1, 2) + sample_u(h2, 0) - 1.5) * 2"
        usage = f"base * CASE WHEN d.weekend THEN weekend ELSE 1 END * exp(noise * {z} - noise * noise / 2)"
        storage = "base * pow(1 + growth, -d.tau) / d.days_in_month"
        quantity = (
            f"CASE shape WHEN 0 THEN {hours} WHEN 1 THEN {storage} ELSE {usage} END"
            f" * CASE WHEN level_shift AND d.level_shift_on THEN {plan.level_shift_factor!r} ELSE 1 END"
            # a new service ramps up linearly from its first day
            " * CASE WHEN ramp_days > 0"
            " THEN least(1.0, (d.day_number - birth_number + 1) / ramp_days) ELSE 1 END"
        )
        columns = (
            "rid, account_idx, service_idx, sub_account_id, sub_account_name, sub_account_type, "
            "invoice_prefix, service_name, service_category, service_subcategory, resource_type, "
            "unit, sku_id, sku_meter, sku_details, region_id, region_name, az, tags, list_price"
        )
        burst_ids = _by_service(
            self.org,
            lambda s: _pattern_sql(
                s.resource_id,
                {
                    "account": "sub_account_id",
                    "region": "coalesce(region_id, 'global')",
                    "zone": "coalesce(az, region_id, 'global')",
                    "team": "team",
                    "env": "env",
                    "stem": "stem",
                    "n": "lpad(CAST(rid AS VARCHAR), 6, '0')",
                    "hex8": "substr(burst_hex, 18, 8)",
                    "hex17": "substr(burst_hex, 1, 17)",
                    "name": "burst_name",
                },
            ),
        )
        alive = "x.day_number >= birth_number"
        return f"""
            SELECT *,
                   quantity * list_price AS list_cost,
                   quantity * contracted_price AS contracted_cost,
                   CASE WHEN pricing = 2 THEN quantity * committed_price
                        ELSE quantity * contracted_price END AS effective_cost,
                   CASE WHEN pricing = 2 THEN 0 ELSE quantity * contracted_price END AS billed_cost
            FROM (
                SELECT {columns}, resource_id, resource_name, pricing, sku_price_id,
                       charge_description, contracted_price, committed_price, d,
                       CAST(round({quantity}, CAST(places AS INTEGER)) AS DECIMAL(38,6)) AS quantity
                FROM (
                    SELECT *, sample_hash(hash({seed}, rid, d.day_number), 1) AS h1,
                              sample_hash(hash({seed}, rid, d.day_number), 2) AS h2
                    FROM (SELECT *, unnest({self._days_sql(first, alive)}) AS d
                          FROM {_RESOURCES} WHERE {of_provider})
                )
                UNION ALL
                -- the spike: on-demand copies of one team's instances, all day, for a few days
                SELECT {columns}, {burst_ids}, burst_name, 0, price_id_standard, desc_standard,
                       standard_price, CAST(NULL AS DECIMAL(18,10)), d, CAST(24 AS DECIMAL(38,6))
                FROM (
                    SELECT *, resource_name || '-asg-' || CAST(burst AS VARCHAR) AS burst_name,
                           md5({literal(str(seed))} || '-burst-' || CAST(rid AS VARCHAR) || '-'
                               || CAST(burst AS VARCHAR)) AS burst_hex
                    FROM (
                        SELECT *, unnest(range(1, {plan.spike_copies + 1})) AS burst
                        FROM (SELECT *, unnest({self._days_sql(first, f"x.spike_on AND {alive}")}) AS d
                              FROM {_RESOURCES} WHERE {of_provider} AND spike)
                    )
                )
            )
        """

    def _usage(self, provider: Provider, costed: str) -> str:
        exprs = {
            **_provider_columns(provider),
            **_costs("billed_cost", "effective_cost", "list_cost", "contracted_cost"),
            "InvoiceId": "invoice_prefix || d.invoice_suffix",
            "SubAccountId": "sub_account_id",
            "SubAccountName": "sub_account_name",
            "SubAccountType": "sub_account_type",
            "BillingPeriodStart": "d.billing_start",
            "BillingPeriodEnd": "d.billing_end",
            "ChargePeriodStart": "d.charge_start",
            "ChargePeriodEnd": "d.charge_end",
            "ChargeCategory": "'Usage'",
            "ChargeDescription": "charge_description",
            "ChargeFrequency": "'Usage-Based'",
            "ListUnitPrice": "list_price",
            "ContractedUnitPrice": "contracted_price",
            "PricingCategory": "CASE pricing WHEN 2 THEN 'Committed' WHEN 1 THEN 'Dynamic' "
            "ELSE 'Standard' END",
            "PricingQuantity": "quantity",
            "PricingUnit": "unit",
            "PricingCurrencyContractedUnitPrice": "contracted_price",
            "PricingCurrencyListUnitPrice": "list_price",
            "ConsumedQuantity": "quantity",
            "ConsumedUnit": "unit",
            "ServiceName": "service_name",
            "ServiceCategory": "service_category",
            "ServiceSubcategory": "service_subcategory",
            "SkuId": "sku_id",
            "SkuMeter": "sku_meter",
            "SkuPriceId": "sku_price_id",
            "SkuPriceDetails": "sku_details",
            "ResourceId": "resource_id",
            "ResourceName": "resource_name",
            "ResourceType": "resource_type",
            "RegionId": "region_id",
            "RegionName": "region_name",
            "AvailabilityZone": "az",
            "Tags": "tags",
        }
        if provider.key in self.commitments:  # covered rows (pricing 2) only where a plan is
            sp = self.commitments[provider.key][0]
            covered = _commitment(sp, "Used", "effective_cost")
            exprs.update({k: f"CASE WHEN pricing = 2 THEN {v} END" for k, v in covered.items()})
        return _focus_select(exprs, f"FROM ({costed})")

    # -- the small rows: commitments, support, taxes, credits, corrections ----------------------

    def _at(self, provider: Provider, account: str, where: str) -> str:
        return f"""FROM sample_days AS d JOIN sample_accounts AS a
            ON a.provider = {literal(provider.key)} AND a.sub_account_name = {literal(account)}
            WHERE {where}"""

    def _commitment_rows(self, provider: Provider, month: str) -> list[str]:
        """The savings plan's daily purchase row and the unused rest of the commitment."""
        if provider.key not in self.commitments:
            return []
        sp, daily, used = self.commitments[provider.key]
        unused = daily - used
        amount, rest = _money(daily), _money(unused)
        where = f"d.month = {literal(month)}"
        common = {
            **_account_day_columns(provider),
            **_service(sp.service_name, sp.category, sp.subcategory),
            "ListUnitPrice": "1",
            "ContractedUnitPrice": "1",
            "PricingUnit": "'USD'",
            "PricingCurrencyContractedUnitPrice": "1",
            "PricingCurrencyListUnitPrice": "1",
            "SkuId": literal(sp.sku_id),
            "ResourceId": literal(sp.id),
            "ResourceName": literal(sp.name),
            "ResourceType": "'Savings Plan'",
        }
        purchase = {
            **common,
            **_costs(amount, "0", amount, amount),
            **_commitment(sp, None, amount),
            "ChargeCategory": "'Purchase'",
            "ChargeDescription": literal(f"{sp.name}: recurring fee"),
            "ChargeFrequency": "'Recurring'",
            "PricingCategory": "'Standard'",
            "PricingQuantity": amount,
            "SkuMeter": "'Savings Plan Recurring Fee'",
            "SkuPriceId": literal(f"{sp.sku_id}.RecurringFee"),
            "SkuPriceDetails": literal('{"x_PurchaseTerm":"1yr","x_PaymentOption":"No Upfront"}'),
        }
        rows = [_focus_select(purchase, self._at(provider, sp.account, where))]
        if unused > 0:
            unused_row = {
                **common,
                **_costs("0", rest, rest, rest),
                **_commitment(sp, "Unused", rest),
                "ChargeCategory": "'Usage'",
                "ChargeDescription": literal(f"{sp.name}: unused commitment"),
                "ChargeFrequency": "'Usage-Based'",
                "PricingCategory": "'Committed'",
                "PricingQuantity": rest,
                "SkuMeter": "'Unused Commitment'",
                "SkuPriceId": literal(f"{sp.sku_id}.Unused"),
            }
            rows.append(_focus_select(unused_row, self._at(provider, sp.account, where)))
        return rows

    def _support(self, provider: Provider, first: date) -> str:
        """The support fee: a share of the month's usage, charged on day 1."""
        plan = provider.support
        fee = "f.fee"
        exprs = {
            **_account_day_columns(provider),
            **_costs(fee, fee, fee, fee),
            **_service(plan.service_name, "Management and Governance", "Support"),
            "ChargeCategory": "'Usage'",
            "ChargeDescription": literal(plan.description),
            "ChargeFrequency": "'Recurring'",
            "ListUnitPrice": fee,
            "ContractedUnitPrice": fee,
            "PricingCategory": "'Standard'",
            "PricingQuantity": "1",
            "PricingUnit": "'Months'",
            "PricingCurrencyContractedUnitPrice": fee,
            "PricingCurrencyListUnitPrice": fee,
            "ConsumedQuantity": "1",
            "ConsumedUnit": "'Months'",
            "SkuId": literal(plan.sku_id),
            "SkuMeter": "'Support'",
            "SkuPriceId": literal(f"{plan.sku_id}.Monthly"),
        }
        share = plan.share_of_usage
        return _focus_select(
            exprs,
            f"""FROM (SELECT CAST(round({share} * coalesce(sum(billed), 0), 2) AS DECIMAL(38,2)) AS fee
                      FROM sample_agg) AS f
            CROSS JOIN sample_days AS d JOIN sample_accounts AS a
              ON a.provider = {literal(provider.key)} AND a.sub_account_name = {literal(plan.account)}
            WHERE d.day = DATE '{first}' AND f.fee > 0""",
        )

    def _taxes(self, provider: Provider) -> str:
        """A daily tax row per account: the provider's rate on that day's charges."""
        rate = provider.tax_rate
        billed, effective, listed, contracted = (
            f"round({rate} * t.{c}, 10)" for c in ("billed", "effective", "listed", "contracted")
        )
        exprs = {
            **_account_day_columns(provider),
            **_costs(billed, effective, listed, contracted),
            **_service("Tax", "Other", "Other (Other)"),
            "ChargeCategory": "'Tax'",
            "ChargeDescription": literal(f"Sales tax ({(rate * 100).normalize()}%)"),
            "ChargeFrequency": "'Usage-Based'",
        }
        return _focus_select(
            exprs,
            """FROM (
                SELECT account_idx, day_number, sum(billed) AS billed,
                       sum(effective) AS effective, sum(listed) AS listed,
                       sum(contracted) AS contracted
                FROM (
                    SELECT account_idx, day_number, billed, effective, listed, contracted
                    FROM sample_agg
                    UNION ALL
                    SELECT a.account_idx, d.day_number, e.BilledCost, e.EffectiveCost,
                           e.ListCost, e.ContractedCost
                    FROM sample_extra AS e
                    JOIN sample_accounts AS a ON a.sub_account_id = e.SubAccountId
                    JOIN sample_days AS d ON d.charge_start = e.ChargePeriodStart
                    WHERE e.ChargeClass IS NULL AND e.ChargeCategory IN ('Usage', 'Purchase'))
                GROUP BY ALL
            ) AS t
            JOIN sample_accounts AS a USING (account_idx)
            JOIN sample_days AS d USING (day_number)
            WHERE t.billed <> 0 OR t.effective <> 0""",
        )

    def _credits(self, provider: Provider) -> list[str]:
        """Credit programmes: a share of one service's daily billed cost, given back."""
        queries = []
        for program in self.org.credits:
            if program.provider != provider.key:
                continue
            amount = f"-round({program.share} * g.billed, 10)"
            exprs = {
                **_account_day_columns(provider),
                **_costs(amount, amount, amount, amount),
                "ChargeCategory": "'Credit'",
                "ChargeDescription": literal(program.description),
                "ChargeFrequency": "'Usage-Based'",
                "ServiceName": "s.service_name",
                "ServiceCategory": "s.service_category",
                "ServiceSubcategory": "s.service_subcategory",
            }
            accounts = ", ".join(literal(a) for a in program.accounts)
            queries.append(
                _focus_select(
                    exprs,
                    f"""FROM sample_agg AS g
                    JOIN sample_accounts AS a USING (account_idx)
                    JOIN sample_services AS s USING (service_idx)
                    JOIN sample_days AS d USING (day_number)
                    WHERE a.provider = {literal(provider.key)}
                      AND s.service_name = {literal(program.service)}
                      AND a.sub_account_name IN ({accounts}) AND g.billed > 0""",
                )
            )
        return queries

    def _corrections(self, provider: Provider, first: date) -> str:
        """A few refunds of data transfer billed in the previous period (ChargeClass Correction)."""
        network = next(
            s
            for s in self.org.services
            if s.provider == provider.key and s.subcategory == "Network Connectivity"
        )
        accounts = [i for i, a in enumerate(self.org.accounts) if a.provider == provider.key]
        pick = "[" + ", ".join(map(str, accounts)) + "]"
        month_number = first.year * 12 + first.month
        provider_number = [p.key for p in self.org.providers].index(provider.key)
        h = f"sample_hash(hash({self.seed}, {month_number}, {provider_number}, c.k), 41)"
        amount = f"-CAST(round((20 + 380 * sample_u({h}, 0)) * {self.scale!r}, 2) AS DECIMAL(38,2))"
        day = f"DATE '{first}' - CAST(1 + floor(sample_u({h}, 1) * 25) AS INTEGER)"
        previous = _add_months(first, -1).strftime("%Y-%m")
        exprs = {
            **_account_day_columns(provider),
            **_costs("c.amount", "c.amount", "c.amount", "c.amount"),
            **_service(network.name, network.category, network.subcategory),
            "ChargePeriodStart": "CAST(c.day AS TIMESTAMPTZ)",
            "ChargePeriodEnd": "CAST(c.day + 1 AS TIMESTAMPTZ)",
            "ChargeCategory": "'Usage'",
            "ChargeClass": "'Correction'",
            "ChargeDescription": literal(f"Correction: data transfer overcharge in {previous}"),
            "ChargeFrequency": "'Usage-Based'",
        }
        return _focus_select(
            exprs,
            f"""FROM (
                SELECT k, {pick}[1 + CAST({h} % {len(accounts)} AS BIGINT)] AS account_idx,
                       {amount} AS amount, {day} AS day
                FROM range({self.org.habits.corrections_per_month}) AS c(k)
            ) AS c
            JOIN sample_accounts AS a USING (account_idx)
            JOIN sample_days AS d ON d.day = DATE '{first}'""",
        )
