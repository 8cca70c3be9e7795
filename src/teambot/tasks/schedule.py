"""Which tasks of a task stage may start now, and on which agent. Pure: no I/O, no asyncio.

A task is ready when every task it depends on is merged. Among ready tasks the one with the
longest chain of tasks waiting on it goes first (ties: file order). A ready task starts when
an agent of its pool (its pinned agent, if any) runs fewer than `per_agent` tasks, the
stage's concurrency has room, and no running task declares a file that overlaps its `files`.
No waves: a task starts the moment these hold.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from teambot.tasks.model import Task, task_order


@dataclass(frozen=True)
class Start:
    task: str
    agent: str


def overlaps(a: Iterable[str], b: Iterable[str]) -> bool:
    """True when a path of `a` equals a path of `b` or one contains the other (a folder)."""
    left = [PurePosixPath(p).parts for p in a]
    for other in (PurePosixPath(p).parts for p in b):
        for parts in left:
            n = min(len(parts), len(other))
            if parts[:n] == other[:n]:
                return True
    return False


class TaskPicker:
    """The ready tasks of one stage and the agents free to run them."""

    def __init__(self, tasks: Sequence[Task], pool: Sequence[str], *, per_agent: int, done: Iterable[str] = ()) -> None:
        self._tasks = {t.id: t for t in tasks}
        order = task_order(tasks)
        position = {tid: i for i, tid in enumerate(order.order)}
        # longest chain first, then the file's order (stable and easy to predict)
        self._rank = {t.id: (-order.chain[t.id], position[t.id]) for t in tasks}
        self._pool = tuple(pool)
        self._per_agent = per_agent
        self._done = set(done)
        self._failed: set[str] = set()  # failed, or waiting on a failed task: never ready in this attempt
        self._running: dict[str, str] = {}  # task -> agent
        self._load: Counter[str] = Counter()

    @property
    def running(self) -> dict[str, str]:
        return dict(self._running)

    def ready(self) -> list[str]:
        """Tasks not started whose dependencies are all merged, best first."""
        found = [tid for tid, t in self._tasks.items()
                 if tid not in self._done and tid not in self._running and tid not in self._failed
                 and all(d in self._done for d in t.depends_on)]
        return sorted(found, key=self._rank.__getitem__)

    def pick(self, capacity: int) -> list[Start]:
        """Up to `capacity` tasks to start now, each with its agent; they count as running."""
        chosen: list[Start] = []
        for tid in self.ready():
            if len(chosen) >= capacity:
                break
            task = self._tasks[tid]
            if task.files and any(overlaps(task.files, self._tasks[r].files) for r in self._running):
                continue
            agent = self._free_agent(task)
            if agent is None:
                continue
            self._running[tid] = agent
            self._load[agent] += 1
            chosen.append(Start(tid, agent))
        return chosen

    def _free_agent(self, task: Task) -> str | None:
        candidates = [task.agent] if task.agent else list(self._pool)
        free = [a for a in candidates if self._load[a] < self._per_agent]
        return min(free, key=lambda a: self._load[a]) if free else None  # min keeps pool order on ties

    def merged(self, tid: str) -> None:
        self._stop(tid)
        self._done.add(tid)

    def failed(self, tid: str) -> None:
        """`tid` failed: it and every task depending on it stay unstarted in this attempt."""
        self._stop(tid)
        todo = [tid]
        while todo:
            current = todo.pop()
            if current in self._failed:
                continue
            self._failed.add(current)
            todo.extend(t.id for t in self._tasks.values() if current in t.depends_on)

    def _stop(self, tid: str) -> None:
        agent = self._running.pop(tid, None)
        if agent is not None:
            self._load[agent] -= 1

    def blocked_by_failure(self) -> list[str]:
        """Tasks never started because a task they depend on failed."""
        return [t for t in self._tasks if t in self._failed and t not in self._done]

    def finished(self) -> bool:
        return not self._running and not self.ready()
