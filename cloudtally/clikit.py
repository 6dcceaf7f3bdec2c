"""Pieces every command module shares: the store a command works on, the output option and
the rules folder option."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cloudtally.output import OutputFormat
from cloudtally.store import Store


def store_of(ctx: click.Context) -> Store:
    """The store chosen by the global `--data-dir` option."""
    return Store(ctx.find_root().obj["data_dir"])


def format_option(f: Any) -> Any:
    """The `--format/-f table|json|csv` option every reporting command takes."""
    return format_option_with()(f)


def format_option_with(*extra: str) -> Any:
    """`--format` with choices beyond table|json|csv (e.g. `github` annotations)."""
    return click.option(
        "--format",
        "-f",
        "fmt",
        type=click.Choice([*(f.value for f in OutputFormat), *extra]),
        default="table",
        show_default=True,
        help="Output format.",
    )


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
