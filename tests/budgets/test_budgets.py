"""Budgets as code: `budgets status` against exact actuals and forecasts, and every kind of
bad budgets file refused with its file, line and key."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from cloudtally.budgets.config import load_budgets
from cloudtally.budgets.status import budget_status
from cloudtally.errors import RuleError
from cloudtally.store import Store
from tests.conftest import Run
from tests.forecast.lake import Charge, build_lake, daily

FIRST, LAST = date(2024, 6, 1), date(2024, 9, 14)


def charges() -> list[Charge]:
    """Two teams on two services and accounts, a EUR account, and a support fee on the 1st."""
    out = daily(FIRST, LAST, lambda d: 100, service="Compute", account="111",
                tags={"team": "web", "env": "prod"})  # fmt: skip
    out += daily(FIRST, LAST, lambda d: 50, service="Storage", account="222",
                 tags={"team": "payments"})  # fmt: skip
    out += daily(FIRST, LAST, lambda d: 30 if d.day == 1 else 0, service="Support",
                 account="111", frequency="Recurring")  # fmt: skip
    out += daily(FIRST, LAST, lambda d: 7, service="Compute", account="333", currency="EUR")
    return out


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("budgets")
    build_lake(root / "lake", charges())
    return root / "lake"


def rules(tmp_path: Path, text: str, monitors: str | None = None) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    (folder / "budgets.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    if monitors is not None:
        (folder / "monitors.yaml").write_text(textwrap.dedent(monitors), encoding="utf-8")
    return folder


BUDGETS = """\
    defaults:
      thresholds: [forecast 90%, actual 100%]
    budgets:
      - id: web
        scope: {team: web}
        monthly: 3200
      - id: payments
        scope: {team: payments}
        monthly: 1400
        effective_from: 2024-07
      - id: usd-accounts
        scope: {account: ['111', '222']}
        annual: 60000
        year_from: 2024-01
      - id: compute-111
        scope: {when: {service: Compute, account: '111'}}
        monthly: {2024-08: 3000, 2024-09: 2900}
      - id: prod
        scope: {tag: {env: prod}}
        monthly: 5000
