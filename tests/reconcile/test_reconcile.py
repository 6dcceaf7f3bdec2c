"""Invoice reconciliation on the generated company, with planted differences."""

from __future__ import annotations

import csv
import json
import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from cloudtally.ingest.pipeline import ingest
from cloudtally.sample import generate_sample
from cloudtally.store import Store
from tests.conftest import lake_snapshot

HEADER = ["InvoiceId", "BillingAccountId", "period", "currency", "amount", "tax", "credits", "line"]


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("acme")
    generate_sample(root / "exports", months=2, scale=0.1, seed=11)
    ingest(Store(root / "lake"), [root / "exports"])
    return root


@pytest.fixture
def lake(company: Path, tmp_path: Path) -> Path:
    target = tmp_path / "lake"
    shutil.copytree(company / "lake", target)
    return target


def _truth(lake: Path) -> dict[str, dict[str, Decimal]]:
    rows = (
        Store(lake)
        .sql(
            """SELECT InvoiceId, any_value(BillingAccountId), any_value(x_BillingPeriod),
                  sum(BilledCost),
                  coalesce(sum(BilledCost) FILTER (WHERE ChargeCategory = 'Tax'), 0),
                  coalesce(sum(BilledCost) FILTER (WHERE ChargeCategory = 'Credit'), 0),
                  coalesce(sum(BilledCost) FILTER (WHERE ChargeClass = 'Correction'), 0)
           FROM costs GROUP BY 1 ORDER BY 1"""
        )
        .rows
    )
    return {
        r[0]: {
            "account": r[1],
            "period": r[2],
            "total": r[3],
            "tax": r[4],
            "credits": r[5],
            "corrections": r[6],
        }
        for r in rows
    }


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=HEADER)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in HEADER})
    return path


CENT = Decimal("0.01")


