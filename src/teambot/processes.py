"""Agent process groups alive in this process, so a hard stop can end them all at once."""

from __future__ import annotations

import os
import signal

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
