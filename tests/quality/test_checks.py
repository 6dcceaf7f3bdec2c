"""`cloudtally check`: each check finds exactly what was planted in a small FOCUS 1.2 lake, the
command gates on errors, and the shipped samples give the findings pinned here."""

from __future__ import annotations

import csv
import json
import re
import tempfile
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudtally.cli import _Group
from cloudtally.errors import QueryError, StoreError, UnsupportedError
from cloudtally.focus.spec import columns
from cloudtally.ingest.pipeline import ingest
from cloudtally.quality import Level, QualityReport, focus_rules, run_checks
from cloudtally.quality.checks import Finding
from cloudtally.quality.command import MACHINE_COLUMNS, check
from cloudtally.quality.focus_checks import NOT_NULL_RULES, mandatory_columns
from cloudtally.store import Store
from tests.conftest import FOCUS_10, ROOT, SAMPLES

AWS_12 = SAMPLES / "focus" / "1.2" / "aws.csv"
MAY = [date(2026, 5, d) for d in range(1, 32)]


def _template() -> tuple[list[str], dict[str, str]]:
    """The header of the 1.2 AWS sample and its first row: an hour of EC2 usage,
    BilledCost 0.0864 USD, that breaks no check."""
    with AWS_12.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), next(reader)


HEADER, TEMPLATE = _template()


def usage(day: date, **changes: str) -> dict[str, str]:
    """The template row moved to the first hour of `day`, with some columns changed."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    period_start = start.replace(day=1)
    period_end = (period_start + timedelta(days=32)).replace(day=1)
    row = dict(TEMPLATE)
    row.update(
        ChargePeriodStart=_iso(start),
        ChargePeriodEnd=_iso(start + timedelta(hours=1)),
        BillingPeriodStart=_iso(period_start),
        BillingPeriodEnd=_iso(period_end),
    )
    row.update(changes)
    return row


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def build(data_dir: Path, *files: list[dict[str, str]]) -> Store:
    """Write each list of rows as a FOCUS 1.2 CSV export and ingest them all in one run."""
    paths = []
    for n, rows in enumerate(files):
        path = data_dir.parent / "exports" / f"export-{n}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=HEADER)
            writer.writeheader()
            writer.writerows(rows)
        paths.append(path)
    store = Store(data_dir)
    ingest(store, paths)
    return store


def findings(report: QualityReport, check_id: str) -> list[Finding]:
    return next(list(r.findings) for r in report.results if r.id == check_id)


def statuses(report: QualityReport) -> dict[str, str]:
    return {r.id: r.status for r in report.results}


@click.group(cls=_Group)
@click.option("--data-dir", type=click.Path(path_type=Path), required=True)
@click.pass_context
def app(ctx: click.Context, data_dir: Path) -> None:
    ctx.obj = {"data_dir": data_dir, "debug": False}


app.add_command(check)


def run_cli(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["--data-dir", str(data_dir), "check", *args])


# -- a clean month, then one planted problem at a time -----------------------------------------


def test_a_clean_month_passes_every_check(data_dir: Path) -> None:
    store = build(data_dir, [usage(day) for day in MAY])
    report = run_checks(store, today=date(2026, 6, 2))
    assert set(statuses(report).values()) == {"PASS"}
    assert report.rows == 31 and not report.failed
    assert report.summary() == (
        "11 checks over 31 rows in the lake (today 2026-06-02): 11 passed, 0 warned, 0 failed."
    )


def test_a_duplicate_row_is_found_with_its_count_and_cost(data_dir: Path) -> None:
    rows = [usage(day) for day in MAY]
    store = build(data_dir, [*rows, rows[4]])
    report = run_checks(store, today=date(2026, 6, 2))
    assert statuses(report)["duplicate-line-items"] == "FAIL"
    [dup] = findings(report, "duplicate-line-items")
    assert (dup.level, dup.count, dup.cost, dup.currency) == (
        Level.error,
        1,
        Decimal("0.0864"),
        "USD",
    )
    assert (dup.provider, dup.billing_account, dup.billing_period) == (
        "aws",
        "100000000001",
        "2026-05",
    )
    assert dup.detail == (
        "1 extra copy of 1 row double-count BilledCost 0.09 USD, EffectiveCost 0.09 USD "
        "(aws, billing account 100000000001, 2026-05)"
    )
    assert report.failed


def test_the_same_line_in_two_files_is_a_duplicate(data_dir: Path) -> None:
    """x_SourceFile differs, but x_ columns are not part of a row's identity."""
    rows = [usage(day) for day in MAY]
    store = build(data_dir, rows, rows[:3])
    [dup] = findings(run_checks(store, today=date(2026, 6, 2)), "duplicate-line-items")
    assert (dup.count, dup.cost) == (3, Decimal("0.2592"))


