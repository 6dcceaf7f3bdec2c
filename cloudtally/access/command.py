"""`cloudtally access`: users, tokens, passwords and the audit log."""

from __future__ import annotations

import json
import sys
from datetime import datetime

import click

from cloudtally.clikit import format_option, store_of
from cloudtally.output import OutputFormat, plain, render


@click.group("access")
def access() -> None:
    """Who may read the dashboard and the API: users, roles, tokens, the audit log."""


@access.command("add")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["admin", "finops", "viewer"]),
    required=True,
    help="admin and finops see everything; a viewer sees their teams' and products' rows.",
)
@click.option("--team", "teams", multiple=True, help="A team a viewer may see (repeatable).")
@click.option(
    "--product", "products", multiple=True, help="A product a viewer may see (repeatable)."
)
@click.option(
    "--password",
    "ask_password",
    is_flag=True,
    help="Also set a password for the sign-in page (asked for, not echoed).",
)
@format_option
@click.pass_context
def add(
    ctx: click.Context,
    name: str,
    role: str,
    teams: tuple[str, ...],
    products: tuple[str, ...],
    ask_password: bool,
    fmt: str,
) -> None:
    """Create user NAME and print their API token once (it is stored hashed).

    The token signs in to the pages and is the API's `Authorization: Bearer TOKEN`.
    """
    from cloudtally.access.users import add_user, set_password

    password = None
    if ask_password:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    # Users may be added before any data: `access add` creates the data dir.
    with store_of(ctx, create=True).state() as con:
        user, token = add_user(con, name, role, teams=teams, products=products)
        if password is not None:
            set_password(con, name, password)
    if fmt == "json":
        payload = {"name": user.name, "role": user.role, "teams": list(user.teams), "token": token}
        if user.products:
            payload["products"] = list(user.products)
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        return
    click.echo(f"Created {user.role} {user.name!r} (sees {user.scope_label()}).")
    click.echo("API token (shown once; keep it like a password):")
    click.echo(token)


@access.command("password")
@click.argument("name")
@click.pass_context
def password(ctx: click.Context, name: str) -> None:
    """Set or change NAME's password for the sign-in page (asked for, not echoed)."""
    from cloudtally.access.users import set_password

    secret = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with store_of(ctx).state() as con:
        set_password(con, name, secret)
    click.echo(f"Password set for {name!r}.")


@access.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked users.")
@format_option
@click.pass_context
def list_users(ctx: click.Context, include_revoked: bool, fmt: str) -> None:
    """Users with their role and scope (never their credentials)."""
    from cloudtally.access.users import list_users as run_list

    with store_of(ctx).state() as con:
        users = run_list(con, include_revoked=include_revoked)
    columns = ["name", "role", "teams", "products", "password", "created_at", "revoked_at"]
    if fmt == "json":
        sys.stdout.write(json.dumps([plain(u.as_dict()) for u in users], indent=2) + "\n")
        return
    rows = [
        (
            u.name,
            u.role,
            " ".join(u.teams),
            " ".join(u.products),
            "yes" if u.has_password else "no",
            u.created_at,
            u.revoked_at,
        )
        for u in users
    ]
    render(columns, rows, OutputFormat(fmt), title="cloudtally users")


@access.command("revoke")
@click.argument("name")
@click.pass_context
def revoke(ctx: click.Context, name: str) -> None:
    """Revoke NAME: their token and password stop working and their sessions end at once."""
    from cloudtally.access.users import revoke as run_revoke

    with store_of(ctx).state() as con:
        user = run_revoke(con, name)
    click.echo(f"Revoked {user.role} {user.name!r}.")


@access.command("audit")
@click.option("--user", "name", help="Only this user's entries.")
@click.option("--since", metavar="YYYY-MM-DD", help="Only entries from this day on (UTC).")
@click.option("--limit", type=click.IntRange(min=0), default=100, show_default=True, help="0: all.")
@format_option
@click.pass_context
def audit(ctx: click.Context, name: str | None, since: str | None, limit: int, fmt: str) -> None:
    """The audit log, newest first: who read what, when, with which scope."""
    from cloudtally.access.audit import COLUMNS, entries
    from cloudtally.access.users import AccessError

    start = None
    if since is not None:
        try:
            start = datetime.fromisoformat(since)
        except ValueError:
            raise AccessError(f"--since {since!r} is not a day: use YYYY-MM-DD.") from None
    with store_of(ctx).state() as con:
        found = entries(con, name=name, since=start, limit=limit or None)
    rows = [tuple(getattr(e, c) for c in COLUMNS) for e in found]
    render(list(COLUMNS), rows, OutputFormat(fmt), title="Audit log (newest first)")
