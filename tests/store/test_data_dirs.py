"""Data dirs: a path with an apostrophe works for every command (paths reach SQL only through
`cloudtally.sqltext`), a --data-dir that does not exist is refused by every command but
`ingest`, naming the data dirs nearby, and one whose path reads as a pattern by every one."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from cloudtally.engine import SparkEngine
from cloudtally.errors import StoreError
from cloudtally.sample import generate_sample
from cloudtally.store import Store
from tests.conftest import FOCUS_10, Run

EXAMPLE_RULES = Path(__file__).resolve().parents[2] / "examples" / "rules"


@pytest.fixture(scope="module")
def obrien(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A home folder with an apostrophe, holding two months of the sample company's exports."""
    home = tmp_path_factory.mktemp("home") / "o'brien"
    generate_sample(home / "exports", months=2, scale=0.05, seed=7)
    return home


def test_every_command_works_in_a_folder_with_an_apostrophe(
    obrien: Path, cli: Callable[..., Run], tmp_path: Path
) -> None:
    data = obrien / "lake's data"

    def run(*args: str | Path) -> Run:
        result = cli(*args, data=data)
        assert result.exit_code == 0, (args, result.output)
        return result

    assert "7,439 rows" in run("ingest", "--no-progress", obrien / "exports").stdout
    assert run("sql", "SELECT count(*), sum(BilledCost) FROM costs", "-f", "csv").stdout == (
        "count_star(),sum(BilledCost)\n7439,21155.8914026272487\n"
    )
    assert (
        run("costs", "--by", "provider", "-f", "csv")
        .stdout.splitlines()[1]
        .startswith("aws,USD,16634.7539145856287,0.78629416")
    )
    assert run("costs", "--by", "tag:team", "--period", "2024-10", "-f", "csv").stdout
    assert (
        run("movers", "-f", "csv")
        .stdout.splitlines()[1]
        .startswith("Amazon Elastic Compute Cloud,USD,2418.336336,2976.158608,557.822272,")
    )
    assert "9 passed, 2 warned, 0 failed" in run("check", "--today", "2024-11-02").stdout
    assert "7,439 rows" in run("export", obrien / "export's folder").stdout
    assert "7,439 rows" in run("export", obrien / "single's.csv").stdout
    run("allocate", "--rules", EXAMPLE_RULES)
    assert run("sql", "SELECT sum(BilledCost) FROM allocated_costs").stdout == (
        "21155.8914026272487\n"
    )
    assert (
        run("showback", "-f", "csv")
        .stdout.splitlines()[-1]
        .startswith("(unallocated),USD,19.7932698,0,19.7932698,")
    )
    assert run("chargeback", "-f", "csv").stdout.splitlines()[-1] == (
        "(unallocated),USD,19.7932698,0,19.7932698,"
    )
    assert (
        run("tags", "coverage", "--rules", EXAMPLE_RULES, "-f", "csv")
        .stdout.splitlines()[1]
        .startswith("USD,19838.9764850009487,")
    )
    assert (
        len(run("tags", "exceptions", "--rules", EXAMPLE_RULES, "-f", "csv").stdout.splitlines())
        == 51  # the header and the top 50 (charges without a resource are exceptions too)
    )
    assert (
        "Scored 155 series on 2024-10-30"
        in run(
            "anomalies", "detect", "--rules", EXAMPLE_RULES / "monitors.yaml", "--no-progress"
        ).output
    )
    run("anomalies", "list")
    explained = json.loads(
        run(
            "explain", "--baseline", "2024-10-01..2024-10-07", "--compare",
            "2024-10-08..2024-10-14", "-f", "json",
        ).stdout
    )  # fmt: skip
    assert str(explained["baseline_per_day"]).startswith("388.70")
    # DuckDB spilled (if it needed to) into this process's own folder in the data dir.
    assert (data / "tmp").is_dir()


READ_COMMANDS = [
    ("sql", "SELECT 1"),
    ("costs",),
    ("movers",),
    ("check",),
    ("export", "OUT"),
    ("allocate", "--rules", str(EXAMPLE_RULES)),
    ("showback",),
    ("chargeback",),
    ("tags", "coverage", "--rules", str(EXAMPLE_RULES)),
    ("tags", "exceptions", "--rules", str(EXAMPLE_RULES)),
    ("anomalies", "detect", "--rules", str(EXAMPLE_RULES / "monitors.yaml")),
    ("anomalies", "list"),
    ("explain", "--baseline", "2024-10-01..2024-10-07", "--compare", "2024-10-08..2024-10-14"),
]


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_missing_data_dir_is_refused_naming_those_nearby(
    cli: Callable[..., Run],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: tuple[str, ...],
) -> None:
    work = tmp_path / "work"
    for name in ("lake-prod", "lake-test"):
        assert cli("ingest", "--no-progress", FOCUS_10, data=work / name).exit_code == 0
    monkeypatch.chdir(work)
    result = cli(*command, data=Path("lake-prd"))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "Error: --data-dir lake-prd does not exist. Data dirs nearby: lake-prod, lake-test. "
        "Pass an existing one with --data-dir (or CLOUDTALLY_DATA_DIR), or create this one "
        "with `cloudtally --data-dir lake-prd ingest EXPORTS`.\n"
    )
    assert not (work / "lake-prd").exists()


def test_ingest_creates_the_data_dir(cli: Callable[..., Run], tmp_path: Path) -> None:
    data = tmp_path / "new" / "lake"
    assert cli("ingest", "--no-progress", FOCUS_10, data=data).exit_code == 0
    assert (data / "catalog.json").is_file()


def test_nothing_nearby(
    cli: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli("costs", data=tmp_path / "nowhere" / "lake")
    assert result.stderr == (
        "Error: --data-dir nowhere/lake does not exist. No data dir was found nearby. Pass an "
        "existing one with --data-dir (or CLOUDTALLY_DATA_DIR), or create this one with "
        "`cloudtally --data-dir nowhere/lake ingest EXPORTS`.\n"
    )


@pytest.mark.parametrize("name", ["lake[1]", "lake*", "lake?"])
def test_a_data_dir_whose_path_reads_as_a_pattern_is_refused(
    cli: Callable[..., Run], tmp_path: Path, name: str
) -> None:
    """DuckDB's file readers take `[1]`, `*` and `?` as patterns: a lake there could not read
    its own files as themselves (nor tell them from a neighbour's). Spark's take `{a,b}` and a
    backslash too; DuckDB's do not."""
    data = tmp_path / name
    result = cli("ingest", "--no-progress", FOCUS_10, data=data)
    assert result.exit_code == 1
    character = next(c for c in name if c in "[*?")
    assert result.stderr == (
        f"Error: --data-dir {data}: the path holds {character}, which DuckDB's file readers "
        "take as a pattern, so the lake's files could not be read as themselves. Choose a path "
        "without [ * ?.\n"
    )
    assert not data.exists()
    braced = tmp_path / "lake{a,b}"
    assert cli("ingest", "--no-progress", FOCUS_10, data=braced).exit_code == 0
    with pytest.raises(StoreError) as refused:
        Store(braced, SparkEngine())
    assert str(refused.value) == (
        f"--data-dir {braced}: the path holds {{ }}, which Spark's file readers take as a "
        "pattern, so the lake's files could not be read as themselves. Choose a path without "
        "[ * ? { } \\."
    )
