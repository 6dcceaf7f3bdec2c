"""The `cloudtally` command line. Commands are thin: they parse options, call the package and
render the result. User errors print one message and exit 1; `--debug` shows the traceback."""

from __future__ import annotations

import json
import re
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

import click
import duckdb
from rich.console import Console

from cloudtally.clikit import (
    DEFAULT_RULES,
    date_range,
    filters_of,
    format_option,
    print_notes,
    range_options,
    rules_option,
    store_of,
    where_option,
)
from cloudtally.engine import DEFAULT_SPARK_MASTER, ENGINES
from cloudtally.errors import CloudtallyError, QueryError
from cloudtally.output import OutputFormat, echo, exact, plain, render, visible
from cloudtally.query.bridge import PARTS
from cloudtally.query.explain import COLUMNS
from cloudtally.store import Store
from cloudtally.store.faults import (
    disk_full,
    disk_full_message,
    interrupted,
    interrupted_message,
    watch_interrupts,
)
from cloudtally.store.store import DEFAULT_DATA_DIR
from cloudtally.store.verify import lake_file_error

err = Console(stderr=True)


class _Group(click.Group):
    """The boundary: a CloudtallyError, Ctrl-C, a full disk or an unreadable lake file is one
    message and a non-zero exit, never a traceback (`--debug` shows it)."""

    def invoke(self, ctx: click.Context) -> Any:
        # `--debug` is known only once the group's callback has run (inside super().invoke).
        def debug() -> bool:
            return bool(ctx.obj and ctx.obj.get("debug"))

        try:
            return super().invoke(ctx)
        except (KeyboardInterrupt, duckdb.InterruptException):
            if debug():
                raise
            _fail(interrupted_message(), code=130, prefix=False)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except Exception as exc:
            if debug():
                raise
            # Ctrl-C that a library turned into an error of its own (DuckDB's Python client
            # says "Query interrupted" for some statements; an import it was making fails).
            if interrupted() or (isinstance(exc, RuntimeError) and str(exc) == "Query interrupted"):
                _fail(interrupted_message(), code=130, prefix=False)
            if isinstance(exc, CloudtallyError):
                # A stage that wraps the engine's error in its own still ran out of disk.
                _fail(disk_full_message(exc) if disk_full(exc) else str(exc))
            message = _fault_message(ctx, exc) if isinstance(exc, OSError | duckdb.Error) else None
            if message is None:
                raise
            _fail(message)


def _fail(message: str, *, code: int = 1, prefix: bool = True) -> NoReturn:
    if prefix:
        err.print("[bold red]Error:[/]", end=" ")
    err.print(visible(message, lines=True), markup=False, highlight=False, soft_wrap=True)
    raise click.exceptions.Exit(code)


