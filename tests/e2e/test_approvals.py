"""Approval gates end to end through the real CLI: waiting (exit 4), approve / reject from another
process while the run is live and while it is not, kill -9 while waiting, nothing finished reruns."""

from __future__ import annotations

import getpass
import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

from tests.helpers import committed_stage, events, start_teambot, started, status_json, teambot, wait_for

GATE_STAGES = """\
stages:
  SPEC: {work_agent: ba, artifacts: [spec.md], approval: required}
  SLOW: {work_agent: ops, artifacts: [slow.md], depends_on: []}
  BUILD: {work_agent: dev, artifacts: [build.md], depends_on: [SPEC]}
  DONE: {depends_on: [BUILD, SLOW]}
stage_order: [SPEC, SLOW, BUILD, DONE]
"""


def gate_project(tmp_path: Path) -> Path:
    """A plain directory (no git: the run works in place) with a gated SPEC and an independent SLOW stage."""
    (tmp_path / "stages.yaml").write_text(GATE_STAGES, encoding="utf-8")
    (tmp_path / "objective.md").write_text("---\nfeature: gate\n---\n# Gate me\n\nBuild a thing.\n", encoding="utf-8")
    return tmp_path


def run_dir_of(project: Path) -> Path:
    return project / ".agent-tracking" / "gate"


def stage_of(report: dict, name: str) -> dict:
    return next(s for s in report["stages"] if s["name"] == name)


def waits(project: Path, stage: str, status: str = "awaiting_approval") -> bool:
    """Whether `status --json` shows `stage` in `status` (False while the run has not been created yet)."""
    proc = teambot("status", "--json", cwd=project)
    return proc.returncode == 0 and stage_of(json.loads(proc.stdout), stage)["status"] == status


def test_run_waits_with_exit_4_while_an_independent_stage_still_runs(tmp_path):
    """SPEC waits for approval; SLOW (not depending on it) runs to the end; BUILD never starts; exit 4 names the command."""
    project = gate_project(tmp_path)
    proc = teambot("run", "objective.md", "--runtime", "demo", cwd=project, env={"TEAMBOT_DEMO_DELAY_SLOW": "1.0"})
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "run waiting: 1 stage(s) wait for a person" in proc.stdout
    assert "SPEC waits for an approval: teambot approve SPEC gate" in proc.stdout
    assert "not started until then: BUILD, DONE" in proc.stdout
    kinds = [(e["type"], e["stage"]) for e in events(run_dir_of(project))]
    # SLOW was still running when SPEC began to wait, and finished after
    assert kinds.index(("stage_awaiting_approval", "SPEC")) < kinds.index(("stage_succeeded", "SLOW"))
    assert ("run_waiting", None) in kinds and "BUILD" not in started(run_dir_of(project))
    report = status_json(project)
    assert report["status"] == "waiting" and report["waiting"] == ["SPEC"]
    spec = stage_of(report, "SPEC")
    assert spec["status"] == "awaiting_approval" and spec["waiting_since"]
    assert spec["decide"].startswith("teambot approve SPEC gate")
    assert str(run_dir_of(project) / "artifacts" / "spec.md") in spec["produced"]
    assert str(run_dir_of(project) / "outputs" / "SPEC.md") in spec["produced"]
    assert stage_of(report, "SLOW")["status"] == "succeeded" and stage_of(report, "BUILD")["status"] == "pending"
    text = teambot("status", cwd=project).stdout
    assert "awaiting_approval" in text and "waiting since" in text and "decide: teambot approve SPEC gate" in text
    assert f"look at: {run_dir_of(project) / 'artifacts' / 'spec.md'}" in text


def test_approve_then_resume_completes_and_reruns_nothing(tmp_path):
    """run → exit 4 → approve → resume → exit 0; every stage started once; the decision is in the history."""
    project = gate_project(tmp_path)
    assert teambot("run", "objective.md", "-q", "--runtime", "demo", cwd=project).returncode == 4
    approved = teambot("approve", "SPEC", "gate", "--comment", "looks right", cwd=project)
    assert approved.returncode == 0, approved.stderr
    assert "next: teambot resume gate" in approved.stdout
    assert (run_dir_of(project) / "inbox" / "SPEC.json").is_file()
    resumed = teambot("resume", "gate", cwd=project)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "SPEC approved by" in resumed.stdout
    assert Counter(started(run_dir_of(project))) == {"SPEC": 1, "SLOW": 1, "BUILD": 1, "DONE": 1}
    record = committed_stage(run_dir_of(project), "SPEC")
    assert record.status == "succeeded" and record.waiting_since is None
    [decision] = record.decisions
    assert (decision.action, decision.by, decision.comment, decision.attempt) == ("approve", getpass.getuser(), "looks right", 1)
    assert decision.applied_at is not None
    approvals = [e for e in events(run_dir_of(project)) if e["type"] == "stage_approved"]
    assert [(e["stage"], e["details"]["by"]) for e in approvals] == [("SPEC", getpass.getuser())]
    assert not (run_dir_of(project) / "inbox" / "SPEC.json").exists()  # consumed once applied


