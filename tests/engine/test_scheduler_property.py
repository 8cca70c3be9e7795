"""Property test: the executor on random DAGs (in-process, memory store, a recording runtime)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from teambot.config.loader import Workflow
from teambot.config.models import StageConfig, StagesFile
from teambot.events import EventLog
from teambot.executor import ExecutorOptions, ParallelStageExecutor
from teambot.graph import build_graph
from teambot.objective import Objective
from teambot.paths import RunPaths
from teambot.runtimes.base import StageRequest, StageResult
from teambot.store.memory import MemoryStateStore
from teambot.store.models import RunRecord, StageRecord


class RecordingRuntime:
    """Sleeps a per-stage time and records which stages run at once."""

    name = "recording"

    def __init__(self, delays: dict[str, float]) -> None:
        self.delays = delays
        self.running: set[str] = set()
        self.max_seen = 0

    async def run(self, request: StageRequest) -> StageResult:
        self.running.add(request.stage)
        self.max_seen = max(self.max_seen, len(self.running))
        await asyncio.sleep(self.delays[request.stage])
        self.running.discard(request.stage)
        return StageResult(output=f"{request.stage} done")

    async def aclose(self) -> None:
        return None


@st.composite
def dags(draw):
    n = draw(st.integers(min_value=1, max_value=10))
    names = [f"S{i}" for i in range(n)]
    stages = {}
    for i, name in enumerate(names):
        deps = draw(st.lists(st.sampled_from(names[:i]), unique=True, max_size=3)) if i else []
        agent = draw(st.sampled_from(["a", "b", "c", None]))
        stages[name] = StageConfig(work_agent=agent, depends_on=deps)
    delays = {name: draw(st.sampled_from([0.0, 0.001, 0.003])) for name in names}
    return StagesFile(stages=stages, stage_order=names), delays, draw(st.integers(min_value=1, max_value=4))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dags())
def test_every_stage_runs_once_after_its_dependencies_within_limits(case) -> None:
    """Each stage runs once, after all its dependencies, never more than N at once, never two on one agent."""
    config, delays, limit = case
    graph = build_graph(config)
    workflow = Workflow(path=Path("stages.yaml"), sha256="x", config=config, graph=graph)
    seen: list[tuple[str, str]] = []
    events = EventLog(None)
    events.listeners.append(lambda e: seen.append((e.type, e.stage)) if e.stage else None)
    runtime = RecordingRuntime(delays)
    with tempfile.TemporaryDirectory() as tmp:
        paths = RunPaths(Path(tmp), "f")
        records = {n: StageRecord(name=n) for n in graph.order}
        run = RunRecord(feature="f", objective_path="o", objective_sha256="", stages_path="s", stages_sha256="")
        store = MemoryStateStore()
        store.commit_run(run, stages=records)
        objective = Objective(path=Path("o.md"), text="# T", sha256="", body="# T", title="T", sections={}, success_criteria=(), front_feature=None)
        executor = ParallelStageExecutor(
            workflow=workflow, records=records, run=run, store=store, events=events, runtime=runtime, paths=paths,
            objective=objective, project_dir=Path(tmp), options=ExecutorOptions(max_concurrency=limit, durable=False),
        )
        outcome = asyncio.run(executor.run())
    assert outcome.completed
    starts = [s for t, s in seen if t == "stage_started"]
    assert sorted(starts) == sorted(graph.order), "every stage runs exactly once"
    done_at: dict[str, int] = {}
    running: set[str] = set()
    for index, (type_, stage) in enumerate(seen):
        if type_ == "stage_started":
            assert all(dep in done_at for dep in graph.deps[stage]), f"{stage} started before its dependencies"
            running.add(stage)
            assert len(running) <= limit
            agents = [config.stages[s].work_agent for s in running if config.stages[s].work_agent]
            assert len(agents) == len(set(agents)), "two running stages on one agent"
        elif type_ == "stage_succeeded":
            running.discard(stage)
            done_at[stage] = index
    assert runtime.max_seen <= limit
