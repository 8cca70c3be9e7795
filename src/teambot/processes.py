"""Agent process groups: the ones alive in this process (so a hard stop can end them all at
once), how many members a group still has, and ending a group for good."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

KILL_WAIT = 2.0  # after SIGKILL, how long a group's members may take to die
POLL_SECONDS = 0.05

live_groups: set[int] = set()


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> bool:
    """Send `sig` to a process group; False if it no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def sigterm_interrupts() -> None:
    """SIGTERM outside the executor (start-up, resume's reconciliation, the final summary)
    behaves like Ctrl-C: the CLI's error boundary exits 130 instead of dying with 143."""
    signal.signal(signal.SIGTERM, _interrupt)


def kill_all(sig: int = signal.SIGKILL) -> None:
    for pgid in list(live_groups):
        kill_group(pgid, sig)


def end_group(pgid: int, grace: float = 2.0) -> None:
    """SIGTERM group `pgid`, SIGKILL whatever is left after `grace` seconds; return when it is empty.

    Blocking (for code outside the event loop, such as resume ending a dead run's agent). A
    member that takes more than KILL_WAIT seconds to die after SIGKILL is given up on.
    """
    if not group_members(pgid):
        return
    kill_group(pgid, signal.SIGTERM)
    if wait_empty(pgid, grace):
        return
    kill_group(pgid, signal.SIGKILL)
    wait_empty(pgid, KILL_WAIT)


def wait_empty(pgid: int, seconds: float) -> bool:
    """Poll until group `pgid` has no live member or `seconds` have passed; True if it is empty."""
    deadline = time.monotonic() + seconds
    while group_members(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True


def _proc_stat(pid: int | str) -> tuple[bytes, int] | None:
    """(state letter, process group) of `pid` from /proc, or None if it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    fields = stat[stat.rfind(b")") + 2:].split()  # the command name may hold spaces and ')'
    return (fields[0], int(fields[2])) if len(fields) > 2 else None


def _group_pids(pgid: int) -> list[int]:
    """Live (non-zombie) processes in group `pgid`, read from /proc."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        found = _proc_stat(entry.name)
        if found is not None and found[1] == pgid and found[0] not in _DEAD:
            pids.append(int(entry.name))
    return pids


_DEAD = (b"Z", b"X")  # zombie (killed, not yet reaped by its parent) and dead


def process_alive(pid: int) -> bool:
    """True if `pid` runs: it exists and, where /proc tells, is not a zombie. A process killed with
    SIGKILL stays a zombie until its parent reaps it, which some parents (a container's init,
    a detached shell) do late or never."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    found = _proc_stat(pid)
    return found is None or found[0] not in _DEAD


def group_members(pgid: int) -> int:
    """How many live (non-zombie) processes are in group `pgid`.

    /proc tells zombies apart: a zombie stays in its group until reaped, and waiting for one
    to vanish would hold every stage for the whole grace period. Elsewhere killpg(pgid, 0).
    """
    if not Path("/proc").is_dir():  # pragma: no cover - non-Linux POSIX
        return 1 if kill_group(pgid, 0) else 0
    if not kill_group(pgid, 0):
        return 0
    return len(_group_pids(pgid))


def group_runs_stage(pgid: int, run_dir: Path, stage: str) -> bool:
    """True if a live process of group `pgid` is an agent teambot started for `stage` of this run.

    A recorded pgid may have been reused after a reboot; only a group whose processes carry
    this run's TEAMBOT_RUN_DIR and TEAMBOT_STAGE is ours to end.
    """
    if not Path("/proc").is_dir():  # pragma: no cover - non-Linux POSIX: cannot tell, so never kill
        return False
    wanted = {f"TEAMBOT_RUN_DIR={run_dir}".encode(), f"TEAMBOT_STAGE={stage}".encode()}
    for pid in _group_pids(pgid):
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                environ = set(fh.read().split(b"\0"))
        except OSError:
            continue
        if wanted <= environ:
            return True
    return False