"""


def test_status_of_the_current_month(lake: Path, tmp_path: Path, cli: Callable[..., Run]) -> None:
    run = cli("budgets", "status", "--rules", rules(tmp_path, BUDGETS), "--format", "json",
              data=lake)  # fmt: skip
    assert run.exit_code == 0, run.output
    rows = {r["budget"]: r for r in json.loads(run.stdout)}
    assert list(rows) == ["web", "payments", "usd-accounts", "compute-111", "prod"]
    web = rows["web"]
    # 14 days of September at 100 a day; the month's budget pro rata: 3200 x 14 / 30.
    assert (web["period"], web["amount"], web["actual_to_date"]) == ("2024-09", "3200", "1400")
    assert web["mtd_budget"] == "1493.33"
    assert Decimal(web["forecast"]) == pytest.approx(Decimal(3000), abs=Decimal("0.05"))
    assert Decimal(web["lower_80"]) <= Decimal(web["forecast"]) <= Decimal(web["upper_80"])
    assert web["status"] == "ok" and web["breaches"] == ["forecast 90%"]
    payments = rows["payments"]
    assert payments["actual_to_date"] == "700"
    assert Decimal(payments["forecast"]) == pytest.approx(Decimal(1500), abs=Decimal("0.05"))
    assert payments["status"] == "at risk"
    # The annual budget split evenly: 5000 a month; the support fee is known on day 1.
    usd = rows["usd-accounts"]
    assert (usd["amount"], usd["actual_to_date"]) == ("5000", "2130")
    assert Decimal(usd["forecast"]) == pytest.approx(Decimal(4530), abs=Decimal("0.05"))
    assert rows["compute-111"]["amount"] == "2900"
    assert rows["compute-111"]["actual_to_date"] == "1400"
    assert rows["compute-111"]["scope"] == "when(account=111, service=Compute)"
    assert rows["prod"]["scope"] == "tag:env=prod"
    assert rows["prod"]["actual_to_date"] == "1400"


def test_a_past_month_is_complete_and_can_be_over(lake: Path, tmp_path: Path) -> None:
    folder = rules(tmp_path, BUDGETS)
    budgets = load_budgets(folder / "budgets.yaml")
    report = budget_status(Store(lake), budgets, period="2024-07")
    assert report.complete and report.as_of == date(2024, 8, 1)
    assert report.skipped == ["compute-111"]  # not in force in July
    rows = {r.budget: r for r in report.rows}
    payments = rows["payments"]
    assert payments.actual_to_date == payments.forecast == Decimal(31 * 50)
    assert payments.mtd_budget == payments.amount == Decimal(1400)
    assert payments.status == "over"
    assert [b.threshold.label for b in payments.breaches] == ["forecast 90%", "actual 100%"]
    assert rows["web"].status == "ok" and rows["web"].actual_to_date == Decimal(3100)
    assert rows["usd-accounts"].actual_to_date == Decimal(31 * 150 + 30)


def test_a_scope_that_matches_nothing_is_a_warning(
    lake: Path, tmp_path: Path, cli: Callable[..., Run]
) -> None:
    folder = rules(tmp_path, """\
        budgets:
          - id: typo
            scope: {team: paymnets}
            monthly: 100
        """)  # fmt: skip
    run = cli("budgets", "status", "--rules", folder, "--format", "json", data=lake)
    assert run.exit_code == 0
    assert (
        "Warning: Budget 'typo': its scope (team=paymnets) matches no cost in the lake; check "
        "its spelling." in " ".join(run.stderr.split())
    )
    assert json.loads(run.stdout)[0]["actual_to_date"] == "0"


def test_costs_in_another_currency_are_refused(
    lake: Path, tmp_path: Path, cli: Callable[..., Run]
) -> None:
    folder = rules(tmp_path, """\
        budgets:
          - id: compute
            scope: {service: Compute}
            monthly: 100
        """)  # fmt: skip
    run = cli("budgets", "status", "--rules", folder, data=lake)
    assert run.exit_code == 1
    assert (
        "budget 'compute' is in USD but its scope (service=Compute) has costs in EUR, USD"
        in run.stderr
    )
    assert "Traceback" not in run.output


def test_a_period_without_data_is_refused(
    lake: Path, tmp_path: Path, cli: Callable[..., Run]
) -> None:
    run = cli("budgets", "status", "--rules", rules(tmp_path, BUDGETS), "--period", "2024-11",
              data=lake)  # fmt: skip
    assert run.exit_code == 1
    assert (
        "--period 2024-11 has no data: the lake's charges run from 2024-06-01 to 2024-09-14 "
        "(2024-06 to 2024-09)." in " ".join(run.stderr.split())
    )


@pytest.mark.parametrize(
    ("text", "problems"),
    [
        (
            """\
            budgets:
              - id: platform
                annual: 1200
                year_from: 2024-01
                phasing: {2024-01: 600, 2024-02: 500}
            """,
            [
                "budgets.yaml:5: budgets.0.phasing: adds up to 1,100.00, not the annual amount "
                "1,200.00: the months must add up to it exactly"
            ],
        ),
        (
            """\
            budgets:
              - id: a
                scope: {team: web}
                monthly: 100
                effective_to: 2024-06
              - id: b
                scope: {team: [web]}
                monthly: 200
                effective_from: 2024-03
            """,
            [
                "budgets.yaml:7: budgets.1.scope: budget 'b' covers the same scope (team=web) as "
                "'a' in 2024-03..2024-06: one scope has one budget per month; give one of them "
                "effective_from/effective_to"
            ],
        ),
        (
            """\
            budgets:
              - id: product
                scope: {product: shop}
                monthly: 1000
              - id: web
                scope: {team: web}
                monthly: 700
                parent: product
              - id: payments
                scope: {team: payments}
                monthly: 400
                parent: product
            """,
            [
                "budgets.yaml:2: budgets.0: each month the budgets under 'product' add up to "
                "1,100.00 (web 700.00, payments 400.00), more than its 1,000.00"
            ],
        ),
        (
            """\
            defaults:
              thresholds: [forecast 80, actual 100%]
            budgets:
              - id: x
                monthly: 10
                notify: [nowhere]
                colour: red
            """,
            [
                "budgets.yaml:2: defaults.thresholds.0: Value error, 'forecast 80': write a "
                "threshold as `forecast 80%` or `actual 100%`",
                "budgets.yaml:7: budgets.0.colour: unknown key (check its spelling)",
            ],
        ),
        (
            """\
            budgets:
              - id: x
                monthly: 10
                notify: [nowhere]
              - id: y
                annual: 10
            """,
            [
                "budgets.yaml:4: budgets.0.notify: unknown destination 'nowhere' (the monitors "
                "file's destinations: finops)",
                "budgets.yaml:6: budgets.1.annual: an annual amount needs year_from: YYYY-MM (its "
                "first month)",
            ],
        ),
    ],
)
def test_bad_budgets_are_all_reported_with_file_line_and_key(
    tmp_path: Path, cli: Callable[..., Run], text: str, problems: list[str]
) -> None:
    folder = rules(tmp_path, text, monitors="destinations: {finops: {type: slack, url_env: X}}\n")
    run = cli("budgets", "check", "--rules", folder)
    assert run.exit_code == 1
    message = " ".join(run.stderr.split())
    for problem in problems:
        assert problem in message, message
    assert f"{len(problems)} problem" in message


def test_phasing_and_even_split_add_up_exactly(tmp_path: Path) -> None:
    folder = rules(tmp_path, """\
        budgets:
          - id: even
            annual: 100000
            year_from: 2024-04
          - id: phased
            scope: {team: web}
            annual: 1000
            year_from: 2024-01
            phasing: {2024-01: 400, 2024-12: 600}
        """)  # fmt: skip
    budgets = load_budgets(folder / "budgets.yaml")
    even = budgets.plan("even")
    months = [f"2024-{m:02d}" for m in range(4, 13)] + ["2025-01", "2025-02", "2025-03"]
    amounts = [even.amount(p) for p in months]
    assert amounts[:11] == [Decimal("8333.33")] * 11 and amounts[11] == Decimal("8333.37")
    assert sum(amounts, Decimal(0)) == Decimal(100000)
    assert even.amount("2024-03") is None and even.amount("2025-04") is None
    phased = budgets.plan("phased")
    assert [phased.amount(p) for p in ("2024-01", "2024-06", "2024-12")] == [400, 0, 600]


def test_missing_budgets_file_says_what_to_do(tmp_path: Path, cli: Callable[..., Run]) -> None:
    (tmp_path / "rules").mkdir()
    run = cli("budgets", "check", "--rules", tmp_path / "rules")
    assert run.exit_code == 1
    assert f"No budgets file {tmp_path / 'rules' / 'budgets.yaml'}" in run.stderr


def test_unknown_rule_error_type() -> None:
    assert issubclass(RuleError, ValueError)
