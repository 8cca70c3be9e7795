"""Agent process groups alive in this process, so a hard stop can end them all at once."""

from __future__ import annotations

import os
import signal
from pathlib import Path

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


def kill_all(sig: int = signal.SIGKILL) -> None:
    for pgid in list(live_groups):
        kill_group(pgid, sig)


def _group_pids(pgid: int) -> list[int]:
    """Live (non-zombie) processes in group `pgid`, read from /proc."""
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            pids.append(int(entry.name))
    return pids


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
