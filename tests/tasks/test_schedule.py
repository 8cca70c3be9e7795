"""TaskPicker: which ready task starts next, on which agent (pure; random DAGs with hypothesis)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from teambot.tasks.model import Task
from teambot.tasks.schedule import TaskPicker, overlaps

POOL = ("builder-1", "builder-2", "builder-3")


@st.composite
def dags(draw) -> list[Task]:
    n = draw(st.integers(min_value=1, max_value=25))
    tasks = []
    for i in range(n):
        deps = draw(st.lists(st.integers(min_value=0, max_value=max(i - 1, 0)), max_size=3, unique=True)) if i else []
        files = draw(st.lists(st.sampled_from(["a.py", "b.py", "pkg/", "pkg/c.py", "d.py"]), max_size=2, unique=True))
        agent = draw(st.sampled_from([None, None, None, *POOL]))
        tasks.append(Task(id=f"T{i}", title=f"task {i}", depends_on=[f"T{d}" for d in deps], files=files, agent=agent))
    return tasks


@settings(max_examples=150, deadline=None)
@given(tasks=dags(), capacity=st.integers(min_value=1, max_value=5), per_agent=st.integers(min_value=1, max_value=2),
       seed=st.integers(min_value=0, max_value=10_000))
def test_every_task_runs_once_after_its_dependencies_within_the_limits(tasks, capacity, per_agent, seed) -> None:
    """Random DAGs, finishing in random order: each task starts once, after every dependency merged, never
    beyond the capacity, an agent's per_agent, its pinned agent, or beside a task with overlapping files."""
    rng = random.Random(seed)
    picker = TaskPicker(tasks, POOL, per_agent=per_agent)
    by_id = {t.id: t for t in tasks}
    merged: list[str] = []
    started: list[str] = []
    running: dict[str, str] = {}
    while True:
        for start in picker.pick(capacity - len(running)):
            task = by_id[start.task]
            assert start.task not in started
            assert all(d in merged for d in task.depends_on)
            assert task.agent in (None, start.agent) and start.agent in POOL
            assert not any(overlaps(task.files, by_id[r].files) for r in running if task.files)
            running[start.task] = start.agent
            started.append(start.task)
            assert len(running) <= capacity
            assert list(running.values()).count(start.agent) <= per_agent
        if not running:
            break
        done = rng.choice(sorted(running))
        del running[done]
        picker.merged(done)
        merged.append(done)
    assert sorted(started) == sorted(by_id) and picker.finished()


def test_the_task_with_the_longest_chain_of_dependents_goes_first() -> None:
    """Of two ready tasks, the one more tasks wait on (one after another) starts first."""
    tasks = [Task(id="leaf", title="l"), Task(id="root", title="r"), Task(id="mid", title="m", depends_on=["root"]),
             Task(id="end", title="e", depends_on=["mid"])]
    assert [s.task for s in TaskPicker(tasks, ["a"], per_agent=1).pick(1)] == ["root"]


def test_a_failed_task_blocks_only_its_dependents() -> None:
    """After a failure its dependents never become ready; independent tasks still do."""
    tasks = [Task(id="A", title="a"), Task(id="B", title="b", depends_on=["A"]), Task(id="C", title="c")]
    picker = TaskPicker(tasks, ["x", "y"], per_agent=1)
    assert {s.task for s in picker.pick(2)} == {"A", "C"}
    picker.failed("A")
    picker.merged("C")
    assert picker.pick(2) == [] and picker.blocked_by_failure() == ["A", "B"] and picker.finished()


def test_paths_overlap_when_equal_or_one_contains_the_other() -> None:
    """A folder overlaps the files in it; siblings do not overlap."""
    assert overlaps(["pkg/"], ["pkg/a.py"]) and overlaps(["a.py"], ["a.py"])
    assert not overlaps(["pkg/a.py"], ["pkg/b.py"]) and not overlaps(["a.py"], [])
