"""Usage from agent CLIs end to end: `python -m teambot run` with the claude, codex and gemini presets
pointed at fake CLIs that replay each real CLI's captured machine-readable output (tests/runtimes/fake_clis.py)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.helpers import events, state, status_json, teambot

FAKE_CLIS = Path(__file__).resolve().parent / "fake_clis.py"
ONE_STAGE = "stages:\n  RESEARCH:\n    work_agent: ba\n    artifacts: [research.md]\n{extra}stage_order: [RESEARCH]\n"
PRICES = "prices:\n  gpt-5-codex: {input: 1.25, output: 10, cached_input: 0.125}\n  gemini-2.5-pro: {input: 1.25, output: 10}\n"


def install_clis(project: Path) -> dict[str, str]:
    """Wrappers named claude, codex and gemini (running fake_clis.py) first on PATH; the env to run teambot with."""
    folder = project / "bin"
    folder.mkdir()
    for name in ("claude", "codex", "gemini"):
        wrapper = folder / name
        wrapper.write_text(f"#!{sys.executable}\nimport os, runpy\nos.environ['FAKE_CLI_AS'] = {name!r}\n"
                           f"runpy.run_path({str(FAKE_CLIS)!r}, run_name='__main__')\n", encoding="utf-8")
        wrapper.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', os.defpath)}", "FAKE_CLI_LOG": str(project / "calls.jsonl")}


def calls(project: Path) -> list[dict]:
    path = project / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def small_project(tmp_path: Path, teambot_yaml: str, stage_extra: str = "") -> Path:
    (tmp_path / "stages.yaml").write_text(ONE_STAGE.format(extra=stage_extra), encoding="utf-8")
    (tmp_path / "objective.md").write_text("---\nfeature: spend\n---\n# Spend\n\nDo a thing.\n", encoding="utf-8")
    (tmp_path / "teambot.yaml").write_text(teambot_yaml, encoding="utf-8")
    return tmp_path


# (preset, model, expected usage recorded for FAKE_CLI_USAGE=1000,200,400)
CASES = [
    # Claude Code reports its own cost: it is kept as is, prices or not; its default model loses its "[1m]" tag
    ("claude", None, {"prompt_tokens": 1000, "completion_tokens": 200, "cached_prompt_tokens": 400, "cost_usd": 0.05,
                      "model": "claude-opus-4-8"}),
    # Codex reports tokens only: priced with `prices` by the agent's model (600 x 1.25 + 400 x 0.125 + 200 x 10) / 1e6
    ("codex", "gpt-5-codex", {"prompt_tokens": 1000, "completion_tokens": 200, "cached_prompt_tokens": 400,
                              "cost_usd": 0.00280, "model": "gpt-5-codex"}),
    # Gemini reports tokens per model: priced by the model it names; cached at the input price when no cached price
    ("gemini", "gemini-2.5-pro", {"prompt_tokens": 1000, "completion_tokens": 200, "cached_prompt_tokens": 400,
                                  "cost_usd": 0.00325, "model": "gemini-2.5-pro"}),
]


@pytest.mark.parametrize("preset, model, expected", CASES, ids=[c[0] for c in CASES])
def test_preset_output_is_parsed_into_answer_and_usage(tmp_path, preset, model, expected):
    """The answer (not the JSON) becomes the artifact and output; tokens and cost land in state and status."""
    agent = f"agents:\n  ba: {{model: {model}}}\n" if model else ""
    project = small_project(tmp_path, f"runtime: command\ncommand:\n  preset: {preset}\n{agent}{PRICES}")
    env = install_clis(project)
    proc = teambot("run", "objective.md", "-q", cwd=project, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = project / ".agent-tracking" / "spend"
    answer = (run_dir / "artifacts" / "research.md").read_text(encoding="utf-8")
    assert answer.startswith("# Answer for RESEARCH\n") and '"quoted" text and a backslash \\ survive' in answer
    assert (run_dir / "outputs" / "RESEARCH.md").read_text(encoding="utf-8") == answer
    usage = state(run_dir)["stages"]["RESEARCH"]["usage"]
    assert usage == pytest.approx(expected)
    report = status_json(project)
    assert report["usage"] == pytest.approx(expected)
    text = teambot("status", cwd=project).stdout
    assert f"tokens 1000+200 ${expected['cost_usd']:.4f}" in text
    assert "(400 cached)" in text
    assert [c["cli"] for c in calls(project)] == [preset]


def test_gemini_without_a_model_records_tokens_only(tmp_path):
    """Gemini with no model routes through a second model, so its output names two: tokens, but no price."""
    project = small_project(tmp_path, f"runtime: command\ncommand:\n  preset: gemini\n{PRICES}")
    proc = teambot("run", "objective.md", "-q", cwd=project, env=install_clis(project))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    usage = state(project / ".agent-tracking" / "spend")["stages"]["RESEARCH"]["usage"]
    assert usage == {"prompt_tokens": 1000, "completion_tokens": 200, "cached_prompt_tokens": 400}


def test_output_that_is_not_the_expected_json_stays_raw_text_with_no_usage(tmp_path):
    """A CLI printing plain text where JSON was expected: the raw text is the output, and nothing is recorded."""
    project = small_project(tmp_path, "runtime: command\ncommand:\n  preset: claude\n")
    env = install_clis(project) | {"FAKE_CLI_MODE": "garbage"}
    proc = teambot("run", "objective.md", "-q", cwd=project, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = project / ".agent-tracking" / "spend"
    assert (run_dir / "artifacts" / "research.md").read_text(encoding="utf-8").startswith("# Answer for RESEARCH")
    assert state(run_dir)["stages"]["RESEARCH"]["usage"] is None
    assert status_json(project)["usage"] == {"prompt_tokens": 0, "completion_tokens": 0}


def test_a_failed_call_still_records_what_it_spent(tmp_path):
    """A CLI exiting 1 after reporting usage: the stage fails and its usage (with the reported cost) is recorded."""
    project = small_project(tmp_path, "runtime: command\ncommand:\n  preset: claude\n")
    env = install_clis(project) | {"FAKE_CLI_MODE": "fail", "FAKE_CLI_COST": "0.02"}
    proc = teambot("run", "objective.md", "-q", cwd=project, env=env)
    assert proc.returncode == 1
    record = state(project / ".agent-tracking" / "spend")["stages"]["RESEARCH"]
    assert record["status"] == "failed" and "the model is overloaded" in record["error"]
    assert record["usage"]["cost_usd"] == pytest.approx(0.02) and record["usage"]["completion_tokens"] == 200


@pytest.mark.parametrize("preset, flag", [("claude", "--model"), ("codex", "--model"), ("gemini", "--model")])
def test_stage_model_reaches_the_agent_argv(tmp_path, preset, flag):
    """A stage's `model:` replaces the agent's model in the preset's argv, and prices the call by that model."""
    prices = "prices:\n  stage-model: {input: 2, output: 4}\n"
    project = small_project(tmp_path, f"runtime: command\ncommand:\n  preset: {preset}\nagents:\n  ba: {{model: agent-model}}\n{prices}",
                            stage_extra="    model: stage-model\n")
    env = install_clis(project) | {"FAKE_CLI_USAGE": "1000,500,0"}
    proc = teambot("run", "objective.md", "-q", cwd=project, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    argv = calls(project)[0]["argv"]
    assert argv[argv.index(flag) + 1] == "stage-model" and "agent-model" not in argv
    usage = state(project / ".agent-tracking" / "spend")["stages"]["RESEARCH"]["usage"]
    if preset == "codex":  # no cost or model of its own in the output: the stage's model prices it
        assert usage["cost_usd"] == pytest.approx((1000 * 2 + 500 * 4) / 1e6) and usage["model"] == "stage-model"


def test_openai_usage_is_priced_and_stage_model_is_sent(tmp_path, llm_server):
    """The openai runtime: the stage's `model:` is the request's model, its usage priced with `prices`."""
    yaml = (f"runtime: openai\nopenai: {{base_url: '{llm_server.url}', model: nostream, retry_backoff_seconds: 0.01}}\n"
            "prices:\n  canned: {input: 3, output: 15}\n")
    project = small_project(tmp_path, yaml, stage_extra="    model: canned\n")
    proc = teambot("run", "objective.md", "-q", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [r["body"]["model"] for r in llm_server.requests] == ["canned"]
    usage = state(project / ".agent-tracking" / "spend")["stages"]["RESEARCH"]["usage"]
    assert usage == pytest.approx({"prompt_tokens": 11, "completion_tokens": 7, "cost_usd": (11 * 3 + 7 * 15) / 1e6,
                                   "model": "canned"})
    runs = json.loads(teambot("status", "--json", cwd=project).stdout)
    assert runs["usage"]["cost_usd"] == pytest.approx(138 / 1e6)
    assert not [e for e in events(project / ".agent-tracking" / "spend") if e["type"] == "budget_exceeded"]
