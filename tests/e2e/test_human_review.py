"""A human reviewer (`review_agent: human`) end to end: the review step waits, `teambot review` gives
the verdict, which feeds the loop like an agent reviewer's (feedback, history, budget, blocked)."""

from __future__ import annotations

import getpass
import json
from collections import Counter
from pathlib import Path

from tests.helpers import committed_stage, events, started, status_json, teambot

HUMAN_STAGES = """\
stages:
  SPEC: {work_agent: ba, artifacts: [feature_spec.md]}
  SPEC_REVIEW:
    work_agent: ba
    review_agent: human
    is_review_stage: true
    artifacts: [spec_review.md]
    max_iterations: %d
  DONE: {}
stage_order: [SPEC, SPEC_REVIEW, DONE]
"""


def human_project(tmp_path: Path, max_iterations: int = 4) -> Path:
    (tmp_path / "stages.yaml").write_text(HUMAN_STAGES % max_iterations, encoding="utf-8")
    (tmp_path / "objective.md").write_text("---\nfeature: rev\n---\n# Review me\n\nBuild a thing.\n", encoding="utf-8")
    return tmp_path


def review_dir(project: Path) -> Path:
    return project / ".agent-tracking" / "rev" / "iterations" / "SPEC_REVIEW"


def test_request_changes_twice_then_approve(tmp_path):
    """Two requests for changes reach the next work prompts; the approval completes the run; nothing finished reruns."""
    project = human_project(tmp_path)
    run_dir = project / ".agent-tracking" / "rev"
    first = teambot("run", "objective.md", "--runtime", "demo", cwd=project)
    assert first.returncode == 4, first.stdout + first.stderr
    assert "SPEC_REVIEW waits for a review: teambot review SPEC_REVIEW rev --approve | --request-changes TEXT" in first.stdout
    stage = next(s for s in status_json(project)["stages"] if s["name"] == "SPEC_REVIEW")
    assert stage["status"] == "awaiting_review" and stage["waiting_since"]
    assert str(review_dir(project) / "01-work.md") in stage["produced"]
    assert str(review_dir(project) / "01-review.request.md") in stage["produced"]
    assert "spec_review.md" in (review_dir(project) / "01-review.request.md").read_text()  # what to review
    for number, text in ((1, "Section 2 leaves the error format open"), (2, "Name the exit codes")):
        given = teambot("review", "SPEC_REVIEW", "rev", "--request-changes", text, cwd=project)
        assert given.returncode == 0, given.stderr
        again = teambot("resume", "rev", cwd=project)
        assert again.returncode == 4, again.stdout + again.stderr
        prompt = (review_dir(project) / f"{number + 1:02d}-work.prompt.md").read_text()
        assert text in prompt and f"Changes requested by human in iteration {number}" in prompt
    assert teambot("review", "SPEC_REVIEW", "rev", "--approve", "--comment", "good now", cwd=project).returncode == 0
    done = teambot("resume", "rev", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    its = committed_stage(run_dir, "SPEC_REVIEW").iterations
    assert [(i.number, i.verdict) for i in its] == [(1, "changes_requested"), (2, "changes_requested"), (3, "approved")]
    assert all(i.verdict_note == f"given by {getpass.getuser()} with teambot review" for i in its)
    assert "VERDICT: APPROVED" in (review_dir(project) / "03-review.md").read_text()
    decisions = committed_stage(run_dir, "SPEC_REVIEW").decisions
    assert [(d.action, d.by) for d in decisions] == [("changes_requested", getpass.getuser())] * 2 + [("approved", getpass.getuser())]
    verdicts = [e["details"]["verdict"] for e in events(run_dir) if e["type"] == "step_completed" and e["details"]["step"] == "review"]
    assert verdicts == ["changes_requested", "changes_requested", "approved"]
    counts = Counter(started(run_dir))
    assert counts["SPEC"] == 1 and counts["DONE"] == 1
    assert "iterations: 1 changes_requested, 2 changes_requested, 3 approved" in teambot("status", cwd=project).stdout


def test_human_request_changes_out_of_budget_blocks_the_stage(tmp_path):
    """With max_iterations 1, a request for changes spends the budget: the stage is blocked (exit 1), the report quotes it."""
    project = human_project(tmp_path, max_iterations=1)
    assert teambot("run", "objective.md", "-q", "--runtime", "demo", cwd=project).returncode == 4
    assert teambot("review", "SPEC_REVIEW", "rev", "--request-changes", "Wrong audience entirely", cwd=project).returncode == 0
    blocked = teambot("resume", "rev", cwd=project)
    assert blocked.returncode == 1, blocked.stdout + blocked.stderr
    assert "run blocked" in blocked.stdout
    report = (project / ".agent-tracking" / "rev" / "review-failure-SPEC_REVIEW.md").read_text()
    assert "Wrong audience entirely" in report
    assert status_json(project)["status"] == "blocked"


def test_review_verdict_rules_are_usage_errors(tmp_path):
    """No verdict, both verdicts, an approve on a review step, or a verdict given twice: exit 2."""
    project = human_project(tmp_path)
    assert teambot("run", "objective.md", "-q", "--runtime", "demo", cwd=project).returncode == 4
    assert teambot("review", "SPEC_REVIEW", "rev", cwd=project).returncode == 2
    both = teambot("review", "SPEC_REVIEW", "rev", "--approve", "--request-changes", "x", cwd=project)
    assert both.returncode == 2 and "exactly one verdict" in both.stderr
    gate = teambot("approve", "SPEC_REVIEW", "rev", cwd=project)
    assert gate.returncode == 2 and "it waits for a review" in gate.stderr
    assert teambot("review", "SPEC_REVIEW", "rev", "--approve", cwd=project).returncode == 0
    twice = teambot("review", "SPEC_REVIEW", "rev", "--request-changes", "later thoughts", cwd=project)
    assert twice.returncode == 2 and "already decided" in twice.stderr


def test_human_is_not_an_agent_the_runtime_checks(tmp_path):
    """With the command runtime, only real agents are checked: `human` needs no configuration and no program."""
    import sys

    from tests.runtimes.conftest import FAKE_AGENT

    project = human_project(tmp_path)
    argv = [sys.executable, str(FAKE_AGENT), "--write-declared"]
    (project / "teambot.yaml").write_text(f"runtime: command\nagents:\n  ba:\n    argv: {json.dumps(argv)}\n", encoding="utf-8")
    proc = teambot("run", "objective.md", "-q", cwd=project)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert committed_stage(project / ".agent-tracking" / "rev", "SPEC_REVIEW").status == "awaiting_review"


def test_human_outside_a_review_and_approval_on_a_task_stage_are_config_errors(tmp_path):
    """`review_agent: human` without is_review_stage, `work_agent: human`, approval on a task stage: exit 2, each named."""
    (tmp_path / "stages.yaml").write_text(
        "stages:\n  A: {work_agent: human}\n  B: {work_agent: ba, review_agent: human}\n"
        "  C: {work_agent: ba, approval: required, tasks: {from: tasks.yaml}}\n"
        "  D: {work_agent: ba, approval: sometimes}\nstage_order: [A, B, C, D]\n", encoding="utf-8")
    proc = teambot("validate", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    out = proc.stdout + proc.stderr
    assert "stages.A.work_agent" in out and "stages.B.review_agent" in out and "stages.C.approval" in out
    assert "stages.D.approval" in out and "Traceback" not in out


def test_rejecting_an_approved_review_stage_starts_a_new_iteration_with_the_comment(tmp_path):
    """A review stage with approval: required waits after its reviewer approved; a rejection gives it a new
    iteration whose work prompt carries the comment; it waits again, and an approval completes the run."""
    (tmp_path / "stages.yaml").write_text(
        "stages:\n  SPEC: {work_agent: ba, artifacts: [feature_spec.md]}\n"
        "  SPEC_REVIEW: {work_agent: ba, review_agent: reviewer, is_review_stage: true, artifacts: [spec_review.md],"
        " max_iterations: 1, approval: required}\n"
        "  DONE: {}\nstage_order: [SPEC, SPEC_REVIEW, DONE]\n", encoding="utf-8")
    (tmp_path / "objective.md").write_text("---\nfeature: rev\n---\n# Review me\n\nBuild a thing.\n", encoding="utf-8")
    run_dir = tmp_path / ".agent-tracking" / "rev"
    assert teambot("run", "objective.md", "-q", "--runtime", "demo", cwd=tmp_path).returncode == 4
    assert committed_stage(run_dir, "SPEC_REVIEW").status == "awaiting_approval"
    assert teambot("reject", "SPEC_REVIEW", "rev", "--comment", "Quote the objective verbatim", cwd=tmp_path).returncode == 0
    again = teambot("resume", "rev", "-q", cwd=tmp_path)
    assert again.returncode == 4, again.stdout + again.stderr  # a fresh budget of 1: not blocked
    record = committed_stage(run_dir, "SPEC_REVIEW")
    assert [(i.number, i.verdict) for i in record.iterations] == [(1, "approved"), (2, "approved")]
    prompt = (review_dir(tmp_path) / "02-work.prompt.md").read_text()
    assert "Quote the objective verbatim" in prompt and "Rejected by" in prompt
    assert "Quote the objective verbatim" not in (review_dir(tmp_path) / "01-work.prompt.md").read_text()
    assert teambot("approve", "SPEC_REVIEW", "rev", cwd=tmp_path).returncode == 0
    assert teambot("resume", "rev", "-q", cwd=tmp_path).returncode == 0
    assert Counter(started(run_dir)) == {"SPEC": 1, "SPEC_REVIEW": 2, "DONE": 1}
