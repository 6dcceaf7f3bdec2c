"""Pieces every command module shares: the store a command works on and the output option."""

from __future__ import annotations

from typing import Any

import click

from cloudtally.output import OutputFormat
from cloudtally.store import Store


def store_of(ctx: click.Context) -> Store:
    """The store chosen by the global `--data-dir` option."""
    return Store(ctx.find_root().obj["data_dir"])


def format_option(f: Any) -> Any:
    """The `--format/-f table|json|csv` option every reporting command takes."""
    return click.option(
        "--format",
        "-f",
        "fmt",
        type=click.Choice([f.value for f in OutputFormat]),
        default="table",
        show_default=True,
        help="Output format.",
    )(f)
