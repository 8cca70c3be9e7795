"""Signals in teambot's first moments, while it imports click, pydantic and rich: exit 130, never a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import cli_env

# Loaded by `site` before teambot: tells the test (one byte on READY_FD) the moment teambot
# starts importing click, its first heavy import. Delays count from there, not from the fork,
# so a loaded machine's slow interpreter start-up (before any teambot code runs) does not count.
SITECUSTOMIZE = """
import os, sys

class _Announce:
    def find_spec(self, name, path=None, target=None):
        if name == "click" and "READY_FD" in os.environ:
            os.write(int(os.environ.pop("READY_FD")), b"x")
        return None

sys.meta_path.insert(0, _Announce())
"""


def _start(project: Path, hook: Path) -> tuple[subprocess.Popen[str], int]:
    read_fd, write_fd = os.pipe()
    env = cli_env({"PYTHONPATH": str(hook), "READY_FD": str(write_fd), "TEAMBOT_DEMO_DELAY": "0.2"})
    proc = subprocess.Popen([sys.executable, "-m", "teambot", "run", "objective.md", "-q"], cwd=project, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, pass_fds=(write_fd,))
    os.close(write_fd)
    return proc, read_fd


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("delay_ms", [0, 10, 30, 80])
def test_a_signal_while_teambot_starts_exits_130_without_a_traceback(project: Path, tmp_path: Path, signum: int,
                                                                      delay_ms: int) -> None:
    """SIGTERM or SIGINT 0-80 ms into teambot's imports: exit 130, "interrupted", no Python traceback."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SITECUSTOMIZE)
    proc, ready = _start(project, hook)
    try:
        assert os.read(ready, 1) == b"x", "teambot never started importing"
        time.sleep(delay_ms / 1000)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        os.close(ready)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    # stopped before the run began ("interrupted"), or by the executor, which says how to go on
    assert err.strip().endswith("interrupted") or "run interrupted" in out


def test_the_console_script_handles_signals_before_the_heavy_imports() -> None:
    """The `teambot` script's module catches SIGTERM before click is imported (as `python -m teambot` does)."""
    import tomllib

    from tests.helpers import REPO

    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts["teambot"].partition(":")
    check = (f"import signal, sys; from {module} import {function}; "
             "print('click' in sys.modules, signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None))")
    proc = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, env=cli_env(), timeout=60)
    assert proc.stdout.split() == ["False", "True"], proc.stderr
