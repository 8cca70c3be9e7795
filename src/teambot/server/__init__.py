"""`teambot serve`: the HTTP API and the dashboard (FastAPI; imported only by `teambot serve`)."""

from __future__ import annotations

from teambot.server.app import create_app
from teambot.server.run import serve

__all__ = ["create_app", "serve"]
