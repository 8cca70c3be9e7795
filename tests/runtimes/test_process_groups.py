"""processes.end_group: the blocking SIGTERM → SIGKILL sequence resume uses on a dead run's agent."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

from teambot import processes

# A leader and its child, both sleeping; with IGNORE both ignore SIGTERM.
_GROUP = """
import signal, subprocess, sys, time
{ignore}
subprocess.Popen([sys.executable, "-c", "import signal, time\\n{ignore}\\ntime.sleep(600)"])
print("ready", flush=True)
time.sleep(600)
"""
IGNORE = "signal.signal(signal.SIGTERM, signal.SIG_IGN)"


def _spawn_group(ignore_term: bool) -> subprocess.Popen:
    code = _GROUP.format(ignore=IGNORE if ignore_term else "")
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    deadline = time.monotonic() + 5
    while processes.group_members(proc.pid) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert processes.group_members(proc.pid) == 2
    return proc


def test_end_group_kills_a_group_that_ignores_sigterm():
    """A group ignoring SIGTERM is SIGKILLed after the grace period and is empty when end_group returns."""
    proc = _spawn_group(ignore_term=True)
    try:
        started = time.monotonic()
        processes.end_group(proc.pid, grace=0.3)
        assert processes.group_members(proc.pid) == 0
        assert 0.3 <= time.monotonic() - started < 3.0
        assert proc.wait(timeout=5) == -signal.SIGKILL
    finally:
        processes.kill_group(proc.pid, signal.SIGKILL)
        proc.wait()


def test_end_group_stops_at_sigterm_when_that_suffices():
    """A group that exits on SIGTERM is gone well before the grace period ends, without SIGKILL."""
    proc = _spawn_group(ignore_term=False)
    try:
        started = time.monotonic()
        processes.end_group(proc.pid, grace=5.0)
        assert processes.group_members(proc.pid) == 0
        assert time.monotonic() - started < 2.0
        assert proc.wait(timeout=5) == -signal.SIGTERM
    finally:
        processes.kill_group(proc.pid, signal.SIGKILL)
        proc.wait()


def test_end_group_of_a_gone_group_returns_at_once():
    """Ending a group that no longer exists is a no-op."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    proc.wait()
    started = time.monotonic()
    processes.end_group(proc.pid)
    assert time.monotonic() - started < 0.5
