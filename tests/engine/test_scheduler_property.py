"""Property tests: the executor on random DAGs (in-process, memory store, a recording runtime), and
the pure scheduler with named resources and work added while it runs."""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from teambot.config.loader import Workflow
from teambot.config.models import StageConfig, StagesFile
from teambot.events import EventLog
from teambot.executor import ExecutorOptions, ParallelStageExecutor
from teambot.graph import build_graph
from teambot.lifecycle import StageStatus
from teambot.objective import Objective
from teambot.paths import RunPaths
from teambot.runtimes.base import StageRequest, StageResult
from teambot.scheduler import Scheduler, agent_slot
from teambot.store.memory import MemoryStateStore
from teambot.records import RunRecords
from teambot.store.models import RunRecord, RunState, StageRecord


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
        run = RunRecord(feature="f", objective_path="o", objective_sha256="", stages_path="s", stages_sha256="")
        records = RunRecords.persisted(MemoryStateStore(), RunState(run=run, stages={n: StageRecord(name=n) for n in graph.order}))
        records.save_run(new=True)
        objective = Objective(path=Path("o.md"), text="# T", sha256="", body="# T", title="T", sections={}, success_criteria=(), front_feature=None)
        executor = ParallelStageExecutor(
            workflow=workflow, records=records, events=events, runtime=runtime, paths=paths,
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


@st.composite
def workloads(draw):
    """A random DAG of stages plus work added later (depending on anything known by then),
    each item holding random agents and named resources with random limits."""
    n = draw(st.integers(min_value=1, max_value=8))
    later = draw(st.integers(min_value=0, max_value=8))
    names = [f"S{i}" for i in range(n)] + [f"T{i}" for i in range(later)]
    deps = {name: (draw(st.lists(st.sampled_from(names[:i]), unique=True, max_size=3)) if i else [])
            for i, name in enumerate(names)}
    agents = {name: draw(st.lists(st.sampled_from(["a", "b", "c"]), unique=True, max_size=2)) for name in names}
    resources = {name: draw(st.lists(st.sampled_from(["merge", "gpu"]), unique=True, max_size=2)) for name in names}
    limits = {"merge": 1, "gpu": draw(st.integers(min_value=1, max_value=3)),
              "agent:a": draw(st.integers(min_value=1, max_value=2))}
    capacity = draw(st.integers(min_value=1, max_value=4))
    # at which step of the simulation each later item is added (the order of addition is kept)
    add_at = sorted(draw(st.lists(st.integers(min_value=0, max_value=20), min_size=later, max_size=later)))
    finish_order = draw(st.randoms(use_true_random=False))
    return names[:n], names[n:], deps, agents, resources, limits, capacity, add_at, finish_order


@settings(max_examples=200, deadline=None)
@given(workloads())
def test_scheduler_respects_resource_limits_and_takes_work_added_while_running(case) -> None:
    """Pure scheduler: every item (initial or added mid-run) starts once, after its dependencies,
    within the capacity and every resource's limit, and nothing is left behind."""
    initial, later, deps, agents, resources, limits, capacity, add_at, rnd = case
    config = StagesFile(stages={n: StageConfig(depends_on=deps[n]) for n in initial}, stage_order=initial)
    graph = build_graph(config)
    scheduler = Scheduler(graph, {n: tuple(agents[n]) for n in initial}, {n: StageStatus.PENDING for n in initial},
                          resources={n: resources[n] for n in initial}, limits=limits)
    needs = {n: [agent_slot(a) for a in agents[n]] + resources[n] for n in initial + later}
    started: list[str] = []
    done: set[str] = set()
    running: list[str] = []
    to_add = list(zip(add_at, later))
    step = 0
    while True:
        while to_add and (to_add[0][0] <= step or not running):
            _, name = to_add.pop(0)
            scheduler.add(name, deps=deps[name], agents=agents[name], resources=resources[name])
        for name in scheduler.take(capacity - len(running)):
            assert name not in started, f"{name} started twice"
            assert all(d in done for d in deps[name]), f"{name} started before its dependencies"
            started.append(name)
            running.append(name)
        assert len(running) <= capacity
        used = Counter(r for name in running for r in needs[name])
        assert all(count <= limits.get(r, 1) for r, count in used.items()), f"over a limit: {used}"
        if not running and not to_add:
            break
        if running:
            name = running.pop(rnd.randrange(len(running)))
            scheduler.finished(name)
            done.add(name)
        step += 1
    assert sorted(started) == sorted(initial + later), "every item runs exactly once"


def test_a_released_item_frees_its_resources_without_unlocking_dependents() -> None:
    """release (a failed or interrupted stage) frees its agents for others but its dependents stay waiting."""
    config = StagesFile(stages={"A": StageConfig(depends_on=[]), "B": StageConfig(depends_on=[]),
                                "C": StageConfig(depends_on=["A"])},
                        stage_order=["A", "B", "C"])
    pending = {n: StageStatus.PENDING for n in config.stage_order}
    scheduler = Scheduler(build_graph(config), {"A": ("x",), "B": ("x",), "C": ()}, pending)
    assert scheduler.take(3) == ["A"]  # B waits for agent x
    scheduler.release("A")
    assert scheduler.take(3) == ["B"]  # x is free again; C still waits for A to succeed
    assert scheduler.take(3) == []


def test_adding_known_or_unknown_work_is_refused() -> None:
    """Adding an item twice, or one that depends on unknown work, is a programming error (ValueError)."""
    config = StagesFile(stages={"A": StageConfig()}, stage_order=["A"])
    scheduler = Scheduler(build_graph(config), {"A": ()}, {"A": StageStatus.PENDING})
    with pytest.raises(ValueError, match="already scheduled"):
        scheduler.add("A")
    with pytest.raises(ValueError, match="unknown work: Z"):
        scheduler.add("B", deps=["Z"])