def test_a_missing_day_is_listed_by_date(data_dir: Path) -> None:
    store = build(data_dir, [usage(day) for day in MAY if day.day != 10])
    [gap] = findings(run_checks(store, today=date(2026, 6, 2)), "missing-days")
    assert (gap.level, gap.count, gap.sub_account) == (Level.warning, 1, "200000000012")
    assert gap.detail == (
        "1 day without charges: 2026-05-10 (period closed) (aws, billing account "
        "100000000001, sub account 200000000012, 2026-05)"
    )


def test_missing_days_at_the_edges_count_only_once_the_period_closed(data_dir: Path) -> None:
    days = [d for d in MAY[2:15] if d.day != 10]  # 3rd..15th without the 10th
    monthly = usage(MAY[0], ChargePeriodEnd="2026-06-01T00:00:00Z")  # spans every day
    store = build(data_dir, [*map(usage, days), monthly])
    [open_gap] = findings(run_checks(store, today=date(2026, 5, 20)), "missing-days")
    assert (open_gap.count, open_gap.message) == (1, "1 day without charges: 2026-05-10")
    [closed_gap] = findings(run_checks(store, today=date(2026, 6, 1)), "missing-days")
    assert closed_gap.count == 19
    assert closed_gap.message == (
        "19 days without charges: 2026-05-01..2026-05-02, 2026-05-10, 2026-05-16..2026-05-31 "
        "(period closed)"
    )


@given(present=st.sets(st.sampled_from(MAY), min_size=1))
@settings(max_examples=15, deadline=None)
def test_missing_days_equal_the_calendar_minus_the_charge_days(present: set[date]) -> None:
    """Differential: a closed month's missing days, in SQL, equal Python's set difference."""
    with tempfile.TemporaryDirectory() as tmp:
        store = build(Path(tmp) / "lake", [usage(day) for day in sorted(present)])
        found = findings(run_checks(store, today=date(2026, 7, 1)), "missing-days")
    missing = set(MAY) - present
    assert sum(f.count for f in found) == len(missing)
    assert {day for f in found for day in _days_named(f.message)} == missing


def _days_named(message: str) -> set[date]:
    """The days a missing-days message lists, its `first..last` runs expanded."""
    days = set()
    for first, last in re.findall(r"(\d{4}-\d\d-\d\d)(?:\.\.(\d{4}-\d\d-\d\d))?", message):
        day, end = date.fromisoformat(first), date.fromisoformat(last or first)
        while day <= end:
            days.add(day)
            day += timedelta(days=1)
    return days


def test_a_null_in_a_mandatory_column_is_an_error_with_its_rule(data_dir: Path) -> None:
    rows = [usage(day) for day in MAY]
    rows[6]["ChargeCategory"] = ""
    report = run_checks(store := build(data_dir, rows), today=date(2026, 6, 2))
    assert statuses(report) == {
        "lake-files": "PASS",
        "missing-days": "PASS",
        "duplicate-line-items": "PASS",
        "freshness": "PASS",
        "mixed-currencies": "PASS",
        "charges-outside-period": "PASS",
        "dates-out-of-range": "PASS",
        "mandatory-nulls": "FAIL",
        "negative-costs": "PASS",
        "focus-rules": "PASS",
        "commitment-amortization": "PASS",
    }
    [null] = findings(report, "mandatory-nulls")
    assert (null.count, null.column, null.rule, null.cost) == (
        1,
        "ChargeCategory",
        "ChargeCategory-C-002-M",
        Decimal("0.0864"),
    )
    assert null.detail.startswith(
        "ChargeCategory is null where FOCUS 1.2 requires a value (ChargeCategory-C-002-M)"
    )
    assert run_cli(store.data_dir, "--today", "2026-06-02").exit_code == 1


