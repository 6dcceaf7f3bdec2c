"""`cloudtally savings ...`: the savings tracker (parse, call, render)."""

from __future__ import annotations

import click

from cloudtally.clikit import format_option, store_of
from cloudtally.results import render_result
from cloudtally.savings import tracker


@click.group()
def savings() -> None:
    """The savings tracker: items from idea to realized, measured from the billing data.

    Realized savings are measured against a counterfactual baseline from the implementation
    date, never copied from the estimate (docs/savings.md).
    """


@savings.command("add")
@click.argument("title", required=False)
@click.option(
    "--where",
    "filters",
    multiple=True,
    metavar="KEY=VALUE",
    help="The cost lines it is about: resource, service, account, region, sku, provider, "
    "team, tag:KEY (repeatable; | between alternatives).",
)
@click.option("--estimate", help="Expected savings per month.")
@click.option("--owner", help="Owning team.")
@click.option("--ticket", help="Ticket URL.")
@click.option("--on", "on", help="The day it was identified, YYYY-MM-DD (default: today).")
@click.option(
    "--from-recommendation", "recommendation", help="Track a recommendation (its id) as an item."
)
@click.pass_context
def add(
    ctx: click.Context,
    title: str | None,
    filters: tuple[str, ...],
    estimate: str | None,
    owner: str | None,
    ticket: str | None,
    on: str | None,
    recommendation: str | None,
) -> None:
    """Add an item: TITLE, its scope (--where) and its estimate per month."""
    from cloudtally.savings.scope import describe, parse_filter

    store = store_of(ctx)
    day = tracker.parse_day(on, "--on") if on else None
    if recommendation:
        from cloudtally.recommend.engine import recommendation_by_id

        found = recommendation_by_id(store, recommendation)
        scope = parse_filter(filters) if filters else found.scope
        amount = tracker.parse_amount(estimate) if estimate else found.monthly_savings
        if amount is None:
            raise tracker.SavingsError(
                f"Recommendation {recommendation} has no estimate (its assumption says why): "
                "give --estimate."
            )
        title = title or found.title
        owner = owner or found.owner
    else:
        if not title:
            raise tracker.SavingsError("Give the item a TITLE (or --from-recommendation ID).")
        if not estimate:
            raise tracker.SavingsError("Give --estimate: the expected savings per month.")
        scope = parse_filter(filters)
        amount = tracker.parse_amount(estimate)
    _require_lines(store, scope)
    with store.state() as con:
        item = tracker.add(
            con, title=title or "", scope=scope, estimate=amount, owner=owner, ticket=ticket,
            on=day, source=recommendation,
        )  # fmt: skip
    click.echo(f"{item.id}: {item.title} ({describe(item.scope)}), {item.status}")


def _require_lines(store: object, scope: dict[str, str]) -> None:
    """Refuse a scope that matches no cost line: it could never be measured."""
    from cloudtally.query.ownership import Lens, tag_policy
    from cloudtally.savings.scope import describe, scope_sql
    from cloudtally.store import Store

    assert isinstance(store, Store)
    con = store.connect()
    (rows,) = con.execute("SELECT count(*) FROM costs").fetchone() or (0,)
    if not rows:
        raise tracker.SavingsError(
            "The lake is empty: ingest data first, so the item's savings can be measured."
        )
    condition = scope_sql(scope, Lens("costs", tag_policy(store)))
    (found,) = con.execute(f"SELECT count(*) FROM costs WHERE {condition}").fetchone() or (0,)
    if not found:
        raise tracker.SavingsError(
            f"--where {describe(scope)} matches no cost line in the lake: check the values "
            "(`cloudtally costs --by service,account` lists them); an item must have cost to "
            "measure."
        )


@savings.command("set")
@click.argument("item_id", metavar="ID")
@click.option(
    "--status",
    required=True,
    type=click.Choice(["accepted", "implemented", "rejected", "realized"]),
)
@click.option("--on", "on", help="When it happened, YYYY-MM-DD (default: today).")
@click.option("--note", help="Why, or what was done.")
@click.option("--force", is_flag=True, help="Confirm a change that skips a status.")
@click.pass_context
def set_status(
    ctx: click.Context, item_id: str, status: str, on: str | None, note: str | None, force: bool
) -> None:
    """Move an item to a new status (implemented: savings are measured from --on)."""
    from cloudtally.savings.measure import measure

    store = store_of(ctx)
    day = tracker.parse_day(on, "--on") if on else None
    measurable = None
    if status == "realized":
        with store.state() as con:
            item = tracker.get(con, item_id)
        if item.implemented_on is None and day is not None:
            item.implemented_on = day
        measurable = measure(store, item).measured
    with store.state() as con:
        item = tracker.set_status(
            con, item_id, status, on=day, note=note, force=force, measurable=measurable
        )
    click.echo(f"{item.id}: {item.status}")


@savings.command("list")
@format_option
@click.pass_context
def list_command(ctx: click.Context, fmt: str) -> None:
    """Every item with its realized savings and evidence, and the share with evidence."""
    from cloudtally.savings.report import list_items

    render_result(list_items(store_of(ctx)), fmt)


@savings.command("show")
@click.argument("item_id", metavar="ID")
@format_option
@click.pass_context
def show(ctx: click.Context, item_id: str, fmt: str) -> None:
    """One item: baseline, actual and realized savings per month, method, history."""
    from cloudtally.savings.report import show_item

    render_result(show_item(store_of(ctx), item_id), fmt)
