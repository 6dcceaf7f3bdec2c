"""Business metrics: the units that costs are divided by (transactions, tenants' requests,
active users), read from the rules folder.

Sources, in the rules folder:

- `metrics/*.csv` and `metrics/*.parquet`: a time column, `date` (YYYY-MM-DD) or `period`
  (YYYY-MM); `value`; optionally `metric` (else the file's name is the metric's name, as for
  the allocation's metric splits); any other column is a dimension (`product`, `tenant`,
  `env`, `team`, ...).
- `metrics.yaml`: metrics computed by a read-only SQL query against a database the user names:

  ```yaml
  metrics:
    - name: transactions
      database: ../warehouse/app.duckdb    # a DuckDB or SQLite file (relative to the folder)
      query: SELECT day AS date, product, count(*) AS value FROM orders GROUP BY ALL
    - name: active-users
      database: postgresql://reporting@db.internal:5432/app   # PostgreSQL (cloudtally.unit.postgres)
      password_env: APP_DB_PASSWORD                          # else PGPASSWORD; never in this file
      query: SELECT day AS date, count(DISTINCT user_id) AS value FROM logins GROUP BY 1
  ```

Values are exact decimals. A value that is not a finite number, or two rows for the same
metric, time and dimensions, is an error naming the file and rows.
"""

from __future__ import annotations

import csv
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import duckdb
from pydantic import BaseModel, ConfigDict

from cloudtally.errors import CloudtallyError
from cloudtally.rules.yaml_loader import load_model
from cloudtally.sqltext import file_pattern
from cloudtally.unit.postgres import is_postgres_url, query_postgres

_PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
TIME_COLUMNS = ("date", "period")


