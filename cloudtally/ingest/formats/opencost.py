"""OpenCost allocation data: what each Kubernetes workload cost per window, by cluster,
namespace, controller, pod and container, split into CPU, GPU, RAM, persistent volume, network,
load balancer, shared and external costs, with the cluster's idle cost as allocations of its own.

It is not a bill (the cloud bill already holds the nodes' cost), so its rows go to a dataset
beside the costs, the view `k8s_allocations`, where the shares per namespace and the idle cost
of each cluster and window can be read against the nodes' billed cost.

Two forms are read:

- the allocation API's JSON response (`/allocation` or `/allocation/compute`, any `aggregate`
  and `step`): `{"code": 200, "data": [{"<name>": {allocation}, ...}, ...]}`, one map per step;
  `{"data": {"sets": [{"allocations": {...}}]}}` too. Idle is the allocation named `__idle__`
  (`<cluster>/__idle__` when aggregated by cluster). Costs include OpenCost's adjustments
  (`cpuCost + cpuCostAdjustment`, ...), as its own `totalCost` does.
- the CSV export (OpenCost's `EXPORT_CSV_FILE`): one row per allocation and day, columns
  `Date, Namespace, ControllerKind, ControllerName, Pod, Container, CPUCoreUsageAverage, ...,
  CPUCost, RAMCost, NetworkCost, PVCost, GPUCost, TotalCost`. It has no cluster column: the
  rows' Cluster is a `Cluster` column when the file has one, else empty.

Sources: OpenCost documentation, "API" (allocation fields and their meaning) and the OpenCost
CSV exporter's header (opencost/opencost, pkg/costmodel/csv_export.go).

A delivery replaces what an earlier one said about the same cluster and window. A window must
lie within one calendar month (UTC), so that it belongs to one billing period: query OpenCost
with `step=1d` (or windows inside a month).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import duckdb

from cloudtally.errors import IngestError
from cloudtally.focus.canonical import DECIMAL, STRING, TAGS, TIMESTAMP
from cloudtally.ingest.formats.base import Converter, literal, quote
from cloudtally.ingest.source import SourceFile

if TYPE_CHECKING:
    from cloudtally.store import Store
    from cloudtally.store.catalog import Catalog

DATASET = "k8s_allocations"

# The dataset's columns and their types.
COLUMNS: dict[str, str] = {
    "WindowStart": TIMESTAMP,
    "WindowEnd": TIMESTAMP,
    "Cluster": STRING,
    "Node": STRING,
    "Namespace": STRING,
    "ControllerKind": STRING,
    "Controller": STRING,
    "Pod": STRING,
    "Container": STRING,
    "ProviderId": STRING,
    "AllocationName": STRING,
    "IsIdle": "BOOLEAN",
    "Labels": TAGS,
    "NamespaceLabels": TAGS,
    "Minutes": DECIMAL,
    "CpuCoreHours": DECIMAL,
    "CpuCoreRequestAverage": DECIMAL,
    "CpuCoreUsageAverage": DECIMAL,
    "GpuCount": DECIMAL,
    "GpuHours": DECIMAL,
    "RamByteHours": DECIMAL,
    "RamByteRequestAverage": DECIMAL,
    "RamByteUsageAverage": DECIMAL,
    "PvBytes": DECIMAL,
    "PvByteHours": DECIMAL,
    "NetworkTransferBytes": DECIMAL,
    "NetworkReceiveBytes": DECIMAL,
    "CpuCost": DECIMAL,
    "GpuCost": DECIMAL,
    "RamCost": DECIMAL,
    "PvCost": DECIMAL,
    "NetworkCost": DECIMAL,
    "LoadBalancerCost": DECIMAL,
    "SharedCost": DECIMAL,
    "ExternalCost": DECIMAL,
    "TotalCost": DECIMAL,
}

# API field (or fields, summed: a cost and its adjustment) -> dataset column.
API_NUMBERS: dict[str, tuple[str, ...]] = {
    "Minutes": ("minutes",),
    "CpuCoreHours": ("cpuCoreHours",),
    "CpuCoreRequestAverage": ("cpuCoreRequestAverage",),
    "CpuCoreUsageAverage": ("cpuCoreUsageAverage",),
    "GpuCount": ("gpuCount",),
    "GpuHours": ("gpuHours",),
    "RamByteHours": ("ramByteHours",),
    "RamByteRequestAverage": ("ramByteRequestAverage",),
    "RamByteUsageAverage": ("ramByteUsageAverage",),
    "PvBytes": ("pvBytes",),
    "PvByteHours": ("pvByteHours",),
    "NetworkTransferBytes": ("networkTransferBytes",),
    "NetworkReceiveBytes": ("networkReceiveBytes",),
    "CpuCost": ("cpuCost", "cpuCostAdjustment"),
    "GpuCost": ("gpuCost", "gpuCostAdjustment"),
    "RamCost": ("ramCost", "ramCostAdjustment"),
    "PvCost": ("pvCost", "pvCostAdjustment"),
    "NetworkCost": ("networkCost", "networkCostAdjustment"),
    "LoadBalancerCost": ("loadBalancerCost", "loadBalancerCostAdjustment"),
    "SharedCost": ("sharedCost",),
    "ExternalCost": ("externalCost",),
    "TotalCost": ("totalCost",),
}
API_PROPERTIES = {
    "Cluster": "cluster",
    "Node": "node",
    "Namespace": "namespace",
    "ControllerKind": "controllerKind",
    "Controller": "controller",
    "Pod": "pod",
    "Container": "container",
    "ProviderId": "providerID",
}
# CSV export column -> dataset column.
CSV_COLUMNS: dict[str, str] = {
    "Namespace": "Namespace",
    "ControllerKind": "ControllerKind",
    "ControllerName": "Controller",
    "Pod": "Pod",
    "Container": "Container",
    "Cluster": "Cluster",
    "Node": "Node",
    "CPUCoreUsageAverage": "CpuCoreUsageAverage",
    "CPUCoreRequestAverage": "CpuCoreRequestAverage",
    "RAMBytesUsageAverage": "RamByteUsageAverage",
    "RAMBytesRequestAverage": "RamByteRequestAverage",
    "NetworkReceiveBytes": "NetworkReceiveBytes",
    "NetworkTransferBytes": "NetworkTransferBytes",
    "GPUs": "GpuCount",
    "PVBytes": "PvBytes",
    "CPUCost": "CpuCost",
    "RAMCost": "RamCost",
    "NetworkCost": "NetworkCost",
    "PVCost": "PvCost",
    "GPUCost": "GpuCost",
    "TotalCost": "TotalCost",
}
CSV_REQUIRED = ("Date", "Namespace", "CPUCost", "RAMCost", "TotalCost")
IDLE = "__idle__"
_SNIFF = 1 << 16


class OpenCostConverter(Converter):
    """OpenCost allocation data (the allocation API's JSON, or the CSV export), stored as the
    dataset `k8s_allocations` (a view of that name), not in `costs`: one row per allocation and
    window with its cluster, namespace, controller, pod, container, labels and namespace labels,
    usage, and CPU, GPU, RAM, PV, network, load balancer, shared, external and total costs
    (adjustments included). Idle allocations have IsIdle true. A new delivery replaces the rows
    of the clusters and windows it holds."""

    name = "opencost"
    description = "OpenCost allocation data: API JSON or CSV export (stored beside the costs)"
    dataset: ClassVar[str] = DATASET

    @classmethod
    def matches(cls, source: SourceFile) -> bool:
        if source.container == "csv":
            return {"Date", "Namespace", "ControllerKind", "TotalCost"} <= set(source.columns)
        if source.container in ("json", "jsonl"):
            with open(source.path, "rb") as fh:
                head = fh.read(_SNIFF)
            if head[:2] == b"\x1f\x8b":
                return False
            # The API's envelope (`code` and `data`), or allocations themselves.
            return b'"data"' in head and (
                b'"code"' in head or b'"cpuCost"' in head or b'"totalCost"' in head
            )
        return False

    @property
    def source_format(self) -> str:
        return "opencost-csv" if self.source.container == "csv" else "opencost-json"

    def validate(self) -> None:
        if self.source.container == "csv":
            missing = [c for c in CSV_REQUIRED if c not in self.source.columns]
            if missing:
                raise IngestError(
                    f"{self.source.label}: an OpenCost CSV export needs the column"
                    f"{'s' if len(missing) > 1 else ''} {', '.join(missing)}, which "
                    f"{'are' if len(missing) > 1 else 'is'} missing. Export again and run again."
                )

    def reader_types(self) -> dict[str, str]:
        return {c: DECIMAL for c, name in CSV_COLUMNS.items() if COLUMNS[name] == DECIMAL}

    def expressions(self) -> dict[str, str]:
        return {}

    @classmethod
    def mapping(cls) -> list[tuple[str, str]]:
        rows = [
            ("WindowStart, WindowEnd", "API: the allocation's window; CSV: Date and the next day"),
            ("AllocationName", "API: the allocation's name (`__idle__` for idle)"),
            ("IsIdle", "true for `__idle__` (or `<cluster>/__idle__`) allocations"),
            ("Labels, NamespaceLabels", "API: properties.labels, properties.namespaceLabels"),
        ]
        rows += [(c, f"API: properties.{p}") for c, p in API_PROPERTIES.items()]
        rows += [(c, "API: " + " + ".join(f)) for c, f in API_NUMBERS.items()]
        rows += [(name, f"CSV: {column}") for column, name in CSV_COLUMNS.items()]
        rows.append(("x_SourceFile, x_IngestId", "the file and the ingest run the row came from"))
        return rows

    # -- a dataset beside the costs ---------------------------------------------------------

    def stage_beside(self, con: duckdb.DuckDBPyConnection, target: Path, ingest_id: str) -> int:
        if self.source.container == "csv":
            select = self._csv_select()
        else:
            flat = target.with_suffix(".jsonl")
            with open(flat, "w", encoding="utf-8") as out:
                for row in self._api_rows():
                    out.write(json.dumps(row) + "\n")
            select = self._flat_select(flat)
        extra = (
            f", {literal(self.source_format)} AS x_SourceFormat, "
            f"{literal(self.source.label)} AS x_SourceFile, {literal(ingest_id)} AS x_IngestId"
        )
        con.execute(
            f"COPY (SELECT * {extra} FROM ({select})) TO {literal(str(target))} (FORMAT parquet)"
        )
        staged = f"read_parquet({literal(str(target))})"
        rows = int(con.execute(f"SELECT count(*) FROM {staged}").fetchall()[0][0])
        if rows == 0:
            raise IngestError(
                f"{self.source.label}: the file holds no allocations. Query OpenCost for a window "
                "with data and run again."
            )
        self._check_windows(con, staged)
        return rows

    def _csv_select(self) -> str:
        fields = []
        present = set(self.source.columns)
        by_name = {name: column for column, name in CSV_COLUMNS.items()}
        for name, sql_type in COLUMNS.items():
            if name == "WindowStart":
                fields.append(
                    f"timezone('UTC', CAST(CAST(\"Date\" AS DATE) AS TIMESTAMP)) AS {name}"
                )
            elif name == "WindowEnd":
                fields.append(
                    f"timezone('UTC', CAST(CAST(\"Date\" AS DATE) + 1 AS TIMESTAMP)) AS {name}"
                )
            elif name == "IsIdle":
                fields.append(f'coalesce("Namespace" = {literal(IDLE)}, false) AS {name}')
            elif name in by_name and by_name[name] in present:
                fields.append(f"CAST({quote(by_name[name])} AS {sql_type}) AS {name}")
            else:
                fields.append(f"CAST(NULL AS {sql_type}) AS {name}")
        return f"SELECT {', '.join(fields)} FROM {self.read_sql()}"

    def _flat_select(self, flat: Path) -> str:
        columns = ", ".join(
            f"{literal(name)}: {literal('VARCHAR' if t in (DECIMAL, TIMESTAMP) else t)}"
            for name, t in COLUMNS.items()
        )
        fields = [
            f"CAST({name} AS {t}) AS {name}" if t in (DECIMAL, TIMESTAMP) else name
            for name, t in COLUMNS.items()
        ]
        return (
            f"SELECT {', '.join(fields)} FROM read_json({literal(str(flat))}, "
            f"format = 'newline_delimited', columns = {{{columns}}})"
        )

    def _api_rows(self) -> Iterator[dict[str, Any]]:
        """The API response's allocations as flat rows (numbers as their exact JSON text)."""
        label = self.source.label
        try:
            with open(self.source.path, encoding="utf-8-sig") as fh:
                document = json.load(fh, parse_float=Decimal, parse_int=Decimal)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise IngestError(
                f"{label}: not a complete JSON document ({exc}). Save the OpenCost API's whole "
                "response and run again."
            ) from None
        if not isinstance(document, dict):
            raise IngestError(f"{label}: an OpenCost API response is a JSON object.")
        code = document.get("code")
        if code is not None and code != 200:
            message = document.get("message") or document.get("error") or ""
            raise IngestError(
                f"{label}: the OpenCost API answered code {code} {message}".rstrip()
                + ", not allocation data. Query it again and save a response with code 200."
            )
        data = document.get("data")
        if isinstance(data, dict) and isinstance(data.get("sets"), list):
            sets = [s.get("allocations") if isinstance(s, dict) else None for s in data["sets"]]
        elif isinstance(data, list):
            sets = data
        else:
            raise IngestError(
                f"{label}: `data` is not a list of allocation sets; save the response of "
                "/allocation or /allocation/compute and run again."
            )
        for n, allocations in enumerate(sets, start=1):
            if allocations is None:
                continue
            if not isinstance(allocations, dict):
                raise IngestError(f"{label}: data set {n} is not a map of allocations.")
            for name, allocation in allocations.items():
                yield self._api_row(n, str(name), allocation)

    def _api_row(self, n: int, name: str, allocation: object) -> dict[str, Any]:
        where = f"{self.source.label}: data set {n}, allocation {name!r}"
        if not isinstance(allocation, dict):
            raise IngestError(f"{where} is not an object.")
        properties = allocation.get("properties") or {}
        window = allocation.get("window") or {}
        if not isinstance(properties, dict) or not isinstance(window, dict):
            raise IngestError(f"{where}: properties and window must be objects.")
        row: dict[str, Any] = {
            "WindowStart": window.get("start"),
            "WindowEnd": window.get("end"),
            "AllocationName": name,
            "IsIdle": name == IDLE or name.endswith("/" + IDLE),
            "Labels": _labels(properties.get("labels"), f"{where}: properties.labels"),
            "NamespaceLabels": _labels(
                properties.get("namespaceLabels"), f"{where}: properties.namespaceLabels"
            ),
        }
        for column, key in API_PROPERTIES.items():
            value = properties.get(key)
            row[column] = None if value in (None, "") else str(value)
        if row["WindowStart"] is None or row["WindowEnd"] is None:
            raise IngestError(f"{where}: the window has no start or end. Fix the response.")
        for column, fields in API_NUMBERS.items():
            total: Decimal | None = None
            for field in fields:
                value = allocation.get(field)
                if value is None:
                    continue
                if (
                    isinstance(value, bool)
                    or not isinstance(value, Decimal)
                    or not value.is_finite()
                ):
                    raise IngestError(
                        f"{where}, field {field}: {value!r} is not a number. Fix the response "
                        "and run again."
                    )
                total = value if total is None else total + value
            row[column] = None if total is None else str(total)
        return row

    def _check_windows(self, con: duckdb.DuckDBPyConnection, staged: str) -> None:
        """Every window is well formed and inside one calendar month (one billing period)."""
        # No row numbers: the staged file's order need not be the source's (ingest writes
        # without preserving insertion order); the allocation, namespace and pod name the row.
        found = con.execute(
            f"""
            SELECT AllocationName, Namespace, Pod, WindowStart, WindowEnd, CASE
                WHEN WindowStart IS NULL OR WindowEnd IS NULL THEN 'empty'
                WHEN WindowEnd <= WindowStart THEN 'backwards'
                ELSE 'months' END
            FROM {staged}
            WHERE WindowStart IS NULL OR WindowEnd IS NULL OR WindowEnd <= WindowStart
               OR date_trunc('month', WindowStart)
                  <> date_trunc('month', WindowEnd - INTERVAL 1 MICROSECOND)
            ORDER BY WindowStart NULLS FIRST, AllocationName, Namespace, Pod LIMIT 1
            """
        ).fetchall()
        if not found:
            return
        name, namespace, pod, start, end, problem = found[0]
        if name:
            what = f"allocation {name!r}"
        else:
            what = f"the row of namespace {namespace!r}" + (f", pod {pod!r}" if pod else "")
        if problem == "empty":
            detail = "has no window (an empty Date or window)"
        elif problem == "backwards":
            detail = f"has a window that ends ({end:%Y-%m-%dT%H:%M:%SZ}) before it starts"
        else:
            detail = (
                f"has the window {start:%Y-%m-%dT%H:%M:%SZ}..{end:%Y-%m-%dT%H:%M:%SZ}, which "
                "spans two billing periods; a window must lie within one calendar month (UTC) "
                "to be matched with the bill. Query OpenCost with step=1d (or windows inside a "
                "month)"
            )
        raise IngestError(f"{self.source.label}: {what} {detail}; nothing was stored.")

    @classmethod
    def publish_beside(
        cls,
        store: Store,
        catalog: Catalog,
        staged: list[tuple[SourceFile, Path]],
        ingest_id: str,
    ) -> tuple[Catalog, int]:
        """The catalog with the dataset rewritten: the rows of earlier deliveries for other
        clusters and windows, and the new rows, in one Parquet file (not yet committed)."""
        con = store.engine()
        key = "coalesce(Cluster, ''), WindowStart, WindowEnd"
        parts = [
            f"SELECT *, {n} AS _file FROM read_parquet({literal(str(path))})"
            for n, (_, path) in enumerate(staged)
        ]
        new = " UNION ALL BY NAME ".join(parts)
        twice = con.execute(
            f"SELECT min(_file), max(_file), any_value(Cluster), any_value(WindowStart) "
            f"FROM ({new}) GROUP BY {key} HAVING count(DISTINCT _file) > 1 LIMIT 1"
        ).fetchall()
        if twice:
            first, second, cluster, start = twice[0]
            raise IngestError(
                f"{staged[first][0].path} and {staged[second][0].path} both hold the window "
                f"starting {start:%Y-%m-%dT%H:%M:%SZ} of cluster {cluster or '(unnamed)'!r}: "
                "ingesting both would count it twice. Give one of them."
            )
        new = f"SELECT * EXCLUDE (_file) FROM ({new})"
        relation = new
        existing = catalog.derived.get(DATASET)
        if existing is not None and existing.files:
            listed = ", ".join(literal(store.location(f)) for f in existing.files)
            old = f"SELECT * FROM read_parquet([{listed}], union_by_name = true)"
            relation = (
                f"SELECT * FROM ({old}) WHERE ({key}) NOT IN (SELECT ({key}) FROM ({new})) "
                f"UNION ALL BY NAME {new}"
            )
        folder = store.staging_for(DATASET)
        target = folder / f"{DATASET}.parquet"
        con.execute(
            f"COPY (SELECT * FROM ({relation}) ORDER BY WindowStart, Cluster, Namespace, "
            f"AllocationName, Pod, Container) TO {literal(str(target))} (FORMAT parquet)"
        )
        rows = int(con.execute(f"SELECT count(*) FROM {literal(str(target))}").fetchall()[0][0])
        return store.with_derived(catalog, DATASET, [target], rows=rows), rows


def _labels(value: object, where: str) -> dict[str, str] | None:
    if value in (None, {}):
        return None
    if not isinstance(value, dict):
        raise IngestError(f"{where} is not an object of labels. Fix the response.")
    return {str(k): str(v) for k, v in value.items()}