def test_negative_usage_warns_and_a_credit_is_info(data_dir: Path) -> None:
    credit = usage(
        MAY[20],
        ChargeCategory="Credit",
        ChargeDescription="Promotional credit",
        BilledCost="-2",
        EffectiveCost="-2",
        ListCost="-2",
        ContractedCost="-2",
        ListUnitPrice="",
        ContractedUnitPrice="",
        PricingQuantity="",
        PricingUnit="",
        ConsumedQuantity="",
        ConsumedUnit="",
    )
    rows = [usage(day) for day in MAY]
    rows[2].update(BilledCost="-1.5", EffectiveCost="-1.25")
    store = build(data_dir, [*rows, credit])
    report = run_checks(store, today=date(2026, 6, 2))
    assert statuses(report)["negative-costs"] == "WARN"
    usage_row, credit_row = findings(report, "negative-costs")
    assert (usage_row.level, usage_row.count, usage_row.cost) == (
        Level.warning,
        1,
        Decimal("-1.5"),
    )
    assert usage_row.message == (
        "1 Usage row with a negative cost: BilledCost -1.50 USD, EffectiveCost -1.25 USD"
    )
    assert (credit_row.level, credit_row.count, credit_row.cost) == (Level.info, 1, Decimal(-2))
    assert credit_row.level.status == "PASS"
    assert not report.failed
    assert run_cli(store.data_dir, "--today", "2026-06-02").exit_code == 0


def test_an_unknown_charge_category_fails_its_focus_rule(data_dir: Path) -> None:
    rows = [usage(day) for day in MAY]
    rows[11]["ChargeCategory"] = "Usage2"
    report = run_checks(build(data_dir, rows), today=date(2026, 6, 2))
    found = {f.rule: f for f in findings(report, "focus-rules")}
    # A row that is not "Usage" must not carry a ConsumedQuantity either.
    assert sorted(found) == ["ChargeCategory-C-003-M", "ConsumedQuantity-C-004-C"]
    rule = found["ChargeCategory-C-003-M"]
    assert (rule.level, rule.count, rule.cost, rule.column) == (
        Level.error,
        1,
        Decimal("0.0864"),
        "ChargeCategory",
    )
    assert rule.detail == (
        "ChargeCategory-C-003-M: ChargeCategory MUST be one of the allowed values. "
        "Found 'Usage2'; BilledCost 0.09 USD (aws, billing account 100000000001, 2026-05)"
    )


def test_a_service_in_two_categories_breaks_its_consistency_rules(data_dir: Path) -> None:
    rows = [usage(day) for day in MAY]
    rows.append(
        usage(
            MAY[3],
            BillingAccountId="100000000002",
            ServiceCategory="Storage",
            ServiceSubcategory="Object Storage",
        )
    )
    found = findings(run_checks(build(data_dir, rows), today=date(2026, 6, 2)), "focus-rules")
    assert [(f.rule, f.level, f.count, f.billing_account) for f in found] == [
        ("ServiceName-C-005-C", Level.error, 32, None),
        ("ServiceName-C-008-C", Level.warning, 32, None),
    ]
    assert found[0].detail == (
        "ServiceName-C-005-C: ServiceName MUST have one and only one ServiceCategory that best "
        "aligns with its primary purpose, except when no suitable ServiceCategory is available. "
        "ServiceName 'AmazonEC2' has ServiceCategory 'Compute' and 'Storage'; "
        "BilledCost 2.76 USD (aws, several billing accounts, 2026-05)"
    )