def _fault_message(ctx: click.Context, exc: OSError | duckdb.Error) -> str | None:
    """The message for a full disk or a damaged lake file; None for anything else."""
    if disk_full(exc):
        return disk_full_message(exc)
    if isinstance(exc, duckdb.Error) and ctx.obj:
        try:
            store = Store(ctx.obj["data_dir"])
            if store.objects or store.data_dir.is_dir():
                found = lake_file_error(store, store.catalog(), exc)
                return str(found) if found else None
        except CloudtallyError as problem:  # (the store is out of reach too)
            return str(problem)
    return None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=DEFAULT_DATA_DIR,
    show_default=True,
    envvar="CLOUDTALLY_DATA_DIR",
    help="Where the cost lake lives (`ingest` and `access add` create it; other commands need "
    "it to exist).",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="duckdb",
    show_default=True,
    envvar="CLOUDTALLY_ENGINE",
    help="Where queries run: the embedded DuckDB, or a Spark session (ingest, allocate, costs, "
    "showback, chargeback, movers; needs `pip install 'cloudtally[spark]'` and Java).",
)
@click.option(
    "--spark-master",
    default=DEFAULT_SPARK_MASTER,
    show_default=True,
    envvar="CLOUDTALLY_SPARK_MASTER",
    help="The Spark master for --engine spark (local[N], spark://HOST:PORT, yarn, ...).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.version_option(package_name="cloudtally")
@click.pass_context
def app(ctx: click.Context, data_dir: Path, engine: str, spark_master: str, debug: bool) -> None:
    """cloudtally: billing exports into a correct, fast FOCUS cost lake."""
    ctx.obj = {
        "data_dir": data_dir,
        "debug": debug,
        "engine": engine,
        "spark_master": spark_master,
    }


@app.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "forced_format", help="Force a billing format instead of detecting it.")
@click.option(
    "--mapping",
    "mapping_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Read every file through this bill mapping (YAML: FOCUS columns from any CSV or "
    "Parquet bill; docs/mappings.md).",
)
@click.option(
    "--repair",
    is_flag=True,
    help="Verify every live file and rewrite each damaged one from its source (PATHS, or where "
    "it was ingested from).",
)
@click.option(
    "--progress/--no-progress", default=None, help="Show a progress bar (default: on a terminal)."
)
@click.option(
    "--follow-symlinks",
    is_flag=True,
    help="Follow symbolic links in folders that lead out of them (skipped by default).",
)
@click.pass_context
def ingest(
    ctx: click.Context,
    paths: tuple[Path, ...],
    forced_format: str | None,
    mapping_file: Path | None,
    repair: bool,
    progress: bool | None,
    follow_symlinks: bool,
) -> None:
    """Ingest billing exports (files, folders or s3:// gs:// abfss:// URIs) into the lake.

    Detects the format and FOCUS version, converts to canonical FOCUS 1.2, reconciles the
    totals and swaps the new data in atomically. Re-ingesting an unchanged file changes
    nothing (unless a live file made from it is missing or damaged, or was written before
    lines had keys (x_LineNo): then it is rewritten); a
    new export of a billing period replaces that account's period. The files of one call form
    one delivery: files in different formats (or FOCUS versions) holding the same
    account-period are versions of one export and are refused together. With --mapping FILE,
    any CSV or Parquet bill (a SaaS vendor's, an internal platform's) is read through a
    mapping of its columns to FOCUS, with the same checks.
    """
    if not paths and not repair:
        raise click.UsageError("Give the files or folders to ingest (or --repair).")
    if mapping_file is not None and forced_format:
        raise click.UsageError("Give --mapping or --format, not both.")
    if mapping_file is not None and repair:
        raise click.UsageError("--repair reads sources in their own formats; drop --mapping.")
    from cloudtally.ingest.mapping import load_mapping
    from cloudtally.ingest.pipeline import ingest as run_ingest
    from cloudtally.progress import Reporter
    from cloudtally.report.ingest_summary import print_ingest_summary

    mapping = load_mapping(mapping_file) if mapping_file is not None else None
    report = run_ingest(
        store_of(ctx, create=True),
        list(paths),
        forced_format=forced_format,
        reporter=Reporter(progress),
        repair=repair,
        follow_symlinks=follow_symlinks,
        mapping=mapping,
    )
    print_ingest_summary(report)


