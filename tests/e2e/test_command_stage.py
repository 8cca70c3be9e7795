"""Command stages (`run: [argv, ...]`): teambot runs them itself, no shell; exit 0 is success."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import psutil

from tests.helpers import state, teambot

PY = sys.executable


def project_with(tmp_path: Path, run: list, extra: str = "") -> Path:
    stages = (f"stages:\n  SPEC: {{work_agent: ba, artifacts: [spec.md]}}\n"
              f"  LINT:\n    run: {json.dumps(run)}\n{extra}"
              f"  DONE: {{}}\nstage_order: [SPEC, LINT, DONE]\n")
    (tmp_path / "stages.yaml").write_text(stages, encoding="utf-8")
    (tmp_path / "objective.md").write_text("---\nfeature: cmd\n---\n# Lint it\n\nbody\n", encoding="utf-8")
    return tmp_path


def test_commands_run_in_order_without_a_shell(tmp_path):
    """Each argv runs in the project directory; output lands in outputs/ and logs/; shell syntax is just text."""
    project = project_with(tmp_path, [
        [PY, "-c", "import os, sys; print('first in', os.getcwd()); print(sys.argv[1:])", "; touch pwned", "$HOME"],
        ["{python}", "-c", "import sys; print('second for', sys.argv[1])", "{stage}"],
    ])
    proc = teambot("run", "objective.md", "--runtime", "demo", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = project / ".agent-tracking" / "cmd"
    output = (run_dir / "outputs" / "LINT.md").read_text()
    assert f"first in {project}" in output and "['; touch pwned', '$HOME']" in output
    assert "second for LINT" in output
    assert not (project / "pwned").exists()
    assert "second for LINT" in (run_dir / "logs" / "LINT.log").read_text()
    assert state(run_dir)["stages"]["LINT"]["status"] == "succeeded"


def test_a_failing_command_fails_the_stage_and_stops_the_list(tmp_path):
    """Exit 3 fails the stage (exit 1, message with the code and stderr); later commands do not run."""
    project = project_with(tmp_path, [
        [PY, "-c", "import sys; sys.stderr.write('lint: 2 problems\\n'); sys.exit(3)"],
        [PY, "-c", "open('second-ran', 'w').write('x')"],
    ])
    proc = teambot("run", "objective.md", "--runtime", "demo", cwd=project)
    assert proc.returncode == 1
    data = state(project / ".agent-tracking" / "cmd")
    assert data["stages"]["LINT"]["status"] == "failed"
    assert "exited with code 3" in data["stages"]["LINT"]["error"] and "lint: 2 problems" in data["stages"]["LINT"]["error"]
    assert not (project / "second-ran").exists()
    assert data["stages"]["DONE"]["status"] == "pending"


def test_a_command_past_its_timeout_is_stopped_with_its_children(tmp_path):
    """A hanging command (with a child) is ended at the stage timeout: failed, no process left behind."""
    pid_file = tmp_path / "pids"
    code = ("import subprocess, sys, time, os\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
            f"open({str(pid_file)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
            "time.sleep(120)\n")
    project = project_with(tmp_path, [[PY, "-c", code]], extra="    timeout: 1.5\n")
    proc = teambot("run", "objective.md", "--runtime", "demo", cwd=project, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    data = state(project / ".agent-tracking" / "cmd")
    assert data["stages"]["LINT"]["status"] == "failed" and "timed out after 1.5 s" in data["stages"]["LINT"]["error"]
    for pid in map(int, pid_file.read_text().split()):
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_missing_program_is_refused_before_the_run(tmp_path):
    """A command whose program is not on PATH: exit 2 naming the stage, nothing written."""
    project = project_with(tmp_path, [["no-such-linter-xyz", "."]])
    proc = teambot("run", "objective.md", "--runtime", "demo", cwd=project)
    assert proc.returncode == 2
    assert "'no-such-linter-xyz' (stages.LINT.run[0]) was not found on PATH" in proc.stderr
    assert not (project / ".agent-tracking" / "cmd").exists()
    fixed = project_with(tmp_path, [[PY, "-c", "print('ok')"]])
    assert teambot("run", "objective.md", "--runtime", "demo", cwd=fixed).returncode == 0  # same feature, fresh start


def test_a_refused_run_keeps_a_directory_that_holds_other_work(tmp_path):
    """The cleanup of a refused run never removes files it did not create (here: an earlier --dry-run's prompts)."""
    project = project_with(tmp_path, [["no-such-linter-xyz", "."]])
    assert teambot("run", "objective.md", "--runtime", "demo", "--dry-run", cwd=project).returncode == 0
    prompt = project / ".agent-tracking" / "cmd" / "prompts" / "SPEC.md"
    assert prompt.exists()
    assert teambot("run", "objective.md", "--runtime", "demo", cwd=project).returncode == 2
    assert prompt.exists()


def test_a_declared_artifact_the_commands_never_write_fails_the_stage(tmp_path):
    """A command stage declaring one artifact its commands never write fails naming it; teambot's transcript is no artifact."""
    project = project_with(tmp_path, [[PY, "-c", "print('linted, wrote nothing')"]], extra="    artifacts: [lint-report.md]\n")
    proc = teambot("run", "objective.md", "--runtime", "demo", cwd=project)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    run_dir = project / ".agent-tracking" / "cmd"
    lint = state(run_dir)["stages"]["LINT"]
    assert lint["status"] == "failed"
    assert "declared artifact lint-report.md was not written by the stage's commands" in lint["error"]
    assert not (run_dir / "artifacts" / "lint-report.md").exists()


def test_a_cut_command_output_never_becomes_the_declared_artifact(tmp_path):
    """Output past command.output_cap_bytes with an artifact the commands never write: the stage fails, no artifact."""
    project = project_with(tmp_path, [[PY, "-c", "print('HEAD'); print('x' * 5000); print('TAIL')"]],
                           extra="    artifacts: [out.md]\n")
    (project / "teambot.yaml").write_text("command:\n  output_cap_bytes: 1024\n", encoding="utf-8")
    proc = teambot("run", "objective.md", "--runtime", "demo", cwd=project)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    run_dir = project / ".agent-tracking" / "cmd"
    lint = state(run_dir)["stages"]["LINT"]
    assert lint["status"] == "failed" and "declared artifact out.md was not written" in lint["error"]
    assert not (run_dir / "artifacts" / "out.md").exists()
    assert "stdout reached the 1,024 byte cap" in (run_dir / "logs" / "LINT.log").read_text()
