"""`cloudtally sample OUT`: FOCUS 1.2 exports of a made-up company, for demos, tests and
benchmarks. Thin: parse options, call `generate_sample`, print what was written."""

from __future__ import annotations

import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from cloudtally.sample.generator import BENCHMARK_SCALE, SampleSummary, generate_sample
from cloudtally.sample.writers import FORMATS


@click.command(name="sample")
@click.argument("out", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--months",
    type=int,
    default=6,
    show_default=True,
    help="Billing months to write, ending with --end-month (1 to 120).",
)
@click.option(
    "--scale",
    type=float,
    default=1.0,
    show_default=True,
    help=f"Size of the company. Rows grow linearly: 1 is about 50k rows a month, "
    f"{BENCHMARK_SCALE} about 10M.",
)
@click.option(
    "--seed",
    type=int,
    default=42,
    show_default=True,
    help="Random seed. The same seed and options write byte-identical files.",
)
@click.option(
    "--end-month",
    default="2024-10",
    show_default=True,
    metavar="YYYY-MM",
    help="The last billing month.",
)
@click.option(
    "--file-format",
    "fmt",
    type=click.Choice(list(FORMATS)),
    default="parquet",
    show_default=True,
    help="parquet (typed: DECIMAL(38,18) money, UTC timestamps) or csv / csv.gz (text, as "
    "CSV exports ship).",
)
@click.option(
    "--commitments",
    is_flag=True,
    help="Also reservations (with unused hours and an upfront purchase) and a FOCUS 1.3 "
    "Contract Commitment file per provider. Changes the totals; at most 12 months.",
)
def sample(
    out: Path, months: int, scale: float, seed: int, end_month: str, fmt: str, commitments: bool
) -> None:
    """Write FOCUS 1.2 Cost and Usage exports for a made-up company into OUT.

    Acme Retail has 50 accounts on AWS, Azure and Google Cloud, 8 teams and 12 products.
    One file per provider and billing month, as providers deliver them
    (OUT/aws/2024-10.parquet, ...), ready for `cloudtally ingest OUT`.

    The data has what real bills have: quieter weekends, growth, taxes, credits, a
    savings plan, corrections, tag key variants and untagged cost, plus three planted
    anomalies, listed at the end.

    \b
    Examples:
      cloudtally sample demo-data
      cloudtally sample bench --months 1 --scale 200   # about 10M rows
    """
    started = time.perf_counter()
    summary = generate_sample(
        out,
        months=months,
        scale=scale,
        seed=seed,
        end_month=end_month,
        fmt=fmt,
        commitments=commitments,
    )
    print_sample_summary(summary, time.perf_counter() - started)


def print_sample_summary(
    summary: SampleSummary, seconds: float, console: Console | None = None
) -> None:
    console = console or Console(soft_wrap=True, markup=False)
    periods = sorted({f.billing_period for f in summary.files})
    span = periods[0] if len(periods) == 1 else f"{periods[0]} to {periods[-1]}"
    console.print(
        f"Wrote {len(summary.files)} files to {summary.out_dir} in {seconds:.1f} s: "
        f"{summary.rows:,} rows, billing periods {span}.",
        highlight=False,
    )
    table = Table(title="Cost by provider", title_justify="left")
    for column in ("provider", "files", "rows", "BilledCost", "EffectiveCost"):
        table.add_column(column, justify="left" if column == "provider" else "right")
    for provider in dict.fromkeys(f.provider for f in summary.files):
        files = [f for f in summary.files if f.provider == provider]
        billed = sum((f.totals["USD"]["BilledCost"] for f in files), start=0)
        effective = sum((f.totals["USD"]["EffectiveCost"] for f in files), start=0)
        table.add_row(
            provider,
            str(len(files)),
            f"{sum(f.rows for f in files):,}",
            f"{billed:,.2f}",
            f"{effective:,.2f}",
        )
    for currency, metrics in sorted(summary.totals.items()):
        table.add_row(
            f"total ({currency})",
            str(len(summary.files)),
            f"{summary.rows:,}",
            f"{metrics['BilledCost']:,.2f}",
            f"{metrics['EffectiveCost']:,.2f}",
            style="bold",
        )
    console.print(table)
    anomalies = Table(title="Planted anomalies", title_justify="left")
    for column in ("from", "kind", "where", "what"):
        anomalies.add_column(column)
    for a in summary.anomalies:
        anomalies.add_row(str(a.date), a.kind, f"{a.dimension}={a.value}", a.description)
    console.print(anomalies)
    for path in summary.contract_files:
        console.print(f"Contract commitments: {path}", highlight=False)
    console.print(f"Next: cloudtally ingest {summary.out_dir}", highlight=False)
