"""The openai runtime through `python -m teambot`: cut replies, memory, secrets in server text, usage, console lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import cli_env, teambot
from tests.runtimes.conftest import SECRET
from tests.runtimes.test_command import leaked

ONE_STAGE = "stages:\n  RESEARCH:\n    work_agent: ba\n    artifacts: [research.md]\n{extra}stage_order: [RESEARCH]\n"
REVIEW_STAGE = ("stages:\n  RESEARCH:\n    work_agent: ba\n    review_agent: reviewer\n    is_review_stage: true\n"
                "    artifacts: [research.md]\nstage_order: [RESEARCH]\n")


def configure(project: Path, url: str, model: str, *, stages: str = ONE_STAGE.format(extra=""), **openai) -> None:
    """One stage on the local server's `model` (fast retries), with more `openai:` settings."""
    (project / "stages.yaml").write_text(stages, encoding="utf-8")
    settings = {"base_url": url, "model": model, "retry_backoff_seconds": 0.01, "timeout": 30, **openai}
    (project / "teambot.yaml").write_text(f"runtime: openai\nopenai: {json.dumps(settings)}\n", encoding="utf-8")


def strict_events(run_dir: Path) -> list[dict]:
    """events.jsonl read as strict JSON: NaN or Infinity raise."""
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} in events.jsonl")
    lines = (run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line, parse_constant=refuse) for line in lines]


