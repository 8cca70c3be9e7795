"""Process groups: telling our agents apart from strangers that reuse a recorded id."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from teambot.processes import group_members, group_runs_stage
from tests.helpers import teambot


def _spawn(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env={**os.environ, **env},
                            start_new_session=True)


def test_group_runs_stage_checks_run_dir_and_stage(tmp_path: Path) -> None:
    """Only a group whose process carries this run's TEAMBOT_RUN_DIR and TEAMBOT_STAGE counts as ours."""
    proc = _spawn({"TEAMBOT_RUN_DIR": str(tmp_path), "TEAMBOT_STAGE": "SPEC"})
    try:
        assert group_members(proc.pid) == 1
        assert group_runs_stage(proc.pid, tmp_path, "SPEC")
        assert not group_runs_stage(proc.pid, tmp_path, "PLAN")
        assert not group_runs_stage(proc.pid, tmp_path / "other", "SPEC")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert group_members(proc.pid) == 0


def test_resume_leaves_a_stranger_with_a_reused_group_id_alone(project: Path, run_dir: Path) -> None:
    """A stage recorded `running` with a pgid now used by an unrelated process: resume reports it and does not kill it."""
    assert teambot("run", "objective.md", "-q", cwd=project, env={"TEAMBOT_DEMO_FAIL": "SPEC"}).returncode == 1
    stranger = _spawn({})
    try:
        state = json.loads((run_dir / "state.json").read_text())
        state["run"]["status"] = "running"
        state["stages"]["SPEC"].update(status="running", pgid=stranger.pid, seq=10_000)
        (run_dir / "state.json").write_text(json.dumps(state))
        proc = teambot("resume", "-q", cwd=project)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert f"process group {stranger.pid} is alive but is not this run's agent" in proc.stdout
        assert stranger.poll() is None, "the unrelated process survived"
    finally:
        os.killpg(stranger.pid, signal.SIGKILL)
        stranger.wait()