class MetricError(CloudtallyError, ValueError):
    """A business metric cannot be read."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QuerySource(_Strict):
    name: str
    database: str
    query: str
    password_env: str | None = None  # PostgreSQL: the environment variable with the password


class MetricsFile(_Strict):
    metrics: list[QuerySource] = []


@dataclass
class MetricRow:
    metric: str
    day: date | None
    period: str
    value: Decimal
    dims: dict[str, str]
    where: str  # file:row, for messages


@dataclass
class Metrics:
    """Every metric row of a rules folder, with the dimensions each metric has."""

    rows: list[MetricRow] = field(default_factory=list)

    def names(self) -> list[str]:
        return sorted({r.metric for r in self.rows})

    def dimensions(self, metric: str) -> list[str]:
        found: dict[str, None] = {}
        for row in self.rows:
            if row.metric == metric:
                found.update(dict.fromkeys(row.dims))
        return list(found)

    def has_days(self, metric: str) -> bool:
        return all(r.day is not None for r in self.rows if r.metric == metric)

    def table(self, con: duckdb.DuckDBPyConnection, name: str = "unit_metrics") -> list[str]:
        """Create table `name` (metric, day, period, value, one column per dimension)."""
        dims = sorted({d for r in self.rows for d in r.dims})
        columns = ", ".join(f'"{d}" VARCHAR' for d in dims)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {name} (metric VARCHAR, day DATE, period VARCHAR, "
            f"value DECIMAL(38, 18){', ' + columns if columns else ''})"
        )
        if self.rows:
            marks = ", ".join("?" for _ in range(4 + len(dims)))
            con.executemany(
                f"INSERT INTO {name} VALUES ({marks})",
                [
                    (r.metric, r.day, r.period, r.value, *(r.dims.get(d) for d in dims))
                    for r in self.rows
                ],
            )
        return dims


def load_metrics(rules_dir: Path) -> Metrics:
    """All business metrics of a rules folder (an empty set when it has none)."""
    metrics = Metrics()
    folder = rules_dir / "metrics"
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() == ".csv":
                metrics.rows += _rows(str(path), path.stem, _csv_records(path))
            elif path.suffix.lower() == ".parquet":
                metrics.rows += _rows(str(path), path.stem, _parquet_records(path))
    spec = rules_dir / "metrics.yaml"
    if spec.exists():
        for source in load_model(spec, MetricsFile).metrics:
            where = f"{spec}: metric {source.name!r}"
            metrics.rows += _rows(where, source.name, _query_records(rules_dir, source, where))
    _check_overlaps(metrics.rows)
    return metrics


def _csv_records(path: Path) -> list[tuple[str, dict[str, Any]]]:
    with open(path, newline="", encoding="utf-8-sig") as fh:
        return [(f"{path}:{n}", row) for n, row in enumerate(csv.DictReader(fh), start=2)]


def _parquet_records(path: Path) -> list[tuple[str, dict[str, Any]]]:
    con = duckdb.connect()
    try:
        relation = con.execute("SELECT * FROM read_parquet(?)", [file_pattern(path)])
        names = [d[0] for d in relation.description or []]
        return [
            (f"{path}: row {n}", dict(zip(names, row, strict=True)))
            for n, row in enumerate(relation.fetchall(), start=1)
        ]
    except duckdb.Error as exc:
        raise MetricError(
            f"{path}: not a readable Parquet file ({str(exc).splitlines()[0]})."
        ) from None


def _query_records(
    rules_dir: Path, source: QuerySource, where: str
) -> list[tuple[str, dict[str, Any]]]:
    if is_postgres_url(source.database):
        names, rows = query_postgres(where, source.database, source.query, source.password_env)
        return _records(where, names, rows)
    if source.password_env is not None:
        raise MetricError(
            f"{where}: password_env is for a PostgreSQL database (postgresql://...); "
            f"{source.database} is a file: remove password_env."
        )
    database = (rules_dir / source.database).resolve()
    if not database.is_file():
        raise MetricError(f"{where}: database {database} does not exist.")
    head = database.read_bytes()[:16]
    try:
        if head.startswith(b"SQLite format 3"):
            with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as sqlite:
                # Read-only file, one statement (sqlite3 runs no more), and only reading
                # actions: ATTACH (which would create a file), PRAGMA and the rest are denied.
                sqlite.set_authorizer(_sqlite_reads_only)
                cursor = sqlite.execute(source.query)
                names = [d[0] for d in cursor.description or []]
                rows = cursor.fetchall()
        else:
            con = duckdb.connect(str(database), read_only=True)
            try:
                statements = duckdb.extract_statements(source.query)
                if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
                    raise MetricError(f"{where}: the query must be one SELECT.")
                result = con.execute(source.query)
                names = [d[0] for d in result.description or []]
                rows = result.fetchall()
            finally:
                con.close()
    except (sqlite3.Error, duckdb.Error) as exc:
        raise MetricError(f"{where}: the query failed: {str(exc).splitlines()[0]}") from None
    return _records(where, names, rows)


_SQLITE_READS = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
)


def _sqlite_reads_only(action: int, *_: str | None) -> int:
    return sqlite3.SQLITE_OK if action in _SQLITE_READS else sqlite3.SQLITE_DENY


def _records(
    where: str, names: list[str], rows: list[tuple[Any, ...]]
) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{where}, row {n}", dict(zip(names, row, strict=True))) for n, row in enumerate(rows, 1)
    ]


def _rows(
    source: str, default_name: str, records: list[tuple[str, dict[str, Any]]]
) -> list[MetricRow]:
    """Metric rows from one source's records; `source` (a file, or a file and metric) names
    it in messages."""
    if not records:
        return []
    columns = list(records[0][1])
    times = [c for c in TIME_COLUMNS if c in columns]
    if not times or "value" not in columns:
        raise MetricError(
            f"{source}: a metric needs a `date` (YYYY-MM-DD) or `period` (YYYY-MM) column and a "
            f"`value` column; it has {', '.join(columns)}."
        )
    dims = [c for c in columns if c not in (*TIME_COLUMNS, "value", "metric")]
    found = []
    for where, record in records:
        name = str(record.get("metric") or default_name).strip()
        if not _NAME.match(name):
            raise MetricError(f"{where}: metric name {name!r} must start with a letter.")
        day, period = _when(where, record, times[0])
        found.append(
            MetricRow(
                metric=name,
                day=day,
                period=period,
                value=_number(where, record.get("value")),
                dims={d: str(record[d]).strip() for d in dims if record.get(d) not in (None, "")},
                where=where,
            )
        )
    return found


def _when(where: str, record: dict[str, Any], column: str) -> tuple[date | None, str]:
    raw = record.get(column)
    if isinstance(raw, datetime):  # a database's timestamp (PostgreSQL's date_trunc gives one)
        if raw.time() != datetime.min.time():
            raise MetricError(
                f"{where}: {column} {raw.isoformat()} has a time of day; give a date "
                f"(in SQL: CAST(... AS DATE))."
            )
        raw = raw.date()
    if isinstance(raw, date):
        return raw, f"{raw:%Y-%m}"
    text = str(raw or "").strip()
    if column == "period":
        if not _PERIOD.match(text):
            raise MetricError(f"{where}: period {text!r} is not YYYY-MM.")
        return None, text
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise MetricError(f"{where}: date {text!r} is not YYYY-MM-DD.") from None
    return day, f"{day:%Y-%m}"


def _number(where: str, raw: Any) -> Decimal:
    text = str(raw).strip() if raw is not None else ""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise MetricError(f"{where}: value {text!r} is not a number.") from None
    if not value.is_finite():
        raise MetricError(f"{where}: value {text!r} is not a finite number.")
    if abs(value) >= Decimal("1e20"):
        raise MetricError(f"{where}: value {text!r} is out of range (|value| < 1e20).")
    return value


def _check_overlaps(rows: list[MetricRow]) -> None:
    seen: dict[tuple[object, ...], str] = {}
    grain: dict[str, MetricRow] = {}
    for row in rows:
        first = grain.setdefault(row.metric, row)
        if (first.day is None) != (row.day is None):
            raise MetricError(
                f"{row.where}: metric {row.metric!r} is given per day here and per billing "
                f"period at {first.where}; give one metric one time column."
            )
        key = (row.metric, row.day or row.period, tuple(sorted(row.dims.items())))
        if key in seen:
            raise MetricError(
                f"{row.where}: metric {row.metric!r} for {row.day or row.period} "
                f"{dict(sorted(row.dims.items())) or ''} is also given at {seen[key]}; "
                "give each time and dimension once."
            )
        seen[key] = row.where
