"""An in-memory StateStore for unit and property tests (no disk, no lock)."""

from __future__ import annotations

from teambot.store.models import ChildRecord, RunRecord, RunState, StageRecord


class MemoryStateStore:
    def __init__(self) -> None:
        self._run: RunRecord | None = None
        self._stages: dict[str, StageRecord] = {}
        self._children: dict[str, ChildRecord] = {}
        self._seq = 0
        self.commits = 0

    def load(self) -> RunState | None:
        if self._run is None:
            return None
        return RunState(run=self._run.model_copy(deep=True), stages={k: v.model_copy(deep=True) for k, v in self._stages.items()},
                        children={k: v.model_copy(deep=True) for k, v in self._children.items()})

    def commit_stage(self, record: StageRecord) -> StageRecord:
        self._seq += 1
        self.commits += 1
        saved = record.model_copy(update={"seq": self._seq}, deep=True)
        self._stages[saved.name] = saved
        return saved

    def commit_child(self, record: ChildRecord) -> ChildRecord:
        self._seq += 1
        self.commits += 1
        saved = record.model_copy(update={"seq": self._seq}, deep=True)
        self._children[saved.id] = saved
        return saved

    def commit_run(self, run: RunRecord, stages: dict[str, StageRecord] | None = None) -> None:
        self.commits += 1
        if stages is not None:
            self._stages = {k: v.model_copy(deep=True) for k, v in stages.items()}
            self._children = {}  # a new run starts without children
        self._run = run.model_copy(deep=True)

    def close(self) -> None:
        pass
