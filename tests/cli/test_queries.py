"""costs, movers and export from the CLI, with exact values from the FOCUS 1.0 sample."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from tests.conftest import FOCUS_10


@pytest.fixture
def loaded(cli):  # type: ignore[no-untyped-def]
    assert cli("ingest", FOCUS_10).exit_code == 0
    return cli


def test_costs_by_provider_json_is_exact(loaded) -> None:
    result = loaded("costs", "--by", "provider", "--format", "json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [(r["provider"], r["currency"], r["BilledCost"]) for r in rows] == [
        ("aws", "USD", "18.0066386184"),
        ("azure", "USD", "1.97651418586"),
        ("oci", "USD", "0.53707392473"),
    ]
    assert sum(Decimal(r["BilledCost"]) for r in rows) == Decimal("20.52022672899")
    assert round(sum(r["share"] for r in rows), 12) == 1.0


def test_costs_by_service_and_account_for_a_period_csv(loaded) -> None:
    result = loaded(
        "costs", "--by", "service,account", "--period", "2024-09", "--top", "2", "-f", "csv"
    )
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["service"], r["account"], r["account_name"], r["BilledCost"]) for r in rows] == [
        ("Amazon Elastic Compute Cloud", "11353890204", "Atlas Orion", "13.5747215333"),
        (
            "Azure Kubernetes Service",
            "/subscriptions/ed570627-0265-4620-bb42-bae06bcfa914",
            "Atlas Orion",
            "1.58088",
        ),
        ("(other 217)", "", "", "5.12462519569"),
    ]
    total = sum(Decimal(r["BilledCost"]) for r in rows)
    assert total == Decimal("20.52022672899") - Decimal("0.24")  # 2024-10 is one OCI row


def test_costs_effective_cost_and_table(loaded) -> None:
    result = loaded("costs", "--by", "provider", "--metric", "effectivecost")
    assert result.exit_code == 0
    assert "EffectiveCost by provider (total USD 14.98)" in result.stdout
    assert "│ aws      │ USD      │         13.00 │ 86.8% │" in result.stdout


def test_costs_by_tag(loaded) -> None:
    rows = json.loads(loaded("costs", "--by", "tag:environment", "-f", "json").stdout)
    assert [(r["tag:environment"], r["BilledCost"]) for r in rows] == [
        ("dev", "18.20324140013"),
        ("prod", "2.0428208422"),
        (None, "0.27416448666"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--by", "servce"], "Error: Unknown dimension 'servce'. Did you mean 'service'?"),
        (["--period", "2024-13"], "Error: --period '2024-13' is not a date range: use YYYY-MM, YYYY-MM..YYYY-MM, YYYY-MM-DD..YYYY-MM-DD, YYYY-Www or YYYY-Www..YYYY-Www."),
        (["--metric", "BilledCosts"], "Error: Unknown metric 'BilledCosts'. Did you mean 'BilledCost'?"),
    ],
)  # fmt: skip
def test_costs_bad_options(loaded, args: list[str], message: str) -> None:
    result = loaded("costs", *args)
    assert result.exit_code == 1
    assert result.stderr.startswith(message)


def test_movers_between_periods(loaded) -> None:
    rows = json.loads(
        loaded("movers", "--by", "provider", "--period", "2024-10", "-f", "json").stdout
    )
    assert [(r["provider"], r["2024-09"], r["2024-10"], r["change"]) for r in rows] == [
        ("aws", "18.0066386184", "0", "-18.0066386184"),
        ("azure", "1.97651418586", "0", "-1.97651418586"),
        ("oci", "0.29707392473", "0.24", "-0.05707392473"),
    ]


def test_export_keeps_every_cost_exact(loaded, tmp_path: Path) -> None:
    folder = tmp_path / "out"
    result = loaded("export", "--focus-version", "1.2", folder)
    assert result.exit_code == 0
    names = sorted(p.name for p in folder.iterdir() if p.name != ".cloudtally-export.json")
    assert names == [
        "focus-1.2-aws-2024-09.parquet",
        "focus-1.2-azure-2024-09.parquet",
        "focus-1.2-oci-2024-09.parquet",
        "focus-1.2-oci-2024-10.parquet",
    ]
    con = duckdb.connect()
    total = con.execute(f"SELECT sum(BilledCost), count(*) FROM '{folder}/*.parquet'").fetchall()
    assert total == [(Decimal("20.520226728990000000"), 1000)]
    single = tmp_path / "all.csv"
    assert loaded("export", single).exit_code == 0
    with open(single, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert sum(Decimal(r["BilledCost"]) for r in rows) == Decimal("20.52022672899")
    assert rows[0]["ChargePeriodStart"].endswith("Z") and "T" in rows[0]["ChargePeriodStart"]
    assert list(rows[0])[:3] == ["ProviderName", "PublisherName", "InvoiceIssuerName"]


def test_export_refuses_to_overwrite_and_unsupported_versions(loaded, tmp_path: Path) -> None:
    out = tmp_path / "x.parquet"
    out.write_text("keep me")
    result = loaded("export", out)
    assert result.exit_code == 1
    assert (
        result.stderr == f"Error: {out} already exists; choose another path or pass --overwrite.\n"
    )
    assert out.read_text() == "keep me"
    result = loaded("export", "--focus-version", "1.3", tmp_path / "y")
    assert result.stderr == "Error: Export to FOCUS 1.3 is not supported; supported: 1.2.\n"
