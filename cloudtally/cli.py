"""The `cloudtally` command line. Commands are thin: they parse options, call the package and
render the result. User errors print one message and exit 1; `--debug` shows the traceback."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from cloudtally.errors import CloudtallyError
from cloudtally.output import OutputFormat, exact, render
from cloudtally.store import Store
from cloudtally.store.store import DEFAULT_DATA_DIR

err = Console(stderr=True)


class _Group(click.Group):
    """Translates CloudtallyError into one message and exit code 1 at the boundary."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CloudtallyError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            err.print(f"[bold red]Error:[/] {exc}", markup=True, highlight=False, soft_wrap=True)
            raise click.exceptions.Exit(1) from None


def format_option(f: Any) -> Any:
    return click.option(
        "--format",
        "-f",
        "fmt",
        type=click.Choice([f.value for f in OutputFormat]),
        default="table",
        show_default=True,
        help="Output format.",
    )(f)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=DEFAULT_DATA_DIR,
    show_default=True,
    envvar="CLOUDTALLY_DATA_DIR",
    help="Where the cost lake lives (created on first use).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.version_option(package_name="cloudtally")
@click.pass_context
def app(ctx: click.Context, data_dir: Path, debug: bool) -> None:
    """cloudtally: billing exports into a correct, fast FOCUS cost lake."""
    ctx.obj = {"data_dir": data_dir, "debug": debug}


def store_of(ctx: click.Context) -> Store:
    return Store(ctx.obj["data_dir"])


@app.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "forced_format", help="Force a billing format instead of detecting it.")
@click.option(
    "--progress/--no-progress", default=None, help="Show a progress bar (default: on a terminal)."
)
@click.pass_context
def ingest(
    ctx: click.Context, paths: tuple[Path, ...], forced_format: str | None, progress: bool | None
) -> None:
    """Ingest billing exports (files or folders) into the cost lake.

    Detects the format and FOCUS version, converts to canonical FOCUS 1.2, reconciles the
    totals and swaps the new data in atomically. Re-ingesting an unchanged file changes
    nothing; a new export of a billing period replaces that account's period.
    """
    from cloudtally.ingest.pipeline import ingest as run_ingest
    from cloudtally.progress import Reporter
    from cloudtally.report.ingest_summary import print_ingest_summary

    report = run_ingest(
        store_of(ctx), list(paths), forced_format=forced_format, reporter=Reporter(progress)
    )
    print_ingest_summary(report)


@app.command()
@click.argument("query")
@format_option
@click.pass_context
def sql(ctx: click.Context, query: str, fmt: str) -> None:
    """Run a read-only SQL QUERY (DuckDB dialect) over the view `costs`."""
    result = store_of(ctx).sql(query)
    rows, columns = result.rows, result.columns
    if fmt == "table" and len(columns) == 1 and len(rows) == 1:
        value = rows[0][0]
        click.echo(exact(value) if hasattr(value, "as_tuple") else value)
        return
    render(columns, rows, OutputFormat(fmt))


def main() -> None:
    try:
        app(prog_name="cloudtally")
    except KeyboardInterrupt:
        err.print("Interrupted; the store is unchanged.")
        sys.exit(130)
