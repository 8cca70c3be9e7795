"""Pipelined starts: a dependent prepares while its dependency's `succeeded` is being flushed.

A stage that commits `succeeded` is *advanced*: the scheduler lets its dependents start at
once, while the flusher thread makes that record durable (store/persistence.py). Meanwhile a
dependent does what needs no durability and shows nobody anything: it reads its inputs,
commits `running` (appended after the dependency's `succeeded`, so a crash can never keep the
one without the other), renders and saves its prompt. It acts visibly only once every stage
advanced before it has been *reported* (its `stage_succeeded` emitted, after its flush): its
`stage_started` event, everything after it, and above all its agent call. So the fdatasync
overlaps the next stage's preparation instead of stalling the chain, and events.jsonl reads as
if nothing were pipelined: a stage starts after what it depends on succeeded, and never beside
more stages than max concurrency allows or beside another stage of its agent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Reports:
    """The advanced stages whose success is not reported yet, and who waits for their reports."""

    def __init__(self) -> None:
        self._pending: set[str] = set()
        # each waiter's own future (cancelling one cancels nobody else's) and what it waits for
        self._waiters: list[tuple[set[str], asyncio.Future[None]]] = []

    def advance(self, name: str) -> None:
        """`name` committed `succeeded`; its report (the event, after the flush) is to come."""
        self._pending.add(name)

    def reported(self, name: str) -> None:
        """`name`'s report is out (or will never come: its flush failed); who waited for it goes on."""
        self._pending.discard(name)
        waiting = []
        for names, future in self._waiters:
            names.discard(name)
            if future.done():
                continue
            if names:
                waiting.append((names, future))
            else:
                future.set_result(None)
        self._waiters = waiting

    def settling(self) -> int:
        """Advanced stages still waiting for their flush: running, but holding no agent."""
        return len(self._pending)

    async def after_reports(self) -> None:
        """Return once every stage advanced so far has been reported (not only the caller's
        dependencies: the agent slot and the concurrency an advanced stage gave up are free in
        events.jsonl only from its report on)."""
        if self._pending:
            future = asyncio.get_running_loop().create_future()
            self._waiters.append((set(self._pending), future))
            await future


class Start:
    """One attempt's visible start (`announce`: its events), once, after the advanced stages were reported.

    A kind awaits it before its first agent call (work.started()); the executor awaits it before
    a kind that does not, and before reporting how an attempt ended. `now()` announces at once
    (an attempt interrupted while it waited)."""

    def __init__(self, reports: Reports, announce: Callable[[], None]) -> None:
        self._reports = reports
        self._announce = announce
        self.done = False
        self.missing: list[str] = []  # upstream artifacts gone since their stage succeeded (announced too)

    async def __call__(self) -> None:
        if not self.done:
            await self._reports.after_reports()
            self.now()

    def now(self) -> None:
        if not self.done:
            self.done = True
            self._announce()
