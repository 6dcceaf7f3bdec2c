"""Bills read through a mapping file (`ingest --mapping`): the two shipped examples as golden
rows and exact totals, CSV and Parquet alike, and every bad input as one message naming the
file, row and column, with nothing stored changed."""

from __future__ import annotations

import csv
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from cloudtally.errors import RuleError
from cloudtally.focus.validator import VALIDATOR_QUIRKS, default_validator, run_validator
from cloudtally.ingest.mapping import load_mapping
from cloudtally.ingest.pipeline import ingest
from cloudtally.store import Store
from tests.conftest import ROOT, lake_snapshot
from tests.ingest.formats.test_azure import canonical, focus_rows, rewrite_csv

EXAMPLES = ROOT / "examples" / "mappings"
SAAS = EXAMPLES / "saas-monitoring.csv"
SAAS_MAPPING = EXAMPLES / "saas-monitoring.yaml"
PLATFORM = EXAMPLES / "platform-chargeback.csv"
PLATFORM_MAPPING = EXAMPLES / "platform-chargeback.yaml"

SKYLINE = {
    "ProviderName": "Skyline Monitoring",
    "PublisherName": "Skyline Monitoring",
    "InvoiceIssuerName": "Skyline Monitoring",
    "BillingAccountId": "org-4417",
    "BillingAccountName": "Globex Observability",
    "BillingAccountType": "Organization",
    "BillingPeriodStart": "2026-10-01T00:00:00Z",
    "BillingPeriodEnd": "2026-11-01T00:00:00Z",
    "BillingCurrency": "USD",
    "ServiceCategory": "Management and Governance",
    "ServiceSubcategory": "Observability",
}
APM_SPANS = {
    **SKYLINE,
    "ChargePeriodStart": "2026-10-01T00:00:00Z",
    "ChargePeriodEnd": "2026-10-02T00:00:00Z",
    "ChargeCategory": "Usage",
    "ChargeDescription": "APM - apm_spans",
    "ChargeFrequency": "Usage-Based",
    "BilledCost": Decimal("21.25"),
    "EffectiveCost": Decimal("21.25"),
    "ListCost": Decimal("25.5"),
    "ContractedCost": Decimal("21.25"),
    "ContractedUnitPrice": Decimal("1.70"),
    "PricingCategory": "Standard",
    "PricingQuantity": Decimal("12.5"),
    "PricingUnit": "1000000 Spans",  # million_spans
    "ConsumedQuantity": Decimal("12.5"),
    "ConsumedUnit": "1000000 Spans",
    "ServiceName": "APM",
    "SkuId": "apm_spans",
    "Tags": {"team": "payments", "env": "staging"},
    "x_SourceFormat": "mapping:saas-monitoring",
    "x_Usage_Type": "apm_spans",
}
GOODWILL_CREDIT = {
    **SKYLINE,
    "ChargePeriodStart": "2026-10-15T00:00:00Z",
    "ChargePeriodEnd": "2026-10-16T00:00:00Z",
    "ChargeCategory": "Credit",
    "ChargeDescription": "Credit - goodwill_credit",
    "ChargeFrequency": "One-Time",
    "BilledCost": Decimal("-25"),
    "EffectiveCost": Decimal("-25"),
    "ListCost": Decimal("0"),
    "ContractedCost": Decimal("-25"),
    "ServiceName": "Credit",
    "SkuId": "goodwill_credit",
    "x_SourceFormat": "mapping:saas-monitoring",
    "x_Usage_Type": "goodwill_credit",
}
PLATFORM_FEE = {
    "ProviderName": "Internal Platform",
    "PublisherName": "Internal Platform",
    "InvoiceIssuerName": "Internal Platform",
    "BillingAccountId": "CC-3400",
    "BillingAccountType": "Cost Center",
    "SubAccountId": "search",
    "SubAccountName": "search",
    "SubAccountType": "Team",
    "BillingPeriodStart": "2026-10-01T00:00:00Z",
    "BillingPeriodEnd": "2026-11-01T00:00:00Z",
    "ChargePeriodStart": "2026-10-01T00:00:00Z",
    "ChargePeriodEnd": "2026-11-01T00:00:00Z",
    "ChargeCategory": "Usage",
    "ChargeDescription": "Shared Platform Fee (flat)",
    "ChargeFrequency": "Recurring",
    "BilledCost": Decimal("150"),
    "EffectiveCost": Decimal("150"),
    "ListCost": Decimal("150"),
    "ContractedCost": Decimal("150"),
    "ContractedUnitPrice": Decimal("150"),
    "PricingQuantity": Decimal("1"),
    "PricingUnit": "Months",  # flat
    "BillingCurrency": "EUR",
    "ServiceName": "Shared Platform Fee",
    "ServiceCategory": "Other",
    "ServiceSubcategory": "Other (Other)",
    "ResourceId": "Shared Platform Fee",
    "Tags": {"team": "search", "cost_center": "CC-3400"},
    "x_SourceFormat": "mapping:platform-chargeback",
}
EXTRA = ("x_SourceFormat", "x_Usage_Type")


