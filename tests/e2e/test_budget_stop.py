"""Budgets are checked after every agent call: the call that spends the run's budget keeps its result,
and a stage still inside an agent call is stopped at once (its agent's process group ended), recorded
blocked by the budget, and run again after `resume --max-cost`."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from tests.helpers import events, state, teambot
from tests.runtimes.test_cli_usage import FAKE_CLIS, calls

STAGES = """\
stages:
  FAST: {work_agent: ba}
  SLOW: {work_agent: pm, depends_on: []}
stage_order: [FAST, SLOW]
"""

SETTINGS = """\
runtime: command
max_concurrency: 2
budget: {max_cost: 0.04}
agents:
  ba: {preset: claude}
  pm: {argv: [%s, slow.py]}
"""

# An agent that records its pid (and its group's), then works for SLOW_SECONDS.
SLOW = """\
import os, sys, time
sys.stdin.read()
with open("slow.pid", "w") as fh:
    fh.write(f"{os.getpid()}\\n")
time.sleep(float(os.environ.get("SLOW_SECONDS", "120")))
print("# SLOW\\n\\ndone")
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except OSError:
        return False


def test_a_call_that_spends_the_run_budget_stops_a_stage_inside_its_call(tmp_path: Path) -> None:
    """Claude's $0.05 call (FAST) crosses the $0.04 run budget while SLOW's agent works: SLOW's agent is ended
    at once, SLOW is recorded blocked by the budget, FAST keeps its paid result, the run ends blocked (exit 1);
    `resume --max-cost 1` runs SLOW alone."""
    (tmp_path / "stages.yaml").write_text(STAGES, encoding="utf-8")
    (tmp_path / "objective.md").write_text("---\nfeature: money\n---\n# Money\n\nSpend wisely.\n", encoding="utf-8")
    (tmp_path / "teambot.yaml").write_text(SETTINGS % sys.executable, encoding="utf-8")
    (tmp_path / "slow.py").write_text(SLOW, encoding="utf-8")
    folder = tmp_path / "bin"
    folder.mkdir()
    claude = folder / "claude"  # the fake claude, answering once SLOW's agent is surely running
    claude.write_text(f"#!{sys.executable}\nimport os, runpy, time\n"
                      "while not os.path.exists('slow.pid'):\n    time.sleep(0.05)\n"
                      f"os.environ['FAKE_CLI_AS'] = 'claude'\nrunpy.run_path({str(FAKE_CLIS)!r}, run_name='__main__')\n",
                      encoding="utf-8")
    claude.chmod(0o755)
    env = {"PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', os.defpath)}", "FAKE_CLI_LOG": str(tmp_path / "calls.jsonl"),
           "FAKE_CLI_COST": "0.05"}
    run_dir = tmp_path / ".agent-tracking" / "money"

    started = time.monotonic()
    proc = teambot("run", "objective.md", cwd=tmp_path, env=env, timeout=100)
    took = time.monotonic() - started
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert took < 90, f"the run waited {took:.0f} s for SLOW's agent instead of stopping it"
    slow_pid = int((tmp_path / "slow.pid").read_text())
    assert not _alive(slow_pid), "SLOW's agent outlived the stop"
    assert "the run reached its budget (max_cost $0.0400): it has spent $0.0500" in proc.stdout
    saved = state(run_dir)
    assert saved["stages"]["FAST"]["status"] == "succeeded"  # the call that crossed it keeps its result
    assert (saved["stages"]["SLOW"]["status"], saved["stages"]["SLOW"]["blocked_by"]) == ("blocked", "budget")
    assert saved["run"]["status"] == "blocked"
    exceeded = [e for e in events(run_dir) if e["type"] == "budget_exceeded"]
    assert len(exceeded) == 1 and exceeded[0]["stage"] == "FAST" and exceeded[0]["details"]["scope"] == "run"

    (tmp_path / "slow.pid").unlink()
    proc = teambot("resume", "--max-cost", "1", cwd=tmp_path, env=env | {"SLOW_SECONDS": "0"}, timeout=100)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [c["stage"] for c in calls(tmp_path)] == ["FAST"]  # FAST's paid call was not made again
    saved = state(run_dir)
    assert saved["stages"]["SLOW"]["status"] == "succeeded" and saved["run"]["status"] == "completed"


def test_run_max_cost_sets_a_new_runs_budget_over_teambot_yaml(tmp_path: Path) -> None:
    """`teambot run --max-cost 0.04` caps a run whose teambot.yaml sets no budget: the first $0.05 call
    keeps its result, the next stage is blocked before calling, and the budget is kept in the run record."""
    from tests.runtimes.test_cli_usage import install_clis

    (tmp_path / "stages.yaml").write_text("stages:\n  SPEC: {work_agent: ba}\n  PLAN: {work_agent: pm}\n"
                                          "stage_order: [SPEC, PLAN]\n", encoding="utf-8")
    (tmp_path / "objective.md").write_text("---\nfeature: money\n---\n# Money\n", encoding="utf-8")
    (tmp_path / "teambot.yaml").write_text("runtime: command\ncommand: {preset: claude}\n", encoding="utf-8")
    env = install_clis(tmp_path) | {"FAKE_CLI_COST": "0.05"}
    proc = teambot("run", "objective.md", "--max-cost", "0.04", cwd=tmp_path, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "teambot resume money --max-cost N" in proc.stdout
    saved = state(tmp_path / ".agent-tracking" / "money")
    assert saved["run"]["budget"] == {"max_cost": 0.04, "max_tokens": None}
    assert (saved["stages"]["PLAN"]["status"], saved["stages"]["PLAN"]["blocked_by"]) == ("blocked", "budget")
    assert [c["stage"] for c in calls(tmp_path)] == ["SPEC"]
    bad = teambot("run", "objective.md", "--max-cost", "-1", "--feature", "other", cwd=tmp_path, env=env)
    assert bad.returncode == 2 and "--max-cost" in bad.stderr and "Traceback" not in bad.stderr
