"""Who drives a run: owner.json (pid, host, start time), written right after taking the lock."""

from __future__ import annotations

import os
import socket
import time

from teambot.paths import RunPaths
from teambot.store.models import Owner, now_iso


def read_owner(paths: RunPaths) -> Owner | None:
    """The process that last took the run's lock (it may have died since), or None."""
    try:
        return Owner.model_validate_json(paths.owner.read_bytes())
    except (OSError, ValueError):
        return None


OWNER_WAIT = 2.0  # how long a process refused the lock waits for the holder to record itself


def wait_for_owner(paths: RunPaths, seconds: float = OWNER_WAIT) -> Owner | None:
    """The lock's holder, for a process that was just refused the lock.

    The holder records itself right after taking the lock, so for a moment the record may be
    missing or still name an earlier owner, now dead: poll briefly for one naming a live
    process (or one on another host, which cannot be checked).
    """
    deadline = time.monotonic() + seconds
    while True:
        owner = read_owner(paths)
        if owner is not None and (owner.host != socket.gethostname() or is_owner_process(owner, paths)):
            return owner
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


def is_owner_process(owner: Owner, paths: RunPaths) -> bool:
    """True if `owner.pid` (on this host) is alive and is the teambot that recorded itself, not a
    process that reused the pid: same start time when recorded, else a teambot command line."""
    import psutil  # lazy: stays out of CLI start-up

    from teambot.processes import process_alive

    if not process_alive(owner.pid):
        return False
    try:
        proc = psutil.Process(owner.pid)
        if owner.started is not None:
            return abs(proc.create_time() - owner.started) < 0.5
        return any("teambot" in part for part in proc.cmdline())  # an owner.json from before start times were recorded
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # another user's process: it exists, and cannot be told apart
        return True


def owner_alive(paths: RunPaths) -> bool:
    """True if the process that last took the lock still runs (checked on this host by pid and start time).

    Read-only: probing the lock itself could make a `run` starting that instant exit 3.
    """
    owner = read_owner(paths)
    if owner is None:
        return False
    if owner.host != socket.gethostname():
        return True  # another machine (shared disk): cannot check, assume it is alive
    return is_owner_process(owner, paths)


def make_owner() -> Owner:
    import psutil  # lazy: stays out of CLI start-up

    return Owner(pid=os.getpid(), host=socket.gethostname(), since=now_iso(), started=psutil.Process().create_time())