def bill_totals(path: Path, account: str, month: str, cost: str) -> dict[tuple[str, str], Decimal]:
    """Sum of the cost column per account and month, computed here from the CSV text."""
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    with open(path, encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            totals[(row[account], row[month][:7])] += Decimal(row[cost])
    return dict(totals)


def lake_totals(store: Store) -> dict[tuple[str, str], tuple[Decimal, Decimal, int]]:
    rows = store.sql(
        "SELECT BillingAccountId, x_BillingPeriod, sum(BilledCost), sum(EffectiveCost), count(*) "
        "FROM costs GROUP BY ALL"
    ).fetchall()
    return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}


# -- golden rows and totals ------------------------------------------------------------------


def test_saas_monitoring_golden_rows(store: Store) -> None:
    ingest(store, [SAAS], mapping=load_mapping(SAAS_MAPPING))
    assert focus_rows(store, "SkuId = 'apm_spans'", EXTRA) == [APM_SPANS]
    assert focus_rows(store, "ChargeCategory = 'Credit'", EXTRA) == [GOODWILL_CREDIT]


def test_saas_monitoring_totals_are_the_bills_to_the_last_digit(store: Store) -> None:
    ingest(store, [SAAS], mapping=load_mapping(SAAS_MAPPING))
    expected = bill_totals(SAAS, "Account ID", "Usage Date", "Cost")
    assert expected == {
        ("org-4417", "2026-10"): Decimal("298.0937"),
        ("org-9021", "2026-10"): Decimal("2.9568"),
    }
    assert lake_totals(store) == {
        ("org-4417", "2026-10"): (Decimal("298.0937"), Decimal("298.0937"), 7),
        ("org-9021", "2026-10"): (Decimal("2.9568"), Decimal("2.9568"), 1),
    }
    units = store.sql("SELECT DISTINCT PricingUnit FROM costs ORDER BY ALL").fetchall()
    assert units == [("1000000 Spans",), ("GB",), ("Hours",), ("Metrics",), (None,)]


def test_platform_chargeback_golden_row_and_totals(store: Store) -> None:
    report = ingest(store, [PLATFORM], mapping=load_mapping(PLATFORM_MAPPING))
    assert report.formats == {"mapping:platform-chargeback": 1}
    assert focus_rows(store, "SkuId IS NULL AND PricingUnit = 'Months'", ("x_SourceFormat",)) == [
        PLATFORM_FEE
    ]
    expected = bill_totals(PLATFORM, "cost_center", "month", "charge_eur")
    assert expected == {
        ("CC-1200", "2026-10"): Decimal("1071.902425"),
        ("CC-3400", "2026-10"): Decimal("291.6576"),
        ("CC-1200", "2026-11"): Decimal("449.28"),
    }
    assert lake_totals(store) == {
        ("CC-1200", "2026-10"): (Decimal("1071.902425"), Decimal("1071.902425"), 4),
        ("CC-3400", "2026-10"): (Decimal("291.6576"), Decimal("291.6576"), 3),
        ("CC-1200", "2026-11"): (Decimal("449.28"), Decimal("449.28"), 1),
    }
    assert report.totals == {
        "EUR": {"BilledCost": Decimal("1812.840025"), "EffectiveCost": Decimal("1812.840025")}
    }


