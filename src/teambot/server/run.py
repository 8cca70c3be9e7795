"""Bind, announce, serve: uvicorn on a socket we bind first, so `--port 0` can print its real port."""

from __future__ import annotations

import ipaddress
import secrets
import socket
from collections.abc import Callable
from pathlib import Path

from teambot.errors import UsageError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def choose_token(given: str | None, host: str) -> str:
    """The token given (--token / TEAMBOT_TOKEN), else a random one; only on a loopback address."""
    if given is not None:
        if len(given) < 8:
            raise UsageError("the access token is shorter than 8 characters", hint="pass a longer --token (or TEAMBOT_TOKEN)")
        return given
    if not is_loopback(host):
        raise UsageError(f"binding {host} (not a loopback address) needs an explicit token",
                         hint="pass --token or set TEAMBOT_TOKEN; every request must then carry it")
    return secrets.token_urlsafe(24)


def bind(host: str, port: int) -> socket.socket:
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(info[0], socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(info[4])
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                         hint="pick another --port (0: any free port) or --host") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def serve(project_dir: Path, workspace: Path, host: str, port: int, token: str, announce: Callable[[str], None]) -> None:
    """Serve until SIGINT/SIGTERM; `announce` gets the dashboard URL (with the token) once listening."""
    import uvicorn

    from teambot.server.app import create_app

    sock = bind(host, port)
    app = create_app(project_dir, workspace, token)
    # access_log off: its lines would hold the dashboard's ?token= (the token is never logged)
    config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2,
                            lifespan="off", server_header=False)
    server = uvicorn.Server(config)
    announce(f"{url_of(sock, host)}/?token={token}")
    server.run(sockets=[sock])
