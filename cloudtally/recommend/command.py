"""`cloudtally recommend`: recommendations from the billing data (parse, call, render)."""

from __future__ import annotations

from pathlib import Path

import click

from cloudtally.clikit import format_option, store_of
from cloudtally.results import render_result


class _DefaultList(click.Group):
    """`cloudtally recommend` alone lists; `cloudtally recommend brief ID` writes a brief."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or args[0].startswith("-"):
            args = ["list", *args]
        return super().parse_args(ctx, args)


@click.group(cls=_DefaultList)
def recommend() -> None:
    """Recommendations mined from the billing data, with owners, estimates and evidence.

    `cloudtally recommend` lists them; `cloudtally recommend brief ID` writes one as a
    one-page Markdown brief.
    """


@recommend.command("list")
@click.option("--period", help="Billing period YYYY-MM (default: the latest in the lake).")
@format_option
@click.pass_context
def list_command(ctx: click.Context, period: str | None, fmt: str) -> None:
    """List the recommendations, largest estimated saving first."""
    from cloudtally.recommend.report import recommend_result

    render_result(recommend_result(store_of(ctx), period=period), fmt)


@recommend.command("brief")
@click.argument("rec_id", metavar="ID")
@click.option("--period", help="Billing period YYYY-MM (default: the latest in the lake).")
@click.option(
    "--out", type=click.Path(path_type=Path), help="Write to this file (default: stdout)."
)
@click.pass_context
def brief_command(ctx: click.Context, rec_id: str, period: str | None, out: Path | None) -> None:
    """Write a one-page Markdown brief: what, why, evidence, assumptions, impact, risk, verify."""
    from cloudtally.recommend.engine import latest_period, recommendation_by_id
    from cloudtally.recommend.report import brief

    store = store_of(ctx)
    chosen, _ = latest_period(store, period)
    text = brief(recommendation_by_id(store, rec_id, period=period), chosen)
    if out is None:
        click.echo(text, nl=False)
        return
    partial = out.with_name(f".{out.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(out)  # never a half-written brief
    click.echo(f"Wrote {out}")
