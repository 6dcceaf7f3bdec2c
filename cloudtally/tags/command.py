"""`cloudtally tags`: coverage, exceptions and check-plan."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cloudtally.clikit import (
    date_range,
    format_option,
    format_option_with,
    range_options,
    rules_option,
    store_of,
)
from cloudtally.output import OutputFormat, echo, render

policy_option = rules_option("The rules folder whose tags.yaml is the policy (see docs/rules.md).")


@click.group("tags")
def tags() -> None:
    """Tag compliance: coverage by cost, exceptions to fix, Terraform plan checks in CI."""


def _checked_range(store: Any, period: str | None, since: str | None, until: str | None) -> Any:
    """The range the options give, refused when it is outside the lake's data."""
    from cloudtally.query.periods import require_data

    when = date_range(period, since, until)
    if when is not None:
        require_data(store.connect(), when)
    return when


@tags.command("coverage")
@policy_option
@click.option(
    "--by",
    type=click.Choice(["team", "account", "service", "month", "provider"]),
    help="Break coverage down (month: the trend). Default: overall.",
)
@range_options
@click.option(
    "--metric", default="EffectiveCost", show_default=True, help="EffectiveCost or BilledCost."
)
@format_option
@click.pass_context
def coverage(
    ctx: click.Context,
    rules_dir: Path,
    by: str | None,
    period: str | None,
    since: str | None,
    until: str | None,
    metric: str,
    fmt: str,
) -> None:
    """Share of usage cost carrying each required tag key with an allowed value.

    One column per required key from tags.yaml (`tag:KEY`), and `all_keys`: the share
    carrying every one; `uncovered:KEY` and `uncovered` are the cost without them (what `tags
    exceptions` lists).
    `--by team|account|service|provider` shows where coverage is low; `--by month` the trend.
    """
    from cloudtally.rules.allocation import load_rules
    from cloudtally.tags.compliance import coverage as run_coverage
    from cloudtally.tags.compliance import share_columns, uncovered_columns

    rules = load_rules(rules_dir)
    store = store_of(ctx)
    when = _checked_range(store, period, since, until)
    table = run_coverage(store, rules, by, when, metric)
    render(
        table.columns,
        table.rows,
        OutputFormat(fmt),
        title=f"Tag coverage by {metric} of usage"
        + (f" per {by}" if by else "")
        + (f", {when.label()}" if when else ""),
        money_columns=["cost", *uncovered_columns(rules)],
        share_columns=[*share_columns(rules), "all_keys"],
    )


@tags.command("exceptions")
@policy_option
@range_options
@click.option("--top", type=click.IntRange(min=0), default=50, show_default=True, help="0: all.")
@click.option(
    "--metric", default="EffectiveCost", show_default=True, help="EffectiveCost or BilledCost."
)
@format_option
@click.pass_context
def exceptions(
    ctx: click.Context,
    rules_dir: Path,
    period: str | None,
    since: str | None,
    until: str | None,
    top: int,
    metric: str,
    fmt: str,
) -> None:
    """Resources missing a required tag or carrying a value not allowed, largest cost first.

    Each with its likely owner (the team its tag, the rules or the mapping tables give it) and the rule it
    breaks; `--format csv --top 0` is a remediation list for tickets. Charges without a resource
    (support fees, corrections) are listed by account, service and charge (kind `no-resource`), so
    the exceptions add up to the uncovered cost of `tags coverage`.
    """
    from cloudtally.rules.allocation import load_rules
    from cloudtally.tags.compliance import exceptions as run_exceptions

    rules = load_rules(rules_dir)
    store = store_of(ctx)
    when = _checked_range(store, period, since, until)
    table = run_exceptions(store, rules, when, top or None, metric)
    output = OutputFormat(fmt)
    render(
        table.columns,
        table.rows,
        output,
        title=f"Tag exceptions by {metric}" + (f", {when.label()}" if when else ""),
        money_columns=["cost"],
    )
    if output is OutputFormat.table:
        for currency, total in table.totals.items():
            keys = ", ".join(f"{key} {cost:,.2f}" for key, cost in total.by_key.items())
            shown = "" if len(table.rows) >= total.rows else f", {len(table.rows)} shown"
            echo(
                f"Total {currency}: {total.rows} exceptions{shown}, {total.cost:,.2f} "
                f"(by key: {keys}): the uncovered cost of `tags coverage`."
            )


@tags.command("check-plan")
@click.argument("plan", type=click.Path(path_type=Path))
@policy_option
@format_option_with("github")
@click.pass_context
def check_plan(ctx: click.Context, plan: Path, rules_dir: Path, fmt: str) -> None:
    """Check a Terraform plan (`terraform show -json plan.out > plan.json`) against the tag policy.

    Every resource the plan creates or updates, in any module, must carry the required keys
    (tags_all, tags or labels) with allowed values. Prints each violation with the resource
    address and exits 1 when there is one; `--format github` prints GitHub Actions annotations.
    """
    from cloudtally.rules.tags import load_tag_policy
    from cloudtally.tags.plan import check_plan as run_check
    from cloudtally.tags.plan import github_annotation

    policy = load_tag_policy(rules_dir / "tags.yaml")
    if not (rules_dir / "tags.yaml").exists():
        from cloudtally.errors import RuleError

        raise RuleError(f"{rules_dir / 'tags.yaml'}: no tag policy; pass --rules RULES_DIR.")
    result = run_check(plan, policy)
    if fmt == "github":
        for violation in result.violations:
            echo(github_annotation(violation, str(plan)))
    elif result.violations or fmt != "table":
        render(
            ["address", "module", "type", "key", "rule", "message"],
            [(v.address, v.module, v.type, v.key, v.rule, v.message) for v in result.violations],
            OutputFormat(fmt),
            title=f"Tag policy violations in {plan}",
        )
    if fmt == "table" or fmt == "github":
        status = "violation" + ("s" if len(result.violations) != 1 else "")
        echo(
            f"{len(result.violations)} {status} in {result.checked} taggable resource(s) "
            f"created or updated by {plan}.",
            err=fmt == "github",
        )
    if result.violations:
        ctx.exit(1)
