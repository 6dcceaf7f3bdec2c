"""Property tests: whatever the rows, ingest conserves every cost to the last digit, a second
ingest changes nothing, and export -> ingest round-trips the totals."""

from __future__ import annotations

import csv
import json
import tempfile
from collections import defaultdict
from decimal import Context, Decimal, localcontext
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudtally.export.focus import export_focus
from cloudtally.focus.spec import columns
from cloudtally.ingest.pipeline import ingest
from cloudtally.store import Store

HEADER = [c for c, col in columns("1.2").items() if col.mandatory] + ["Tags", "SubAccountId"]
PROVIDERS = {"AWS": "aws", "Microsoft": "azure"}

WIDE = Context(prec=80)  # the default context's 28 digits would round the sums below

# Up to 1e17 with 18 decimals: 35 significant digits, as a VND or IDR line has. 30 rows of them
# sum below 10^20, the most DECIMAL(38,18) holds.
money = st.decimals(
    min_value=Decimal("-1e17"), max_value=Decimal("1e17"), places=18, allow_nan=False
).map(lambda d: d.normalize(WIDE) if d == d.to_integral() else d)

row = st.fixed_dictionaries(
    {
        "ProviderName": st.sampled_from(sorted(PROVIDERS)),
        "BillingAccountId": st.sampled_from(["0001", "42", "acct-a"]),
        "BillingPeriodStart": st.sampled_from(["2024-08-01T00:00:00Z", "2024-09-01T00:00:00Z"]),
        "BillingCurrency": st.sampled_from(["USD", "EUR"]),
        "BilledCost": money,
        "EffectiveCost": money,
        "Tags": st.dictionaries(st.sampled_from(["team", "Team", "env"]), st.text(max_size=5), max_size=2),
    }
)  # fmt: skip


def write_csv(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=HEADER)
        writer.writeheader()
        for r in rows:
            start = r["BillingPeriodStart"]
            end = "2024-09-01T00:00:00Z" if start.startswith("2024-08") else "2024-10-01T00:00:00Z"
            writer.writerow(
                {
                    **{c: "x" for c in HEADER},
                    "ProviderName": r["ProviderName"],
                    "PublisherName": r["ProviderName"],
                    "InvoiceIssuerName": r["ProviderName"],
                    "BillingAccountId": r["BillingAccountId"],
                    "BillingPeriodStart": start,
                    "BillingPeriodEnd": end,
                    "ChargePeriodStart": start,
                    "ChargePeriodEnd": start.replace("T00", "T01"),
                    "BillingCurrency": r["BillingCurrency"],
                    "BilledCost": str(r["BilledCost"]),
                    "EffectiveCost": str(r["EffectiveCost"]),
                    "ListCost": "0",
                    "ContractedCost": "0",
                    "PricingQuantity": "1",
                    "ChargeCategory": "Usage",
                    "ServiceCategory": "Compute",
                    "Tags": json.dumps(r["Tags"]),
                    "SubAccountId": "sub-" + r["BillingAccountId"],
                }
            )


def expected_totals(rows: list[dict]) -> dict:
    with localcontext(WIDE):
        return _expected_totals(rows)


def _expected_totals(rows: list[dict]) -> dict:
    totals: dict = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for r in rows:
        key = (
            PROVIDERS[r["ProviderName"]],
            r["BillingAccountId"],
            r["BillingPeriodStart"][:7],
            r["BillingCurrency"],
        )
        totals[key][0] += r["BilledCost"]
        totals[key][1] += r["EffectiveCost"]
    return {k: (v[0], v[1]) for k, v in totals.items()}


def lake_totals(store: Store) -> dict:
    rows = store.sql(
        "SELECT x_Provider, BillingAccountId, x_BillingPeriod, BillingCurrency, "
        "sum(BilledCost), sum(EffectiveCost) FROM costs GROUP BY ALL"
    ).fetchall()
    return {tuple(r[:4]): (r[4], r[5]) for r in rows}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(row, min_size=1, max_size=30))
def test_ingest_conserves_every_cost(rows: list[dict]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "export.csv"
        write_csv(source, rows)
        store = Store(Path(tmp) / "lake")
        ingest(store, [source])
        assert lake_totals(store) == expected_totals(rows)

        generation = store.catalog().generation
        report = ingest(store, [source])
        assert report.stored == [] and store.catalog().generation == generation

        exported = Path(tmp) / "roundtrip.parquet"
        export_focus(store, exported)
        again = Store(Path(tmp) / "lake2")
        ingest(again, [exported])
        assert lake_totals(again) == expected_totals(rows)


@settings(max_examples=10, deadline=None)
@given(first=st.lists(row, min_size=1, max_size=10), second=st.lists(row, min_size=1, max_size=10))
def test_a_restated_delivery_replaces_exactly_its_account_periods(
    first: list[dict], second: list[dict]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        a, b = Path(tmp) / "a.csv", Path(tmp) / "b.csv"
        write_csv(a, first)
        write_csv(b, second)
        store = Store(Path(tmp) / "lake")
        ingest(store, [a])
        ingest(store, [b])
        replaced = {k[:3] for k in expected_totals(second)}
        kept = {k: v for k, v in expected_totals(first).items() if k[:3] not in replaced}
        assert lake_totals(store) == kept | expected_totals(second)
