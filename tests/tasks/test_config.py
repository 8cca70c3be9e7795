"""The `tasks:` block of stages.yaml, validated like every other field (`teambot validate`)."""

from __future__ import annotations

from pathlib import Path

from teambot.config import load_workflow
from tests.helpers import teambot

BASE = """\
stages:
  PLAN:
    work_agent: pm
    artifacts: [tasks.yaml]
  IMPLEMENTATION:
{impl}
stage_order: [{order}]
"""


def validate(tmp_path: Path, impl: str, order: str = "PLAN, IMPLEMENTATION"):
    (tmp_path / "stages.yaml").write_text(BASE.format(impl=impl, order=order))
    return teambot("validate", "stages.yaml", cwd=tmp_path)


def test_a_valid_tasks_block_passes_and_parallel_agents_is_the_default_pool(tmp_path: Path) -> None:
    """A task stage without tasks.agents takes parallel_agents as its pool, with no 'ignored' warning."""
    done = validate(tmp_path, "    work_agent: builder-1\n    parallel_agents: [builder-1, builder-2]\n    tasks:\n      from: tasks.yaml")
    assert done.returncode == 0, done.stderr
    assert "ignored" not in done.stderr
    stage = load_workflow(tmp_path / "stages.yaml", project_dir=tmp_path).config.stages["IMPLEMENTATION"]
    assert stage.kind.value == "task" and stage.tasks.pool(stage) == ("builder-1", "builder-2")


def test_every_problem_of_a_tasks_block_is_reported_with_its_line(tmp_path: Path) -> None:
    """Unknown field, bad on_conflict and per_agent 0: all reported at once with their lines, exit 2."""
    done = validate(tmp_path, "    work_agent: builder-1\n    tasks:\n      from: tasks.yaml\n"
                              "      per_agent: 0\n      on_conflict: merge\n      verfy: [pytest]")
    assert done.returncode == 2 and "3 problems" in done.stderr
    for needle in ("stages.yaml:9:7: stages.IMPLEMENTATION.tasks.per_agent", "stages.IMPLEMENTATION.tasks.on_conflict",
                   "stages.IMPLEMENTATION.tasks.verfy: unknown field"):
        assert needle in done.stderr, needle


def test_a_task_stage_declaring_artifacts_is_refused(tmp_path: Path) -> None:
    """A task stage's work is what it merges: declared artifacts are a problem naming the field."""
    done = validate(tmp_path, "    work_agent: builder-1\n    artifacts: [x.md]\n    tasks:\n      from: tasks.yaml")
    assert done.returncode == 2 and "stages.IMPLEMENTATION.artifacts: a task stage declares no artifacts" in done.stderr


def test_a_tasks_file_written_after_the_task_stage_is_refused(tmp_path: Path) -> None:
    """`from` naming the artifact of a stage that runs later: the fix (depend on it) is named."""
    done = validate(tmp_path, "    work_agent: builder-1\n    tasks:\n      from: tasks.yaml", order="IMPLEMENTATION, PLAN")
    assert done.returncode == 2
    assert "written by PLAN, which does not run before IMPLEMENTATION" in done.stderr


def test_a_tasks_path_outside_the_project_is_refused(tmp_path: Path) -> None:
    """`from` that is no artifact must be a relative path inside the project."""
    done = validate(tmp_path, "    work_agent: builder-1\n    tasks:\n      from: ../elsewhere/tasks.yaml")
    assert done.returncode == 2 and "must not contain '..'" in done.stderr


def test_a_task_stage_with_review_fields_is_refused(tmp_path: Path) -> None:
    """A task stage cannot also be a review stage."""
    done = validate(tmp_path, "    work_agent: builder-1\n    review_agent: reviewer\n    is_review_stage: true\n"
                              "    tasks:\n      from: tasks.yaml")
    assert done.returncode == 2 and "a task stage (tasks) runs its tasks' agents; remove is_review_stage" in done.stderr