@app.command()
@click.argument("query")
@rules_option("Rules folder whose business metrics (metrics/, metrics.yaml) are views too.")
@format_option
@click.pass_context
def sql(ctx: click.Context, query: str, rules_dir: Path, fmt: str) -> None:
    """Run a read-only SQL QUERY (DuckDB dialect) over the lake's views.

    \b
    costs            One row per charge line of the live exports: the FOCUS 1.2 columns,
                     x_Provider, x_BillingPeriod (the folders), x_SourceFormat, x_SourceFile,
                     x_IngestId, x_LineNo and a source's extensions. Key: (x_IngestId,
                     x_LineNo), one per line, even where an export repeats a line (its FOCUS
                     columns have no key: sum them, never count distinct). x_LineNo is the
                     line's row in x_SourceFile plus 10^12 x the file's place in its ingest;
                     NULL in a lake ingested before it: ingest those exports again, which
                     numbers their lines, then allocate again.
    allocated_costs  After `cloudtally allocate`: every line of costs as a `direct` row with
                     its columns and team, product, cost_center, env, allocation_rule,
                     missing_tags; plus `shared` rows, one per shared pool, day, group of the
                     pool's lines and recipient (shared_pool set, line-level columns such as
                     ResourceId, x_IngestId and x_LineNo empty). Per billing period and
                     currency its money equals costs' to the last digit. Direct rows join
                     their line one to one: `allocated_costs a JOIN costs c USING
                     (x_IngestId, x_LineNo)`; shared rows join nothing, so sum them apart.
    metric_NAME      A business metric of the rules folder (`unit-costs`): day, period,
                     value and its dimension columns (`network-gb` is metric_network_gb);
                     unit_metrics holds them all (metric, day, period, value, dimensions).

    Money columns are DECIMAL(38,18): sum them; cast to DOUBLE before multiplying big sums.
    """
    from cloudtally.sqltext import identifier, literal
    from cloudtally.unit.metrics import load_metrics

    folder = rules_dir if rules_dir.is_dir() else None
    metrics = load_metrics(folder) if folder is not None else None

    def add_metric_views(con: Any) -> None:
        if metrics is None or not metrics.rows:
            return
        metrics.table(con, "unit_metrics")
        for name in metrics.names():
            columns = ", ".join(identifier(d) for d in metrics.dimensions(name))
            view = "metric_" + re.sub(r"\W", "_", name)
            con.execute(
                f"CREATE TEMP VIEW {identifier(view)} AS SELECT day, period, value"
                f"{', ' + columns if columns else ''} FROM unit_metrics "
                f"WHERE metric = {literal(name)}"
            )

    result = store_of(ctx).sql(query, prepare=add_metric_views)
    rows, columns = result.rows, result.columns
    if fmt == "table" and len(columns) == 1 and len(rows) == 1:
        value = rows[0][0]
        echo(exact(value) if hasattr(value, "as_tuple") else value)
        return
    render(columns, rows, OutputFormat(fmt))


@app.command()
@click.option(
    "--by",
    default="service",
    show_default=True,
    help="Comma-separated dimensions: provider, billing-account, account, service, "
    "service-category, charge-category, region, resource, sku, period, month, week, day, "
    "team, product, cost_center, env, tag:KEY, or a FOCUS column.",
)
@range_options
@click.option(
    "--metric",
    default="BilledCost",
    show_default=True,
    help="BilledCost, EffectiveCost (amortized), ListCost or ContractedCost.",
)
@where_option
@click.option("--top", type=click.IntRange(min=1), help="Show the N largest groups, fold the rest.")
@rules_option("Rules folder whose tags.yaml normalises owners read from tags.")
@format_option
@click.pass_context
def costs(
    ctx: click.Context,
    by: str,
    period: str | None,
    since: str | None,
    until: str | None,
    metric: str,
    filters: tuple[str, ...],
    top: int | None,
    rules_dir: Path,
    fmt: str,
) -> None:
    """Cost totals grouped by dimensions, largest first, with each group's share.

    Owners (team, product, cost_center, env) come from `allocated_costs` when it is current,
    shared costs included; otherwise from the tags, normalised by tags.yaml.
    """
    from cloudtally.query.costs import grouped_costs

    when = date_range(period, since, until)
    words = [w.strip() for w in by.split(",") if w.strip()]
    result = grouped_costs(
        store_of(ctx),
        words,
        when=when,
        metric_name=metric,
        top=top,
        filters=filters_of(filters),
        rules_dir=_rules_dir(rules_dir),
    )
    print_notes(result.notes)
    totals = ", ".join(f"{c} {v:,.2f}" for c, v in sorted(result.total_by_currency.items()))
    title = f"{result.metric} by {', '.join(words)}" + (f", {when.label()}" if when else "")
    render(
        result.columns,
        result.rows,
        OutputFormat(fmt),
        title=f"{title} (total {totals or '0'})",
        money_columns=[result.metric],
        share_columns=["share"],
    )