def test_two_currencies_in_one_account_period_warn(data_dir: Path) -> None:
    rows = [usage(day) for day in MAY]
    rows.append(usage(MAY[14], BillingCurrency="EUR", PricingCurrency="EUR"))
    [mixed] = findings(
        run_checks(build(data_dir, rows), today=date(2026, 6, 2)), "mixed-currencies"
    )
    assert (mixed.level, mixed.count, mixed.column) == (Level.warning, 2, "BillingCurrency")
    assert mixed.message == (
        "billed in 2 currencies: USD (31 rows, BilledCost 2.68), EUR (1 row, BilledCost 0.09)"
    )


@pytest.mark.parametrize(
    ("today", "period", "expected"),
    [
        ("2026-06-03", None, None),
        ("2026-06-04", None, (Level.warning, 4)),
        ("2026-07-05", None, (Level.warning, 35)),
        ("2026-07-06", None, (Level.error, 36)),
        # One closed period is judged against its end, 2026-06-01.
        ("2026-07-06", "2026-05", None),
    ],
)
def test_freshness_against_today(
    data_dir: Path, today: str, period: str | None, expected: tuple[Level, int] | None
) -> None:
    store = build(data_dir, [usage(day) for day in MAY])
    report = run_checks(store, today=date.fromisoformat(today), period=period, only=["freshness"])
    found = [(f.level, f.count) for f in findings(report, "freshness")]
    assert found == ([expected] if expected else [])
    if expected:
        assert findings(report, "freshness")[0].message == (
            f"latest charge ends 2026-05-31, {expected[1]} days before {today}"
        )


def test_period_limits_the_checks_to_one_billing_period(data_dir: Path) -> None:
    april = [usage(date(2026, 4, d)) for d in range(1, 31)]
    store = build(data_dir, [*april, april[0], *(usage(day) for day in MAY)])
    assert statuses(run_checks(store, today=date(2026, 6, 2)))["duplicate-line-items"] == "FAIL"
    may = run_checks(store, today=date(2026, 6, 2), period="2026-05")
    assert (may.rows, statuses(may)["duplicate-line-items"]) == (31, "PASS")
    assert run_cli(store.data_dir, "--period", "2026-05", "--today", "2026-06-02").exit_code == 0
    assert run_cli(store.data_dir, "--period", "2026-04", "--today", "2026-06-02").exit_code == 1


# -- the command ------------------------------------------------------------------------------


def test_the_table_shows_every_check_and_a_summary(data_dir: Path) -> None:
    build(data_dir, [usage(day) for day in MAY])
    result = run_cli(data_dir, "--today", "2026-06-02")
    assert result.exit_code == 0, result.output
    for word in ("check", "level", "status", "count", "detail", "focus-rules", "PASS"):
        assert word in result.stdout
    assert result.stdout.rstrip().endswith("11 passed, 0 warned, 0 failed.")


