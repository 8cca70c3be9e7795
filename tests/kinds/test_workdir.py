"""A stage's working directory: command stages and the acceptance command run in StageWork.workdir."""

from __future__ import annotations

import sys
from pathlib import Path

from teambot.config.models import StageConfig
from teambot.kinds.context import LoopSettings, StageWork
from teambot.kinds.registry import kind_of
from teambot.objective import Objective
from teambot.paths import RunPaths
from teambot.store.models import Iteration, StageRecord, now_iso

PRINT_CWD = [sys.executable, "-c", "import os; print('cwd=' + os.getcwd())"]


def _work(tmp_path: Path, stage: StageConfig, workdir: Path | None) -> StageWork:
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    paths = RunPaths(project, "feat")
    paths.root.mkdir(parents=True, exist_ok=True)
    paths.make_dir(paths.log("S").parent, durable=False)
    record = {"S": StageRecord(name="S")}
    objective = Objective(path=Path("o.md"), text="# T", sha256="", body="# T", title="T", sections={},
                          success_criteria=(), front_feature=None)

    def commit(**changes):
        record["S"] = record["S"].model_copy(update=changes)
        return record["S"]

    return StageWork(name="S", stage=stage, attempt=1, paths=paths, objective=objective, project_dir=project,
                     runtime=None, settings=LoopSettings(), upstream=[], get_record=lambda: record["S"], commit=commit,
                     emit=lambda type, **details: None, redact=str, persona=lambda agent: None,
                     on_spawn=lambda pgid: None, durable=False, workdir=workdir)


async def test_a_command_stage_runs_in_the_works_workdir(tmp_path: Path) -> None:
    """A command stage's commands run with the StageWork's workdir as their working directory."""
    workdir = tmp_path / "worktree"
    workdir.mkdir()
    stage = StageConfig(run=[PRINT_CWD])
    work = _work(tmp_path, stage, workdir)
    done = await kind_of(stage).attempt(work)
    assert f"cwd={workdir.resolve()}" in done.output


async def test_without_a_workdir_a_command_stage_runs_in_the_project(tmp_path: Path) -> None:
    """A StageWork without a workdir works in the project directory (today's behaviour)."""
    stage = StageConfig(run=[PRINT_CWD])
    work = _work(tmp_path, stage, None)
    assert work.workdir == work.project_dir
    done = await kind_of(stage).attempt(work)
    assert f"cwd={work.project_dir.resolve()}" in done.output


async def test_the_acceptance_command_runs_in_the_works_workdir(tmp_path: Path) -> None:
    """The acceptance command (teambot's test step) runs with the StageWork's workdir as its working directory."""
    workdir = tmp_path / "worktree"
    workdir.mkdir()
    stage = StageConfig(work_agent="a", is_acceptance_test_stage=True, acceptance_command=PRINT_CWD)
    work = _work(tmp_path, stage, workdir)
    # the work step of iteration 1 is done (as after a resume): only the test step is left
    step = work.save(1, "work", "tests written")
    work.commit(iterations=[Iteration(number=1, started_at=now_iso(), work=step)])
    await kind_of(stage).attempt(work)
    test = work.record.iterations[0].test
    assert test is not None and test.passed
    assert f"cwd={workdir.resolve()}" in (work.paths.root / test.output.file).read_text()
