"""Persistence: the observer that turns record changes into journal writes, with group commit.

RunRecords (records.py) announces each change; this appends it to the run's journal at once
(one write, no flush, on the caller's thread) and, when the record must survive a power loss,
asks the flusher thread for an fdatasync. `settled()` waits for the flush that covers every
record so far that must be durable. Stages that finish together append while a flush runs, so
the next single fdatasync covers them all (group commit), and the event loop never waits on
the disk: it awaits a future the flusher resolves.

Order is kept because appends happen in the order of the changes, on one thread; only the
fdatasync moves. A flush that fails (a full disk) is kept and raised by the next change or
`settled()`, so the run stops like after a failed synchronous commit.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping

from teambot.store.models import ChildRecord, RunRecord, StageRecord


IDLE_SECONDS = 2.0  # a flusher thread with nothing to do for this long ends (a server's edits leave none behind)


class Persistence:
    """Writes one run's record changes through its StateStore (the store holds the run's lock)."""

    def __init__(self, store) -> None:
        self.store = store
        self._cond = threading.Condition(threading.Lock())  # (never taken twice by one thread)
        self._must = 0  # the last seq that must be durable before settled() returns
        self._wanted = 0  # the flusher flushes until `_flushed` reaches this
        self._flushed = 0
        self._waiters: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        # the loop on which a wake-up of the flusher is scheduled for the end of its turn (None: none is)
        self._kick_loop: asyncio.AbstractEventLoop | None = None

    # -- the observer ------------------------------------------------------------------------
    def stage_changed(self, record: StageRecord) -> None:
        self._raise_failed()
        self.store.commit_stage(record, defer=True)
        self._after_append()

    def child_changed(self, record: ChildRecord) -> None:
        self._raise_failed()
        self.store.commit_child(record, defer=True)
        self._after_append()

    def run_changed(self, run: RunRecord, stages: Mapping[str, StageRecord] | None) -> None:
        # A new run or a run that ended is a snapshot (durable at once); a heartbeat is lazy.
        self._raise_failed()
        self.store.commit_run(run, stages=dict(stages) if stages is not None else None)

    def _after_append(self) -> None:
        if self.store.flush_wanted:  # a record that must survive: flush soon, whoever waits for it
            self.store.flush_wanted = False
            self._must = self.store.seq
            self._kick_soon()

    def _kick_soon(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Wake the flusher once the engine's current turn of work is done (every record appended in
        this turn of the event loop then shares one flush); at once outside an event loop."""
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self._request(self._must)
                return
        if self._kick_loop is not loop:  # (a wake-up left on a loop that has closed since does not count)
            self._kick_loop = loop
            loop.call_soon(self._kick)

    def _kick(self) -> None:
        self._kick_loop = None
        self._request(self._must)

    # -- durability --------------------------------------------------------------------------
    async def settled(self) -> None:
        self._raise_failed()
        target = self._must
        if target <= self._flushed:
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._cond:
            if target <= self._flushed:
                return
            # Its own future, resolved by the first flush that ends at or past its seq (one that
            # began before this wait did included): a shared one could not be cancelled alone.
            self._waiters.append((target, loop, future))
        self._kick_soon(loop)
        await future

    # -- the flusher thread ----------------------------------------------------------------------
    def _request(self, seq: int) -> None:
        with self._cond:
            self._wanted = max(self._wanted, seq)
            if self._thread is None:
                self._thread = threading.Thread(target=self._flusher, name="teambot-flusher", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _flusher(self) -> None:
        while True:
            with self._cond:
                while self._wanted <= self._flushed:
                    if not self._cond.wait(timeout=IDLE_SECONDS) and self._wanted <= self._flushed:
                        self._thread = None  # idle: it ends; the next request starts another
                        return
                target = self.store.seq  # everything appended by now is covered by this flush
            try:
                self.store.flush()
            except BaseException as exc:  # noqa: BLE001 - handed to the event loop, raised there
                self._fail(exc)
                return
            with self._cond:
                self._flushed = max(self._flushed, target)
                ready = [w for w in self._waiters if w[0] <= self._flushed]
                self._waiters = [w for w in self._waiters if w[0] > self._flushed]
            _resolve(ready, None)

    def _fail(self, exc: BaseException) -> None:
        with self._cond:
            self._error = exc
            waiters, self._waiters = self._waiters, []
        _resolve(waiters, exc)

    def _raise_failed(self) -> None:
        if self._error is not None:
            raise self._error


def _resolve(waiters: list[tuple[int, asyncio.AbstractEventLoop, asyncio.Future[None]]], error: BaseException | None) -> None:
    """Settle the waiters' futures on their loops: one wake-up per loop, however many waited."""
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for _, loop, future in waiters:
        by_loop.setdefault(loop, []).append(future)
    for loop, futures in by_loop.items():
        def settle(futures: list[asyncio.Future[None]] = futures) -> None:
            for future in futures:
                if future.done():  # its waiter was cancelled meanwhile
                    continue
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)

        try:
            loop.call_soon_threadsafe(settle)
        except RuntimeError:  # the loop closed: nobody waits any more
            pass
