"""Output is whole and data is data: tables never cut money, values are never markup or
terminal control, CSV writes maps as JSON and neutralises formulas (with an opt-out)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from rich.console import Console

from cloudtally.anomaly import state
from cloudtally.output import render
from cloudtally.store import Store
from tests.allocate.lake import Line, build_store
from tests.allocate.test_engine import rules_folder
from tests.anomaly.test_notify import ANOMALY
from tests.conftest import Run

# Markup that would close a tag that is not open (rich raises), a clickable link, and raw ANSI
# colour escapes: all of it must reach the reader as the characters it is.
HOSTILE = "[/] [link=https://evil.example]pay here[/link] \x1b[31mred\x1b[0m\r"
SHOWN = "[/] [link=https://evil.example]pay here[/link] \\x1b[31mred\\x1b[0m\\x0d"


def test_a_table_into_a_pipe_never_cuts_money(capsys: pytest.CaptureFixture[str]) -> None:
    render(
        ["service", "account", "BilledCost"],
        [["Amazon Elastic Compute Cloud " * 3, "x" * 70, Decimal("123456789012.505")]],
        money_columns=["BilledCost"],
    )
    out = capsys.readouterr().out
    assert "│ 123,456,789,012.50 │" in out  # (rounded half-even to cents, as every table)
    assert "…" not in out
    assert "Amazon Elastic Compute Cloud Amazon Elastic Compute Cloud Amazon Elastic" in out


def test_a_narrow_terminal_wraps_text_and_keeps_every_digit() -> None:
    screen = io.StringIO()
    console = Console(file=screen, width=44, force_terminal=True, color_system=None)
    render(
        ["service", "account", "BilledCost", "share"],
        [["Amazon Elastic Compute Cloud", "Atlas Orion", Decimal("98765432101.25"), 0.123]],
        money_columns=["BilledCost"],
        share_columns=["share"],
        console=console,
    )
    out = screen.getvalue()
    assert "│ 98,765,432,101.25 │ 12.3% │" in out
    assert "…" not in out


def test_values_and_titles_are_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    render(["value"], [[HOSTILE]], title=f"Costs for {HOSTILE}")
    out = capsys.readouterr().out
    assert f"Costs for {SHOWN}" in out
    assert f"│ {SHOWN} │" in out
    assert "\x1b" not in out and "\r" not in out


def test_costs_shows_markup_and_escapes_in_data_literally(
    cli: Callable[..., Run], store: Store, tmp_path: Path
) -> None:
    build_store(store, tmp_path, [Line("111", "12.5", service=HOSTILE), Line("222", "7.5")])
    result = cli("costs", "--by", "service")
    assert result.exit_code == 0, result.output
    assert f"│ {SHOWN} │ USD      │      12.50 │ 62.5% │" in result.stdout
    assert "\x1b" not in result.stdout


def test_anomalies_list_shows_markup_in_data_literally(
    cli: Callable[..., Run], store: Store
) -> None:
    with store.state() as con:
        state.save(con, [state.Anomaly(**{**ANOMALY.as_dict(), "value": HOSTILE})])
    result = cli("anomalies", "list")
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]
    assert first == (
        f"OPEN {ANOMALY.id} 2024-10-12  Spike in ServiceName {SHOWN}: 717.49 vs 382.81 "
        "expected (+334.68, +87%, 3 days so far) [services]"
    )


def test_csv_writes_maps_lists_and_structs_as_json(cli: Callable[..., Run], store: Store) -> None:
    store.data_dir.mkdir()  # a data dir that does not exist is refused
    query = "SELECT map(['team', 'env'], ['web', 'prod']) AS m, [1, 2] AS l, {'k': 'v'} AS s"
    result = cli("sql", query, "--format", "csv")
    assert result.exit_code == 0, result.output
    assert list(csv.reader(io.StringIO(result.stdout))) == [
        ["m", "l", "s"],
        ['{"team": "web", "env": "prod"}', "[1, 2]", '{"k": "v"}'],
    ]


FORMULAS = [
    Line("111", "12.5", service='=HYPERLINK("https://evil.example","x")'),
    Line("222", "-3.25", service="-2+3"),
    Line("333", "4", service="@SUM(A1)"),
    Line("444", "2", service="+1"),
    Line("555", "1", service="a=b"),
]


def test_csv_neutralises_formulas_but_keeps_numbers(
    cli: Callable[..., Run], store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_store(store, tmp_path, FORMULAS)
    result = cli("costs", "--by", "service", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = [r[:3] for r in csv.reader(io.StringIO(result.stdout))]
    assert rows == [
        ["service", "currency", "BilledCost"],
        ['\'=HYPERLINK("https://evil.example","x")', "USD", "12.5"],
        ["'@SUM(A1)", "USD", "4"],
        ["+1", "USD", "2"],  # a number, as a spreadsheet reads it
        ["a=b", "USD", "1"],
        ["'-2+3", "USD", "-3.25"],  # the negative cost is a number and stays one
    ]
    raw = [r[0] for r in csv.reader(io.StringIO(cli("costs", "-f", "csv", "--csv-raw").stdout))]
    assert raw[1:3] == ['=HYPERLINK("https://evil.example","x")', "@SUM(A1)"]
    monkeypatch.setenv("CLOUDTALLY_CSV_RAW", "1")
    raw = [r[0] for r in csv.reader(io.StringIO(cli("costs", "-f", "csv").stdout))]
    assert raw[-1] == "-2+3"


def test_chargeback_out_neutralises_formulas(
    cli: Callable[..., Run], store: Store, tmp_path: Path
) -> None:
    build_store(store, tmp_path, [Line("111", "40", tags={"team": "web"}, period="2024-10")])
    folder = rules_folder(tmp_path, **{"mappings/teams.csv": "team,cost_center\nweb,=1+2\n"})
    assert cli("allocate", "--rules", folder).exit_code == 0
    out_file = tmp_path / "cb.csv"
    result = cli("chargeback", "--period", "2024-10", "--out", out_file)
    assert result.exit_code == 0, result.output
    assert list(csv.reader(out_file.open())) == [
        ["period", "cost_center", "currency", "direct", "shared", "total", "teams"],
        ["2024-10", "'=1+2", "USD", "40", "0", "40", "web"],
    ]


def test_anomalies_list_csv_neutralises_formulas(cli: Callable[..., Run], store: Store) -> None:
    with store.state() as con:
        state.save(con, [state.Anomaly(**{**ANOMALY.as_dict(), "owner": "=cmd|' /C calc'!A0"})])
    result = cli("anomalies", "list", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows[0]["owner"] == "'=cmd|' /C calc'!A0"
    assert rows[0]["impact"] == "334.68"