def test_json_lists_every_finding_and_every_passing_check(data_dir: Path) -> None:
    rows = [usage(day) for day in MAY]
    build(data_dir, [*rows, rows[0]])
    result = run_cli(data_dir, "--today", "2026-06-02", "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert all(list(item) == MACHINE_COLUMNS for item in data)
    assert [(d["check"], d["status"], d["count"]) for d in data] == [
        ("lake-files", "PASS", 0),
        ("missing-days", "PASS", 0),
        ("duplicate-line-items", "FAIL", 1),
        ("freshness", "PASS", 0),
        ("mixed-currencies", "PASS", 0),
        ("charges-outside-period", "PASS", 0),
        ("dates-out-of-range", "PASS", 0),
        ("mandatory-nulls", "PASS", 0),
        ("negative-costs", "PASS", 0),
        ("focus-rules", "PASS", 0),
        ("commitment-amortization", "PASS", 0),
    ]
    assert {k: data[2][k] for k in ("cost", "currency", "billing_account", "billing_period")} == {
        "cost": "0.0864",
        "currency": "USD",
        "billing_account": "100000000001",
        "billing_period": "2026-05",
    }
    assert "10 passed, 0 warned, 1 failed." in result.stderr


def test_csv_has_the_machine_columns(data_dir: Path) -> None:
    build(data_dir, [usage(day) for day in MAY])
    result = run_cli(data_dir, "-f", "csv", "--today", "2026-06-02", "--only", "freshness")
    assert result.exit_code == 0
    header, row = result.stdout.splitlines()
    assert header == ",".join(MACHINE_COLUMNS)
    assert row.startswith("freshness,error,PASS,0,")


def test_an_empty_lake_fails_the_gate_with_a_clear_message(data_dir: Path) -> None:
    data_dir.mkdir()  # a data dir that does not exist is refused before the check runs
    result = run_cli(data_dir)
    assert result.exit_code == 1
    assert "The lake is empty: ingest data first with `cloudtally ingest PATH`." in result.stderr
    with pytest.raises(StoreError, match="The lake is empty"):
        run_checks(Store(data_dir))


def test_bad_names_and_periods_are_refused_with_a_hint(data_dir: Path) -> None:
    store = build(data_dir, [usage(MAY[0])])
    with pytest.raises(UnsupportedError, match="Did you mean 'freshness'"):
        run_checks(store, only=["freshnes"])
    with pytest.raises(QueryError, match="use YYYY-MM"):
        run_checks(store, period="2026-5")
    with pytest.raises(StoreError, match="no rows for billing period 2026-04; it holds 2026-05"):
        run_checks(store, period="2026-04")
    result = run_cli(data_dir, "--only", "missing-dayz")
    assert (result.exit_code, "Did you mean 'missing-days'?" in result.stderr) == (1, True)


# -- the rule table ---------------------------------------------------------------------------


def test_focus_rules_are_well_formed() -> None:
    rules = focus_rules()
    assert len(rules) == 65
    assert len({r.id for r in rules}) == len(rules)
    spec = columns("1.2")
    assert all(r.column in spec and r.sql for r in rules)
    assert all(r.per in spec for r in rules if r.per)
    assert set(NOT_NULL_RULES) == set(mandatory_columns())


def _validator_model() -> dict | None:
    name = "focus_validator/rules/model-1.2.0.1.json"
    roots = [ROOT / ".venv-validator", Path("/work/validator-research/.venv")]
    for root in roots:
        for path in root.glob(f"lib/python3*/site-packages/{name}"):
            return json.loads(path.read_text(encoding="utf-8"))["ModelRules"]
    return None


def test_rule_ids_and_wording_are_the_validator_models() -> None:
    model = _validator_model()
    if model is None:
        pytest.skip("the FOCUS validator is not installed (make validator)")
    for rule in focus_rules():
        criteria = model[rule.id]["ValidationCriteria"]
        assert rule.requirement == criteria["MustSatisfy"], rule.id
        keyword = criteria["Keyword"]
        assert rule.level is (Level.error if keyword.startswith("MUST") else Level.warning)
    for column, rule_id in NOT_NULL_RULES.items():
        assert model[rule_id]["ValidationCriteria"]["MustSatisfy"] == (
            f"{column} MUST NOT be null."
        )


# -- the shipped samples ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample_reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, QualityReport]:
    focus_10 = Store(tmp_path_factory.mktemp("focus10") / "lake")
    ingest(focus_10, [FOCUS_10])
    focus_12 = Store(tmp_path_factory.mktemp("focus12") / "lake")
    ingest(focus_12, sorted((SAMPLES / "focus" / "1.2").glob("*.csv")))
    return {
        "1.0": run_checks(focus_10, today=date(2024, 10, 2)),
        "1.2": run_checks(focus_12, today=date(2026, 6, 1)),
    }


def _pinned(report: QualityReport, check_id: str) -> list[tuple[str | None, ...]]:
    return [
        (f.rule or f.column, f.provider, f.level.value, str(f.count), _exact(f.cost))
        for f in findings(report, check_id)
    ]


def _exact(value: Decimal | None) -> str | None:
    return None if value is None else str(value.normalize())


def test_the_focus_1_0_sample(sample_reports: dict[str, QualityReport]) -> None:
    report = sample_reports["1.0"]
    assert statuses(report) == {
        "lake-files": "PASS",
        "missing-days": "WARN",
        "duplicate-line-items": "PASS",
        "freshness": "WARN",
        "mixed-currencies": "PASS",
        "charges-outside-period": "WARN",
        "dates-out-of-range": "PASS",
        "mandatory-nulls": "FAIL",
        "negative-costs": "WARN",
        "focus-rules": "FAIL",
        "commitment-amortization": "PASS",
    }
    # Its 71 sub accounts have sparse, synthetic usage: 1,684 account-days without charges.
    gaps = findings(report, "missing-days")
    assert (len(gaps), sum(f.count for f in gaps)) == (71, 1684)
    [stale] = findings(report, "freshness")
    assert stale.detail.startswith(
        "latest charge ends 2024-09-20, 12 days before 2024-10-02 (azure"
    )
    assert _pinned(report, "mandatory-nulls") == [
        ("ContractedCost-C-003-M", "oci", "error", "7", "0.53707392473"),
    ]
    assert _pinned(report, "negative-costs") == [
        ("ChargeCategory", "azure", "warning", "12", "-0.1619713001"),
        ("ChargeCategory", "aws", "info", "1", "-2.6137"),
    ]
    # The sample's `Usage-based` (7 OCI rows) is stored as the spec spells it, `Usage-Based`
    # (its source spelling is kept in x_SourceValues): ChargeFrequency-C-003-M passes.
    assert _pinned(report, "focus-rules") == [
        ("ConsumedQuantity-C-004-C", "oci", "error", "2", "0.272"),
        ("ContractedUnitPrice-C-009-C", "aws", "error", "1", "-2.6137"),
        ("ContractedUnitPrice-C-011-C", "aws", "error", "17", "1.0014020142"),
        ("ListCost-C-009-C", "azure", "error", "25", "0.000252986"),
        ("RegionName-C-004-C", "oci", "error", "7", "0.53707392473"),
        ("RegionName-C-005-C", "aws", "error", "2", "0.3420136"),
        ("ResourceType-C-004-C", "aws", "error", "36", "0.0018150185"),
        ("ResourceType-C-005-C", "aws", "error", "752", "2.8606922319"),
        ("ServiceName-C-005-C", "aws", "error", "554", "16.0416930505"),
        ("ConsumedUnit-C-003-O", "aws", "warning", "7", "0.0413194443"),
        ("PricingUnit-C-003-O", "aws", "warning", "7", "0.0413194443"),
        ("ServiceName-C-008-C", "aws", "warning", "554", "16.0416930505"),
    ]
    rules = {f.rule: f for f in findings(report, "focus-rules")}
    assert "'Amazon Elastic Compute Cloud' has ServiceCategory 'Compute' and 'Storage'" in (
        rules["ServiceName-C-005-C"].detail
    )
    # The converter already rewrites `Lambda-GB-Seconds` to `GB-Seconds`; one unit remains.
    assert "Found 'GiB/Second-Months'" in rules["PricingUnit-C-003-O"].detail


def test_the_focus_1_2_samples(sample_reports: dict[str, QualityReport]) -> None:
    """The validator's false positives on these files (InvoiceId-C-004-C, EffectiveCost-C-005-C
    on subscription fees) do not appear: every rule passes."""
    report = sample_reports["1.2"]
    assert {k: v for k, v in statuses(report).items() if v != "PASS"} == {"missing-days": "WARN"}
    gaps = findings(report, "missing-days")
    assert (len(gaps), sum(f.count for f in gaps)) == (24, 234)
    assert report.rows == 3000
