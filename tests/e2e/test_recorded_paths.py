"""End to end: the paths a run records are absolute, so every command works from any directory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.helpers import DEFAULT_STAGES, EXAMPLE_OBJECTIVE, git_commit_all, state, teambot


def _failed_run(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(project, another directory, run dir) after `run --stages my.yaml --workspace ws` failed at SPEC."""
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    shutil.copyfile(DEFAULT_STAGES, project / "my.yaml")
    shutil.copyfile(EXAMPLE_OBJECTIVE, project / "obj.md")
    git_commit_all(project)
    proc = teambot("run", "obj.md", "--stages", "my.yaml", "--workspace", "ws", "-q", cwd=project,
                   env={"TEAMBOT_DEMO_FAIL": "SPEC"})
    assert proc.returncode == 1, proc.stderr
    return project, elsewhere, project / "ws" / "todo-cli"


def test_run_records_absolute_paths(tmp_path: Path) -> None:
    """state.json records the objective and stages file as absolute paths, whatever was typed."""
    project, _, run_dir = _failed_run(tmp_path)
    run = state(run_dir)["run"]
    assert run["stages_path"] == str((project / "my.yaml").resolve())
    assert run["objective_path"] == str((project / "obj.md").resolve())
    assert run["project_dir"] == str(project.resolve())


def test_status_resume_and_rerun_from_another_directory(tmp_path: Path) -> None:
    """status, rerun and resume run from another directory read the run's stages file and finish it."""
    project, elsewhere, run_dir = _failed_run(tmp_path)
    ws = str(project / "ws")
    proc = teambot("status", "--json", "--workspace", ws, cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["notes"] == [], report["notes"]
    assert Path(report["stages_file"]).is_absolute() and Path(report["run_dir"]).is_absolute()
    proc = teambot("rerun", "SPEC", "--workspace", ws, cwd=elsewhere)
    assert proc.returncode == 0, proc.stderr
    proc = teambot("resume", "--workspace", ws, "-q", cwd=elsewhere)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = state(run_dir)
    assert data["run"]["status"] == "completed"
    assert data["run"]["stages_path"] == str((project / "my.yaml").resolve())
