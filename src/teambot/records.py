"""RunRecords: a run's live records (run, stages, children) and the one feed of their changes.

The engine (session, executor, kinds) never calls a store. It changes records here, and every
change is announced to the observers: the persistence observer (store/persistence.py) turns each
into a journal record, and whatever else wants to know can subscribe beside it. Where a change
must be durable before the engine goes on (a stage's final status before its dependents start
visibly or it is reported, reports.py; a merge intent before git moves anything), the engine awaits `settled()`,
which several finishing stages share (group commit). Design: .agent-tracking/design/journal.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator, Mapping
from typing import Any, Protocol

from teambot.store.models import ChildRecord, RunRecord, RunState, StageRecord


class RecordObserver(Protocol):
    """What RunRecords tells about each change, in the order they happen."""

    def stage_changed(self, record: StageRecord) -> None: ...
    def child_changed(self, record: ChildRecord) -> None: ...
    def run_changed(self, run: RunRecord, stages: Mapping[str, StageRecord] | None) -> None: ...
    async def settled(self) -> None: ...


class RunRecords(Mapping[str, StageRecord]):
    """The run's records as the engine sees them: a mapping of stage name to its latest record,
    with the run record and the children beside it. Each change goes to every observer."""

    def __init__(self, state: RunState, observers: tuple[RecordObserver, ...] = ()) -> None:
        self.state = state  # its dicts are updated in place: callers holding `state` see every change
        self._observers = list(observers)

    @classmethod
    def persisted(cls, store, state: RunState) -> RunRecords:
        """The records of a run whose store is open (the observer writes them to its journal)."""
        from teambot.store.persistence import Persistence

        return cls(state, (Persistence(store),))

    def subscribe(self, observer: RecordObserver) -> None:
        self._observers.append(observer)

    # -- reading ---------------------------------------------------------------------------
    def __getitem__(self, name: str) -> StageRecord:
        return self.state.stages[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.state.stages)

    def __len__(self) -> int:
        return len(self.state.stages)

    @property
    def run(self) -> RunRecord:
        return self.state.run

    @property
    def children(self) -> dict[str, ChildRecord]:
        return self.state.children

    # -- changing --------------------------------------------------------------------------
    def put(self, record: StageRecord) -> StageRecord:
        """A stage's new record (a lifecycle transition or new facts about its attempt)."""
        self.state.stages[record.name] = record
        for observer in self._observers:
            observer.stage_changed(record)
        return record

    def update(self, name: str, **changes: Any) -> StageRecord:
        return self.put(self.state.stages[name].model_copy(update=changes))

    def put_child(self, record: ChildRecord) -> ChildRecord:
        self.state.children[record.id] = record
        for observer in self._observers:
            observer.child_changed(record)
        return record

    def update_child(self, cid: str, **changes: Any) -> ChildRecord:
        return self.put_child(self.state.children[cid].model_copy(update=changes))

    def save_run(self, *, new: bool = False) -> None:
        """The run record changed (it is mutated in place); `new`: a new run, with every stage record
        and no children (its first snapshot)."""
        if new:
            self.state.children.clear()
        for observer in self._observers:
            observer.run_changed(self.state.run, self.state.stages if new else None)

    # -- durability ------------------------------------------------------------------------
    def settled(self) -> Awaitable[None]:
        """Await it: done once every change so far is durable (shared by every stage awaiting at once)."""
        if len(self._observers) == 1:  # the usual case, without a coroutine of its own (64 finishing stages await it)
            return self._observers[0].settled()
        return _all_settled(self._observers)


async def _all_settled(observers: list[RecordObserver]) -> None:
    if observers:
        await asyncio.gather(*(observer.settled() for observer in observers))
