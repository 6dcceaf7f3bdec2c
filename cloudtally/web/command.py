"""`cloudtally serve`."""

from __future__ import annotations

from pathlib import Path

import click

from cloudtally.clikit import store_of


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.option(
    "--rules",
    "rules_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Rules folder (tags.yaml for tag pages; default: the one the allocation used).",
)
@click.option(
    "--secure-cookies",
    is_flag=True,
    help="Mark session cookies Secure (set this behind a TLS reverse proxy).",
)
@click.pass_context
def serve(
    ctx: click.Context, host: str, port: int, rules_dir: Path | None, secure_cookies: bool
) -> None:
    """Serve the dashboard and the JSON API (docs/dashboard.md).

    Binds 127.0.0.1 unless told otherwise; put it behind a reverse proxy with TLS to share
    it (docs/security.md). Users and tokens come from `cloudtally access add`. New ingests and
    allocations are picked up without a restart: within a second of each, the server loads
    the new data and computes the slowest pages' answers before anyone asks.
    """
    import uvicorn

    from cloudtally.errors import QueryError
    from cloudtally.web.app import create_app

    store = store_of(ctx, pinned=False)
    if not store.exists():
        raise QueryError(
            f"No lake in {store.where}: ingest data first (`cloudtally ingest PATH`) or "
            "pass --data-dir."
        )
    if rules_dir is not None and not rules_dir.is_dir():
        raise QueryError(f"--rules {rules_dir}: no such folder.")
    app = create_app(store.where, rules_dir=rules_dir, secure_cookies=secure_cookies, warm=True)
    click.echo(f"cloudtally dashboard on http://{host}:{port}/ (lake {store.where})", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", server_header=False)
