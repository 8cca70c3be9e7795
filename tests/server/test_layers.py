"""The server stays a layer on top: the service knows no HTTP, and no other command loads the web stack."""

from __future__ import annotations

import subprocess
import sys

from tests.test_architecture import SRC, _modules

WEB = ("fastapi", "starlette", "uvicorn", "fastapi_offline")


def test_only_the_server_imports_the_web_stack() -> None:
    """fastapi / starlette / uvicorn are imported only under server/ (and checked for by cli/serve.py)."""
    for name, imports in _modules():
        if name.startswith("server/") or name == "cli/serve.py":
            continue
        assert not [i for i in imports if i.split(".")[0] in WEB], name


def test_the_server_calls_only_the_service() -> None:
    """server/ reaches runs through teambot.service, never the store, session or executor directly."""
    engine = ("teambot.store", "teambot.session", "teambot.executor", "teambot.kinds", "teambot.cli")
    for name, imports in _modules():
        if name.startswith("server/"):
            assert not [i for i in imports if i.startswith(engine)], name


def test_other_commands_do_not_load_the_web_stack() -> None:
    """`teambot --help` and `teambot status --help` import neither fastapi nor uvicorn nor teambot.server."""
    check = ("import sys; from teambot.cli.main import main; main(['--help']); main(['status', '--help']); "
             "print(sorted(m for m in ('fastapi', 'uvicorn', 'starlette', 'teambot.server') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60, cwd=SRC)
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout + proc.stderr


def test_serve_help_lists_its_options() -> None:
    """`teambot serve --help` names --host, --port and --token."""
    proc = subprocess.run([sys.executable, "-m", "teambot", "serve", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and all(o in proc.stdout for o in ("--host", "--port", "--token"))
