"""Real runtimes end to end: `python -m teambot run/resume` with the fake agent CLI and the local HTTP server."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest

from tests.helpers import events, start_teambot, teambot, wait_for
from tests.runtimes.conftest import FAKE_AGENT, SECRET, acceptance_yaml

AGENT_STAGES = ["SETUP", "BUSINESS_PROBLEM", "SPEC", "SPEC_REVIEW", "RESEARCH", "TEST_STRATEGY", "PLAN", "PLAN_REVIEW",
                "IMPLEMENTATION", "IMPLEMENTATION_REVIEW", "TEST", "ACCEPTANCE_TEST", "POST_REVIEW"]


def configure(project: Path, *flags: str, extra: str = "", runtime: str = "command") -> Path:
    """teambot.yaml running the fake agent with `flags` for every agent; returns the count file."""
    count = project / "count.txt"
    argv = [sys.executable, str(FAKE_AGENT), "--count", str(count), *flags]
    (project / "teambot.yaml").write_text(
        f"runtime: {runtime}\ncommand:\n  argv: {json.dumps(argv)}\n  grace_seconds: 0.5\n{extra}{acceptance_yaml(project)}",
        encoding="utf-8")
    return count


def counts(path: Path, reviews: bool = False) -> Counter:
    """Agent calls per stage: work steps (STAGE), or with `reviews` also reviewer calls (STAGE/review).

    A task's call (IMPLEMENTATION/T1: the fake plan has one task) counts as its stage's work step.
    """
    if not path.exists():
        return Counter()
    keys = [line.split()[0] for line in path.read_text().splitlines()]
    keys = [k.split("/")[0] if "/" in k and k.split("/")[1] not in ("review", "verdict") else k for k in keys]
    return Counter(k for k in keys if reviews or "/" not in k)


def committed(run_dir: Path):
    """The run's committed state (snapshot plus per-stage commits), read without the lock; None mid-write."""
    from teambot.paths import RunPaths
    from teambot.store.file import read_state

    try:
        return read_state(RunPaths(run_dir.parent, run_dir.name))
    except Exception:  # a commit being replaced right now: look again
        return None


