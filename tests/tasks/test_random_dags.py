"""Random task DAGs through the real CLI and real git (hypothesis, a few examples: each is a whole run)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.git.scratch import git, write
from tests.helpers import events, teambot

STAGES = """\
stages:
  IMPLEMENTATION:
    work_agent: builder-1
    tasks:
      from: tasks.yaml
      agents: [builder-1, builder-2]
stage_order: [IMPLEMENTATION]
"""


@st.composite
def dags(draw) -> list[dict]:
    n = draw(st.integers(min_value=1, max_value=7))
    tasks = []
    for i in range(n):
        deps = draw(st.lists(st.integers(min_value=0, max_value=i - 1), max_size=2, unique=True)) if i else []
        tasks.append({"id": f"T{i}", "title": f"task {i}", "depends_on": [f"T{d}" for d in deps]})
    order = draw(st.permutations(tasks))  # the file's order is not the dependency order
    return list(order)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tasks=dags(), concurrency=st.integers(min_value=1, max_value=3))
def test_every_task_is_merged_once_after_its_dependencies(tasks: list[dict], concurrency: int) -> None:
    """Any DAG: each task starts after every dependency merged, at most `concurrency` run at once, and the
    integration branch holds each task's merge exactly once."""
    root = Path(tempfile.mkdtemp(prefix="teambot-dag-"))
    try:
        git(root, "init", "-q", "-b", "main")
        write(root / "README.md", "x\n")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "first")
        write(root / "stages.yaml", STAGES)
        write(root / "tasks.yaml", json.dumps({"tasks": tasks}))
        write(root / "objective.md", "---\nfeature: dag\n---\n# DAG\n")
        done = teambot("run", "objective.md", "-q", "--max-concurrency", str(concurrency), cwd=root)
        assert done.returncode == 0, done.stdout + done.stderr
        seen = events(root / ".agent-tracking" / "dag")
        merged_at, running, most = {}, set(), 0
        for i, e in enumerate(seen):
            task = e["details"].get("task")
            if e["type"] == "task_started":
                deps = next(t["depends_on"] for t in tasks if t["id"] == task)
                assert all(d in merged_at for d in deps), (task, deps)
                running.add(task)
                most = max(most, len(running))
            elif e["type"] == "task_merged":
                merged_at[task] = i
                running.discard(task)
        assert most <= concurrency and set(merged_at) == {t["id"] for t in tasks}
        log = git(root, "log", "--format=%s", "teambot/dag").splitlines()
        for t in tasks:
            assert sum(1 for line in log if line.startswith(f"Merge task {t['id']}:")) == 1
    finally:
        shutil.rmtree(root, ignore_errors=True)
