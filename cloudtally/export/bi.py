"""`cloudtally export --bi OUT/`: the lake as a star schema for BI tools (Power BI, Tableau,
Looker, QuickSight; see docs/bi.md).

    OUT/fact_daily_cost.parquet   one row per day, account, service, region, charge category,
                                  owner and currency, with the cost metrics (exact decimals:
                                  BilledCost and EffectiveCost, and ListCost and
                                  ContractedCost when owners come from the tags) and the
                                  consumed quantity per unit
    OUT/dim_date.parquet          date_key: day, month, quarter, year, ISO week, weekday
    OUT/dim_account.parquet       account_key: provider, billing and sub account ids and names
    OUT/dim_service.parquet       service_key: provider, service, category, subcategory
    OUT/dim_region.parquet        region_key: provider, region id and name
    OUT/dim_owner.parquet         owner_key: team, product, cost_center, env

Owners come from the one ownership model of the query layer (allocated_costs when current,
so shared costs are included, split per charge day; otherwise the normalised tags). The folder is written beside OUT and renamed into place, so a reader never
sees half of it.
"""

from __future__ import annotations

import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from cloudtally.errors import ExportError
from cloudtally.export.target import check_target, write_marker
from cloudtally.query.costs import period_filter
from cloudtally.query.ownership import OWNERSHIP, lens_for
from cloudtally.sqltext import literal
from cloudtally.store import Store

METRICS = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost")

# dimension table -> its columns (name, SQL over the lens's relation)
DIMENSIONS = {
    "account": (
        ("provider", "x_Provider"),
        ("billing_account_id", "BillingAccountId"),
        ("billing_account_name", "BillingAccountName"),
        ("sub_account_id", "SubAccountId"),
        ("sub_account_name", "SubAccountName"),
    ),
    "service": (
        ("provider", "x_Provider"),
        ("service_name", "ServiceName"),
        ("service_category", "ServiceCategory"),
    ),
    "region": (
        ("provider", "x_Provider"),
        ("region_id", "RegionId"),
        ("region_name", "RegionName"),
    ),
}


@dataclass
class BiReport:
    files: list[Path]
    fact_rows: int
    relation: str


def export_bi(
    store: Store,
    out: Path,
    *,
    periods: tuple[str, str] | None = None,
    rules_dir: Path | None = None,
    overwrite: bool = False,
) -> BiReport:
    check_target(store, out, single=False, overwrite=overwrite)
    lens = lens_for(store, OWNERSHIP, rules_dir=rules_dir)
    con = store.connect()
    present = {r[0] for r in con.execute(f"DESCRIBE {lens}").fetchall()}
    # allocated_costs carries BilledCost and EffectiveCost; the lake all four.
    metrics = [m for m in METRICS if m in present]
    owners = [(word, lens.dimension(word).expr) for word in OWNERSHIP]
    dims = {name: list(columns) for name, columns in DIMENSIONS.items()}
    dims["owner"] = owners
    select = ["CAST(ChargePeriodStart AS DATE) AS day", "x_BillingPeriod AS billing_period"]
    for name, columns in dims.items():
        select += [f"{expr} AS {name}__{column}" for column, expr in columns]
    select += [
        "ChargeCategory AS charge_category",
        "ConsumedUnit AS consumed_unit",
        "BillingCurrency AS currency",
        *metrics,
        "ConsumedQuantity",
    ]
    con.execute(
        f"CREATE TEMP VIEW bi_lines AS SELECT {', '.join(select)} FROM {lens} "
        f"WHERE {period_filter(periods)}"
    )
    for name, columns in dims.items():
        names = [f"{name}__{c}" for c, _ in columns]
        listed = ", ".join(names)
        con.execute(
            f"CREATE TEMP TABLE dim_{name} AS SELECT row_number() OVER (ORDER BY {listed} NULLS "
            f"FIRST) AS {name}_key, {', '.join(f'{n} AS {c}' for n, (c, _) in zip(names, columns, strict=True))} "
            f"FROM (SELECT DISTINCT {listed} FROM bi_lines)"
        )
    con.execute(
        "CREATE TEMP TABLE dim_date AS SELECT CAST(strftime(day, '%Y%m%d') AS INTEGER) AS date_key, "
        "day AS date, year(day) AS year, quarter(day) AS quarter, month(day) AS month, "
        "strftime(day, '%Y-%m') AS year_month, strftime(day, '%G-W%V') AS iso_week, "
        "dayname(day) AS weekday FROM (SELECT DISTINCT day FROM bi_lines WHERE day IS NOT NULL)"
    )
    joins = []
    keys = []
    for name, columns in dims.items():
        on = " AND ".join(f"l.{name}__{c} IS NOT DISTINCT FROM d_{name}.{c}" for c, _ in columns)
        joins.append(f"JOIN dim_{name} d_{name} ON {on}")
        keys.append(f"d_{name}.{name}_key")
    sums = ", ".join(f"sum(l.{m}) AS {m}" for m in metrics)
    con.execute(
        f"""CREATE TEMP TABLE fact_daily_cost AS
            SELECT CAST(strftime(l.day, '%Y%m%d') AS INTEGER) AS date_key, l.billing_period,
                   {", ".join(keys)}, l.charge_category, l.currency, {sums},
                   sum(l.ConsumedQuantity) AS consumed_quantity, l.consumed_unit
            FROM bi_lines l {" ".join(joins)}
            GROUP BY ALL
            ORDER BY date_key NULLS LAST, {", ".join(keys)}, charge_category, currency"""
    )
    staging = out.parent / f".{out.name}.tmp-{secrets.token_hex(4)}"
    staging.mkdir(parents=True)
    tables = ["fact_daily_cost", "dim_date", *(f"dim_{n}" for n in dims)]
    try:
        for table in tables:
            target = staging / f"{table}.parquet"
            con.execute(f"COPY {table} TO {literal(str(target))} (FORMAT parquet)")
        write_marker(staging, [f"{t}.parquet" for t in tables], format="bi")
        if out.exists():
            old = out.parent / f".{out.name}.old-{secrets.token_hex(4)}"
            os.replace(out, old)
            os.replace(staging, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, out)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ExportError(f"Cannot write {out}: {exc.strerror}.") from None
    row = con.execute("SELECT count(*) FROM fact_daily_cost").fetchone()
    return BiReport([out / f"{t}.parquet" for t in tables], int(row[0]) if row else 0, str(lens))