def test_a_key_straddling_the_cuts_of_server_text_leaks_nowhere(project, run_dir, llm_server):
    """The configured key echoed across the 200- and 500-character cuts reaches no file, no console, no status."""
    configure(project, llm_server.url, "straddle", max_retries=1, api_key_env="ACME_LLM_CRED")
    env = {"ACME_LLM_CRED": SECRET}
    proc = teambot("run", "objective.md", cwd=project, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert llm_server.seen("straddle")[0]["headers"]["Authorization"] == f"Bearer {SECRET}"
    state = (run_dir / "state.json").read_text()
    assert "x" * 400 in state and "was refused" not in state  # the error was cut at 500 characters
    assert "y" * 150 in (run_dir / "events.jsonl").read_text()  # and the malformed body at 200
    seen = [proc.stdout, proc.stderr]
    for args in (("status", "--json"), ("status",)):
        status = teambot(*args, cwd=project, env=env)
        assert status.returncode in (0, 1), status.stderr
        seen += [status.stdout, status.stderr]
    seen += [path.read_text(errors="replace") for path in run_dir.rglob("*") if path.is_file()]
    assert len(seen) > 6
    for text in seen:
        assert SECRET[:12] not in text and "PLANT" not in text and SECRET[-10:] not in text


# teambot is started by a small launcher that forks it and reports its peak RSS. Started from pytest
# directly, it would report pytest's: Linux carries a forked process's peak over exec (late in a
# full run pytest holds hundreds of MiB). A grandchild starts from the launcher's small footprint.
_LAUNCHER = """
import json, os, sys
report, args = sys.argv[1], sys.argv[2:]
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, "-m", "teambot", *args])
_, status, usage = os.wait4(pid, 0)
with open(report, "w") as fh:
    json.dump({"code": os.waitstatus_to_exitcode(status), "maxrss_kib": usage.ru_maxrss}, fh)
"""


def _peak_rss_of(*args: str, cwd: Path) -> tuple[int, int]:
    """Run `teambot ARGS` in `cwd`; return (exit code, its peak RSS in bytes), from the kernel's accounting."""
    report = cwd / "peak.json"
    subprocess.run([sys.executable, "-c", _LAUNCHER, str(report), *args], cwd=cwd, env=cli_env(None),
                   capture_output=True, timeout=300)
    measured = json.loads(report.read_text())
    return measured["code"], measured["maxrss_kib"] * 1024  # kilobytes on Linux


def test_a_150_mb_reply_does_not_take_memory_beyond_the_cap(project, run_dir, llm_server):
    """A non-streamed 150 MB reply is read within the cap: teambot's peak RSS stays far below the reply's size."""
    configure(project, llm_server.url, "huge", max_retries=0)
    code, peak = _peak_rss_of("run", "objective.md", "-q", cwd=project)
    assert peak < 250 * 1024 * 1024, f"peak RSS {peak / 2**20:.0f} MiB"
    assert code == 1
    state = json.loads((run_dir / "state.json").read_text())
    assert "larger than" in state["stages"]["RESEARCH"]["error"]
    assert not (run_dir / "artifacts" / "research.md").exists()


def test_a_reply_cut_at_the_length_limit_fails_the_stage(project, run_dir, llm_server):
    """Through `teambot run`: a reply that stopped at the model's length limit is no artifact; the stage fails."""
    configure(project, llm_server.url, "length")
    proc = teambot("run", "objective.md", "-q", cwd=project)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "length limit" in proc.stdout and "max_tokens" in proc.stdout
    assert not (run_dir / "artifacts" / "research.md").exists()
    assert json.loads((run_dir / "state.json").read_text())["stages"]["RESEARCH"]["status"] == "failed"


@pytest.mark.parametrize("stages, calls", [(ONE_STAGE.format(extra="    retries: 1\n"), 2), (REVIEW_STAGE, 1)])
def test_tokens_of_failed_calls_count_in_the_stage(project, run_dir, llm_server, stages, calls):
    """An empty reply that reported usage fails the stage, and its tokens (every attempt's) are in state and status."""
    configure(project, llm_server.url, "empty-usage", stages=stages, max_retries=0)
    proc = teambot("run", "objective.md", "-q", cwd=project)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert llm_server.counts["empty-usage"] == calls
    usage = json.loads((run_dir / "state.json").read_text())["stages"]["RESEARCH"]["usage"]
    assert usage == {"prompt_tokens": 13 * calls, "completion_tokens": 4 * calls}
    report = json.loads(teambot("status", "--json", cwd=project).stdout)
    assert report["usage"] == usage


def test_console_prints_one_readable_line_per_retry_and_wait(project, llm_server):
    """A 429 and its wait are shown as sentences, not as Python dicts."""
    configure(project, llm_server.url, "ratelimit")
    proc = teambot("run", "objective.md", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert ("RESEARCH: openai attempt 1 of 5 failed: rate limited (HTTP 429: Rate limit reached) (will retry)"
            in proc.stdout)
    assert "RESEARCH: openai returned 429, retrying in 0.3 s (attempt 2 of 5)" in proc.stdout
    assert "{'" not in proc.stdout and "'runtime'" not in proc.stdout


@pytest.mark.parametrize("value", ["nan", "-inf", "-3"])
def test_a_bogus_retry_after_keeps_events_jsonl_valid_json(project, run_dir, llm_server, value):
    """Retry-After nan / -inf / negative: the default backoff is used and events.jsonl stays strict JSON."""
    llm_server.retry_after = value
    configure(project, llm_server.url, "ratelimit")
    proc = teambot("run", "objective.md", "-q", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    waiting = [e for e in strict_events(run_dir) if e["type"] == "agent_waiting"]
    assert len(waiting) == 1 and 0 <= waiting[0]["details"]["seconds"] <= 0.05


def test_a_review_stopped_by_the_content_filter_never_approves(project, run_dir, llm_server):
    """`VERDICT: APPROVED` then findings cut by the content filter is no approval: the stage does not succeed."""
    configure(project, llm_server.url, "canned", stages=REVIEW_STAGE)
    with (project / "teambot.yaml").open("a", encoding="utf-8") as fh:
        fh.write("agents: {reviewer: {model: filtered-stream}}\nreview: {max_iterations: 1}\n")
    proc = teambot("run", "objective.md", "-q", cwd=project)
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert llm_server.counts["filtered-stream"] >= 1
    stage = json.loads((run_dir / "state.json").read_text())["stages"]["RESEARCH"]
    assert stage["status"] != "succeeded"
    assert [it["verdict"] for it in stage["iterations"]] == ["changes_requested"]
    assert "cut" in stage["iterations"][0]["verdict_note"]


def test_a_cut_reply_fails_a_stage_that_declares_no_artifact(project, run_dir, llm_server):
    """A plain stage without artifacts whose reply stopped at the length limit fails; no partial output is kept."""
    configure(project, llm_server.url, "length",
              stages="stages:\n  NOTE:\n    work_agent: ba\n    artifacts: []\nstage_order: [NOTE]\n")
    proc = teambot("run", "objective.md", "-q", cwd=project)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    stage = json.loads((run_dir / "state.json").read_text())["stages"]["NOTE"]
    assert stage["status"] == "failed" and "output was cut short" in stage["error"] and "max_tokens" in stage["error"]
    assert not (run_dir / "outputs" / "NOTE.md").exists()


KEY_WITH_SPACES = "pass word`Zq8vLmN3 rK2Yh6Jd4`Fs9Qw1eRt0y"


def test_a_redirect_quoting_the_key_leaks_it_nowhere(project, run_dir, llm_server):
    """A Location carrying the key with spaces and backticks (which httpx percent-encodes) is redacted everywhere."""
    configure(project, llm_server.url, "redirect-key", api_key_env="ACME_LLM_CRED")
    env = {"ACME_LLM_CRED": KEY_WITH_SPACES}
    proc = teambot("run", "objective.md", cwd=project, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    error = json.loads((run_dir / "state.json").read_text())["stages"]["RESEARCH"]["error"]
    assert "redirected the request (HTTP 302)" in error and "api_key=***" in error
    status = teambot("status", "--json", cwd=project, env=env)
    seen = {"console": proc.stdout + proc.stderr, "status --json": status.stdout + status.stderr}
    seen.update({str(p): p.read_text(errors="replace") for p in run_dir.rglob("*") if p.is_file()})
    for where, text in seen.items():
        assert leaked(text, KEY_WITH_SPACES) == [] and "%60" not in text and "%20" not in text, where


def test_terminal_escapes_in_a_server_error_reach_neither_console_nor_state(project, run_dir, llm_server):
    """An error message with colour, title and clear-screen escapes is quoted as plain text."""
    configure(project, llm_server.url, "escapes")
    proc = teambot("run", "objective.md", cwd=project)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    state = json.loads((run_dir / "state.json").read_text())
    assert "(HTTP 400: bad red)" in state["stages"]["RESEARCH"]["error"]
    for text in (proc.stdout, proc.stderr, json.dumps(state, ensure_ascii=False),
                 (run_dir / "events.jsonl").read_text(), (run_dir / "logs" / "RESEARCH.log").read_text()):
        assert not any(ch in text for ch in "\x1b\x07\r\x9b"), repr(text)
