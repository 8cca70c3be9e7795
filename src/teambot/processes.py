"""Agent process groups: the ones alive in this process (so a hard stop can end them all at
once), how many members a group still has, finding a run's agents by the markers in their
environment, and ending groups for good.

Process tables, environments and zombie status come from psutil, so this works wherever
psutil does (Linux, macOS), whether or not the system has a proc filesystem.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path

import psutil

KILL_WAIT = 2.0  # after SIGKILL, how long a group's members may take to die
POLL_SECONDS = 0.05

live_groups: set[int] = set()

# A zombie (killed, not yet reaped by its parent) stays in its group until reaped, which some
# parents (a container's init, a detached shell) do late or never: it no longer runs.
_DEAD = frozenset({psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD})


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> bool:
    """Send `sig` to a process group; False if it no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


def kill_all(sig: int = signal.SIGKILL) -> None:
    for pgid in list(live_groups):
        kill_group(pgid, sig)


def end_group(pgid: int, grace: float = 2.0) -> None:
    """SIGTERM group `pgid`, SIGKILL whatever is left after `grace` seconds; return when it is empty."""
    end_groups([pgid], grace)


def end_groups(pgids: Iterable[int], grace: float = 2.0) -> None:
    """SIGTERM every group at once, SIGKILL whatever is left after `grace` seconds; return when all are empty.

    Blocking (for code outside the event loop, such as resume ending a dead run's agents). A
    member that takes more than KILL_WAIT seconds to die after SIGKILL is given up on.
    """
    alive = [pgid for pgid in pgids if group_members(pgid)]
    for pgid in alive:
        kill_group(pgid, signal.SIGTERM)
    if _wait_all_empty(alive, grace):
        return
    for pgid in alive:
        if group_members(pgid):
            kill_group(pgid, signal.SIGKILL)
    _wait_all_empty(alive, KILL_WAIT)


def _wait_all_empty(pgids: list[int], seconds: float) -> bool:
    """Poll until no group of `pgids` has a live member or `seconds` have passed; True if all are empty."""
    deadline = time.monotonic() + seconds
    while any(group_members(pgid) for pgid in pgids):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True


def _runs(proc: psutil.Process) -> bool:
    """True unless `proc` is gone or a zombie; a process we may not inspect counts as running."""
    try:
        return proc.status() not in _DEAD
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:  # gone, or not ours to ask about
        return None


def _group(pgid: int) -> list[psutil.Process]:
    """Live (non-zombie) processes in group `pgid`."""
    return [proc for proc in psutil.process_iter() if _pgid(proc.pid) == pgid and _runs(proc)]


def process_alive(pid: int) -> bool:
    """True if `pid` runs: it exists and is not a zombie (a process killed with SIGKILL stays a
    zombie until its parent reaps it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    try:
        return _runs(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return False


def group_members(pgid: int) -> int:
    """How many live (non-zombie) processes are in group `pgid` (zombies are left out: waiting
    for one to vanish would hold every stage for the whole grace period)."""
    if not kill_group(pgid, 0):
        return 0
    return len(_group(pgid))


def _environ(proc: psutil.Process) -> dict[str, str]:
    try:
        return proc.environ()
    except (psutil.Error, OSError):  # gone, a zombie, someone else's, or a kernel thread
        return {}


def run_agents(run_dir: Path, stage: str | None = None) -> dict[int, set[str]]:
    """Every live process group holding a process started for this run (for `stage` only, if
    given): pgid -> its stages.

    Agents carry TEAMBOT_RUN_DIR (and TEAMBOT_STAGE) in their environment from the moment they
    exist, and so does every process they start, even one that left their group. So this
    finds them whether or not their group was ever recorded (teambot may die between spawning
    an agent and committing its group). Our own group and our ancestors' are never listed: a
    shell that exported the marker is not an agent.
    """
    me = psutil.Process()
    ours = {_pgid(p.pid) for p in [me, *me.parents()]}
    found: dict[int, set[str]] = {}
    for proc in psutil.process_iter():
        env = _environ(proc)
        if env.get("TEAMBOT_RUN_DIR") != str(run_dir) or (stage is not None and env.get("TEAMBOT_STAGE") != stage):
            continue
        if not _runs(proc):
            continue
        pgid = _pgid(proc.pid)
        if pgid is not None and pgid not in ours:
            found.setdefault(pgid, set()).add(env.get("TEAMBOT_STAGE", ""))
    return found