def test_planted_differences_are_explained_to_the_cent(lake: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    truth = _truth(lake)
    aws, azure, gcp = (next(i for i in truth if i.startswith(p)) for p in ("EUINUS", "G0", "33"))
    invoices = []
    # AWS: the invoice was issued before the late correction arrived, rounded to the cent.
    t = truth[aws]
    invoices.append(
        {
            "InvoiceId": aws,
            "BillingAccountId": t["account"],
            "period": t["period"],
            "currency": "USD",
            "amount": (t["total"] - t["corrections"]).quantize(CENT),
            "line": "all",
        }
    )
    # Azure: a credit of 100 applied on the invoice only.
    t = truth[azure]
    invoices.append(
        {
            "InvoiceId": azure,
            "BillingAccountId": t["account"],
            "period": t["period"],
            "currency": "USD",
            "amount": (t["total"] - 100).quantize(CENT),
            "credits": t["credits"] - 100,
        }
    )
    # GCP: 50 of tax the export does not carry.
    t = truth[gcp]
    invoices.append(
        {
            "InvoiceId": gcp,
            "BillingAccountId": t["account"],
            "period": t["period"],
            "currency": "USD",
            "amount": (t["total"] + 50).quantize(CENT),
            "tax": t["tax"] + 50,
        }
    )
    path = _write(tmp_path / "invoices.csv", invoices)
    result = cli("reconcile", "--invoices", path, "--tolerance", "0.01", "-f", "json", data=lake)
    assert result.exit_code == 0, result.output
    found = {r["InvoiceId"]: r for r in json.loads(result.stdout)}
    assert found[aws]["later_corrections"] == format(-truth[aws]["corrections"].normalize(), "f")
    assert found[azure]["credits_not_in_export"] == "-100"
    assert found[gcp]["tax_not_in_export"] == "50"
    for row in found.values():
        assert row["status"] == "explained"
        assert Decimal(row["residue"]) == 0
        parts = [
            Decimal(row[p])
            for p in (
                "tax_not_in_export",
                "credits_not_in_export",
                "later_corrections",
                "marketplace",
                "rounding",
                "currency_conversion",
            )
        ]
        assert sum(parts) == Decimal(row["difference"])
        assert abs(Decimal(row["rounding"])) <= Decimal("0.005")


def test_an_unexplained_difference_fails_the_gate(lake: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    truth = _truth(lake)
    invoice_id, t = next(iter(truth.items()))
    planted = (t["total"] / 100).quantize(CENT)  # 1% of the invoice: over the 0.5% default
    path = _write(
        tmp_path / "inv.csv",
        [
            {
                "InvoiceId": invoice_id,
                "BillingAccountId": t["account"],
                "period": t["period"],
                "currency": "USD",
                "amount": t["total"] + planted,
            }
        ],
    )
    result = cli("reconcile", "--invoices", path, "-f", "json", data=lake)
    assert result.exit_code == 1
    row = json.loads(result.stdout)[0]
    assert (Decimal(row["residue"]), row["status"]) == (planted, "open")
    # Within a wide enough tolerance it passes.
    assert cli("reconcile", "--invoices", path, "--tolerance", "2%", data=lake).exit_code == 0


def test_a_restated_period_shows_what_changed(
    lake: Path, company: Path, tmp_path: Path, cli
) -> None:  # type: ignore[no-untyped-def]
    truth = _truth(lake)
    gcp = next(i for i in truth if i.startswith("33"))
    t = truth[gcp]
    # The invoice was issued before any correction arrived.
    path = _write(
        tmp_path / "inv.csv",
        [
            {
                "InvoiceId": gcp,
                "BillingAccountId": t["account"],
                "period": t["period"],
                "currency": "USD",
                "amount": t["total"] - t["corrections"],
            }
        ],
    )
    first = json.loads(cli("reconcile", "--invoices", path, "-f", "json", data=lake).stdout)[0]
    assert (first["later_corrections"], first["status"], first["since_last"]) == (
        format(-t["corrections"].normalize(), "f"),
        "explained",
        None,
    )
    # A restated delivery of GCP's period: one correction of -10 more.
    source = company / "exports" / "gcp" / f"{t['period']}.parquet"
    restated = tmp_path / "restated" / source.name
    restated.parent.mkdir()
    con = duckdb.connect()
    con.execute(
        f"COPY (SELECT * FROM read_parquet('{source}') UNION ALL "
        f"(SELECT * REPLACE (CAST(-10 AS DECIMAL(38, 18)) AS BilledCost, 'Correction' AS ChargeClass) "
        f"FROM read_parquet('{source}') LIMIT 1)) TO '{restated}' (FORMAT parquet)"
    )
    ingest(Store(lake), [restated])
    second = json.loads(cli("reconcile", "--invoices", path, "-f", "json", data=lake).stdout)[0]
    assert Decimal(second["lake_amount"]) == t["total"] - 10
    # The new correction is explained too, and the change since the last run is named.
    assert (second["later_corrections"], second["status"]) == (
        format(-(t["corrections"] - 10).normalize(), "f"),
        "explained",
    )
    assert second["since_last"].startswith(
        f"lake {t['total'].normalize():f} -> {(t['total'] - 10).normalize():f} (generation "
    )
    assert second["since_last"].endswith("), explained -> explained")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("InvoiceId,BillingAccountId,period,amount\nI1,A,2024-09,1\n",
         "the header has no column 'currency'. Invoice files need the columns InvoiceId, BillingAccountId, period, currency, amount (and optionally tax, credits, fx_rate, line)."),
        ("InvoiceId,BillingAccountId,period,currency,amount\nI1,A,2024-09,USD,1\nI1,A,2024-09,USD,2\n",
         ":row 3: invoice 'I1' is also on row 2; give each invoice (or invoice line) once."),
        ("InvoiceId,BillingAccountId,period,currency,amount\nI1,A,2024-09,USD,one\n",
         ":row 2: amount 'one' is not a number."),
        ("InvoiceId,BillingAccountId,period,currency,amount\nI1,A,2024-9,USD,1\n",
         ":row 2: period '2024-9' is not YYYY-MM."),
    ],
)  # fmt: skip
def test_bad_invoice_files(lake: Path, tmp_path: Path, cli, text: str, message: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    before = lake_snapshot(lake)
    result = cli("reconcile", "--invoices", path, data=lake)
    assert result.exit_code == 1
    assert result.stderr.strip().startswith(f"Error: {path}")
    assert result.stderr.strip().endswith(message)
    assert lake_snapshot(lake) == before


def test_a_currency_the_lake_does_not_have(lake: Path, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    truth = _truth(lake)
    invoice_id, t = next(iter(truth.items()))
    path = _write(
        tmp_path / "inv.csv",
        [
            {
                "InvoiceId": invoice_id,
                "BillingAccountId": t["account"],
                "period": t["period"],
                "currency": "EUR",
                "amount": "1",
            }
        ],
    )
    result = cli("reconcile", "--invoices", path, data=lake)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: Invoice {invoice_id} is in EUR but the lake holds USD for billing account "
        f"{t['account']} in {t['period']}: give the invoice's fx_rate (invoice currency per USD) "
        "to reconcile across currencies."
    )
