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
        self.flush_wanted = False

    def load(self) -> RunState | None:
        if self._run is None:
            return None
        return RunState(run=self._run.model_copy(deep=True), stages={k: v.model_copy(deep=True) for k, v in self._stages.items()},
                        children={k: v.model_copy(deep=True) for k, v in self._children.items()})

    @property
    def seq(self) -> int:
        return self._seq

    def flush(self) -> None:
        pass

    def commit_stage(self, record: StageRecord, *, defer: bool = False) -> StageRecord:
        self._seq += 1
        self.commits += 1
        saved = record.model_copy(update={"seq": self._seq}, deep=True)
        self._stages[saved.name] = saved
        return saved

    def commit_child(self, record: ChildRecord, *, defer: bool = False) -> ChildRecord:
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