@app.command()
@click.option("--by", default="service", show_default=True, help="Comma-separated dimensions.")
@range_options
@click.option("--metric", default="BilledCost", show_default=True, help="Cost metric.")
@where_option
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True)
@rules_option("Rules folder whose tags.yaml normalises owners read from tags.")
@format_option
@click.pass_context
def movers(
    ctx: click.Context,
    by: str,
    period: str | None,
    since: str | None,
    until: str | None,
    metric: str,
    filters: tuple[str, ...],
    top: int,
    rules_dir: Path,
    fmt: str,
) -> None:
    """Top movers: the groups whose cost changed most since the range before.

    The range (default: the newest billing period) is compared with the one just before it of
    the same length: a month with the month before, a week with the week before.
    """
    from cloudtally.query.movers import top_movers

    words = [w.strip() for w in by.split(",") if w.strip()]
    result = top_movers(
        store_of(ctx),
        words,
        when=date_range(period, since, until),
        metric_name=metric,
        top=top,
        filters=filters_of(filters),
        rules_dir=_rules_dir(rules_dir),
    )
    print_notes(result.notes)
    render(
        result.columns,
        result.rows,
        OutputFormat(fmt),
        title=f"Top movers by {', '.join(words)}: {result.previous} -> {result.period} ({result.metric})",
        money_columns=[result.previous, result.period, "change"],
        share_columns=["change_pct"],
    )


@app.command()
@click.option(
    "--baseline",
    required=True,
    metavar="RANGE",
    help="Baseline days: YYYY-MM-DD..YYYY-MM-DD, an ISO week YYYY-Www or a month YYYY-MM.",
)
@click.option("--compare", required=True, metavar="RANGE", help="The days to explain.")
@click.option("--by", default="service", show_default=True, help="Comma-separated dimensions.")
@where_option
@click.option("--metric", default="BilledCost", show_default=True, help="Cost metric.")
@click.option("--top", type=click.IntRange(min=1), default=10, show_default=True)
@rules_option("Rules folder whose tags.yaml normalises owners read from tags.")
@format_option
@click.pass_context
def explain(
    ctx: click.Context,
    baseline: str,
    compare: str,
    by: str,
    filters: tuple[str, ...],
    metric: str,
    top: int,
    rules_dir: Path,
    fmt: str,
) -> None:
    """Explain a change in spend per day between two ranges: the drivers, what the change is
    made of (volume, price, commitment coverage, new, removed, credits, tax, other; the parts
    add up to the change exactly), and a drafted note to the owner."""
    from cloudtally.query.explain import explain_change

    result = explain_change(
        store_of(ctx),
        _span(baseline, "--baseline"),
        _span(compare, "--compare"),
        words=[w.strip() for w in by.split(",") if w.strip()],
        filters=filters_of(filters),
        metric_name=metric,
        top=top,
        rules_dir=_rules_dir(rules_dir),
    )
    print_notes(result.notes)
    if fmt == "json":
        sys.stdout.write(json.dumps(plain(result.as_dict()), indent=2) + "\n")
        return
    money = ["baseline", "compare", "change", *PARTS]
    if fmt == "csv":
        render(result.columns, result.rows, OutputFormat.csv)
        return
    render(
        COLUMNS,
        [row[: len(COLUMNS)] for row in result.rows],
        OutputFormat.table,
        title=result.title,
        money_columns=money,
        share_columns=["share"],
    )
    render(
        ["part", f"change per day ({result.currency})"],
        [*result.part_rows(), ("total", result.change_per_day.quantize(Decimal("0.01")))],
        OutputFormat.table,
        title="What the change is made of",
        money_columns=[f"change per day ({result.currency})"],
    )
    echo("")
    echo(result.message)


def _span(text: str, option: str) -> Any:
    from cloudtally.query.periods import parse_range

    try:
        found = parse_range(text)
    except CloudtallyError as exc:
        raise QueryError(str(exc).replace("--period", option)) from None
    if found is None:
        raise QueryError(
            f"{option} is empty: give a span such as 2024-10 or 2024-10-01..2024-10-07."
        )
    return found


