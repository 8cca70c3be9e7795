"""Which work may start now. Pure: no I/O, no asyncio.

Incremental so a long chain costs O(1) per finished item: each pending item keeps a count of
dependencies not yet done; an item whose count reaches zero joins the ready queue. An item
holds named resources while it runs, each with a limit of how many items may hold it at once:
an agent's slot (`agent_slot`, limit 1 unless raised), later a merge queue of 1. Items may be
added while others run (a task stage adds its tasks once the tasks file is read).
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Mapping

from teambot.graph import StageGraph
from teambot.lifecycle import FINISHED, StageStatus


def agent_slot(agent: str) -> str:
    """The resource name of an agent: one running stage per agent id unless its limit is raised."""
    return f"agent:{agent}"


class Scheduler:
    """Ready items in priority order (stage_order for stages), within their resources' limits."""

    def __init__(self, graph: StageGraph, agents: Mapping[str, str | tuple[str, ...] | None],
                 statuses: Mapping[str, StageStatus], *, resources: Mapping[str, Iterable[str]] | None = None,
                 limits: Mapping[str, int] | None = None) -> None:
        # a stage holds one agent, or several (a review loop holds its work agent and its reviewer)
        held = {n: (a,) if isinstance(a, str) else tuple(a or ()) for n, a in agents.items()}
        extra = resources or {}
        self._needs: dict[str, tuple[str, ...]] = {
            n: tuple(dict.fromkeys([*(agent_slot(a) for a in held.get(n, ())), *extra.get(n, ())]))
            for n in graph.order}
        self._limits = dict(limits or {})
        self._used: Counter[str] = Counter()
        self._holding: set[str] = set()  # taken and not yet released
        self._priority = {name: i for i, name in enumerate(graph.order)}
        self._children: dict[str, list[str]] = {n: list(c) for n, c in graph.dependents().items()}
        self._done = {n for n in graph.order if statuses[n] in FINISHED}
        self._pending = {n for n in graph.order if statuses[n] == StageStatus.PENDING}
        self._waiting = {n: sum(1 for d in graph.deps[n] if d not in self._done) for n in self._pending}
        self._ready: list[tuple[int, str]] = [(self._priority[n], n) for n in self._pending if self._waiting[n] == 0]
        heapq.heapify(self._ready)

    def add(self, name: str, *, deps: Iterable[str] = (), agents: Iterable[str] = (), resources: Iterable[str] = (),
            priority: int | None = None) -> None:
        """New pending work while the scheduler runs. `deps` must already be known; a lower
        `priority` goes first (default: after everything known so far)."""
        if name in self._priority:
            raise ValueError(f"{name} is already scheduled")
        deps = tuple(dict.fromkeys(deps))
        unknown = [d for d in deps if d not in self._priority]
        if unknown:
            raise ValueError(f"{name} depends on unknown work: {', '.join(unknown)}")
        self._priority[name] = max(self._priority.values(), default=-1) + 1 if priority is None else priority
        self._needs[name] = tuple(dict.fromkeys([*(agent_slot(a) for a in agents), *resources]))
        self._children[name] = []
        for dep in deps:
            self._children[dep].append(name)
        self._pending.add(name)
        self._waiting[name] = sum(1 for d in deps if d not in self._done)
        if self._waiting[name] == 0:
            heapq.heappush(self._ready, (self._priority[name], name))

    def limit(self, resource: str) -> int:
        return self._limits.get(resource, 1)

    def take(self, capacity: int) -> list[str]:
        """Up to `capacity` ready items whose resources have room; they leave the ready queue and
        hold their resources until `release`."""
        chosen: list[str] = []
        held: list[tuple[int, str]] = []
        while self._ready and len(chosen) < capacity:
            item = heapq.heappop(self._ready)
            needs = self._needs.get(item[1], ())
            if any(self._used[r] >= self.limit(r) for r in needs):
                held.append(item)
                continue
            chosen.append(item[1])
            self._pending.discard(item[1])
            self._holding.add(item[1])
            self._used.update(needs)
        for item in held:
            heapq.heappush(self._ready, item)
        return chosen

    def release(self, name: str) -> None:
        """`name` stopped running (whatever its status): its resources are free again."""
        if name in self._holding:
            self._holding.discard(name)
            self._used.subtract(self._needs.get(name, ()))

    def requeue(self, name: str) -> None:
        """`name`, taken before and not finished, is ready again (a person rejected or reviewed it)."""
        self.release(name)
        if name not in self._pending and name not in self._done:
            self._pending.add(name)
            self._waiting[name] = 0  # it ran: everything it depends on is done
            heapq.heappush(self._ready, (self._priority[name], name))

    def finished(self, name: str) -> None:
        """`name` succeeded (or was skipped): its dependents may become ready."""
        self.release(name)
        self._done.add(name)
        for child in self._children.get(name, ()):
            if child in self._pending:
                self._waiting[child] -= 1
                if self._waiting[child] == 0:
                    heapq.heappush(self._ready, (self._priority[child], child))
