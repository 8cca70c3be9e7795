"""Pipelined starts: a dependent prepares while its dependency's `succeeded` is being flushed.

A stage that commits `succeeded` is *advanced*: the scheduler lets its dependents start at
once, while the flusher thread makes that record durable (store/persistence.py). Meanwhile a
dependent does what needs no durability and shows nobody anything: it reads its inputs,
commits `running` (appended after the dependency's `succeeded`, so a crash can never keep the
one without the other), renders and saves its prompt. It acts visibly only once every
dependency has been *reported* (its `stage_succeeded` emitted, after its flush): its
`stage_started` event, everything after it, and above all its agent call. So the fdatasync
overlaps the next stage's preparation instead of stalling the chain, and events.jsonl keeps
its order: a stage starts after what it depends on succeeded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping


class Reports:
    """The advanced stages whose success is not reported yet, each with a future for its report."""

    def __init__(self, deps: Mapping[str, Iterable[str]]) -> None:
        self._deps = deps
        self._pending: dict[str, asyncio.Future[None]] = {}

    def advance(self, name: str) -> None:
        """`name` committed `succeeded`; its report (the event, after the flush) is to come."""
        self._pending[name] = asyncio.get_running_loop().create_future()

    def reported(self, name: str) -> None:
        """`name`'s report is out (or will never come: its flush failed); its dependents go on."""
        future = self._pending.pop(name, None)
        if future is not None and not future.done():
            future.set_result(None)

    def settling(self) -> int:
        """Advanced stages still waiting for their flush: running, but holding no agent."""
        return len(self._pending)

    async def after_deps(self, name: str) -> None:
        """Return once every dependency of `name` that was advanced has been reported."""
        pending = [self._pending[d] for d in self._deps[name] if d in self._pending]
        if pending:
            await asyncio.wait(pending)


class Start:
    """One attempt's visible start (`announce`: its events), once, after its dependencies were reported.

    A kind awaits it before its first agent call (work.started()); the executor awaits it before
    a kind that does not, and before reporting how an attempt ended. `now()` announces at once
    (an attempt interrupted while it waited)."""

    def __init__(self, reports: Reports, name: str, announce: Callable[[], None]) -> None:
        self._reports = reports
        self._name = name
        self._announce = announce
        self.done = False
        self.missing: list[str] = []  # upstream artifacts gone since their stage succeeded (announced too)

    async def __call__(self) -> None:
        if not self.done:
            await self._reports.after_deps(self._name)
            self.now()

    def now(self) -> None:
        if not self.done:
            self.done = True
            self._announce()
