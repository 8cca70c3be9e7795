"""Review stages end to end: the loop, feedback between iterations, the verdict protocol, crash resume, blocked."""

from __future__ import annotations

import json
import os
import signal
import sys
from collections import Counter
from pathlib import Path

from tests.helpers import committed_stage, events, start_teambot, state, status_json, teambot, wait_for
from tests.runtimes.conftest import FAKE_AGENT

REVIEW_STAGES = """\
stages:
  SPEC: {work_agent: ba, artifacts: [feature_spec.md]}
  SPEC_REVIEW:
    work_agent: ba
    review_agent: reviewer
    is_review_stage: true
    artifacts: [spec_review.md]
    max_iterations: %d
  DONE: {}
stage_order: [SPEC, SPEC_REVIEW, DONE]
"""


def small_project(tmp_path: Path, max_iterations: int = 4) -> Path:
    (tmp_path / "stages.yaml").write_text(REVIEW_STAGES % max_iterations, encoding="utf-8")
    (tmp_path / "objective.md").write_text("---\nfeature: rev\n---\n# Review me\n\nBuild a thing.\n", encoding="utf-8")
    return tmp_path


def fake_agents(project: Path, *flags: str, output_cap: int | None = None) -> Path:
    """Every agent is the fake agent CLI with `flags`; returns its call log (STAGE[/step] pid iteration)."""
    calls = project / "calls.txt"
    argv = [sys.executable, str(FAKE_AGENT), "--count", str(calls), "--write-declared", *flags]
    cap = f"  output_cap_bytes: {output_cap}\n" if output_cap else ""
    (project / "teambot.yaml").write_text(f"runtime: command\ncommand:\n  argv: {json.dumps(argv)}\n  grace_seconds: 0.5\n{cap}",
                                          encoding="utf-8")
    return calls


def calls_of(path: Path) -> Counter:
    """(stage[/step], iteration) -> how many calls."""
    if not path.exists():
        return Counter()
    return Counter((parts[0], int(parts[2])) for parts in (line.split() for line in path.read_text().splitlines()))


def iterations(run_dir: Path, stage: str = "SPEC_REVIEW") -> list[dict]:
    return [it.model_dump() for it in committed_stage(run_dir, stage).iterations]


