"""End to end: kill -9, SIGTERM, a second Ctrl-C and the run lock, with the real CLI."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from teambot.store.models import SCHEMA_VERSION
from tests.helpers import count_events, events, start_teambot, started, state, status_json, teambot, wait_for

DELAY = {"TEAMBOT_DEMO_DELAY": "0.12"}


def _succeeded(run_dir: Path) -> set[str]:
    return {name for name, rec in state(run_dir)["stages"].items() if rec["status"] == "succeeded"} | _pending_commits(run_dir)


def _pending_commits(run_dir: Path) -> set[str]:
    """Stages whose newest per-stage commit (stages/*.json) says succeeded."""
    out = set()
    for path in (run_dir / "stages").glob("*.json"):
        record = json.loads(path.read_text())
        if record["status"] == "succeeded":
            out.add(record["name"])
    return out


def test_kill9_at_many_moments_then_resume_never_repeats_finished_work(project: Path, run_dir: Path) -> None:
    """SIGKILL at many moments (several inside the parallel group); resume finishes; no finished stage reruns."""
    # (stage whose start in this process triggers the kill, extra sleep before it)
    moments = [("SETUP", 0.0), ("BUSINESS_PROBLEM", 0.05), ("SPEC_REVIEW", 0.11), ("RESEARCH", 0.0),
               ("RESEARCH", 0.06), ("TEST_STRATEGY", 0.1), ("PLAN", 0.0), ("IMPLEMENTATION", 0.07), ("POST_REVIEW", 0.03)]
    kills_in_group = 0
    command = ("run", "objective.md", "-q")
    for stage, extra in moments:
        before = len(started(run_dir)) if run_dir.exists() and (run_dir / "events.jsonl").exists() else 0
        finished = _succeeded(run_dir) if (run_dir / "state.json").exists() else set()
        proc = start_teambot(*command, cwd=project, env=DELAY)
        command = ("resume", "todo-cli", "-q")
        assert wait_for(lambda: stage in started(run_dir)[before:] or proc.poll() is not None, timeout=60)
        time.sleep(extra)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        rerun = set(started(run_dir)[before:])
        assert not rerun & finished, f"finished stages ran again after a kill: {rerun & finished}"
        data = state(run_dir)  # always parses
        assert data["schema_version"] == SCHEMA_VERSION
        running = {n for n, r in data["stages"].items() if r["status"] == "running"} | _running_commits(run_dir)
        kills_in_group += bool(running & {"RESEARCH", "TEST_STRATEGY"})
    finished = _succeeded(run_dir)
    before = len(started(run_dir))
    final = teambot("resume", "-q", cwd=project, env=DELAY)
    assert final.returncode == 0, final.stdout + final.stderr
    assert not set(started(run_dir)[before:]) & finished
    assert status_json(project)["status"] == "completed"
    assert kills_in_group >= 2, "several kills landed inside the parallel group"
    assert [e["type"] for e in events(run_dir)].count("run_resumed") == len(moments)


def test_kill9_inside_group_keeps_the_finished_sibling(project: Path, run_dir: Path) -> None:
    """Killed while RESEARCH runs and TEST_STRATEGY has finished: resume reruns RESEARCH only."""
    env = {"TEAMBOT_DEMO_DELAY": "0.02", "TEAMBOT_DEMO_DELAY_RESEARCH": "30"}
    proc = start_teambot("run", "objective.md", "-q", cwd=project, env=env)
    assert wait_for(lambda: "TEST_STRATEGY" in _succeeded_safe(run_dir), timeout=60)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert state(run_dir)["stages"]["RESEARCH"]["status"] == "running" or "RESEARCH" in _running_commits(run_dir)
    report = status_json(project)
    assert report["status"] == "interrupted", "status tells the truth: the owner is gone"
    research = next(s for s in report["stages"] if s["name"] == "RESEARCH")
    assert research["status"] == "interrupted", "no stage shows as running once its process is gone"
    count = len(started(run_dir))
    again = teambot("resume", "-q", cwd=project, env={"TEAMBOT_DEMO_DELAY": "0.02"})
    assert again.returncode == 0, again.stdout + again.stderr
    rerun = started(run_dir)[count:]
    assert rerun[0] == "RESEARCH" and "TEST_STRATEGY" not in rerun
    research = [e for e in events(run_dir) if e["stage"] == "RESEARCH" and e["type"] == "stage_interrupted"]
    assert research and research[0]["details"]["reason"] == "previous process died"


def _succeeded_safe(run_dir: Path) -> set[str]:
    try:
        return _succeeded(run_dir)
    except (FileNotFoundError, json.JSONDecodeError):
        return set()


def _running_commits(run_dir: Path) -> set[str]:
    return {json.loads(p.read_text())["name"] for p in (run_dir / "stages").glob("*.json") if json.loads(p.read_text())["status"] == "running"}


def test_second_run_is_locked_out_with_owner_pid(project: Path, run_dir: Path) -> None:
    """While a run is going, another `run` or `resume` of that feature exits 3 naming the owner's pid."""
    proc = start_teambot("run", "objective.md", "-q", cwd=project, env={"TEAMBOT_DEMO_DELAY": "0.5"})
    try:
        assert wait_for(lambda: count_events(run_dir, "stage_started") >= 1, timeout=60)
        second = teambot("run", "objective.md", cwd=project)
        assert second.returncode == 3, second.stderr
        assert f"pid {proc.pid}" in second.stderr
        third = teambot("resume", "todo-cli", cwd=project)
        assert third.returncode == 3 and f"pid {proc.pid}" in third.stderr
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    # the OS dropped the lock with the process: no stale lock to clear by hand
    resumed = teambot("resume", "-q", cwd=project)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr


def test_sigterm_interrupts_cleanly_and_resume_completes(project: Path, run_dir: Path) -> None:
    """SIGTERM: running stages are committed `interrupted`, exit 130, run `interrupted`; resume completes."""
    proc = start_teambot("run", "objective.md", "-q", cwd=project, env={"TEAMBOT_DEMO_DELAY": "0.3"})
    assert wait_for(lambda: count_events(run_dir, "stage_started") >= 3, timeout=60)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "teambot resume" in out
    data = state(run_dir)
    assert data["run"]["status"] == "interrupted"
    statuses = {rec["status"] for rec in data["stages"].values()}
    assert "running" not in statuses and "interrupted" in statuses
    assert [e["type"] for e in events(run_dir)][-1] == "run_interrupted"
    again = teambot("resume", "-q", cwd=project)
    assert again.returncode == 0, again.stdout + again.stderr


def test_second_ctrl_c_stops_at_once_with_consistent_state(project: Path, run_dir: Path) -> None:
    """Two SIGINTs in a row exit 130 at once; state.json parses and resume completes."""
    proc = start_teambot("run", "objective.md", "-q", cwd=project, env={"TEAMBOT_DEMO_DELAY": "0.3"})
    assert wait_for(lambda: count_events(run_dir, "stage_started") >= 2, timeout=60)
    os.kill(proc.pid, signal.SIGINT)
    os.kill(proc.pid, signal.SIGINT)
    proc.communicate(timeout=30)
    assert proc.returncode == 130
    state(run_dir)
    again = teambot("resume", "-q", cwd=project)
    assert again.returncode == 0, again.stdout + again.stderr


def test_status_tells_the_truth_while_the_killed_owner_is_still_a_zombie(project: Path, run_dir: Path) -> None:
    """kill -9 and no reaping yet (a zombie, as under a careless parent): status already says interrupted."""
    proc = start_teambot("run", "objective.md", cwd=project, env={"TEAMBOT_DEMO_DELAY": "2"})
    try:
        assert wait_for(lambda: "SETUP" in started(run_dir), timeout=30)  # SETUP runs (2 s)
        os.kill(proc.pid, signal.SIGKILL)
        # not proc.wait(): this test is the parent and leaves the dead process unreaped
        assert wait_for(lambda: open(f"/proc/{proc.pid}/stat", "rb").read().split(b") ")[1][:1] == b"Z", timeout=10)
        report = status_json(project)
        assert report["status"] == "interrupted"
        assert [s["status"] for s in report["stages"] if s["name"] == "SETUP"] == ["interrupted"]
    finally:
        proc.kill()
        proc.wait(timeout=10)
