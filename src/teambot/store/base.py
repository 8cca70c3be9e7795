"""The StateStore seam: a handful of methods every store implements (see tests/store)."""

from __future__ import annotations

from typing import Protocol

from teambot.store.models import ChildRecord, RunRecord, RunState, StageRecord


class StateStore(Protocol):
    """Persistence for one run. One writer at a time; every commit is atomic and durable.

    The store assigns each committed StageRecord and ChildRecord a new, increasing `seq` (one
    counter for both).
    """

    def load(self) -> RunState | None:
        """The committed state, or None if the run has never been saved."""

    @property
    def seq(self) -> int:
        """The last record committed (appended, durable or not)."""

    def commit_stage(self, record: StageRecord, *, defer: bool = False) -> StageRecord:
        """Record one stage's new record (every lifecycle transition); returns it with its seq.

        `defer`: do not flush here even if the record must be durable; `flush_wanted` is then set
        and `flush()` (on any thread: group commit) makes it durable with whatever came after."""

    def commit_child(self, record: ChildRecord, *, defer: bool = False) -> ChildRecord:
        """Record one child's new record (`STAGE/child`, every lifecycle transition); returns it with its seq.

        Independent of its stage's record: committing or resetting the stage leaves its children as they are.
        """

    def commit_run(self, run: RunRecord, stages: dict[str, StageRecord] | None = None) -> None:
        """Record the run record with every stage and child record so far (`stages` replaces the
        stages and drops every child: a new run)."""

    def flush(self) -> None:
        """Make every record committed so far durable (safe to call from another thread)."""

    def close(self) -> None:
        """Release the store (and its lock, for stores that hold one)."""