def test_two_rejections_then_approval_takes_three_iterations_with_feedback(tmp_path):
    """The demo reviewer rejects twice: 3 iterations, and each rejection's feedback is in the next work prompt."""
    project = small_project(tmp_path)
    run_dir = project / ".agent-tracking" / "rev"
    proc = teambot("run", "objective.md", "--runtime", "demo", cwd=project, env={"TEAMBOT_DEMO_REJECT": "SPEC_REVIEW:2"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    its = iterations(run_dir)
    assert [(i["number"], i["verdict"]) for i in its] == [(1, "changes_requested"), (2, "changes_requested"), (3, "approved")]
    folder = run_dir / "iterations" / "SPEC_REVIEW"
    first_review = (folder / "01-review.md").read_text()
    second_review = (folder / "02-review.md").read_text()
    assert "finding 1 of this review" in first_review and "finding 2 of this review" in second_review
    assert "finding 1 of this review" not in (folder / "01-work.prompt.md").read_text()
    assert "finding 1 of this review" in (folder / "02-work.prompt.md").read_text()
    assert "finding 2 of this review" in (folder / "03-work.prompt.md").read_text()
    second_prompt = (folder / "02-work.prompt.md").read_text()  # what is being revised is shown too
    assert "### What you reported in the previous iteration" in second_prompt and "ba finished SPEC_REVIEW" in second_prompt
    assert "### Your spec_review.md as it is now" in second_prompt
    assert "VERDICT: APPROVED" in (folder / "03-review.md").read_text()
    verdicts = [e["details"].get("verdict") for e in events(run_dir) if e["type"] == "step_completed" and e["details"]["step"] == "review"]
    assert verdicts == ["changes_requested", "changes_requested", "approved"]
    assert "approved in iteration 3" in (run_dir / "outputs" / "SPEC_REVIEW.md").read_text()
    assert "iterations: 1 changes_requested, 2 changes_requested, 3 approved" in teambot("status", cwd=project).stdout


def test_reviewer_prompt_has_objective_artifacts_work_output_and_git(tmp_path):
    """In a git repository the reviewer sees the objective, the artifact under review, the work output and git status."""
    import subprocess

    project = small_project(tmp_path)
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    (project / "new_module.py").write_text("x = 1\n", encoding="utf-8")
    proc = teambot("run", "objective.md", "--runtime", "demo", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    prompt = (project / ".agent-tracking" / "rev" / "iterations" / "SPEC_REVIEW" / "01-review.prompt.md").read_text()
    assert "Build a thing." in prompt
    assert "### spec_review.md" in prompt and "### feature_spec.md" in prompt
    assert "ba finished SPEC_REVIEW" in prompt  # the work agent's output
    assert "git status --short" in prompt and "new_module.py" in prompt
    assert "VERDICT: APPROVED\nVERDICT: CHANGES_REQUESTED" in prompt


def test_a_review_without_verdict_is_asked_once_then_counts_as_changes_requested(tmp_path):
    """No verdict line: the reviewer is asked once more; still none is changes requested; out of budget → blocked."""
    project = small_project(tmp_path, max_iterations=2)
    calls = fake_agents(project, "--verdict", "Looks fine to me, approved in spirit.")
    run_dir = project / ".agent-tracking" / "rev"
    proc = teambot("run", "objective.md", cwd=project)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "run blocked" in proc.stdout
    assert calls_of(calls) == Counter({("SPEC", 1): 1, ("SPEC_REVIEW", 1): 1, ("SPEC_REVIEW/review", 1): 1,
                                       ("SPEC_REVIEW/verdict", 1): 1, ("SPEC_REVIEW", 2): 1,
                                       ("SPEC_REVIEW/review", 2): 1, ("SPEC_REVIEW/verdict", 2): 1})
    its = iterations(run_dir)
    assert [i["verdict"] for i in its] == ["changes_requested", "changes_requested"]
    assert all("no verdict line, even when asked again" in i["verdict_note"] for i in its)
    data = state(run_dir)
    assert data["run"]["status"] == "blocked"
    report = run_dir / "review-failure-SPEC_REVIEW.md"
    assert report.exists() and "SPEC_REVIEW" in report.read_text() and "approved in spirit" in report.read_text()
    assert "teambot unblock SPEC_REVIEW rev" in report.read_text()
    stages = {s["name"]: s for s in status_json(project)["stages"]}
    assert stages["SPEC_REVIEW"]["status"] == "blocked" and stages["DONE"]["status"] == "pending"


def test_a_verdict_given_when_asked_again_counts(tmp_path):
    """A review without the line, then `VERDICT: APPROVED` when asked again: approved in iteration 1."""
    project = small_project(tmp_path)
    calls = fake_agents(project, "--verdict", "All good.", "--reask-verdict", "VERDICT: APPROVED")
    proc = teambot("run", "objective.md", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    its = iterations(project / ".agent-tracking" / "rev")
    assert [(i["verdict"], i["verdict_note"]) for i in its] == [("approved", "verdict line given when asked again")]
    assert calls_of(calls)[("SPEC_REVIEW/verdict", 1)] == 1


def test_quoted_approval_then_changes_requested_is_a_rejection(tmp_path):
    """A review quoting `VERDICT: APPROVED` and ending `VERDICT: CHANGES_REQUESTED` is not approved (no re-ask)."""
    project = small_project(tmp_path, max_iterations=1)
    calls = fake_agents(project, "--verdict", "You suggested:\nVERDICT: APPROVED\nbut no.\nVERDICT: CHANGES_REQUESTED")
    proc = teambot("run", "objective.md", cwd=project)
    assert proc.returncode == 1
    assert [i["verdict"] for i in iterations(project / ".agent-tracking" / "rev")] == ["changes_requested"]
    assert calls_of(calls)[("SPEC_REVIEW/verdict", 1)] == 0



def test_an_approval_then_a_heading_rejection_is_not_approved(tmp_path):
    """A review printing an approval and then `## VERDICT: CHANGES_REQUESTED` is asked again; no answer blocks the run."""
    project = small_project(tmp_path, max_iterations=1)
    calls = fake_agents(project, "--verdict", "VERDICT: APPROVED\n\nfindings\n\n## VERDICT: CHANGES_REQUESTED",
                        "--reask-verdict", "I said it above.")
    run_dir = project / ".agent-tracking" / "rev"
    proc = teambot("run", "objective.md", cwd=project)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert [(i["verdict"], i["verdict_note"]) for i in iterations(run_dir)] == [
        ("changes_requested", "no verdict line, even when asked again: counted as changes requested")]
    assert calls_of(calls)[("SPEC_REVIEW/verdict", 1)] == 1
    assert state(run_dir)["run"]["status"] == "blocked"

# An approval early in a review, its rejection past a 4 KiB output cap.
LONG_REVIEW = "VERDICT: APPROVED\n\n" + "A finding that takes many words to explain. " * 200 + "\n\nVERDICT: CHANGES_REQUESTED"


def test_a_review_cut_at_the_output_cap_has_no_verdict(tmp_path):
    """A review cut at the cap is not approved by its early line: asked again, a cut answer is changes requested."""
    project = small_project(tmp_path, max_iterations=1)
    calls = fake_agents(project, "--verdict", LONG_REVIEW, output_cap=4096)
    run_dir = project / ".agent-tracking" / "rev"
    proc = teambot("run", "objective.md", cwd=project)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "VERDICT: CHANGES_REQUESTED" not in (run_dir / "iterations" / "SPEC_REVIEW" / "01-review.md").read_text()
    its = iterations(run_dir)
    assert [(i["verdict"], i["verdict_note"]) for i in its] == [
        ("changes_requested", "the answer was cut too (output limit): counted as changes requested")]
    assert calls_of(calls)[("SPEC_REVIEW/verdict", 1)] == 1
    asked = (run_dir / "iterations" / "SPEC_REVIEW" / "01-verdict.prompt.md").read_text()
    assert "was cut at teambot's output limit" in asked
    assert state(run_dir)["run"]["status"] == "blocked"


def test_a_cut_review_then_a_short_answer_counts(tmp_path):
    """A cut review is asked again; the uncut answer's verdict line decides."""
    project = small_project(tmp_path, max_iterations=1)
    calls = fake_agents(project, "--verdict", LONG_REVIEW, "--reask-verdict", "VERDICT: APPROVED", output_cap=4096)
    proc = teambot("run", "objective.md", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    its = iterations(project / ".agent-tracking" / "rev")
    assert [(i["verdict"], i["verdict_note"]) for i in its] == [
        ("approved", "verdict line given when asked again (the review was cut)")]
    assert calls_of(calls)[("SPEC_REVIEW/verdict", 1)] == 1



def test_a_cut_review_is_asked_for_again_without_showing_the_cut_text(tmp_path):
    """The re-ask after a cut review is the whole review prompt plus a size note; the cut review (with its early approval) is left out."""
    project = small_project(tmp_path, max_iterations=1)
    fake_agents(project, "--verdict", LONG_REVIEW, "--reask-verdict", "Short now.\n\nVERDICT: CHANGES_REQUESTED",
                output_cap=4096)
    run_dir = project / ".agent-tracking" / "rev"
    proc = teambot("run", "objective.md", cwd=project)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    folder = run_dir / "iterations" / "SPEC_REVIEW"
    assert "A finding that takes many words" in (folder / "01-review.md").read_text()
    asked = (folder / "01-verdict.prompt.md").read_text()
    assert "A finding that takes many words" not in asked and "## Your review" not in asked
    assert "Build a thing." in asked and "### feature_spec.md" in asked  # the review prompt, with what is under review
    size = (folder / "01-review.md").stat().st_size
    assert f"went over about {size:,} bytes" in asked and "keep the review short" in asked
    assert [(i["verdict"], i["verdict_note"]) for i in iterations(run_dir)] == [
        ("changes_requested", "verdict line given when asked again (the review was cut)")]

def test_kill9_after_the_second_review_resumes_at_iteration_three(tmp_path):
    """kill -9 while iteration 3's work runs (after iteration 2's review): resume redoes only that step."""
    project = small_project(tmp_path)
    run_dir = project / ".agent-tracking" / "rev"
    calls = fake_agents(project, "--reject-iterations", "2", "--sleep", "60", "--sleep-iteration", "3",
                        "--sleep-stage", "SPEC_REVIEW")
    proc = start_teambot("run", "objective.md", cwd=project)
    try:
        assert wait_for(lambda: calls_of(calls)[("SPEC_REVIEW", 3)] == 1 or proc.poll() is not None, timeout=60)
        assert proc.poll() is None, proc.communicate()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    its = iterations(run_dir)
    assert [(i["number"], i["verdict"], i["work"] is not None) for i in its] == [
        (1, "changes_requested", True), (2, "changes_requested", True), (3, None, False)]
    fake_agents(project, "--reject-iterations", "2")  # the same agents, no longer slow
    resumed = teambot("resume", cwd=project)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert calls_of(calls) == Counter({
        ("SPEC", 1): 1,
        ("SPEC_REVIEW", 1): 1, ("SPEC_REVIEW/review", 1): 1,
        ("SPEC_REVIEW", 2): 1, ("SPEC_REVIEW/review", 2): 1,
        ("SPEC_REVIEW", 3): 2,  # the killed call, and its rerun
        ("SPEC_REVIEW/review", 3): 1,
    })
    assert [(i["number"], i["verdict"]) for i in iterations(run_dir)] == [
        (1, "changes_requested"), (2, "changes_requested"), (3, "approved")]
    assert "feedback-marker-2" in (run_dir / "iterations" / "SPEC_REVIEW" / "03-work.prompt.md").read_text()


def test_unblock_gives_a_fresh_budget_and_keeps_the_history(tmp_path):
    """Blocked after 2 rejections; resume alone stays blocked without calling agents; unblock + resume approves."""
    project = small_project(tmp_path, max_iterations=2)
    run_dir = project / ".agent-tracking" / "rev"
    calls = fake_agents(project, "--reject-iterations", "3")
    assert teambot("run", "objective.md", cwd=project).returncode == 1
    before = sum(calls_of(calls).values())
    first = committed_stage(run_dir, "SPEC_REVIEW")
    attempts = first.attempts
    starts = [e for e in events(run_dir) if e["type"] == "stage_started" and e["stage"] == "SPEC_REVIEW"]
    again = teambot("resume", cwd=project)
    assert again.returncode == 1 and "blocked" in again.stdout
    assert sum(calls_of(calls).values()) == before  # no agent was called: the budget is spent
    again_record = committed_stage(run_dir, "SPEC_REVIEW")
    assert again_record.attempts == attempts  # nor is it an attempt: its times are its last attempt's
    assert (again_record.started_at, again_record.finished_at) == (first.started_at, first.finished_at)
    assert [e for e in events(run_dir) if e["type"] == "stage_started" and e["stage"] == "SPEC_REVIEW"] == starts
    wrong = teambot("unblock", "SPEC", cwd=project)
    assert wrong.returncode == 2 and "not blocked" in wrong.stderr
    unblocked = teambot("unblock", "SPEC_REVIEW", "--iterations", "3", cwd=project)
    assert unblocked.returncode == 0, unblocked.stderr
    assert "2 earlier iteration(s) kept" in unblocked.stdout
    assert (run_dir / "review-failure-SPEC_REVIEW.md").exists()
    resumed = teambot("resume", cwd=project)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert not (run_dir / "review-failure-SPEC_REVIEW.md").exists()  # no stale "why blocked" after approval
    third = (run_dir / "iterations" / "SPEC_REVIEW" / "03-work.prompt.md").read_text()
    assert "## Iteration 3 (1 of at most 3 in this budget)" in third and "feedback-marker-2" in third
    assert [(i["number"], i["verdict"]) for i in iterations(run_dir)] == [
        (1, "changes_requested"), (2, "changes_requested"), (3, "changes_requested"), (4, "approved")]
    data = state(run_dir)
    assert data["run"]["status"] == "completed"
    assert calls_of(calls)[("SPEC", 1)] == 1  # finished work never reran


def test_rerun_upstream_gives_a_fresh_default_budget(tmp_path):
    """A budget set by `unblock --iterations` lasts until the next fresh budget (here: rerun of an upstream stage)."""
    project = small_project(tmp_path, max_iterations=2)
    run_dir = project / ".agent-tracking" / "rev"
    fake_agents(project, "--reject-iterations", "9")
    assert teambot("run", "objective.md", cwd=project).returncode == 1
    assert teambot("unblock", "SPEC_REVIEW", "--iterations", "1", cwd=project).returncode == 0
    record = committed_stage(run_dir, "SPEC_REVIEW")
    assert (record.budget_start, record.budget, record.status) == (2, 1, "pending")  # one commit: reset and budget
    assert teambot("rerun", "SPEC", cwd=project).returncode == 0
    record = committed_stage(run_dir, "SPEC_REVIEW")
    assert (record.budget_start, record.budget) == (2, None)


def test_a_failing_agent_in_a_loop_says_which_step(tmp_path):
    """An agent that fails inside a review loop fails the stage with the step and iteration in the message."""
    project = small_project(tmp_path)
    fake_agents(project, "--fail-stage", "SPEC_REVIEW")
    proc = teambot("run", "objective.md", cwd=project)
    assert proc.returncode == 1
    error = committed_stage(project / ".agent-tracking" / "rev", "SPEC_REVIEW").error
    assert error.startswith("work step of iteration 1: agent command") and "exited with code 3" in error

