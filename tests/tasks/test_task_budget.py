"""Usage and budgets in a task stage: each task's tokens and cost on its own record and in status; a stage
budget stops the tasks not yet started, and resume with a raised budget runs only those."""

from __future__ import annotations

from pathlib import Path

from tests.git.scratch import write
from tests.helpers import events, state, status_json, teambot
from tests.runtimes.test_cli_usage import calls, install_clis

STAGES = """\
stages:
  PLAN:
    work_agent: pm
    artifacts: [tasks.yaml]
  IMPLEMENTATION:
    work_agent: builder-1
    budget: {max_tokens: %d}
    tasks:
      from: tasks.yaml
      agents: [builder-1, builder-2]
  COMPLETE:
    work_agent: null
stage_order: [PLAN, IMPLEMENTATION, COMPLETE]
"""
SETTINGS = """\
runtime: command
command: {preset: codex}
agents:
  pm: {runtime: demo}
  builder-1: {model: gpt-5-codex}
  builder-2: {model: gpt-5-codex}
prices:
  gpt-5-codex: {input: 1.25, output: 10, cached_input: 0.125}
"""


def test_a_task_stage_records_each_tasks_usage_and_stops_at_its_budget(gitproject: Path) -> None:
    """Codex tasks of 1,200 tokens each against 2,500: T1, T2 and T3 run (the last two at once), T4 never starts;
    status shows every task's tokens and cost; with the budget raised, resume runs T4 alone."""
    write(gitproject / "stages.yaml", STAGES % 2500)
    write(gitproject / "teambot.yaml", SETTINGS)
    env = install_clis(gitproject) | {"FAKE_CLI_WRITE": "1"}
    run_dir = gitproject / ".agent-tracking" / "tasks-demo"
    proc = teambot("run", "objective.md", cwd=gitproject, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "stage IMPLEMENTATION reached its budget (max_tokens 2,500" in proc.stdout
    assert sorted(c["stage"] for c in calls(gitproject)) == ["IMPLEMENTATION/T1", "IMPLEMENTATION/T2", "IMPLEMENTATION/T3"]
    saved = state(run_dir)
    assert saved["stages"]["IMPLEMENTATION"]["blocked_by"] == "budget"
    # checked after T3's call: T4 never started (nothing recorded for it but its branch name)
    assert saved["children"]["IMPLEMENTATION/T4"]["status"] == "pending"
    assert saved["children"]["IMPLEMENTATION/T4"]["attempts"] == 0
    impl = next(s for s in status_json(gitproject)["stages"] if s["name"] == "IMPLEMENTATION")
    one_task = {"prompt_tokens": 1000, "completion_tokens": 200, "cached_prompt_tokens": 400, "cost_usd": 0.0028,
                "model": "gpt-5-codex"}
    assert [c["usage"] for c in impl["children"][:3]] == [one_task] * 3
    assert impl["children"][3]["usage"] is None
    assert "tokens 1000+200 $0.0028" in teambot("status", cwd=gitproject).stdout
    assert [e["details"]["scope"] for e in events(run_dir) if e["type"] == "budget_exceeded"] == ["stage"]

    write(gitproject / "stages.yaml", STAGES % 10000)
    proc = teambot("resume", "-q", cwd=gitproject, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(c["stage"] for c in calls(gitproject)) == [f"IMPLEMENTATION/T{n}" for n in (1, 2, 3, 4)]
    report = status_json(gitproject)
    assert report["status"] == "completed"
    assert report["usage"]["completion_tokens"] == 800 and abs(report["usage"]["cost_usd"] - 4 * 0.0028) < 1e-9