def test_approve_while_the_run_is_live_is_picked_up_and_the_run_completes(tmp_path):
    """With SLOW still running the process stays alive; an approval from another process lets BUILD start in it."""
    project = gate_project(tmp_path)
    proc = start_teambot("run", "objective.md", "-q", "--runtime", "demo", cwd=project, env={"TEAMBOT_DEMO_DELAY_SLOW": "6"})
    try:
        assert wait_for(lambda: waits(project, "SPEC"), timeout=30, interval=0.2)
        assert proc.poll() is None  # still live: SLOW runs
        approved = teambot("approve", "SPEC", "gate", cwd=project)
        assert approved.returncode == 0, approved.stderr
        assert "the live run picks it up" in approved.stdout
        decided = time.time()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out + err
    picked = next(e for e in events(run_dir_of(project)) if e["type"] == "stage_approved")
    assert picked["ts"] - decided < 3.0  # polled within a second (generous bound for a loaded machine)
    kinds = [(e["type"], e["stage"]) for e in events(run_dir_of(project))]
    assert kinds.index(("stage_started", "BUILD")) < kinds.index(("stage_succeeded", "SLOW"))  # while SLOW still ran
    assert Counter(started(run_dir_of(project))) == {"SPEC": 1, "SLOW": 1, "BUILD": 1, "DONE": 1}
    assert ("run_resumed", None) not in kinds  # one process did it all


def test_reject_reruns_the_stage_with_the_comment_in_its_prompt(tmp_path):
    """A rejection sends SPEC back: attempt 2's prompt carries the comment; it waits again; approval completes the run."""
    project = gate_project(tmp_path)
    assert teambot("run", "objective.md", "-q", "--runtime", "demo", cwd=project).returncode == 4
    prompt = run_dir_of(project) / "prompts" / "SPEC.md"
    assert "Cover the error cases" not in prompt.read_text()
    rejected = teambot("reject", "SPEC", "gate", "--comment", "Cover the error cases of the parser", cwd=project)
    assert rejected.returncode == 0, rejected.stderr
    again = teambot("resume", "gate", cwd=project)
    assert again.returncode == 4, again.stdout + again.stderr
    assert "SPEC rejected by" in again.stdout
    text = prompt.read_text()
    assert "Cover the error cases of the parser" in text and f"Rejected by {getpass.getuser()}" in text
    record = committed_stage(run_dir_of(project), "SPEC")
    assert record.status == "awaiting_approval" and record.attempts == 2
    assert [d.action for d in record.decisions] == ["reject"]
    assert "BUILD" not in started(run_dir_of(project))
    assert teambot("approve", "SPEC", "gate", cwd=project).returncode == 0
    assert teambot("resume", "gate", "-q", cwd=project).returncode == 0
    assert Counter(started(run_dir_of(project))) == {"SPEC": 2, "SLOW": 1, "BUILD": 1, "DONE": 1}
    assert [d.action for d in committed_stage(run_dir_of(project), "SPEC").decisions] == ["reject", "approve"]


def test_deciding_twice_or_on_a_stage_not_waiting_is_exit_2(tmp_path):
    """Approving a finished stage, approving twice, a review verdict on an approval gate: one-line errors, exit 2."""
    project = gate_project(tmp_path)
    assert teambot("run", "objective.md", "-q", "--runtime", "demo", cwd=project).returncode == 4
    done = teambot("approve", "SLOW", "gate", cwd=project)
    assert done.returncode == 2 and "stage SLOW is succeeded, not awaiting_approval" in done.stderr
    assert "Traceback" not in done.stderr
    unknown = teambot("approve", "NOPE", "gate", cwd=project)
    assert unknown.returncode == 2 and "no stage named 'NOPE'" in unknown.stderr
    wrong = teambot("review", "SPEC", "gate", "--approve", cwd=project)
    assert wrong.returncode == 2 and "it waits for an approval" in wrong.stderr
    assert teambot("reject", "SPEC", "gate", cwd=project).returncode == 2  # --comment is required
    assert teambot("approve", "SPEC", "gate", cwd=project).returncode == 0
    twice = teambot("reject", "SPEC", "gate", "--comment", "no", cwd=project)
    assert twice.returncode == 2 and "was already decided (approve by" in twice.stderr
    assert json.loads((run_dir_of(project) / "inbox" / "SPEC.json").read_text())["action"] == "approve"
    assert teambot("resume", "gate", "-q", cwd=project).returncode == 0
    after = teambot("approve", "SPEC", "gate", cwd=project)
    assert after.returncode == 2 and "its last decision: approve" in after.stderr


def test_kill_9_while_waiting_then_approve_then_resume_reruns_nothing_finished(tmp_path):
    """The owner is killed while SPEC waits and SLOW runs; approve (no lock), resume: SPEC is not run again."""
    project = gate_project(tmp_path)
    proc = start_teambot("run", "objective.md", "-q", "--runtime", "demo", cwd=project, env={"TEAMBOT_DEMO_DELAY_SLOW": "60"})
    try:
        assert wait_for(lambda: waits(project, "SPEC"), timeout=30, interval=0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    approved = teambot("approve", "SPEC", "gate", cwd=project)
    assert approved.returncode == 0, approved.stderr
    assert "next: teambot resume gate" in approved.stdout  # nobody live picks it up
    resumed = teambot("resume", "gate", "-q", cwd=project)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    counts = Counter(started(run_dir_of(project)))
    assert counts["SPEC"] == 1 and counts["BUILD"] == 1 and counts["DONE"] == 1
    assert counts["SLOW"] == 2  # it was cut off by the kill: unfinished work runs again
    assert committed_stage(run_dir_of(project), "SPEC").decisions[0].action == "approve"
