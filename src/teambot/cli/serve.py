"""`teambot serve`: the HTTP API and the live dashboard over this project's runs."""

from __future__ import annotations

import os
from pathlib import Path

import click

from teambot.cli.common import workspace_option


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (not loopback: needs --token).")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="Port (0: any free port).")
@click.option("--token", default=None, help="Access token (default: TEAMBOT_TOKEN, else a random one).")
@workspace_option
def command(host: str, port: int, token: str | None, workspace: Path | None) -> int:
    """Serve the dashboard and the HTTP API; runs started here outlive the server."""
    from teambot.cli.common import workspace_dir
    from teambot.errors import UsageError

    try:
        import fastapi  # noqa: F401  (only to tell a missing extra from a bug)
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise UsageError(f"`teambot serve` needs {exc.name}, which is not installed",
                         hint="pip install 'teambot[server]'") from None
    from teambot.server.run import choose_token, serve

    chosen = choose_token(token if token is not None else os.environ.get("TEAMBOT_TOKEN") or None, host)
    ws = workspace_dir(workspace)

    def announce(url: str) -> None:
        click.echo(f"teambot serve: {ws}")
        click.echo(f"dashboard: {url}", nl=True)
        click.echo("API: send `Authorization: Bearer <token>`; OpenAPI at /docs. Stop with Ctrl-C (runs keep going).")

    serve(Path.cwd(), ws, host, port, chosen, announce)
    return 0
