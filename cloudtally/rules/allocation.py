"""The allocation rules of a rules folder (`docs/rules.md` describes the layout)::

    rules/tags.yaml          tag policy: required keys, key and value aliases, inheritance
    rules/allocation.yaml    dimension precedence, conditional rules, shared-cost pools
    rules/mappings/*.csv     mapping tables: account (or team) -> team, product, cost_center, env
    rules/metrics/*.csv      usage metrics for pools split by a metric: period, <by>, value

Everything is validated at load and every problem is reported with its file, line and key in
one pass. Rules, mapping rows and pools carry `effective_from` / `effective_to` (YYYY-MM,
inclusive), so recomputing a past month applies the rules that were in force then.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
from dataclasses import dataclass, field
from decimal import Context, Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cloudtally.errors import RuleError
from cloudtally.rules.tags import TagPolicy
from cloudtally.rules.yaml_loader import Problems

DIMENSIONS = ("team", "product", "cost_center", "env")
Dim = Literal["team", "product", "cost_center", "env"]
PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
MAPPING_KEYS = ("account", "team")  # what a mapping table's first column matches
FIRST_PERIOD, LAST_PERIOD = "0000-01", "9999-12"

DEFAULT_PRECEDENCE: dict[str, list[str]] = {
    "team": ["rules", "tag"],
    "product": ["rules", "tag"],
    "cost_center": ["rules", "tag"],
    "env": ["rules", "tag"],
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _listed(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class Dated(_Model):
    effective_from: str | None = None
    effective_to: str | None = None

    @field_validator("effective_from", "effective_to")
    @classmethod
    def _period(cls, value: str | None) -> str | None:
        if value is not None and not PERIOD.match(str(value)):
            raise ValueError(f"{value!r} is not a billing period: use YYYY-MM")
        return value

    @property
    def window(self) -> tuple[str, str]:
        return self.effective_from or FIRST_PERIOD, self.effective_to or LAST_PERIOD


class Match(_Model):
    """Conditions on a cost line; all given conditions must hold (lists: any value)."""

    provider: list[str] | None = None  # x_Provider: aws, azure, gcp
    account: list[str] | None = None  # SubAccountId or SubAccountName
    service: list[str] | None = None  # ServiceName
    service_category: list[str] | None = None
    region: list[str] | None = None  # RegionId
    charge_category: list[str] | None = None  # Usage, Purchase, Tax, Credit, Adjustment
    commitment_status: list[str] | None = None  # Used, Unused
    resource_name: str | None = None  # glob over ResourceName (else ResourceId): "ml-*-gpu*"
    unallocated: bool | None = None  # pools only: the line has no value for the pool's `by`

    _as_list = field_validator(
        "provider",
        "account",
        "service",
        "service_category",
        "region",
        "charge_category",
        "commitment_status",
        mode="before",
    )(_listed)


class ConditionalRule(Dated):
    id: str
    when: Match
    set: dict[Dim, str]


class SharedPool(Dated):
    id: str
    match: Match
    split: Literal["even", "direct_cost", "metric", "fixed", "commitment_usage", "kubernetes"]
    by: Dim = "team"
    among: list[str] | None = None  # recipients (default: every value with direct cost)
    # split: fixed; each 0..100, adding up to 100
    percentages: dict[str, Annotated[Decimal, Field(ge=0, le=100)]] | None = None
    metric: str | None = None  # split: metric; CSV path relative to the rules folder
    # split: kubernetes; the OpenCost cluster whose namespaces share the pool, and the namespace
    # label that names each namespace's recipient (default: the pool's `by`)
    cluster: str | None = None
    label: str | None = None


class AllocationRules(_Model):
    dimensions: dict[Dim, list[str]] = Field(default_factory=dict)
    rules: list[ConditionalRule] = Field(default_factory=list)
    shared_pools: list[SharedPool] = Field(default_factory=list)

    def precedence(self, dim: str) -> list[str]:
        return self.dimensions.get(dim, DEFAULT_PRECEDENCE[dim])  # type: ignore[call-overload]


@dataclass(frozen=True)
class MappingRow:
    line: int
    key: str
    values: dict[str, str | None]
    effective_from: str
    effective_to: str


@dataclass(frozen=True)
class MappingTable:
    """`mappings/<name>.csv`: first column `account` or `team`, then dimension columns."""

    name: str
    path: Path
    key: str  # account | team
    columns: list[str]  # the dimensions it provides
    rows: list[MappingRow]


@dataclass(frozen=True)
class MetricRow:
    line: int
    period: str
    recipient: str
    value: Decimal


@dataclass
class RuleSet:
    folder: Path
    tags: TagPolicy
    allocation: AllocationRules
    mappings: dict[str, MappingTable] = field(default_factory=dict)
    metrics: dict[str, list[MetricRow]] = field(default_factory=dict)  # by pool id

    @property
    def allocation_path(self) -> Path:
        return self.folder / "allocation.yaml"

    def files(self) -> list[Path]:
        """The files these rules were read from: tags.yaml, allocation.yaml, the mapping
        tables and the metric files pools name."""
        found = [p for p in (self.folder / "tags.yaml", self.allocation_path) if p.is_file()]
        found += [m.path for m in self.mappings.values()]
        found += [
            self.folder / p.metric
            for p in self.allocation.shared_pools
            if p.metric is not None and (self.folder / p.metric).is_file()
        ]
        return list(dict.fromkeys(found))

    @property
    def sha256(self) -> str:
        """A hash of the content of `files()` and their paths within the folder: two
        allocations with the same hash used the same rules, byte for byte."""
        return content_sha256(self.folder, self.files())


def content_sha256(folder: Path, files: list[Path]) -> str:
    """SHA-256 over each file's path relative to `folder` and its bytes, in path order
    (lengths are included, so no two different folders hash alike by concatenation)."""
    digest = hashlib.sha256()
    named = sorted((Path(os.path.relpath(f, folder)).as_posix(), f) for f in files)
    for name, path in named:
        data = path.read_bytes()
        for part in (name.encode(), data):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
    return digest.hexdigest()


_LOADED: dict[Path, tuple[tuple[tuple[str, int, int], ...], RuleSet]] = {}


def load_rules_cached(folder: Path) -> RuleSet:
    """`load_rules`, reused while no file of the folder changed (same paths, sizes and
    modification times): for a server, which needs the rules on every request and would
    otherwise parse and check every file each time."""
    folder = Path(folder).resolve()
    if not folder.is_dir():
        return load_rules(folder)  # its message
    stamp = tuple(
        sorted(
            (str(path), stat.st_size, stat.st_mtime_ns)
            for path in folder.rglob("*")
            if path.is_file()
            for stat in (path.stat(),)
        )
    )
    found = _LOADED.get(folder)
    if found is not None and found[0] == stamp:
        return found[1]
    rules = load_rules(folder)
    _LOADED[folder] = (stamp, rules)
    return rules


def load_rules(folder: Path) -> RuleSet:
    """Load and validate a rules folder; all problems are raised together as one RuleError.

    Every file is checked, schema and semantics: tags.yaml, allocation.yaml, mappings/*.csv,
    the metric files pools name, and monitors.yaml when the folder has one.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise RuleError(
            f"Rules folder {folder} not found: create it with tags.yaml, allocation.yaml and "
            "mappings/*.csv (see docs/rules.md), or pass --rules."
        )
    problems = Problems()
    tags_path, allocation_path = folder / "tags.yaml", folder / "allocation.yaml"
    tags, tags_node = problems.load(tags_path, TagPolicy) if tags_path.exists() else (None, None)
    allocation, allocation_node = (
        problems.load(allocation_path, AllocationRules)
        if allocation_path.exists()
        else (None, None)
    )
    mappings: dict[str, MappingTable] = {}
    for path in sorted((folder / "mappings").glob("*.csv")):
        table = _load_mapping(path, problems)
        if table is not None:
            mappings[table.name] = table
    rules = RuleSet(folder, tags or TagPolicy(), allocation or AllocationRules(), mappings)
    if allocation is not None:
        _check_allocation(rules, problems, allocation_node)
    if tags is not None:
        _check_tags(rules, problems, tags_node)
    monitors_path = folder / "monitors.yaml"
    if monitors_path.exists():
        from cloudtally.anomaly.config import check_monitors

        check_monitors(monitors_path, problems)
    problems.raise_if_any(f"rules folder {folder}")
    return rules


def _check_tags(rules: RuleSet, problems: Problems, node: Any) -> None:
    path = rules.folder / "tags.yaml"
    for name, spec in rules.tags.keys.items():
        if spec.inherit is None:
            continue
        table = rules.mappings.get(spec.inherit)
        where = ("keys", name, "inherit")
        if table is None:
            problems.add(
                path,
                node,
                where,
                f"no mapping table mappings/{spec.inherit}.csv "
                f"(have: {', '.join(rules.mappings) or 'none'})",
            )
        elif table.key != "account" or name not in table.columns:
            problems.add(
                path,
                node,
                where,
                f"mappings/{spec.inherit}.csv must be keyed by account and have a {name!r} column",
            )


def _check_allocation(rules: RuleSet, problems: Problems, node: Any) -> None:
    path = rules.allocation_path
    allocation = rules.allocation

    def report(location: tuple[str | int, ...], message: str) -> None:
        problems.add(path, node, location, message)

    for dim, sources in allocation.dimensions.items():
        for n, source in enumerate(sources):
            kind, _, name = source.partition(":")
            if source in ("rules", "tag"):
                continue
            if kind != "mapping" or not name:
                report(
                    ("dimensions", dim, n),
                    f"unknown source {source!r}: use rules, tag or mapping:NAME",
                )
            elif name not in rules.mappings:
                report(
                    ("dimensions", dim, n),
                    f"no mapping table mappings/{name}.csv "
                    f"(have: {', '.join(rules.mappings) or 'none'})",
                )
            elif dim not in rules.mappings[name].columns:
                report(("dimensions", dim, n), f"mappings/{name}.csv has no {dim!r} column")
            elif rules.mappings[name].key == "team" and dim == "team":
                report(("dimensions", dim, n), "a table keyed by team cannot give the team")
    seen: dict[str, int] = {}
    for n, rule in enumerate(allocation.rules):
        if rule.id in seen:
            report(
                ("rules", n, "id"), f"duplicate rule id {rule.id!r} (also rules.{seen[rule.id]})"
            )
        seen[rule.id] = n
        if rule.when.unallocated is not None:
            report(("rules", n, "when", "unallocated"), "only shared pools match on unallocated")
        if not rule.set:
            report(("rules", n, "set"), "sets no dimension")
        _check_window(rule, ("rules", n), report)
    pools: dict[str, int] = {}
    for n, pool in enumerate(allocation.shared_pools):
        where: tuple[str | int, ...] = ("shared_pools", n)
        if pool.id in pools:
            report((*where, "id"), f"duplicate pool id {pool.id!r}")
        pools[pool.id] = n
        _check_window(pool, where, report)
        if pool.split == "fixed":
            if not pool.percentages:
                report((*where, "split"), "split: fixed needs percentages")
            elif (total := sum(pool.percentages.values(), Decimal(0))) != 100:
                report((*where, "percentages"), f"add up to {total}, not 100")
        elif pool.percentages is not None:
            report(
                (*where, "percentages"), f"only split: fixed takes percentages, not {pool.split}"
            )
        if pool.split == "metric":
            if not pool.metric:
                report((*where, "split"), "split: metric needs metric: metrics/FILE.csv")
            else:
                rows = _load_metric(rules.folder, pool.metric, pool.by, problems)
                if rows is not None:
                    rules.metrics[pool.id] = rows
        elif pool.metric is not None:
            report((*where, "metric"), f"only split: metric takes a metric file, not {pool.split}")
        if pool.split == "kubernetes":
            if not pool.cluster:
                report(
                    (*where, "split"), "split: kubernetes needs cluster: (OpenCost's cluster name)"
                )
        else:
            for key in ("cluster", "label"):
                if getattr(pool, key) is not None:
                    report((*where, key), f"only split: kubernetes takes {key}, not {pool.split}")


def _check_window(rule: Dated, where: tuple[str | int, ...], report: Any) -> None:
    first, last = rule.window
    if first > last:
        report((*where, "effective_to"), f"{last} is before effective_from {first}")


def _load_mapping(path: Path, problems: list[str]) -> MappingTable | None:
    """Read a mapping CSV; problems are appended with `file:line: column: message`."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            lines = list(csv.reader(handle))
    except UnicodeDecodeError:
        problems.append(f"{path}:1: not UTF-8 text")
        return None
    except csv.Error as exc:
        problems.append(f"{path}: not CSV ({exc})")
        return None
    if not lines:
        problems.append(f"{path}:1: empty file: the first line must be a header")
        return None
    header = [h.strip() for h in lines[0]]
    key = header[0]
    if key not in MAPPING_KEYS:
        problems.append(
            f"{path}:1: {key}: the first column must be one of {', '.join(MAPPING_KEYS)}"
        )
        return None
    columns: list[str] = []
    for name in header[1:]:
        if name in DIMENSIONS:
            if name == key:
                problems.append(f"{path}:1: {name}: a table keyed by {key} cannot map to {name}")
            columns.append(name)
        elif name not in ("effective_from", "effective_to", "name", "note"):
            problems.append(
                f"{path}:1: {name}: unknown column; use {', '.join(DIMENSIONS)}, "
                "effective_from, effective_to, name or note"
            )
    rows: list[MappingRow] = []
    windows: dict[str, list[tuple[str, str, int]]] = {}
    for number, cells in enumerate(lines[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(header):
            problems.append(f"{path}:{number}: {len(cells)} fields, the header has {len(header)}")
            continue
        record = {h: c.strip() for h, c in zip(header, cells, strict=True)}
        if not record[key]:
            problems.append(f"{path}:{number}: {key}: empty key")
            continue
        dates = []
        for column in ("effective_from", "effective_to"):
            value = record.get(column) or ""
            if value and not PERIOD.match(value):
                problems.append(f"{path}:{number}: {column}: {value!r} is not YYYY-MM")
            dates.append(value)
        first, last = dates[0] or FIRST_PERIOD, dates[1] or LAST_PERIOD
        for other_first, other_last, other_line in windows.get(record[key], []):
            if first <= other_last and other_first <= last:
                problems.append(
                    f"{path}:{number}: {key}: {record[key]!r} is also mapped on line "
                    f"{other_line} for an overlapping period; give one of them "
                    "effective_from/effective_to"
                )
        windows.setdefault(record[key], []).append((first, last, number))
        values = {c: (record[c] or None) for c in columns}
        rows.append(MappingRow(number, record[key], values, first, last))
    return MappingTable(path.stem, path, key, columns, rows)


# Metric values are stored as DECIMAL(38, 18): below 1e20, at most 18 decimal places.
METRIC_LIMIT = Decimal(10) ** 20
METRIC_PLACES = 18


def _metric_value(text: str) -> tuple[Decimal | None, str | None]:
    """A metric value, or why it is not one.

    >>> [_metric_value(t)[1] for t in ("12.5", "NaN", "-Infinity", "1e50", "-3", "1e-30", "x")]
    [None, 'is not a finite number', 'is not a finite number', 'is too large (metric values must be below 1e20)', 'is negative', 'has more than 18 decimal places', 'is not a number']
    """
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None, "is not a number"
    if not value.is_finite():
        return None, "is not a finite number"
    if value < 0:
        return None, "is negative"
    if value >= METRIC_LIMIT:
        return None, "is too large (metric values must be below 1e20)"
    exponent = Context(prec=80).normalize(value).as_tuple().exponent
    if isinstance(exponent, int) and exponent < -METRIC_PLACES:
        return None, f"has more than {METRIC_PLACES} decimal places"
    return value, None


def _load_metric(folder: Path, name: str, by: str, problems: list[str]) -> list[MetricRow] | None:
    path = folder / name
    if not path.resolve().is_relative_to(folder.resolve()):
        problems.append(f"{path}: metric file outside the rules folder {folder}")
        return None
    if not path.is_file():
        problems.append(f"{path}: metric file not found")
        return None
    rows = []
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = [h.strip() for h in next(reader, [])]
            if header != ["period", by, "value"]:
                problems.append(
                    f"{path}:1: the header must be period,{by},value, not {','.join(header)}"
                )
                return None
            for number, cells in enumerate(reader, start=2):
                if not any(c.strip() for c in cells):
                    continue
                if len(cells) != 3:
                    problems.append(f"{path}:{number}: {len(cells)} fields, the header has 3")
                    continue
                period, recipient, text = (c.strip() for c in cells)
                if not PERIOD.match(period):
                    problems.append(f"{path}:{number}: period: {period!r} is not YYYY-MM")
                    continue
                value, wrong = _metric_value(text)
                if value is None:
                    problems.append(f"{path}:{number}: value: {text!r} {wrong}")
                    continue
                rows.append(MetricRow(number, period, recipient, value))
    except UnicodeDecodeError:
        problems.append(f"{path}:1: not UTF-8 text")
        return None
    except csv.Error as exc:
        problems.append(f"{path}:{reader.line_num}: not CSV ({exc})")
        return None
    return rows
