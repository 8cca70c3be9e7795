"""StopToken: a request to stop a run, from outside the engine.

The engine (session.drive → the executor) never needs process-wide signal handlers to be
stopped: whoever drives it holds a token and calls `request()`, from any thread. The CLI binds
its stop signals to a token (signals.py: first Ctrl-C / SIGTERM / SIGHUP stops, a second one
ends the process at once); a host running a run in-process (a server, a worker) calls
`request()` itself. A stopped run is committed `interrupted` and resumes like any other.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable


class StopToken:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requested = False
        self._target: tuple[asyncio.AbstractEventLoop, Callable[[], None]] | None = None

    @property
    def requested(self) -> bool:
        return self._requested

    def bind(self, loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> None:
        """Route requests to `stop` on `loop` (the running run); a request made before this is delivered now."""
        with self._lock:
            self._target = (loop, stop)
            pending = self._requested
        if pending:
            loop.call_soon_threadsafe(stop)

    def unbind(self) -> None:
        with self._lock:
            self._target = None

    def request(self) -> None:
        """Stop the run (idempotent; safe from any thread and from a signal handler on the loop)."""
        with self._lock:
            self._requested = True
            target = self._target
        if target is not None:
            loop, stop = target
            try:
                loop.call_soon_threadsafe(stop)
            except RuntimeError:  # the loop has closed: the run has already ended
                pass
