"""Process groups: telling our agents apart from strangers that reuse a recorded id."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from teambot import processes
from teambot.processes import end_groups, group_members, process_alive, run_agents
from tests.helpers import teambot, wait_for


def _spawn(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env={**os.environ, **env},
                            start_new_session=True)


def test_run_agents_finds_the_groups_carrying_this_run_dir(tmp_path: Path) -> None:
    """Only groups whose processes carry this run's TEAMBOT_RUN_DIR are the run's agents, with their stages."""
    ours = _spawn({"TEAMBOT_RUN_DIR": str(tmp_path), "TEAMBOT_STAGE": "SPEC"})
    other = _spawn({"TEAMBOT_RUN_DIR": str(tmp_path / "other"), "TEAMBOT_STAGE": "SPEC"})
    try:
        assert wait_for(lambda: ours.pid in run_agents(tmp_path), timeout=5)
        assert group_members(ours.pid) == 1
        found = run_agents(tmp_path)
        assert found == {ours.pid: {"SPEC"}}
        end_groups(found, grace=1.0)
        assert group_members(ours.pid) == 0 and ours.wait(timeout=5) == -signal.SIGTERM
        assert other.poll() is None, "another run's agent is left alone"
    finally:
        for proc in (ours, other):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert run_agents(tmp_path) == {}


def test_a_zombie_counts_as_dead(tmp_path: Path) -> None:
    """A killed, not yet reaped process is neither alive nor a member of its group (psutil tells zombies apart)."""
    proc = _spawn({})
    os.killpg(proc.pid, signal.SIGKILL)
    try:
        assert wait_for(lambda: psutil.Process(proc.pid).status() == psutil.STATUS_ZOMBIE, timeout=5)
        assert not process_alive(proc.pid)
        assert group_members(proc.pid) == 0
        assert process_alive(os.getpid())
    finally:
        proc.wait()


def test_process_tables_come_from_psutil_not_proc() -> None:
    """processes reads no /proc file, so agent cleanup also works where there is none (macOS)."""
    source = Path(processes.__file__).read_text(encoding="utf-8")
    assert "/proc" not in source
    assert "import psutil" in source


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