def test_a_parquet_bill_gives_the_same_rows(store: Store, tmp_path: Path) -> None:
    parquet = tmp_path / "platform-chargeback.parquet"
    # Typed as a data platform would write it: the money as DECIMAL, the quantities as DOUBLE
    # (read through their shortest text, so 14880.5 stays 14880.5).
    duckdb.sql(
        f"COPY (SELECT * REPLACE (CAST(units AS DOUBLE) AS units, "
        f"CAST(charge_eur AS DECIMAL(18,6)) AS charge_eur) FROM read_csv('{PLATFORM}', "
        f"all_varchar = true)) TO '{parquet}' (FORMAT parquet)"
    )
    ingest(store, [parquet], mapping=load_mapping(PLATFORM_MAPPING))
    row = focus_rows(store, "SkuId IS NULL AND PricingUnit = 'Months'", ("x_SourceFormat",))
    assert row == [PLATFORM_FEE]
    assert lake_totals(store)[("CC-1200", "2026-10")] == (
        Decimal("1071.902425"),
        Decimal("1071.902425"),
        4,
    )
    quantity = store.sql(
        "SELECT PricingQuantity FROM costs WHERE PricingUnit = 'vCPU-Hours' "
        "AND x_BillingPeriod = '2026-10' AND BillingAccountId = 'CC-1200'"
    ).fetchall()
    assert quantity == [(Decimal("14880.5"),)]


def test_cli_ingest_with_a_mapping(cli) -> None:
    result = cli("ingest", "--mapping", SAAS_MAPPING, SAAS)
    assert result.exit_code == 0, result.output
    assert "mapping:saas-monitoring x1" in result.stdout
    assert "8 rows" in result.stdout
    total = cli("sql", "SELECT sum(BilledCost) FROM costs")
    assert total.stdout.strip() == canonical("301.0505").normalize().to_eng_string()


def test_mapping_and_format_together_are_refused(cli) -> None:
    result = cli("ingest", "--mapping", SAAS_MAPPING, "--format", "focus", SAAS)
    assert result.exit_code == 2
    assert "Give --mapping or --format, not both." in result.output


@pytest.mark.validator
@pytest.mark.parametrize(
    ("mapping", "bill"),
    [(SAAS_MAPPING, SAAS), (PLATFORM_MAPPING, PLATFORM)],
    ids=["saas", "platform"],
)
def test_mapped_bills_pass_the_focus_validator(
    cli, tmp_path: Path, mapping: Path, bill: Path
) -> None:
    validator = default_validator()
    if validator is None:
        pytest.skip("focus-validator not installed (run `make validator`; needs Python 3.12)")
    assert cli("ingest", "--mapping", mapping, bill).exit_code == 0
    exported = tmp_path / "export.parquet"
    assert cli("export", "--focus-version", "1.2", exported).exit_code == 0
    failures = set(run_validator(exported, validator).failures) - set(VALIDATOR_QUIRKS)
    assert failures == {"InvoiceId-C-005-C"}  # neither bill has an invoice id


# -- bad input: one message, nothing stored changes --------------------------------------------


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _mapping_without(tmp_path: Path, source: Path, key: str) -> Path:
    """A copy of a mapping with the line starting `key` removed."""
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if not line.lstrip().startswith(f"{key}:")]
    assert len(kept) == len(lines) - 1
    return _write(tmp_path, source.name, "".join(kept))


