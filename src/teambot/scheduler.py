"""Which stages may start now. Pure: no I/O, no asyncio.

Incremental so a long chain costs O(1) per finished stage: each pending stage keeps a count
of dependencies not yet done; a stage whose count reaches zero joins the ready queue.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping

from teambot.graph import StageGraph
from teambot.lifecycle import FINISHED, StageStatus



class Scheduler:
    """Ready stages in stage_order, at most one running stage per agent."""

    def __init__(self, graph: StageGraph, agents: Mapping[str, str | tuple[str, ...] | None],
                 statuses: Mapping[str, StageStatus]) -> None:
        self._graph = graph
        # a stage holds one agent, or several (a review loop holds its work agent and its reviewer)
        self._agents = {n: (a,) if isinstance(a, str) else tuple(a or ()) for n, a in agents.items()}
        self._index = {name: i for i, name in enumerate(graph.order)}
        self._children = graph.dependents()
        self._pending = {n for n in graph.order if statuses[n] == StageStatus.PENDING}
        self._waiting = {n: sum(1 for d in graph.deps[n] if statuses[d] not in FINISHED) for n in self._pending}
        self._ready: list[tuple[int, str]] = [(self._index[n], n) for n in self._pending if self._waiting[n] == 0]
        heapq.heapify(self._ready)

    def take(self, capacity: int, busy_agents: Iterable[str]) -> list[str]:
        """Up to `capacity` ready stages whose agents are free; they leave the ready queue."""
        busy = set(busy_agents)
        chosen: list[str] = []
        held: list[tuple[int, str]] = []
        while self._ready and len(chosen) < capacity:
            item = heapq.heappop(self._ready)
            agents = self._agents.get(item[1], ())
            if busy.intersection(agents):
                held.append(item)
                continue
            chosen.append(item[1])
            self._pending.discard(item[1])
            busy.update(agents)
        for item in held:
            heapq.heappush(self._ready, item)
        return chosen

    def finished(self, name: str) -> None:
        """`name` succeeded (or was skipped): its dependents may become ready."""
        for child in self._children[name]:
            if child in self._pending:
                self._waiting[child] -= 1
                if self._waiting[child] == 0:
                    heapq.heappush(self._ready, (self._index[child], child))
