"""OpenCost allocation data (API JSON and CSV export) into the `k8s_allocations` dataset beside
the costs: exact rows and totals, idle as its own rows, replacement by cluster and window, and
bad input refused with one message and nothing stored changed."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from cloudtally.errors import IngestError
from cloudtally.ingest.formats import detect_converter
from cloudtally.ingest.pipeline import ingest
from cloudtally.ingest.source import inspect
from cloudtally.store import Store
from tests.conftest import FOCUS_10, ROOT, lake_snapshot

FIXTURES = ROOT / "tests" / "fixtures" / "opencost"
API = FIXTURES / "allocation-namespace-1d.json"
EXPORT = FIXTURES / "allocation-export.csv"

PAYMENTS_DAY_1 = {
    "WindowStart": "2026-10-01T00:00:00Z",
    "WindowEnd": "2026-10-02T00:00:00Z",
    "Cluster": "prod-eu",
    "Node": "ip-10-0-1-23.eu-west-1.compute.internal",
    "Namespace": "payments",
    "AllocationName": "payments",
    "IsIdle": False,
    "Labels": {"app": "checkout", "team": "payments"},
    "NamespaceLabels": {"team": "payments", "cost_center": "cc-1200"},
    "Minutes": Decimal("1440"),
    "CpuCoreHours": Decimal("60"),
    "CpuCoreRequestAverage": Decimal("2.5"),
    "CpuCoreUsageAverage": Decimal("1.25"),
    "GpuCount": Decimal("0"),
    "GpuHours": Decimal("0"),
    "RamByteHours": Decimal("103079215104"),
    "RamByteRequestAverage": Decimal("4294967296"),
    "RamByteUsageAverage": Decimal("3221225472"),
    "PvBytes": Decimal("10737418240"),
    "PvByteHours": Decimal("257698037760"),
    "NetworkTransferBytes": Decimal("2100541.53"),
    "NetworkReceiveBytes": Decimal("2077024.88318"),
    "CpuCost": Decimal("1.42812345678901"),  # cpuCost 1.44012345678901 + adjustment -0.012
    "GpuCost": Decimal("0"),
    "RamCost": Decimal("0.83101"),
    "PvCost": Decimal("0.30"),
    "NetworkCost": Decimal("0.0125"),
    "LoadBalancerCost": Decimal("0.54"),
    "SharedCost": Decimal("0"),
    "ExternalCost": Decimal("0"),
    "TotalCost": Decimal("3.11163345678901"),
    "x_SourceFormat": "opencost-json",
}
COLUMNS = list(PAYMENTS_DAY_1)


def rows(store: Store, where: str) -> list[dict[str, object]]:
    select = ", ".join(
        f"strftime({c}, '%Y-%m-%dT%H:%M:%SZ')" if c.startswith("Window") else c for c in COLUMNS
    )
    found = store.sql(f"SELECT {select} FROM k8s_allocations WHERE {where} ORDER BY ALL").fetchall()
    return [{c: v for c, v in zip(COLUMNS, r, strict=True) if v is not None} for r in found]


def totals(store: Store) -> dict[tuple[str, bool], Decimal]:
    found = store.sql(
        "SELECT strftime(WindowStart, '%Y-%m-%d'), IsIdle, sum(TotalCost) FROM k8s_allocations "
        "GROUP BY ALL"
    ).fetchall()
    return {(day, idle): total for day, idle, total in found}


def test_api_json_is_detected_and_stored_beside_the_costs(store: Store) -> None:
    converter = detect_converter(inspect(API))
    assert (converter.name, converter.source_format) == ("opencost", "opencost-json")
    report = ingest(store, [API])
    assert report.datasets == {"k8s_allocations": 8}
    assert report.partitions == []  # nothing in `costs`
    assert rows(store, "Namespace = 'payments' AND WindowStart < '2026-10-02'") == [PAYMENTS_DAY_1]


def test_idle_is_its_own_row_and_totals_are_exact(store: Store) -> None:
    ingest(store, [API])
    idle = rows(store, "IsIdle")
    assert [(r["AllocationName"], r["TotalCost"]) for r in idle] == [
        ("__idle__", Decimal("5.1577")),
        ("__idle__", Decimal("5.1577")),
    ]
    assert totals(store) == {
        ("2026-10-01", False): Decimal("7.87613345678901"),
        ("2026-10-01", True): Decimal("5.1577"),
        ("2026-10-02", False): Decimal("9.63813345678901"),
        ("2026-10-02", True): Decimal("5.1577"),
    }
    # Each row's parts add up to its total, to the last digit.
    unequal = store.sql(
        "SELECT count(*) FROM k8s_allocations WHERE CpuCost + GpuCost + RamCost + PvCost + "
        "NetworkCost + LoadBalancerCost + SharedCost + ExternalCost <> TotalCost"
    ).fetchall()
    assert unequal == [(0,)]


def test_csv_export_rows(store: Store) -> None:
    assert detect_converter(inspect(EXPORT)).source_format == "opencost-csv"
    report = ingest(store, [EXPORT])
    assert report.datasets == {"k8s_allocations": 5}
    envoy = rows(store, "Container = 'envoy'")
    assert envoy == [
        {
            "WindowStart": "2026-10-01T00:00:00Z",
            "WindowEnd": "2026-10-02T00:00:00Z",
            "Namespace": "payments",
            "IsIdle": False,
            "CpuCoreRequestAverage": Decimal("0.1"),
            "CpuCoreUsageAverage": Decimal("0.025"),
            "GpuCount": Decimal("0"),
            "RamByteRequestAverage": Decimal("268435456"),
            "RamByteUsageAverage": Decimal("134217728"),
            "PvBytes": Decimal("0"),
            "NetworkTransferBytes": Decimal("0"),
            "NetworkReceiveBytes": Decimal("0"),
            "CpuCost": Decimal("0.0720061728394"),
            "GpuCost": Decimal("0"),
            "RamCost": Decimal("0.05193"),
            "PvCost": Decimal("0"),
            "NetworkCost": Decimal("0"),
            "TotalCost": Decimal("0.1239361728394"),
            "x_SourceFormat": "opencost-csv",
        }
    ]
    pod = store.sql(
        "SELECT ControllerKind, Controller, Pod FROM k8s_allocations WHERE Container = 'envoy'"
    ).fetchall()
    assert pod == [("deployment", "checkout-api", "checkout-api-7d9f8b6c5-x2k4p")]
    assert totals(store) == {
        ("2026-10-01", False): Decimal("5.7262529012339"),
        ("2026-10-02", False): Decimal("6.5145"),
    }


def test_a_new_delivery_replaces_its_windows_and_keeps_the_others(
    store: Store, tmp_path: Path
) -> None:
    ingest(store, [API, FOCUS_10])  # with a bill in the same call
    document = json.loads(API.read_text(encoding="utf-8"))
    document["data"] = document["data"][1:]  # day 2 only, restated
    document["data"][0]["search"]["ramCost"] = 1.5
    document["data"][0]["search"]["totalCost"] = 6.3140
    restated = tmp_path / "allocation-2026-10-02.json"
    restated.write_text(json.dumps(document, indent=1), encoding="utf-8")
    report = ingest(store, [restated])
    assert report.datasets == {"k8s_allocations": 8}
    assert totals(store)[("2026-10-01", False)] == Decimal("7.87613345678901")
    assert totals(store)[("2026-10-02", False)] == Decimal("9.89163345678901")
    billed = store.sql("SELECT sum(BilledCost) FROM costs").fetchall()
    assert billed == [(Decimal("20.52022672899"),)]


# -- bad input ------------------------------------------------------------------------------


def _refused(store: Store, path: Path) -> str:
    ingest(store, [API])
    before = lake_snapshot(store.data_dir)
    with pytest.raises(IngestError) as caught:
        ingest(store, [path])
    assert lake_snapshot(store.data_dir) == before
    return str(caught.value)


def _edited(tmp_path: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    document = json.loads(API.read_text(encoding="utf-8"))
    edit(document)
    path = tmp_path / "allocation.json"
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


def test_a_window_across_two_billing_periods_is_refused(store: Store, tmp_path: Path) -> None:
    def week(document: dict) -> None:
        for allocation in document["data"][0].values():
            allocation["window"] = {"start": "2026-09-28T00:00:00Z", "end": "2026-10-05T00:00:00Z"}

    path = _edited(tmp_path, week)
    assert _refused(store, path) == (
        f"{path}: allocation '__idle__' has the window "
        "2026-09-28T00:00:00Z..2026-10-05T00:00:00Z, which spans two billing periods; a window "
        "must lie within one calendar month (UTC) to be matched with the bill. Query OpenCost "
        "with step=1d (or windows inside a month); nothing was stored."
    )


def test_an_error_response_is_refused(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "allocation.json"
    path.write_text('{\n  "code": 500,\n  "data": null,\n  "message": "Prometheus timeout"\n}\n')
    assert _refused(store, path) == (
        f"{path}: the OpenCost API answered code 500 Prometheus timeout, not allocation data. "
        "Query it again and save a response with code 200."
    )


def test_a_cost_that_is_not_a_number_is_named(store: Store, tmp_path: Path) -> None:
    def text(document: dict) -> None:
        document["data"][1]["search"]["ramCost"] = "1,2465"

    path = _edited(tmp_path, text)
    assert _refused(store, path) == (
        f"{path}: data set 2, allocation 'search', field ramCost: '1,2465' is not a number. Fix "
        "the response and run again."
    )


def test_a_csv_cost_that_is_not_a_number_names_line_and_column(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        EXPORT.read_text(encoding="utf-8").replace(",0.166,", ",n/a,"), encoding="utf-8"
    )
    assert _refused(store, path) == (
        f"{path}: line 6, column RAMCost: 'n/a' is not a number. Fix or remove the value and run "
        "again."
    )


def test_a_csv_row_without_a_date_is_named(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        EXPORT.read_text(encoding="utf-8").replace("2026-10-02,kube-system", ",kube-system"),
        encoding="utf-8",
    )
    assert _refused(store, path) == (
        f"{path}: the row of namespace 'kube-system', pod 'aws-node-9xq2l' has no window (an "
        "empty Date or window); nothing was stored."
    )


def test_a_csv_without_a_cost_column_is_refused(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        EXPORT.read_text(encoding="utf-8").replace("CPUCost,", "CPU,"), encoding="utf-8"
    )
    assert _refused(store, path) == (
        f"{path}: an OpenCost CSV export needs the column CPUCost, which is missing. Export "
        "again and run again."
    )


def test_two_files_with_one_window_are_refused(store: Store, tmp_path: Path) -> None:
    copy = tmp_path / "again.json"
    copy.write_text(API.read_text(encoding="utf-8").replace("1440", "1440.0"), encoding="utf-8")
    with pytest.raises(IngestError) as caught:
        ingest(store, [API, copy])
    assert str(caught.value) == (
        f"{API} and {copy} both hold the window starting 2026-10-01T00:00:00Z of cluster "
        "'prod-eu': ingesting both would count it twice. Give one of them."
    )
    assert lake_snapshot(store.data_dir) == {}


def test_the_cli_refuses_a_bad_window_without_a_traceback(
    cli, data_dir: Path, tmp_path: Path
) -> None:
    def month_end(document: dict) -> None:
        for allocation in document["data"][1].values():
            allocation["window"] = {"start": "2026-10-31T12:00:00Z", "end": "2026-11-01T12:00:00Z"}

    path = _edited(tmp_path, month_end)
    assert cli("ingest", API).exit_code == 0
    before = lake_snapshot(data_dir)
    result = cli("ingest", path)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert " ".join(result.stderr.split()) == (
        f"Error: {path}: allocation '__idle__' has the window "
        "2026-10-31T12:00:00Z..2026-11-01T12:00:00Z, which spans two billing periods; a window "
        "must lie within one calendar month (UTC) to be matched with the bill. Query OpenCost "
        "with step=1d (or windows inside a month); nothing was stored."
    )
    assert lake_snapshot(data_dir) == before