def _refused(cli, data_dir: Path, *args: str | Path) -> str:
    """Run an ingest that must fail after a good one; the lake must not change."""
    assert cli("ingest", "--mapping", PLATFORM_MAPPING, PLATFORM).exit_code == 0
    before = lake_snapshot(data_dir)
    result = cli("ingest", *args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert lake_snapshot(data_dir) == before
    return " ".join(result.stderr.split())


def test_a_mapping_leaving_a_mandatory_column_empty_is_refused(
    cli, data_dir: Path, tmp_path: Path
) -> None:
    mapping = _mapping_without(tmp_path, SAAS_MAPPING, "ServiceName")
    message = _refused(cli, data_dir, "--mapping", mapping, SAAS)
    assert message == (
        f"Error: 1 problem in {mapping}: {mapping}:23: columns: the mapping leaves the mandatory "
        "FOCUS column ServiceName empty; give each under `columns` (an expression) or "
        "`constants` (a value)"
    )


def test_a_row_where_a_mandatory_column_is_empty_is_named(
    cli, data_dir: Path, tmp_path: Path
) -> None:
    def blank(header: list[str], rows: list[list[str]]) -> None:
        rows[4][header.index("platform_service")] = ""

    bill = rewrite_csv(PLATFORM, tmp_path / "bill.csv", blank)
    message = _refused(cli, data_dir, "--mapping", PLATFORM_MAPPING, bill)
    assert message == (
        f"Error: {bill}: data row 5 (line 6), column ServiceName: is empty; FOCUS requires "
        f"ServiceName on every row. Give it a value on that row, or change {PLATFORM_MAPPING}:33: "
        "columns.ServiceName: `platform_service`; then run again."
    )


def test_a_blank_value_in_a_mandatory_column_is_empty(cli, data_dir: Path, tmp_path: Path) -> None:
    def blank(header: list[str], rows: list[list[str]]) -> None:
        rows[1][header.index("cost_center")] = "  "

    bill = rewrite_csv(PLATFORM, tmp_path / "bill.csv", blank)
    message = _refused(cli, data_dir, "--mapping", PLATFORM_MAPPING, bill)
    assert message.startswith(
        f"Error: {bill}: data row 2 (line 3), column BillingAccountId: is empty; FOCUS requires "
        "BillingAccountId on every row."
    )


def test_an_unknown_source_column_is_named_with_its_likely_name(
    cli, data_dir: Path, tmp_path: Path
) -> None:
    text = PLATFORM_MAPPING.read_text(encoding="utf-8").replace(
        "BilledCost: charge_eur", "BilledCost: charge_euro"
    )
    mapping = _write(tmp_path, "chargeback.yaml", text)
    message = _refused(cli, data_dir, "--mapping", mapping, PLATFORM)
    assert message.startswith(
        f"Error: {mapping}:29: columns.BilledCost: column 'charge_euro' is not in {PLATFORM}. "
        "Did you mean 'charge_eur'? The bill's columns: month, cost_center, team, "
    )
    assert message.endswith("Fix the mapping (or the bill) and run again.")


def test_a_non_numeric_cost_is_named_with_file_row_and_column(
    cli, data_dir: Path, tmp_path: Path
) -> None:
    def bad(header: list[str], rows: list[list[str]]) -> None:
        rows[2][header.index("charge_eur")] = "323,64"

    bill = rewrite_csv(PLATFORM, tmp_path / "bill.csv", bad)
    message = _refused(cli, data_dir, "--mapping", PLATFORM_MAPPING, bill)
    assert message == (
        f"Error: {bill}: data row 3 (line 4), column charge_eur: '323,64' is not a number, as "
        f"mapping {PLATFORM_MAPPING} reads it. Fix the value (or the mapping's `types`) and run "
        "again."
    )


def test_a_value_focus_does_not_allow_is_named(cli, data_dir: Path, tmp_path: Path) -> None:
    text = PLATFORM_MAPPING.read_text(encoding="utf-8").replace(
        "ChargeCategory: Usage", "ChargeCategory: Consumption"
    )
    mapping = _write(tmp_path, "chargeback.yaml", text)
    message = _refused(cli, data_dir, "--mapping", mapping, PLATFORM)
    assert message == (
        f"Error: {PLATFORM}: data row 1 (line 2), column ChargeCategory: 'Consumption' is not one "
        "of FOCUS's values (Usage, Purchase, Tax, Credit, Adjustment). Fix "
        f"{mapping}:15: constants.ChargeCategory:; then run again."
    )


def test_a_currency_that_is_not_a_code_is_refused(tmp_path: Path) -> None:
    text = PLATFORM_MAPPING.read_text(encoding="utf-8").replace("currency: EUR", "currency: euro")
    mapping = _write(tmp_path, "chargeback.yaml", text)
    with pytest.raises(RuleError) as caught:
        load_mapping(mapping)
    assert str(caught.value) == (
        f"1 problem in {mapping}:\n  {mapping}:17: currency: String should match pattern "
        "'^[A-Z]{3}$'"
    )


def test_mapping_problems_are_all_reported_with_their_lines(tmp_path: Path) -> None:
    mapping = _write(
        tmp_path,
        "bad.yaml",
        "name: bad\n"
        "constants:\n"
        "  ProviderName: Acme\n"
        "  BilledCosts: '1'\n"
        "columns:\n"
        "  BilledCost: read_csv('/etc/passwd')\n"
        "  ServiceName: product; DROP TABLE costs\n"
        "colums: {}\n",
    )
    with pytest.raises(RuleError) as caught:
        load_mapping(mapping)
    assert str(caught.value).splitlines() == [
        f"1 problem in {mapping}:",
        f"  {mapping}:8: colums: unknown key (check its spelling)",
    ]
    mapping.write_text(
        mapping.read_text(encoding="utf-8").replace("colums: {}\n", ""), encoding="utf-8"
    )
    with pytest.raises(RuleError) as caught:
        load_mapping(mapping)
    problems = str(caught.value).splitlines()
    assert problems[1:4] == [
        f"  {mapping}:4: constants.BilledCosts: not a FOCUS 1.2 column; did you mean BilledCost?",
        f"  {mapping}:6: columns.BilledCost: `read_csv(...)` is not an allowed function. Allowed: "
        "abs, ceil, coalesce, concat, concat_ws, date_trunc, floor, greatest, last_day, least, "
        "left, length, lower, ltrim, make_date, nullif, regexp_extract, regexp_replace, replace, "
        "right, round, rtrim, split_part, strftime, strptime, substring, trim, try_strptime, upper",
        f"  {mapping}:7: columns.ServiceName: comments and `;` are not allowed in an expression; "
        "write one expression",
    ]
    assert problems[4:] == [
        f"  {mapping}:6: columns: the mapping leaves the mandatory FOCUS columns "
        "BillingAccountId, BillingPeriodStart, BillingPeriodEnd, ChargePeriodStart, "
        "ChargePeriodEnd, ChargeCategory, BillingCurrency, ServiceCategory empty; give each "
        "under `columns` (an expression) or `constants` (a value)"
    ]
    assert problems[0] == f"4 problems in {mapping}:"


def test_an_expression_duckdb_cannot_compute_names_the_column(
    cli, data_dir: Path, tmp_path: Path
) -> None:
    text = PLATFORM_MAPPING.read_text(encoding="utf-8").replace(
        "ResourceName: cluster", "ResourceName: upper(units)"
    )
    mapping = _write(tmp_path, "chargeback.yaml", text)
    message = _refused(cli, data_dir, "--mapping", mapping, PLATFORM)
    assert message.startswith(
        f"Error: {mapping}:41: columns.ResourceName: `upper(units)` cannot be computed on "
        f"{PLATFORM}: Binder Error: No function matches the given name and argument types "
        "'upper(DECIMAL(38,18))'."
    )
    assert message.endswith(
        "Check it against the types the bill's columns are read as (`types:`; a column that "
        "alone gives a cost or a time is read as one), fix it and run again."
    )


def test_a_bill_with_a_header_and_no_rows_is_refused(cli, data_dir: Path, tmp_path: Path) -> None:
    bill = _write(
        tmp_path, "empty.csv", PLATFORM.read_text(encoding="utf-8").splitlines()[0] + "\n"
    )
    message = _refused(cli, data_dir, "--mapping", PLATFORM_MAPPING, bill)
    assert message == f"Error: {bill}: the file has a header but no rows. Re-download the export."


def test_re_ingesting_a_corrected_bill_replaces_its_periods(store: Store, tmp_path: Path) -> None:
    mapping = load_mapping(PLATFORM_MAPPING)
    ingest(store, [PLATFORM], mapping=mapping)

    def restate(header: list[str], rows: list[list[str]]) -> None:
        rows[6][header.index("charge_eur")] = "140"  # the shared fee, corrected

    corrected = rewrite_csv(PLATFORM, tmp_path / "platform-chargeback-v2.csv", restate)
    report = ingest(store, [corrected], mapping=mapping)
    assert len(report.replaced) == 3
    assert lake_totals(store)[("CC-3400", "2026-10")] == (
        Decimal("281.6576"),
        Decimal("281.6576"),
        3,
    )


def test_examples_fail_the_format_detection_without_a_mapping(cli) -> None:
    result = cli("ingest", PLATFORM)
    assert result.exit_code == 1
    assert "not a billing format cloudtally knows" in result.output


def test_the_docs_list_every_key_and_function() -> None:
    from cloudtally.ingest.mapping import MappingModel
    from cloudtally.ingest.safe_sql import FUNCTIONS

    docs = (ROOT / "docs" / "mappings.md").read_text(encoding="utf-8")
    for key in MappingModel.model_fields:
        assert f"| `{key}` |" in docs
    listed = ", ".join(sorted([*FUNCTIONS, "ltrim", "rtrim", "try_strptime"]))
    assert " ".join(listed.split()) in " ".join(docs.split())


def test_the_same_bill_and_mapping_again_change_nothing(
    cli, data_dir: Path, tmp_path: Path
) -> None:
    assert cli("ingest", "--mapping", SAAS_MAPPING, SAAS).exit_code == 0
    before = lake_snapshot(data_dir)
    again = cli("ingest", "--mapping", SAAS_MAPPING, SAAS)
    assert again.exit_code == 0
    assert again.stdout == "Nothing to do: 1 file(s) already ingested, unchanged.\n"
    assert {k: v for k, v in lake_snapshot(data_dir).items() if "manifest" not in k} == {
        k: v for k, v in before.items() if "manifest" not in k
    }
    # The same bill through a changed mapping is a new delivery: it replaces its periods.
    changed = _write(
        tmp_path,
        "saas.yaml",
        SAAS_MAPPING.read_text(encoding="utf-8").replace(
            "env: lower(Environment)", "env: Environment"
        ),
    )
    result = cli("ingest", "--mapping", changed, SAAS)
    assert result.exit_code == 0, result.output
    assert "Replaced 2 account-period(s) with the new delivery" in result.stdout
    tags = cli("sql", "SELECT DISTINCT Tags['env'] AS env FROM costs ORDER BY 1", "-f", "csv")
    assert tags.stdout.split() == ["env", "Dev", "Prod", "Staging", '""']


def test_allowed_values_are_respelled_as_focus_spells_them(store: Store, tmp_path: Path) -> None:
    text = (
        PLATFORM_MAPPING.read_text(encoding="utf-8")
        .replace("ChargeCategory: Usage", "ChargeCategory: usage")
        .replace("THEN 'Usage-Based'", "THEN 'usage based'")
    )
    mapping = _write(tmp_path, "chargeback.yaml", text)
    ingest(store, [PLATFORM], mapping=load_mapping(mapping))
    found = store.sql(
        "SELECT DISTINCT ChargeCategory, ChargeFrequency FROM costs ORDER BY ALL"
    ).fetchall()
    assert found == [("Usage", "Recurring"), ("Usage", "Usage-Based")]
