"""`cloudtally kpis`: the FinOps KPI scorecard."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from cloudtally.clikit import format_option_with, rules_option, store_of
from cloudtally.output import OutputFormat, render


@click.command("kpis")
@click.option("--period", help="Billing period YYYY-MM (default: the newest in the lake).")
@click.option(
    "--targets",
    "targets_path",
    type=click.Path(path_type=Path),
    help="kpis.yaml with targets (default: the rules folder's kpis.yaml, else the defaults).",
)
@rules_option("Rules folder (tags.yaml for coverage and exceptions, kpis.yaml for targets).")
@click.option(
    "--docs",
    "docs_dir",
    type=click.Path(path_type=Path),
    default=Path("docs"),
    show_default=True,
    help="Docs folder whose runbooks the documentation KPI checks.",
)
@format_option_with("markdown")
@click.pass_context
def kpis_command(
    ctx: click.Context,
    period: str | None,
    targets_path: Path | None,
    rules_dir: Path,
    docs_dir: Path,
    fmt: str,
) -> None:
    """The FinOps KPI scorecard: each KPI's value, target, status (met, at risk, missed, no
    data), its trend over the last six periods and how it is computed."""
    from cloudtally.kpis.scorecard import scorecard
    from cloudtally.kpis.targets import load_targets
    from cloudtally.query.periods import parse_periods, require_data

    store = store_of(ctx)
    span = require_data(store.connect(), None)
    chosen = parse_periods(period)[0] if period else span.last_period  # type: ignore[index]
    targets = load_targets(targets_path or (rules_dir / "kpis.yaml"))
    results = scorecard(
        store,
        chosen,
        targets=targets,
        rules_dir=rules_dir if rules_dir.is_dir() else None,
        docs_dir=docs_dir,
    )
    if fmt == "json":
        sys.stdout.write(json.dumps([r.as_dict() for r in results], indent=2) + "\n")
        return
    columns = ["kpi", "value", "target", "status", "trend", "how"]
    rows = [
        (
            r.title,
            "no data" if r.value is None else f"{r.value:g} {r.unit}",
            f"{'<=' if r.direction == 'below' else '>='} {r.target:g} {r.unit}",
            r.status,
            " ".join("-" if v is None else f"{v:g}" for _, v in r.trend),
            r.how,
        )
        for r in results
    ]
    if fmt == "markdown":
        lines = [f"# FinOps KPIs, {chosen}", "", "| " + " | ".join(columns) + " |"]
        lines.append("|" + "---|" * len(columns))
        lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
        sys.stdout.write("\n".join(lines) + "\n")
        return
    if fmt == "csv":
        render([c for c in columns], rows, OutputFormat.csv)
        return
    render(
        columns[:5], [row[:5] for row in rows], OutputFormat.table, title=f"FinOps KPIs, {chosen}"
    )