def committed_pgid(run_dir: Path, stage: str) -> int | None:
    found = committed(run_dir)
    return found.stages[stage].pgid if found and stage in found.stages else None


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_failure_then_resume_with_exact_invocations(project, run_dir):
    """With --runtime command: a failing agent fails only its stage; resume (keeping --runtime) reruns only it."""
    count = configure(project, "--fail-stage", "RESEARCH", runtime="demo")
    proc = teambot("run", "objective.md", "--runtime", "command", cwd=project)
    assert proc.returncode == 1, proc.stderr
    assert "RESEARCH: agent command" in proc.stdout and "exited with code 3" in proc.stdout
    assert counts(count) == Counter({s: 1 for s in AGENT_STAGES[:6]})
    configure(project, runtime="demo")
    proc = teambot("resume", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert counts(count) == Counter({s: 2 if s == "RESEARCH" else 1 for s in AGENT_STAGES})
    spec = (run_dir / "artifacts" / "feature_spec.md").read_text()
    assert "# SPEC output" in spec  # stdout became the stage's single artifact
    assert (run_dir / "outputs" / "SPEC.md").read_text() == spec


def test_runtime_flag_overrides_config(project, run_dir):
    """--runtime demo beats `runtime: command` in teambot.yaml: the agent CLI never runs."""
    count = configure(project)
    proc = teambot("run", "objective.md", "--runtime", "demo", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert counts(count) == Counter()


@pytest.fixture
def orphan(project, run_dir):
    """teambot SIGKILLed while SPEC's agent sleeps: yields (count file, the agent's pid, still alive)."""
    count = configure(project, "--sleep", "60", "--sleep-stage", "SPEC")
    proc = start_teambot("run", "objective.md", cwd=project)
    agent_pid = None
    try:
        assert wait_for(lambda: counts(count)["SPEC"] == 1)
        agent_pid = int([line for line in count.read_text().splitlines() if line.startswith("SPEC ")][0].split()[1])
        assert wait_for(lambda: committed_pgid(run_dir, "SPEC") == agent_pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert alive(agent_pid)  # its own session: the kill did not reach it
        yield count, agent_pid
    finally:
        if proc.poll() is None:
            proc.kill()
        if agent_pid and alive(agent_pid):
            os.killpg(agent_pid, signal.SIGKILL)


def test_sigkilled_teambot_leaves_an_agent_that_resume_ends(project, orphan):
    """After kill -9 of teambot mid-stage, resume ends the agent's live group and reruns only that stage."""
    count, agent_pid = orphan
    configure(project)
    resumed = teambot("resume", cwd=project)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"agent process group {agent_pid}" in resumed.stdout
    assert wait_for(lambda: not alive(agent_pid), timeout=5)
    assert counts(count) == Counter({s: 2 if s == "SPEC" else 1 for s in AGENT_STAGES})


def test_sigterm_ends_the_agent_group(project, run_dir):
    """SIGTERM to teambot while an agent (with a child) runs: exit 130, stage interrupted, no orphans."""
    pid_file = project / "pids.txt"
    configure(project, "--hang", "--child", "--pid-file", str(pid_file))
    proc = start_teambot("run", "objective.md", cwd=project)
    try:
        assert wait_for(lambda: pid_file.exists() and len(pid_file.read_text().split()) >= 2)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    pids = [int(p) for p in pid_file.read_text().split()]
    assert [p for p in pids if alive(p)] == []
    assert committed(run_dir).stages["SETUP"].status == "interrupted"


def test_openai_run_records_usage_and_retry_events(project, run_dir, llm_server):
    """An openai run completes through the local server; usage is in state; a 429's retry is in events.jsonl."""
    (project / "teambot.yaml").write_text(
        f"runtime: openai\nopenai:\n  base_url: {llm_server.url}\n  model: stream\n  retry_backoff_seconds: 0.01\n"
        "agents:\n  ba: {model: ratelimit}\n" + acceptance_yaml(project), encoding="utf-8")
    proc = teambot("run", "objective.md", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    usage = committed(run_dir).stages["RESEARCH"].usage
    assert (usage.prompt_tokens, usage.completion_tokens) == (21, 5)
    assert (run_dir / "artifacts" / "research.md").read_text() == "Hello, streamed world."
    kinds = [(e["type"], e["stage"]) for e in events(run_dir) if e["type"].startswith("agent_")]
    assert kinds == [("agent_attempt_failed", "BUSINESS_PROBLEM"), ("agent_waiting", "BUSINESS_PROBLEM")]
    system = llm_server.seen("stream")[0]["body"]["messages"][0]
    assert system["role"] == "system"
    report = json.loads(teambot("status", "--json", cwd=project).stdout)
    research = next(s for s in report["stages"] if s["name"] == "RESEARCH")
    assert research["usage"] == {"prompt_tokens": 21, "completion_tokens": 5}
    assert report["usage"]["prompt_tokens"] >= 21 and report["usage"]["completion_tokens"] >= 5
    assert "tokens:" in teambot("status", cwd=project).stdout


@pytest.mark.parametrize("model, message", [("auth", "authentication failed"), ("down", "gave up after 2 attempts")])
def test_openai_failures_fail_the_stage(project, run_dir, llm_server, model, message):
    """A 401 and a server that stays down each fail the first stage with a clear message, exit 1."""
    (project / "teambot.yaml").write_text(
        f"runtime: openai\nopenai: {{base_url: '{llm_server.url}', model: {model}, max_retries: 1,"
        " retry_backoff_seconds: 0.01}\n" + acceptance_yaml(project), encoding="utf-8")
    proc = teambot("run", "objective.md", cwd=project)
    assert proc.returncode == 1
    assert message in proc.stdout
    assert committed(run_dir).stages["SETUP"].status == "failed"


def test_secrets_never_reach_the_workspace(project, run_dir, llm_server):
    """A secret in the environment (and named in config) appears in no file under the workspace nor in the output."""
    configure(project, "--print-env", "ACME_API_KEY", "--print-env", "MY_PASSWORD", "--stderr", SECRET,
              extra="secret_env_vars: [MY_PASSWORD]\n")
    env = {"ACME_API_KEY": SECRET, "MY_PASSWORD": "correct-horse-battery"}
    proc = teambot("run", "objective.md", cwd=project, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    checked = 0
    for path in run_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert SECRET.encode() not in data, path
            assert b"correct-horse-battery" not in data, path
            checked += 1
    assert checked > 20
    assert "ACME_API_KEY=***" in (run_dir / "outputs" / "SPEC.md").read_text()


def test_bad_config_exits_2_with_location(project):
    """An invalid teambot.yaml stops `run` with exit 2 and a located message, before any state is written."""
    (project / "teambot.yaml").write_text("runtime: command\ncommand:\n  preset: claud\n")
    proc = teambot("run", "objective.md", cwd=project)
    assert proc.returncode == 2
    assert "teambot.yaml:3:3: command.preset: unknown preset (did you mean 'claude'?)" in proc.stderr
    assert not (project / ".agent-tracking" / "todo-cli" / "state.json").exists()


ONE_STAGE = "stages:\n  RESEARCH:\n    work_agent: builder-1\n    artifacts: [research.md]\nstage_order: [RESEARCH]\n"


@pytest.mark.parametrize(
    "model, code, expected",
    [
        ("canned", 0, "Canned reply to: # Stage: RESEARCH"),
        ("stream", 0, "Hello, streamed world."),
        ("nostream", 0, "plain reply"),
        ("flaky", 0, "after a 500"),
        ("ratelimit", 0, "after the rate limit"),
        ("slow", 0, "slow but steady"),
        ("malformed", 1, "RESEARCH"),
        ("hang", 1, "RESEARCH"),
        ("forbidden", 1, "You do not have access to this model"),
        ("context", 1, "context"),
    ],
)
def test_each_server_behaviour_through_teambot_run(project, run_dir, llm_server, model, code, expected):
    """Every behaviour of the local OpenAI-compatible server, end to end through `teambot run`."""
    (project / "stages.yaml").write_text(ONE_STAGE)
    (project / "teambot.yaml").write_text(
        f"runtime: openai\nopenai: {{base_url: '{llm_server.url}', model: {model}, max_retries: 1,"
        " retry_backoff_seconds: 0.01, timeout: 0.6}\n", encoding="utf-8")
    proc = teambot("run", "objective.md", "-q", cwd=project, timeout=60)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    record = committed(run_dir).stages["RESEARCH"]
    if code == 0:
        assert expected in (run_dir / "artifacts" / "research.md").read_text()
        assert record.status == "succeeded"
    else:
        assert record.status == "failed" and record.error
        assert expected in proc.stdout


def test_kill9_many_times_exact_invocations(project, run_dir):
    """kill -9 at several moments (some inside the group), resume each time: a finished stage's agent never runs again.

    The fake agent counts its invocations: no stage's agent ran more often than events.jsonl
    records it started (a kill between the `running` commit and the spawn may leave one fewer),
    and never after the stage had succeeded.
    """
    count = configure(project, "--sleep", "0.25")
    command = ("run", "objective.md", "-q")
    for invoked in (1, 3, 5, 6, 8, 11):  # 5 and 6: RESEARCH/TEST_STRATEGY running side by side
        done_before = {n for n, r in (committed(run_dir).stages.items() if (run_dir / "state.json").exists() else [])
                       if r.status == "succeeded"}
        seen_before = counts(count)
        proc = start_teambot(*command, cwd=project)
        command = ("resume", "-q")
        try:
            assert wait_for(lambda: sum(counts(count).values()) >= invoked or proc.poll() is not None, timeout=30)
            time.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        new = counts(count) - seen_before
        assert not set(new) & done_before, f"finished stages invoked again: {set(new) & done_before}"
    final = teambot("resume", "-q", cwd=project)
    assert final.returncode == 0, final.stdout + final.stderr
    started = Counter(e["stage"] for e in events(run_dir) if e["type"] == "stage_started" and e["stage"] != "COMPLETE")
    invoked = counts(count)
    assert set(invoked) == set(AGENT_STAGES)
    for stage in AGENT_STAGES:
        assert 1 <= invoked[stage] <= started[stage], f"{stage}: {invoked[stage]} invocations, {started[stage]} recorded"
    assert committed(run_dir).run.status == "completed"


def test_rerun_after_kill9_ends_the_orphan_agent(project, orphan):
    """`rerun` on a run whose teambot was SIGKILLed mid-stage ends that stage's still-running agent first."""
    count, agent_pid = orphan
    rerun = teambot("rerun", "SPEC", cwd=project)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"agent process group {agent_pid}" in rerun.stdout
    assert not alive(agent_pid), "the orphan was ended before SPEC was marked to run again"
    configure(project)
    resumed = teambot("resume", "-q", cwd=project)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert counts(count)["SPEC"] == 2 and counts(count)["SETUP"] == 1


def test_a_review_stage_counts_the_tokens_of_every_call(project, run_dir, llm_server):
    """Over the openai runtime a review stage's usage is the sum of its work and review calls."""
    (project / "stages.yaml").write_text(
        "stages:\n  R:\n    work_agent: ba\n    review_agent: reviewer\n    is_review_stage: true\n"
        "    artifacts: [r.md]\nstage_order: [R]\n")
    (project / "teambot.yaml").write_text(
        f"runtime: openai\nopenai: {{base_url: '{llm_server.url}', model: canned}}\n", encoding="utf-8")
    proc = teambot("run", "objective.md", "-q", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record = committed(run_dir).stages["R"]
    assert [it.verdict for it in record.iterations] == ["approved"]
    assert len(llm_server.seen("canned")) == 2
    assert (record.usage.prompt_tokens, record.usage.completion_tokens) == (22, 14)  # 11+7 per call