def _rules_dir(rules_dir: Path) -> Path | None:
    """The rules folder given, or None when the default ./rules is not there."""
    return rules_dir if rules_dir != DEFAULT_RULES or rules_dir.exists() else None


@app.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--focus-version", default="1.2", show_default=True, help="FOCUS version to write.")
@click.option("--period", help="Billing period YYYY-MM, or a range YYYY-MM..YYYY-MM.")
@click.option(
    "--file-format",
    type=click.Choice(["parquet", "csv"]),
    help="File format (default: from OUT's suffix, else parquet).",
)
@click.option("--extensions/--no-extensions", default=True, help="Keep the x_ columns.")
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@click.option(
    "--bi",
    is_flag=True,
    help="Write a star schema for BI tools instead: a daily fact table and dimension tables "
    "(docs/bi.md).",
)
@click.pass_context
def export(
    ctx: click.Context,
    out: Path,
    focus_version: str,
    period: str | None,
    file_format: str | None,
    extensions: bool,
    overwrite: bool,
    bi: bool,
) -> None:
    """Write the lake as a FOCUS dataset to OUT (or, with --bi, a star schema).

    OUT ending in .parquet or .csv is one file; otherwise a folder with one file per provider
    and billing period. Costs are written exactly as stored.
    """
    from cloudtally.export.focus import export_focus
    from cloudtally.query.costs import parse_periods

    if bi:
        from cloudtally.export.bi import export_bi

        star = export_bi(store_of(ctx), out, periods=parse_periods(period), overwrite=overwrite)
        click.echo(
            f"Wrote a star schema ({star.fact_rows:,} fact rows, owners from {star.relation}) "
            f"to {out}:"
        )
        for path in star.files:
            click.echo(f"  {path}")
        return
    report = export_focus(
        store_of(ctx),
        out,
        version=focus_version,
        periods=parse_periods(period),
        file_format=file_format,
        extensions=extensions,
        overwrite=overwrite,
    )
    click.echo(
        f"Wrote {report.rows:,} rows as FOCUS {focus_version} to {len(report.files)} file(s):"
    )
    for path in report.files:
        echo(f"  {path}")


def _register_commands() -> None:
    """Commands that live beside the part of the package they drive."""
    from cloudtally.access.command import access
    from cloudtally.allocate.command import allocate, chargeback, showback
    from cloudtally.allocate.k8s_command import k8s
    from cloudtally.anomaly.command import anomalies
    from cloudtally.budgets.command import budgets
    from cloudtally.commitments.command import commitments
    from cloudtally.forecast.command import forecast
    from cloudtally.kpis.command import kpis_command
    from cloudtally.models.command import models
    from cloudtally.observe.command import metrics
    from cloudtally.quality.command import check
    from cloudtally.recommend.command import recommend
    from cloudtally.reconcile.command import reconcile_command
    from cloudtally.report.command import report
    from cloudtally.rules.command import rules
    from cloudtally.sample.command import sample
    from cloudtally.savings.command import savings
    from cloudtally.tags.command import tags
    from cloudtally.unit.command import unit_costs_command
    from cloudtally.web.command import serve

    for command in (
        check,
        sample,
        allocate,
        showback,
        chargeback,
        tags,
        anomalies,
        reconcile_command,
        unit_costs_command,
        kpis_command,
        metrics,
        report,
        rules,
        serve,
        access,
        models,
        forecast,
        budgets,
        commitments,
        recommend,
        savings,
        k8s,
    ):
        app.add_command(command)
    # Every command answers -h as well as --help, however it is reached (click caches the
    # help option per command, so this must not depend on the first caller's context).
    for command in app.commands.values():
        command.context_settings.setdefault("help_option_names", ["-h", "--help"])


_register_commands()


def main() -> None:
    watch_interrupts()
    try:
        app(prog_name="cloudtally")
    except KeyboardInterrupt:
        # Ctrl-C outside a command (while parsing options or importing).
        err.print(interrupted_message(), markup=False, highlight=False)
        sys.exit(130)
