"""The monthly pack on the generated company: exact totals in every file, a bridge that adds
up, the same data/ on a re-run, and a PDF whose pages are looked at."""

from __future__ import annotations

import json
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from cloudtally.ingest.pipeline import ingest
from cloudtally.sample import generate_sample
from cloudtally.store import Store
from tests.conftest import ROOT
from tests.query.lake import Day, day_store

RULES = ROOT / "examples" / "rules"
needs_poppler = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext, pdftoppm) not installed"
)


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("acme")
    generate_sample(root / "exports", months=3, scale=0.1, seed=5)
    store = Store(root / "lake")
    ingest(store, [root / "exports"])
    from cloudtally.allocate.engine import allocate
    from cloudtally.rules.allocation import load_rules

    allocate(store, load_rules(RULES))
    return root / "lake"


@pytest.fixture(scope="module")
def pack(company: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from click.testing import CliRunner

    from cloudtally.cli import app

    out = tmp_path_factory.mktemp("packs") / "2024-10"
    result = CliRunner().invoke(
        app,
        ["--data-dir", str(company), "report", "monthly", "--period", "2024-10", "--rules", str(RULES), "--out", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def _lake_total(company: Path, period: str) -> Decimal:
    row = (
        Store(company)
        .sql(f"SELECT sum(EffectiveCost) FROM costs WHERE x_BillingPeriod = '{period}'")
        .fetchone()
    )
    assert row is not None
    return row[0]


def test_the_bridge_adds_up_exactly(pack: Path, company: Path) -> None:
    variance = json.loads((pack / "data" / "variance.json").read_text())
    assert (variance["period"], variance["previous_period"], variance["currency"]) == (
        "2024-10",
        "2024-09",
        "USD",
    )
    total, previous = Decimal(variance["total"]), Decimal(variance["previous_total"])
    assert total == _lake_total(company, "2024-10")
    assert previous == _lake_total(company, "2024-09")
    assert sum(Decimal(c["amount"]) for c in variance["components"]) == total - previous
    assert [c["name"] for c in variance["components"]] == [
        "price", "volume", "new resources", "removed resources", "commitment coverage",
        "credits and refunds", "tax", "currency", "allocation-rule changes", "other",
    ]  # fmt: skip


def test_every_file_is_written_and_data_is_the_same_on_a_rerun(
    pack: Path, company: Path, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from cloudtally.cli import app

    names = sorted(str(p.relative_to(pack)) for p in pack.rglob("*") if p.is_file())
    assert {
        "pack.html",
        "pack.pdf",
        "pack.md",
        "data/variance.json",
        "data/by_team.csv",
        "data/trend.csv",
    } <= set(names)
    again = tmp_path / "again"
    result = CliRunner().invoke(
        app,
        ["--data-dir", str(company), "report", "monthly", "--period", "2024-10", "--rules", str(RULES), "--out", str(again), "--no-pdf"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    for path in sorted((pack / "data").iterdir()):
        assert (again / "data" / path.name).read_bytes() == path.read_bytes(), path.name
    html = (pack / "pack.html").read_text()
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://" not in html
    assert html.count("data:image/svg+xml;base64,") >= 5  # trend, bridge, team, product, env


def test_an_existing_folder_that_is_not_a_pack_is_refused(
    company: Path, tmp_path: Path, cli
) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "mine.txt").write_text("keep me")
    result = cli(
        "report",
        "monthly",
        "--period",
        "2024-10",
        "--out",
        tmp_path / "notes",
        "--no-pdf",
        data=company,
    )
    assert result.exit_code == 1
    assert "is not a pack cloudtally wrote" in result.stderr
    assert (tmp_path / "notes" / "mine.txt").read_text() == "keep me"
    result = cli("report", "monthly", "--period", "2023-01", "--out", tmp_path / "x", data=company)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: No data in 2023-01: the lake holds 2024-08..2024-10")


@needs_poppler
def test_the_pdf_shows_the_totals_and_its_charts(pack: Path, company: Path, tmp_path: Path) -> None:
    text = subprocess.run(
        ["pdftotext", "-layout", str(pack / "pack.pdf"), "-"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    total = _lake_total(company, "2024-10")
    assert f"{total:,.2f}" in text  # exactly as `costs --metric EffectiveCost` rounds it
    for title in (
        "EffectiveCost per month, USD",
        "From 2024-09 to 2024-10, USD",
        "EffectiveCost by team, 2024-10",
    ):
        assert title in text
    info = subprocess.run(
        ["pdfinfo", str(pack / "pack.pdf")], capture_output=True, text=True, check=True
    ).stdout
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    assert 3 <= pages <= 6
    subprocess.run(
        ["pdftoppm", "-r", "40", "-png", str(pack / "pack.pdf"), str(tmp_path / "page")], check=True
    )
    shots = sorted(tmp_path.glob("page-*.png"))
    assert len(shots) == pages
    # The first page holds the trend chart: its bars' colour is drawn.
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            "40",
            "-f",
            "1",
            "-l",
            "1",
            str(pack / "pack.pdf"),
            str(tmp_path / "raw"),
        ],
        check=True,
    )
    raw = next(tmp_path.glob("raw-*.ppm")).read_bytes()
    body = raw[raw.index(b"255\n") + 4 :]
    bars = sum(
        1
        for i in range(0, len(body) - 2, 3)
        if abs(body[i] - 0x2F) < 12
        and abs(body[i + 1] - 0x66) < 12
        and abs(body[i + 2] - 0x90) < 12
    )
    # (The examples' company-wide budget line, 250,000 a month for a company generated at a
    # tenth of its size, squeezes the bars: 1,040 such pixels at 40 dpi.)
    assert bars > 600


def test_budgets_and_forecasts_are_the_commands_numbers(pack: Path, company: Path, cli) -> None:  # type: ignore[no-untyped-def]
    import csv

    status = cli("--data-dir", company, "budgets", "status", "--period", "2024-10", "--rules", RULES, "--format", "json")  # fmt: skip
    assert status.exit_code == 0, status.stderr
    expected = [
        (r["budget"], r["amount"], r["actual_to_date"], r["status"])
        for r in json.loads(status.stdout)
    ]
    with (pack / "data" / "budgets.csv").open() as f:
        written = [
            (r["budget"], r["amount"], r["actual_to_date"], r["status"]) for r in csv.DictReader(f)
        ]
    assert written == expected
    assert written[0][:2] == ("acme", "250000")
    made = cli("--data-dir", company, "forecast", "--as-of", "2024-10-01", "--horizon", "0", "--metric", "EffectiveCost", "--rules", RULES, "--format", "json")  # fmt: skip
    assert made.exit_code == 0, made.stderr
    [whole] = json.loads(made.stdout)
    with (pack / "data" / "forecast.csv").open() as f:
        first = next(csv.DictReader(f))
    assert (first["made_on"], first["period"], first["forecast"], first["lower_80"]) == (
        "2024-10-01",
        "2024-10",
        str(whole["forecast"]),
        str(whole["lower_80"]),
    )
    assert Decimal(first["actual"]) == _lake_total(company, "2024-10")
    html = (pack / "pack.html").read_text()
    assert "Budget: Acme Retail, all clouds, USD" in html
    assert "Forecast made on 2024-10-01, USD" in html
    # The team breakdown carries the forecast and, for teams with a budget, the budget.
    by_team = cli("--data-dir", company, "forecast", "--by", "team", "--as-of", "2024-10-01", "--horizon", "0", "--metric", "EffectiveCost", "--rules", RULES, "--format", "json")  # fmt: skip
    payments = next(r for r in json.loads(by_team.stdout) if r["group"] == {"team": "payments"})
    row = html[html.index("<td>payments</td>") :].split("</tr>")[0]
    assert f"{Decimal(payments['forecast']):,.2f}" in row
    assert "32,000.00" in row  # examples/rules/budgets.yaml: payments, 32000 a month


def test_commitments_and_savings_show_when_the_lake_has_them(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    generate_sample(tmp_path / "exports", months=2, scale=0.05, seed=5, commitments=True)
    ingest(Store(tmp_path / "lake"), [tmp_path / "exports"])
    out = tmp_path / "pack"
    run = cli("--data-dir", tmp_path / "lake", "report", "monthly", "--period", "2024-10", "--out", out, "--no-pdf")  # fmt: skip
    assert run.exit_code == 0, run.stderr
    used = cli("--data-dir", tmp_path / "lake", "commitments", "utilization", "--period", "2024-10", "--format", "csv")  # fmt: skip
    assert (out / "data" / "commitment_utilization.csv").read_text() == used.stdout
    markdown = (out / "pack.md").read_text()
    assert "## Commitments and savings" in markdown
    args = ["--data-dir", tmp_path / "lake", "commitments", "savings", "--period", "2024-10"]
    saved = json.loads(cli(*args, "--format", "json").stdout)
    rows = saved["rows"] if isinstance(saved, dict) else saved
    assert f"{Decimal(str(rows[0]['total_savings'])):,.2f}" in markdown
    # No budgets.yaml given: no budget card, no budgets section.
    assert "## Budgets" not in markdown


OWNERS = [
    ("Amazon CloudFront", "web"),
    ("Azure Monitor", "data"),
    ("Amazon Elastic Compute Cloud", "payments"),
    ("AWS Data Transfer", "payments"),
    ("Tax", "web"),
]


def test_the_drivers_are_the_largest_changes_of_the_whole_decomposition(company: Path) -> None:
    """The pack decomposes only the services it shows; they are exactly the first groups of
    the decomposition of every service, with the same parts and owners."""
    from cloudtally.query.bridge import decompose
    from cloudtally.query.ownership import lens_for
    from cloudtally.query.periods import parse_range
    from cloudtally.report.monthly import TOP_DRIVERS, monthly_pack

    store = Store(company)
    shown = monthly_pack(store, "2024-10", rules_dir=RULES).drivers
    before, after = parse_range("2024-09"), parse_range("2024-10")
    assert before and after
    lens = lens_for(store, ["service"], rules_dir=RULES)
    every = decompose(
        store.connect(), lens, ["service"], before, after, metric_name="EffectiveCost"
    )
    expected = [g for g in every if g.change != 0][:TOP_DRIVERS]
    assert len(every) > TOP_DRIVERS and len(shown) == TOP_DRIVERS
    assert [(d.group, d.currency, d.before, d.after, d.parts) for d in shown] == [
        (g.key[0], g.currency, g.before, g.after, g.parts) for g in expected
    ]
    # The owners are the allocation's (it is current), not the tags': Azure Monitor's change
    # has no team tag (no owner read from the tags), and the allocation has it as data's.
    assert [(d.group, d.owner) for d in shown] == OWNERS


def test_the_bridge_skips_owners_without_changing_a_part(company: Path) -> None:
    from cloudtally.query.bridge import decompose
    from cloudtally.query.ownership import Lens
    from cloudtally.query.periods import parse_range

    before, after = parse_range("2024-09"), parse_range("2024-10")
    assert before and after
    con = Store(company).connect()
    with_owner = decompose(con, Lens(), [], before, after, metric_name="EffectiveCost")
    without = decompose(
        con, Lens(), [], before, after, metric_name="EffectiveCost", with_owner=False
    )
    assert [g.owner for g in without] == [None] and with_owner[0].owner is not None
    assert [(g.before, g.after, g.parts) for g in without] == [
        (g.before, g.after, g.parts) for g in with_owner
    ]


def test_each_currency_has_its_own_drivers(tmp_path: Path) -> None:
    """Two currencies: the largest changes of each, not five of the first alphabetically."""
    from cloudtally.report.monthly import monthly_pack
    from tests.query.lake import Day, day_store

    lines = []
    for n in range(1, 7):  # USD: s1..s6 rise by 1..6
        lines += [
            Day("2024-09-10", "10", service=f"s{n}"),
            Day("2024-10-10", str(10 + n), service=f"s{n}"),
        ]
    lines += [
        Day("2024-09-10", "100", service="e1", currency="EUR"),
        Day("2024-10-10", "40", service="e1", currency="EUR"),
        Day("2024-10-10", "0.5", service="e2", currency="EUR"),
    ]  # fmt: skip
    store = day_store(Store(tmp_path / "lake"), tmp_path, lines)
    drivers = monthly_pack(store, "2024-10").drivers
    assert [(d.currency, d.group, d.after - d.before) for d in drivers] == [
        ("EUR", "e1", Decimal(-60)),
        ("EUR", "e2", Decimal("0.5")),
        ("USD", "s6", Decimal(6)),
        ("USD", "s5", Decimal(5)),
        ("USD", "s4", Decimal(4)),
        ("USD", "s3", Decimal(3)),
        ("USD", "s2", Decimal(2)),
    ]
    assert drivers[0].sentence.startswith("e1 fell by 60.00 EUR (-60.0%) to 40.00")


def test_a_drivers_owner_is_the_allocations_when_it_is_current(tmp_path: Path) -> None:
    """Untagged lines a rule gives to a team: the pack names that team, as its showback does,
    not "No owner on record" (the tags); before `allocate`, the tags are what there is."""
    from cloudtally.allocate.engine import allocate
    from cloudtally.report.monthly import monthly_pack
    from cloudtally.rules.allocation import load_rules
    from tests.allocate.lake import write_rules

    lines = [
        Day("2024-09-10", "10", service="Search", resource="r1"),
        Day("2024-10-10", "30", service="Search", resource="r1"),
        Day("2024-10-10", "5", service="Search", resource="r2", tags={"team": "web"}),
        Day("2024-09-10", "4", service="Cache", resource="r3", tags={"team": "web"}),
        Day("2024-10-10", "1", service="Cache", resource="r3", tags={"team": "web"}),
    ]
    store = day_store(Store(tmp_path / "lake"), tmp_path, lines)
    rules = write_rules(
        tmp_path / "rules",
        {"allocation.yaml": "rules:\n  - id: search\n    when: {service: Search}\n"
                            "    set: {team: search}\n"},
    )  # fmt: skip
    before = monthly_pack(store, "2024-10", rules_dir=rules).drivers
    assert [(d.group, d.owner) for d in before] == [("Search", "web"), ("Cache", "web")]
    allocate(store, load_rules(rules))
    after = monthly_pack(store, "2024-10", rules_dir=rules).drivers
    # The rule gives every Search line to search, r2's web tag too (a dimension's sources are
    # rules, then tag, unless `dimensions` says otherwise).
    assert [(d.group, d.owner) for d in after] == [("Search", "search"), ("Cache", "web")]
    assert after[0].sentence.endswith("Most of the change belongs to search.")


def test_a_few_stray_days_are_not_a_forecast(store: Store, tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    """A credit dated a week before the first export: no forecast card made from that week (it
    read "-20.00 forecast, off by -100.6%"), a note that says why instead."""
    day_store(store, tmp_path, [
        Day("2024-09-24", "-20", service="Support", resource=None, category="Credit"),
        *(Day(f"2024-10-{d:02d}", "100") for d in range(1, 32)),
    ])  # fmt: skip
    out = tmp_path / "pack"
    result = cli("report", "monthly", "--period", "2024-10", "--out", out)
    assert result.exit_code == 0, result.output
    markdown = (out / "pack.md").read_text(encoding="utf-8")
    assert "Forecast made on" not in markdown
    assert (
        "> No forecast made on 2024-10-01: the lake holds 7 day(s) of charges before it, and a "
        "forecast needs 28." in markdown
    )
