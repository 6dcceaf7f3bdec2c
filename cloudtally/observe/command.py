"""`cloudtally metrics show|serve`: the lake's cost as OpenMetrics."""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import click

from cloudtally.clikit import rules_option, store_of

CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@click.group("metrics")
def metrics() -> None:
    """Cost, anomalies and freshness as OpenMetrics, for Prometheus and Grafana."""


_rules = rules_option("Rules folder whose budgets.yaml gives the budget metrics.")


def _folder(rules_dir: Path) -> Path | None:
    return rules_dir if rules_dir.is_dir() else None


@metrics.command("show")
@_rules
@click.pass_context
def show(ctx: click.Context, rules_dir: Path) -> None:
    """Print the OpenMetrics exposition once (what /metrics answers)."""
    from cloudtally.observe.openmetrics import render

    sys.stdout.write(render(store_of(ctx), rules_dir=_folder(rules_dir)).decode())


@metrics.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=9464, show_default=True, type=click.IntRange(0, 65535))
@_rules
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, rules_dir: Path) -> None:
    """Serve GET /metrics (OpenMetrics) until interrupted; each scrape reads the lake as it is
    then, so new ingests show without a restart."""
    from cloudtally.observe.openmetrics import render

    store = store_of(ctx, pinned=False)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404, "Only /metrics is served here.")
                return
            with store.pinned():  # (one generation per scrape)
                body = render(store, rules_dir=_folder(rules_dir))
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    click.echo(f"Serving OpenMetrics on http://{host}:{server.server_address[1]}/metrics", err=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
