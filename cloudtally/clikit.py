"""Pieces every command module shares: the store a command works on, the output option and
the rules folder option."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cloudtally.output import CSV_RAW_ENV, OutputFormat, echo, set_csv_raw
from cloudtally.store import Store
from cloudtally.store.locate import require_data_dir


def store_of(ctx: click.Context, *, create: bool = False, pinned: bool = True) -> Store:
    """The store chosen by the global `--data-dir` option, on the engine `--engine` names (a
    command that does not run on Spark says so). Its catalog is read once for the command
    (`Store.pinned`): a server, which must see new data, passes `pinned=False`.

    Only a command that creates a data dir (`ingest`, `access add`) passes `create=True`; for
    every other one a data dir that does not exist is an error naming the data dirs nearby.
    """
    from cloudtally.engine import DUCKDB, SPARK_COMMANDS, engine_for
    from cloudtally.errors import UnsupportedError

    options = ctx.find_root().obj
    name = options.get("engine", "duckdb")
    engine = DUCKDB
    if name != "duckdb":
        words = ctx.command_path.split()
        command = words[1] if len(words) > 1 else ""
        if command not in SPARK_COMMANDS:
            raise UnsupportedError(
                f"`cloudtally {command}` runs on the embedded engine only; run it without "
                f"--engine {name} (commands on Spark: {', '.join(SPARK_COMMANDS)})."
            )
        engine = engine_for(name, options["spark_master"])
    store = Store(options["data_dir"], engine)
    if not create:
        require_data_dir(store, Path(options["data_dir"]))
    if pinned:
        ctx.with_resource(store.pinned())
    return store


def format_option(f: Any) -> Any:
    """The `--format/-f table|json|csv` option every reporting command takes."""
    return format_option_with()(f)


def format_option_with(*extra: str) -> Any:
    """`--format` with choices beyond table|json|csv (e.g. `github` annotations), and
    `--csv-raw`."""
    fmt = click.option(
        "--format",
        "-f",
        "fmt",
        type=click.Choice([*(f.value for f in OutputFormat), *extra]),
        default="table",
        show_default=True,
        help="Output format.",
    )
    raw = click.option(
        "--csv-raw",
        is_flag=True,
        expose_value=False,
        callback=set_csv_raw,
        help="CSV: write cells exactly, without the quote that stops a spreadsheet from "
        f"running a cell starting with = + - @ as a formula (or set {CSV_RAW_ENV}=1).",
    )
    return lambda f: fmt(raw(f))


DEFAULT_RULES = Path("rules")


def rules_option(help: str) -> Any:
    """`--rules RULES_DIR`, the rules folder (default ./rules), as `rules_dir`."""
    return click.option(
        "--rules",
        "rules_dir",
        type=click.Path(path_type=Path),
        default=DEFAULT_RULES,
        show_default=True,
        help=help,
    )


def range_options(f: Any) -> Any:
    """`--period` (billing periods, days or ISO weeks) and `--since/--until` (days)."""
    f = click.option("--until", metavar="YYYY-MM-DD", help="Last day (inclusive), with --since.")(f)
    f = click.option("--since", metavar="YYYY-MM-DD", help="First day, with --until.")(f)
    return click.option(
        "--period",
        help="YYYY-MM, YYYY-MM..YYYY-MM, YYYY-MM-DD..YYYY-MM-DD, an ISO week YYYY-Www "
        "or YYYY-Www..YYYY-Www.",
    )(f)


def date_range(period: str | None, since: str | None, until: str | None) -> Any:
    """The DateRange the range options give (None for none)."""
    from cloudtally.query.periods import parse_range

    return parse_range(period, since=since, until=until)


def where_option(f: Any) -> Any:
    """`--where DIM=VALUE`, repeatable; values of one dimension are alternatives."""
    return click.option(
        "--where",
        "filters",
        multiple=True,
        metavar="DIM=VALUE",
        help="Keep only lines where DIM is VALUE (repeatable; team, product, env, service, ...).",
    )(f)


def filters_of(items: tuple[str, ...]) -> dict[str, list[str]]:
    """`('team=web', 'team=data', 'env=prod')` -> `{'team': ['web', 'data'], 'env': ['prod']}`."""
    from cloudtally.errors import QueryError

    found: dict[str, list[str]] = {}
    for item in items:
        word, sep, value = item.partition("=")
        if not sep or not word.strip():
            raise QueryError(f"--where {item!r} is not DIM=VALUE.")
        found.setdefault(word.strip(), []).append(value.strip())
    return found


def print_notes(notes: list[str]) -> None:
    """Notes about how a result was computed, on stderr (stdout stays machine-readable)."""
    for note in notes:
        echo(f"Note: {note}", err=True)
