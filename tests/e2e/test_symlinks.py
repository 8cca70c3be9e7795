"""Symlinks in the run directory are never written through: exit 2 naming the path, nothing outside changes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import state, teambot

STAGES = """\
stages:
  GATE:
    run: [["{python}", "-c", "import os, sys; sys.exit(0 if os.path.exists('go') else 3)"]]
  SPEC: {work_agent: ba, artifacts: [spec.md]}
  REVIEW: {work_agent: dev, review_agent: rev, is_review_stage: true, artifacts: [reviewed.md]}
  DONE: {}
stage_order: [GATE, SPEC, REVIEW, DONE]
"""


def failed_run(tmp_path: Path) -> tuple[Path, Path]:
    """A run whose first stage failed (no `go` file yet): (project, run dir)."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "stages.yaml").write_text(STAGES)
    (project / "objective.md").write_text("---\nfeature: links\n---\n# Links\n\nbody\n")
    proc = teambot("run", "objective.md", "--runtime", "demo", cwd=project)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    return project, project / ".agent-tracking" / "links"


def check_refused(proc, link: Path) -> None:
    """Exit 2, an error naming the link and a hint, no traceback, no 'unexpected'."""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0] == (f"error: {link} is a symbolic link; teambot writes only real files and directories "
                        "inside the run directory"), proc.stderr
    assert lines[1].startswith("hint: replace it with a real file or directory") and len(lines) == 2, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("where", ["events.jsonl", "logs/GATE.log"])
def test_a_symlinked_log_file_is_refused_not_appended_to(tmp_path, where):
    """events.jsonl or logs/<STAGE>.log pointing outside: resume exits 2 naming it; the outside file is unchanged."""
    project, run_dir = failed_run(tmp_path)
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    link = run_dir / where
    link.unlink()
    link.symlink_to(outside)
    (project / "go").touch()
    check_refused(teambot("resume", cwd=project), link)
    assert outside.read_text() == "precious\n"
    link.unlink()
    assert teambot("resume", cwd=project).returncode == 0
    assert state(run_dir)["run"]["status"] == "completed"


def test_a_symlinked_iterations_folder_gets_no_step_file(tmp_path):
    """iterations/<STAGE>/ pointing outside: the review loop writes nothing there; exit 2; resume after removing it completes."""
    project, run_dir = failed_run(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    link = run_dir / "iterations" / "REVIEW"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside, target_is_directory=True)
    (project / "go").touch()
    check_refused(teambot("resume", cwd=project), link)
    assert list(outside.iterdir()) == []
    link.unlink()
    assert teambot("resume", cwd=project).returncode == 0
    assert (run_dir / "iterations" / "REVIEW" / "01-review.md").is_file()


def test_artifacts_replaced_by_a_symlink_during_the_run_stop_it(tmp_path):
    """A stage that swaps artifacts/ for a symlink: the next stage writes nothing outside, the run exits 2 (not 0)."""
    project = tmp_path / "project"
    project.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    swap = ("import os, sys; d = os.path.join(sys.argv[1], 'artifacts'); "
            "os.rename(d, d + '.real'); os.symlink(sys.argv[2], d)")
    (project / "stages.yaml").write_text(
        "stages:\n"
        f"  SWAP:\n    run: [[\"{{python}}\", \"-c\", \"{swap}\", \"{{run_dir}}\", \"{outside}\"]]\n"
        "  SPEC: {work_agent: ba, artifacts: [spec.md]}\n"
        "stage_order: [SWAP, SPEC]\n")
    (project / "objective.md").write_text("---\nfeature: swap\n---\n# Swap\n\nbody\n")
    proc = teambot("run", "objective.md", "--runtime", "demo", cwd=project)
    run_dir = project / ".agent-tracking" / "swap"
    check_refused(proc, run_dir / "artifacts")
    assert list(outside.iterdir()) == []
    data = state(run_dir)
    assert data["run"]["status"] == "failed" and "artifacts is a symbolic link" in data["run"]["error"]
    # Put the real directory back: the run goes on from where it stopped.
    (run_dir / "artifacts").unlink()
    os.rename(run_dir / "artifacts.real", run_dir / "artifacts")
    assert teambot("resume", cwd=project).returncode == 0
    assert (run_dir / "artifacts" / "spec.md").is_file() and list(outside.iterdir()) == []


def test_a_symlinked_stages_folder_is_refused(tmp_path):
    """stages/ (per-stage commits) pointing outside: exit 2 naming it; no record is written outside."""
    project, run_dir = failed_run(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    records = run_dir / "stages"
    if records.exists():
        for entry in records.iterdir():
            entry.unlink()
        records.rmdir()
    records.symlink_to(outside, target_is_directory=True)
    (project / "go").touch()
    check_refused(teambot("resume", cwd=project), records)
    assert list(outside.iterdir()) == []


def test_an_artifact_symlinked_outside_is_a_clear_error(tmp_path):
    """A command that leaves its artifact as a symlink to a file outside: exit 2 naming it, not 'unexpected ValueError'."""
    project = tmp_path / "project"
    project.mkdir()
    outside = tmp_path / "secret.txt"
    outside.write_text("not for the run\n")
    link = "import os, sys; os.symlink(sys.argv[2], os.path.join(sys.argv[1], 'spec.md'))"
    (project / "stages.yaml").write_text(
        "stages:\n"
        f"  LINK:\n    run: [[\"{{python}}\", \"-c\", \"{link}\", \"{{artifacts_dir}}\", \"{outside}\"]]\n"
        "    artifacts: [spec.md]\n"
        "stage_order: [LINK]\n")
    (project / "objective.md").write_text("---\nfeature: link\n---\n# Link\n\nbody\n")
    proc = teambot("run", "objective.md", "--runtime", "demo", cwd=project)
    artifact = project / ".agent-tracking" / "link" / "artifacts" / "spec.md"
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith(f"error: {artifact} points outside "), proc.stderr
    assert "unexpected" not in proc.stderr and "Traceback" not in proc.stderr
    assert state(project / ".agent-tracking" / "link")["stages"]["LINK"]["status"] == "failed"
