"""A stage's output file is written without a flush: one a power cut emptied or lost makes its stage
not done, and `teambot resume` runs exactly that stage again (its dependents only if what they read changes)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import events, started, state, status_json, teambot

STAGES = """\
stages:
  A: {work_agent: a, artifacts: [a.md]}
  B: {work_agent: a, artifacts: [b.md]}
  C: {work_agent: a}
  D: {work_agent: a}
stage_order: [A, B, C, D]
"""


@pytest.fixture
def finished(tmp_path: Path) -> tuple[Path, Path]:
    """A completed four-stage chain A → B → C → D (demo runtime); (project, run dir)."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "stages.yaml").write_text(STAGES)
    (project / "objective.md").write_text("---\nfeature: chain\n---\n# Chain\n\nFour stages.\n")
    proc = teambot("run", "objective.md", "-q", cwd=project, env={"TEAMBOT_DEMO_DELAY": "0"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return project, project / ".agent-tracking" / "chain"


@pytest.mark.parametrize("damage", ["emptied", "deleted", "torn"])
def test_resume_reruns_the_stage_whose_output_was_lost(finished: tuple[Path, Path], damage: str) -> None:
    """B's output emptied, deleted or cut short: resume runs B again, not A; C and D are kept (B's artifact is unchanged)."""
    project, run_dir = finished
    output = run_dir / "outputs" / "B.md"
    recorded = state(run_dir)["stages"]["B"]["output_sha256"]
    if damage == "emptied":
        output.write_bytes(b"")
    elif damage == "deleted":
        output.unlink()
    else:
        output.write_bytes(output.read_bytes()[:5])
    count = len(started(run_dir))
    proc = teambot("resume", "chain", "-q", cwd=project, env={"TEAMBOT_DEMO_DELAY": "0"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert started(run_dir)[count:] == ["B"]
    kept = {e["stage"] for e in events(run_dir) if e["type"] == "stage_kept"}
    assert kept == {"C", "D"}
    assert output.read_bytes() and state(run_dir)["stages"]["B"]["output_sha256"] == recorded
    report = status_json(project)
    assert report["status"] == "completed" and all(s["status"] == "succeeded" for s in report["stages"])


def test_a_lost_output_reruns_dependents_whose_inputs_change(finished: tuple[Path, Path]) -> None:
    """A's output lost and its rerun writes another a.md (its description changed): every stage given a.md
    (B, C and D: upstream artifacts are transitive) runs again."""
    project, run_dir = finished
    (run_dir / "outputs" / "A.md").write_bytes(b"")
    (project / "stages.yaml").write_text(STAGES.replace("A: {work_agent: a,", "A: {work_agent: a, description: Say more,"))
    count = len(started(run_dir))
    proc = teambot("resume", "chain", cwd=project, env={"TEAMBOT_DEMO_DELAY": "0"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert started(run_dir)[count:] == ["A", "B", "C", "D"]
    assert not [e for e in events(run_dir) if e["type"] == "stage_kept"]
    assert "stale" not in proc.stdout  # A runs again: it is not listed as a stale stage kept
    assert status_json(project)["status"] == "completed"


def test_resume_says_which_outputs_were_lost(finished: tuple[Path, Path]) -> None:
    """Resume names the stages it runs again because their output was lost."""
    project, run_dir = finished
    (run_dir / "outputs" / "D.md").unlink()
    proc = teambot("resume", "chain", cwd=project, env={"TEAMBOT_DEMO_DELAY": "0"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "output lost" in proc.stdout and "D" in proc.stdout


def test_intact_outputs_rerun_nothing(finished: tuple[Path, Path]) -> None:
    """Every output as recorded: resume says the run is complete and starts no stage."""
    project, run_dir = finished
    count = len(started(run_dir))
    proc = teambot("resume", "chain", cwd=project, env={"TEAMBOT_DEMO_DELAY": "0"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "already complete" in proc.stdout
    assert len(started(run_dir)) == count


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_an_output_path_planted_as_a_link_is_replaced_not_written_through(tmp_path: Path, link: str) -> None:
    """A symlink or hard link left at outputs/B.md before B succeeds is replaced by B's output; the file it named is untouched."""
    project = tmp_path / "project"
    project.mkdir()
    (project / "stages.yaml").write_text(STAGES)
    (project / "objective.md").write_text("---\nfeature: chain\n---\n# Chain\n\nFour stages.\n")
    failed = teambot("run", "objective.md", "-q", cwd=project, env={"TEAMBOT_DEMO_DELAY": "0", "TEAMBOT_DEMO_FAIL": "B"})
    assert failed.returncode == 1, failed.stdout + failed.stderr
    run_dir = project / ".agent-tracking" / "chain"
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me\n")
    planted = run_dir / "outputs" / "B.md"
    assert not planted.exists()
    if link == "symlink":
        planted.symlink_to(victim)
    else:
        os.link(victim, planted)
    proc = teambot("resume", "chain", "-q", cwd=project, env={"TEAMBOT_DEMO_DELAY": "0"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert victim.read_text() == "keep me\n"
    assert not planted.is_symlink() and planted.stat().st_ino != victim.stat().st_ino
    assert "finished B" in planted.read_text()
