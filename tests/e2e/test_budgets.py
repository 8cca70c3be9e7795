"""Budgets end to end: fake agent CLIs reporting usage in their real output format; a run and a stage
over budget end blocked (exit 1) naming the budget and the spend; resume with a raised budget finishes
without rerunning anything finished, spending carried across processes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import events, state, status_json, teambot
from tests.runtimes.test_cli_usage import calls, install_clis

TWO_STAGES = """\
stages:
  SPEC: {work_agent: ba, artifacts: [spec.md]}
  PLAN: {work_agent: pm, artifacts: [plan.md]}
stage_order: [SPEC, PLAN]
"""

REVIEWED = """\
stages:
  SPEC:
    work_agent: ba
    review_agent: reviewer
    is_review_stage: true
    artifacts: [spec.md]
    budget: {max_tokens: %d}
stage_order: [SPEC]
"""


def project_with(tmp_path: Path, stages: str, teambot_yaml: str) -> tuple[Path, Path]:
    (tmp_path / "stages.yaml").write_text(stages, encoding="utf-8")
    (tmp_path / "objective.md").write_text("---\nfeature: money\n---\n# Money\n\nSpend wisely.\n", encoding="utf-8")
    (tmp_path / "teambot.yaml").write_text(teambot_yaml, encoding="utf-8")
    return tmp_path, tmp_path / ".agent-tracking" / "money"


def test_run_budget_blocks_the_next_call_and_resume_with_more_finishes(tmp_path):
    """Claude reports $0.05 a call against a $0.04 run budget: SPEC's paid work is kept, PLAN is blocked before
    calling (exit 1, budget and spend named); `resume --max-cost 1` runs only PLAN and records the new budget."""
    project, run_dir = project_with(tmp_path, TWO_STAGES,
                                    "runtime: command\ncommand:\n  preset: claude\nbudget:\n  max_cost: 0.04\n")
    env = install_clis(project) | {"FAKE_CLI_COST": "0.05"}
    proc = teambot("run", "objective.md", cwd=project, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "the run reached its budget (max_cost $0.0400): it has spent $0.0500, 1,200 tokens" in proc.stdout
    assert "teambot resume money --max-cost N" in proc.stdout
    assert [c["stage"] for c in calls(project)] == ["SPEC"]  # no call started past the budget
    saved = state(run_dir)
    assert saved["run"]["status"] == "blocked" and "max_cost" in saved["run"]["error"]
    assert saved["stages"]["SPEC"]["status"] == "succeeded"
    assert (saved["stages"]["PLAN"]["status"], saved["stages"]["PLAN"]["blocked_by"]) == ("blocked", "budget")
    assert saved["stages"]["PLAN"]["attempts"] == 0  # refused before it started: no attempt recorded
    spent = [e for e in events(run_dir) if e["type"] == "budget_exceeded"]
    assert spent and spent[0]["details"]["scope"] == "run" and spent[0]["details"]["cost_usd"] == pytest.approx(0.05)
    assert status_json(project)["stages"][1]["blocked_by"] == "budget"

    proc = teambot("resume", "--max-cost", "1", cwd=project, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [c["stage"] for c in calls(project)] == ["SPEC", "PLAN"]  # SPEC was not run again
    saved = state(run_dir)
    assert saved["run"]["status"] == "completed" and saved["run"]["budget"] == {"max_cost": 1.0, "max_tokens": None}
    report = status_json(project)
    assert report["usage"]["cost_usd"] == pytest.approx(0.10)  # carried across both processes
    summary = teambot("status", cwd=project).stdout
    assert "cost $0.1000" in summary


def test_token_budget_counts_what_earlier_processes_spent(tmp_path):
    """`resume --max-tokens` below what the run has already spent blocks again at once: spending is carried."""
    project, run_dir = project_with(tmp_path, TWO_STAGES,
                                    "runtime: command\ncommand:\n  preset: codex\nbudget: {max_tokens: 1000}\n")
    env = install_clis(project)  # 1,200 tokens a call
    assert teambot("run", "objective.md", "-q", cwd=project, env=env).returncode == 1
    proc = teambot("resume", "--max-tokens", "2000", "-q", cwd=project, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [c["stage"] for c in calls(project)] == ["SPEC", "PLAN"]
    proc = teambot("rerun", "PLAN", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = teambot("resume", "-q", cwd=project, env=env)  # 2,400 spent of the 2,000 kept in the run record
    assert proc.returncode == 1
    assert "max_tokens 2,000" in proc.stdout and "2,400 tokens" in proc.stdout
    assert len(calls(project)) == 2


def test_stage_budget_stops_a_review_loop_between_its_calls(tmp_path):
    """A review stage with a 1,000-token budget: the work call (1,200 tokens) is kept, the review call never
    starts; with the budget raised in stages.yaml, resume runs only the review step."""
    project, run_dir = project_with(tmp_path, REVIEWED % 1000, "runtime: command\ncommand:\n  preset: gemini\n")
    env = install_clis(project)
    proc = teambot("run", "objective.md", cwd=project, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "stage SPEC reached its budget (max_tokens 1,000, stages.SPEC.budget): it has spent 1,200 tokens" in proc.stdout
    assert [(c["stage"], c["step"]) for c in calls(project)] == [("SPEC", "work")]
    assert state(run_dir)["stages"]["SPEC"]["blocked_by"] == "budget"
    proc = teambot("unblock", "SPEC", cwd=project)
    assert proc.returncode == 2 and "spending budget" in proc.stderr

    (project / "stages.yaml").write_text(REVIEWED % 10000, encoding="utf-8")
    proc = teambot("resume", "-q", cwd=project, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [(c["stage"], c["step"]) for c in calls(project)] == [("SPEC", "work"), ("SPEC", "review")]
    usage = state(run_dir)["stages"]["SPEC"]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (2000, 400)
    report = json.loads(teambot("status", "--json", cwd=project).stdout)
    assert report["stages"][0]["status"] == "succeeded" and report["stages"][0]["stale"] is False
