"""What a person sees: the live view on a terminal, plain lines in a pipe."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

from tests.helpers import cli_env, teambot


def _run_on_a_terminal(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "teambot", *args], cwd=cwd, env=cli_env(env | {"COLUMNS": "120"}),
                            stdin=follower, stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    chunks = []
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            proc.kill()
            break
        try:
            data = os.read(leader, 65536)
        except OSError:  # the terminal closed: the program exited
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    return proc.wait(timeout=30), b"".join(chunks).decode("utf-8", errors="replace")


def test_live_view_on_a_terminal_shows_parallel_stages_side_by_side(project: Path) -> None:
    """On a TTY the live table lists every stage with agent, status and iteration, and shows RESEARCH ∥ TEST_STRATEGY running."""
    code, screen = _run_on_a_terminal(["run", "objective.md"], project,
                                      {"TEAMBOT_DEMO_DELAY": "0.3", "TEAMBOT_DEMO_REJECT": "SPEC_REVIEW:1"})
    assert code == 0, screen
    for word in ("SETUP", "TEST_STRATEGY", "builder-2", "succeeded", "post_spec_review"):
        assert word in screen
    assert "2: review done, approved" in screen  # SPEC_REVIEW's iteration column: approved in iteration 2
    assert "1: tests passed" in screen
    assert "RESEARCH  ∥  TEST_STRATEGY" in screen
    assert "run completed" in screen
    assert "IMPLEMENTATION (T2, T3)" in screen  # the task stage's two parallel tasks, running now


def test_plain_lines_without_a_terminal(project: Path) -> None:
    """In a pipe each event is one timestamped line; --quiet keeps only the summary."""
    plain = teambot("run", "objective.md", "--feature", "plain", cwd=project)
    lines = plain.stdout.splitlines()
    assert any(line.startswith("[") and "RESEARCH started (builder-1, attempt 1)" in line for line in lines)
    assert any(line.startswith("[") and "IMPLEMENTATION/T4 merged (" in line for line in lines)
    assert "\x1b[" not in plain.stdout, "no terminal escapes in a pipe"
    quiet = teambot("run", "objective.md", "--feature", "quiet", "-q", cwd=project)
    only, branch = quiet.stdout.strip().splitlines()  # the summary: done, and where the result is (git project)
    assert only.startswith("run completed: quiet (") and "git merge teambot/quiet" in branch
