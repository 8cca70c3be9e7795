"""A process the agent moved into its own session (setsid) ends with the attempt however it ends."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest

from tests.helpers import kill_run_processes, run_processes, start_teambot, teambot, wait_for

# The agent forks a child that setsid()s away (keeping the agent's stdout), then both sleep.
AGENT = """import os, sys, time
if os.fork() == 0:
    os.setsid()
    open(sys.argv[1], "w").close()
    time.sleep(300)
    os._exit(0)
time.sleep(300)
"""


def _project(tmp_path: Path, stages: str, timeout: str = "") -> Path:
    (tmp_path / "objective.md").write_text("---\nfeature: escape\n---\n# Escape\n\nWrite the spec.\n")
    (tmp_path / "stages.yaml").write_text(stages.replace("{timeout}", timeout))
    (tmp_path / "agent.py").write_text(AGENT)
    argv = [sys.executable, str(tmp_path / "agent.py"), str(tmp_path / "escaped-{stage}")]
    (tmp_path / "teambot.yaml").write_text(f"runtime: command\ncommand:\n  argv: {json.dumps(argv)}\n"
                                           "  grace_seconds: 0.5\n")
    return tmp_path / ".agent-tracking" / "escape"




def test_a_stage_timeout_ends_a_child_in_its_own_session(tmp_path: Path) -> None:
    """Stage timeout: exit 1, the setsid'd child is ended too, and no asyncio traceback is printed."""
    stages = "stages:\n  SPEC:\n    work_agent: ba\n    artifacts: [spec.md]\n    timeout: 2\nstage_order: [SPEC]\n"
    run_dir = _project(tmp_path, stages)
    try:
        proc = teambot("run", "objective.md", cwd=tmp_path, timeout=90)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert (tmp_path / "escaped-SPEC").exists()
        assert wait_for(lambda: run_processes(run_dir) == [], timeout=3), "a setsid'd child outlived the stage timeout"
        assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr
    finally:
        kill_run_processes(run_dir)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_ends_children_in_their_own_session(tmp_path: Path, signum: int) -> None:
    """A stop signal during a parallel group: exit 130, every setsid'd child ended, no asyncio traceback."""
    stages = ("stages:\n  A:\n    work_agent: ba\n    artifacts: [a.md]\n  B:\n    work_agent: pm\n"
              "    artifacts: [b.md]\n    depends_on: []\nstage_order: [A, B]\n")
    run_dir = _project(tmp_path, stages)
    proc = start_teambot("run", "objective.md", cwd=tmp_path)
    try:
        assert wait_for(lambda: (tmp_path / "escaped-A").exists() and (tmp_path / "escaped-B").exists())
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert wait_for(lambda: run_processes(run_dir) == [], timeout=3), "a setsid'd child outlived teambot"
        assert "Traceback" not in err and "Exception ignored" not in err, err
    finally:
        if proc.poll() is None:
            proc.kill()
        kill_run_processes(run_dir)
