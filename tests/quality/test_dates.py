"""`check` reports charges outside their billing period (corrections aside) and dates in years
no bill can have, such as one row dated 2034 that would otherwise move "the newest day of
data" ten years ahead."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path

from cloudtally.ingest.pipeline import ingest
from cloudtally.store import Store
from tests.allocate.lake import Line, write_focus_csv
from tests.conftest import Run


def dated_export(path: Path) -> Path:
    """Four rows of one AWS account in 2024-10, each with its own dates."""
    write_focus_csv(
        path,
        [
            Line(period="2024-10", billed="100", service="Compute"),
            Line(period="2024-10", billed="5", service="Late usage"),
            Line(period="2024-10", billed="-2", service="Correction"),
            Line(period="2024-10", billed="3", service="Far future"),
            Line(period="2024-10", billed="7", service="Epoch"),
        ],
    )
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    dates = {
        # charged the day before its billing period
        "Late usage": ("2024-09-30T00:00:00Z", "2024-10-01T00:00:00Z", None),
        # a correction of September: FOCUS allows it
        "Correction": ("2024-09-15T00:00:00Z", "2024-09-16T00:00:00Z", "Correction"),
        # billed in 2034
        "Far future": ("2034-02-28T00:00:00Z", "2034-03-01T00:00:00Z", None),
        # a Unix epoch slipped in
        "Epoch": ("1970-01-01T00:00:00Z", "1970-01-02T00:00:00Z", None),
    }
    for row in rows:
        if row["ServiceName"] in dates:
            start, end, charge_class = dates[row["ServiceName"]]
            row["ChargePeriodStart"], row["ChargePeriodEnd"] = start, end
            row["ChargeClass"] = charge_class or ""
        if row["ServiceName"] == "Far future":
            row["BillingPeriodStart"] = "2034-02-01T00:00:00Z"
            row["BillingPeriodEnd"] = "2034-03-01T00:00:00Z"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_charges_outside_their_period_and_impossible_years(
    store: Store, cli: Callable[..., Run], tmp_path: Path
) -> None:
    ingest(store, [dated_export(tmp_path / "export.csv")])
    result = cli(
        "check",
        "--today",
        "2024-11-02",
        "--only",
        "charges-outside-period,dates-out-of-range",
        "--format",
        "csv",
    )
    assert result.exit_code == 1
    assert result.stdout.splitlines()[1:] == [
        "charges-outside-period,warning,WARN,2,12,USD,aws,payer,,2024-10,ChargePeriodStart,,"
        '"2 charges outside the billing period 2024-10-01..2024-11-01: charged 1970-01-01 '
        '00:00..2024-10-01 00:00, BilledCost 12.00 USD (aws, billing account payer, 2024-10)"',
        "dates-out-of-range,error,FAIL,1,3,USD,aws,payer,,2034-02,BillingPeriodStart,,"
        '"1 row with dates outside 2000..2025 (BillingPeriodStart, BillingPeriodEnd, '
        "ChargePeriodStart, ChargePeriodEnd): 2034-02-01..2034-03-01, BilledCost 3.00 USD "
        '(aws, billing account payer, 2034-02)"',
        "dates-out-of-range,error,FAIL,1,7,USD,aws,payer,,2024-10,ChargePeriodStart,,"
        '"1 row with dates outside 2000..2025 (ChargePeriodStart, ChargePeriodEnd): '
        '1970-01-01..1970-01-02, BilledCost 7.00 USD (aws, billing account payer, 2024-10)"',
    ]
