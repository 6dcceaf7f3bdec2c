"""`cloudtally allocate`, `showback` and `chargeback`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cloudtally.allocate.sql import DIMENSIONS
from cloudtally.clikit import format_option, range_options, rules_option, store_of
from cloudtally.errors import ExportError
from cloudtally.output import OutputFormat, echo, exact, render, write_csv
from cloudtally.store import Store


@click.command("allocate")
@rules_option("The rules folder (tags.yaml, allocation.yaml, mappings/*.csv; see docs/rules.md).")
@click.option("--period", help="Recompute only these periods (YYYY-MM or YYYY-MM..YYYY-MM).")
@click.option(
    "--explain",
    "explain_what",
    metavar="LINE_OR_RESOURCE",
    help="Show which rule gave each dimension of a resource's lines (ResourceId, ResourceName, "
    "or COLUMN=VALUE,...); publishes nothing.",
)
@click.option(
    "--compare",
    "compare_dir",
    type=click.Path(path_type=Path),
    metavar="OTHER_RULES_DIR",
    help="What-if: each team's total for --period under OTHER_RULES_DIR; publishes nothing.",
)
@click.option("--by", default="team", show_default=True, help="Dimension for --compare.")
@format_option
@click.pass_context
def allocate(
    ctx: click.Context,
    rules_dir: Path,
    period: str | None,
    explain_what: str | None,
    compare_dir: Path | None,
    by: str,
    fmt: str,
) -> None:
    """Allocate costs to teams, products, cost centres and environments.

    Applies the rules folder (tag normalisation, mapping tables, conditional rules, shared
    pools) and publishes the view `allocated_costs` (try `cloudtally sql "SELECT team,
    sum(EffectiveCost) FROM allocated_costs GROUP BY 1"`). For every billing period and
    currency the allocated total equals the lake's total exactly, or nothing is published.
    """
    from cloudtally.allocate.engine import allocate as run_allocate
    from cloudtally.allocate.engine import compare, explain
    from cloudtally.errors import QueryError
    from cloudtally.query.costs import parse_periods
    from cloudtally.rules.allocation import load_rules

    rules = load_rules(rules_dir)
    periods = parse_periods(period)
    store = store_of(ctx)
    output = OutputFormat(fmt)
    if explain_what is not None:
        found = explain(store, rules, explain_what, periods)
        if output is not OutputFormat.table:
            columns = [
                "period",
                *found[0].line,
                "lines",
                "BilledCost",
                "EffectiveCost",
                *(f"{d}{suffix}" for d in DIMENSIONS for suffix in ("", "_source")),
                "shared_pool",
                "missing_tags",
            ]
            rows = [
                (
                    e.period,
                    *e.line.values(),
                    e.lines,
                    e.billed,
                    e.cost,
                    *(x for _, value, source in e.values for x in (value, source)),
                    e.shared_pool,
                    e.missing_tags,
                )
                for e in found
            ]
            render(columns, rows, output)
            return
        for e in found:
            line = e.line
            echo(
                f"{e.period}  {line['SubAccountName'] or ''} ({line['SubAccountId']})  "
                f"{line['ServiceName']}  {line['ChargeCategory']}  {line['ResourceId'] or '-'}"
            )
            echo(
                f"  {e.lines} line(s), BilledCost {exact(e.billed)}, EffectiveCost {exact(e.cost)}"
            )
            for dim, value, source in e.values:
                echo(f"  {dim:<12} {value or '-':<20} {source or 'no rule gives a value'}")
            pool = f"shared pool {e.shared_pool!r} ({e.split})" if e.shared_pool else "direct"
            echo(f"  {'allocation':<12} {pool}")
            if e.shares:
                split = ", ".join(f"{k or '(none)'} {exact(b)}" for k, b, _ in e.shares)
                echo(
                    f"  {'split':<12} BilledCost of the pool's {e.period} sum of "
                    f"{line['ServiceName']} ({line['ChargeCategory']}): {split}"
                )
            if e.missing_tags:
                echo(f"  {'missing tags':<12} {e.missing_tags}")
        return
    if compare_dir is not None:
        if periods is None or periods[0] != periods[1]:
            raise QueryError("--compare needs --period YYYY-MM (one billing period).")
        proposed = load_rules(compare_dir)
        result = compare(store, rules, proposed, periods[0], by)
        render(
            [by, "currency", str(rules_dir), str(compare_dir), "change"],
            [(r[0] if r[0] is not None else "(unallocated)", *r[1:]) for r in result.rows],
            output,
            title=f"What-if for {periods[0]}: EffectiveCost by {by}, {rules_dir} -> {compare_dir}",
            money_columns=[str(rules_dir), str(compare_dir), "change"],
        )
        return
    report = run_allocate(store, rules, periods)
    rows = [
        (
            p,
            currency,
            billed,
            effective,
            report.unallocated.get((p, currency), 0),
            float(report.unallocated.get((p, currency), 0)) / float(effective)
            if effective
            else 0.0,
        )
        for (p, currency), (billed, effective) in sorted(report.totals.items())
    ]
    render(
        ["period", "currency", "BilledCost", "EffectiveCost", "unallocated", "unallocated_share"],
        rows,
        output,
        title=f"Allocated {report.rows:,} rows into allocated_costs with {rules_dir} "
        "(totals equal the lake's exactly)",
        money_columns=["BilledCost", "EffectiveCost", "unallocated"],
        share_columns=["unallocated_share"],
    )


def _warn_if_stale(store: Store, stale: Any) -> None:
    if stale(store):
        click.echo(
            "Note: the lake changed since the last `cloudtally allocate`; run it again for "
            "current figures.",
            err=True,
        )


@click.command("showback")
@click.option(
    "--by",
    type=click.Choice(list(DIMENSIONS)),
    default="team",
    show_default=True,
    help="The dimension to show costs by.",
)
@range_options
@click.option(
    "--metric", default="EffectiveCost", show_default=True, help="EffectiveCost or BilledCost."
)
@format_option
@click.pass_context
def showback(
    ctx: click.Context,
    by: str,
    period: str | None,
    since: str | None,
    until: str | None,
    metric: str,
    fmt: str,
) -> None:
    """Showback: direct, shared and total cost per team (or product, cost centre, env).

    For a billing period (default: the latest allocated), several, an ISO week or days.
    Shows each value's share of the total and its change since the range before it, then the
    totals and the cost with no value of `--by` with its top causes (accounts, services,
    shared pools, missing tag keys). Shared pools are split by product, cost centre and env as
    by team. Reads `allocated_costs`: run `cloudtally allocate` first.
    """
    from cloudtally.allocate.reports import showback as run_showback
    from cloudtally.allocate.reports import stale

    store = store_of(ctx)
    _warn_if_stale(store, stale)
    table = run_showback(store, by, period, metric, since=since, until=until)
    output = OutputFormat(fmt)
    render(
        table.columns,
        table.rows,
        output,
        title=f"Showback by {by}, {table.period} ({metric}; change vs {table.previous})",
        money_columns=["direct", "shared", "total", table.previous, "change"],
        share_columns=["share", "change_pct"],
    )
    if output is not OutputFormat.table:
        return
    # The footer is the result's: totals of the rows above, and the cost with no value of
    # `--by` (the `(unallocated)` row) with its largest causes.
    for currency, (direct, shared, total) in table.totals.items():
        echo(
            f"Total {table.period} {currency}: {total:,.2f} (direct {direct:,.2f}, "
            f"shared {shared:,.2f})"
        )
    for u in table.unallocated:
        echo(
            f"Unallocated (no {by}) {u.period} {u.currency}: {u.cost:,.2f} "
            f"({u.share:.1%} of the total)"
        )
        for label, items in (
            ("accounts", u.accounts),
            ("services", u.services),
            ("shared pools", u.pools),
            ("missing keys", u.missing_keys),
        ):
            if items:
                listed = ", ".join(f"{k} {v:,.2f}" for k, v in items)
                echo(f"  top {label}: {listed}")


@click.command("chargeback")
@click.option("--period", help="Billing period YYYY-MM (default: the latest allocated).")
@click.option(
    "--out", type=click.Path(path_type=Path), help="Write the chargeback as CSV to this file."
)
@click.option(
    "--metric", default="EffectiveCost", show_default=True, help="EffectiveCost or BilledCost."
)
@format_option
@click.pass_context
def chargeback(
    ctx: click.Context, period: str | None, out: Path | None, metric: str, fmt: str
) -> None:
    """Chargeback: what each cost centre is charged for a billing period.

    Direct and shared cost per cost centre and currency, with the teams behind it; costs no
    cost centre owns are one `(unallocated)` row. `--out FILE.csv` writes exact decimals.
    """
    from cloudtally.allocate.reports import chargeback as run_chargeback
    from cloudtally.allocate.reports import stale

    store = store_of(ctx)
    _warn_if_stale(store, stale)
    table = run_chargeback(store, period, metric)
    if out is not None:
        try:
            with out.open("w", newline="", encoding="utf-8") as handle:
                write_csv(
                    handle, ["period", *table.columns], ([table.period, *r] for r in table.rows)
                )
        except OSError as exc:
            raise ExportError(f"Cannot write {out}: {exc.strerror}.") from None
        echo(f"Wrote {len(table.rows)} cost centre rows for {table.period} to {out}")
        return
    render(
        table.columns,
        table.rows,
        OutputFormat(fmt),
        title=f"Chargeback {table.period} ({metric})",
        money_columns=["direct", "shared", "total"],
    )
