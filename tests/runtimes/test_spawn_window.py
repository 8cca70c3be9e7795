"""kill -9 between spawning an agent and recording its process group: resume still ends that agent."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import psutil

from tests.helpers import committed_stage, kill_run_processes, run_processes, teambot
from tests.runtimes.conftest import FAKE_AGENT

STAGES = "stages:\n  SPEC:\n    work_agent: ba\n    artifacts: [spec.md]\nstage_order: [SPEC]\n"
LATE = 2.0  # how long the first agent waits, after killing teambot, before it writes its stale artifact

# teambot is killed right after spawning the first SPEC agent, before it records the agent's
# process group (the test hook TEAMBOT_TEST_CRASH_AT=spawned:SPEC, crashpoints.py: racing a
# `kill -9 $PPID` from the agent against the commit was decided by the machine's speed); the
# agent lives on unrecorded and later overwrites the artifact.
CRASH = {"TEAMBOT_TEST_CRASH_AT": "spawned:SPEC"}
WRAPPER = """#!/bin/sh
if [ "$TEAMBOT_STAGE" = SPEC ] && [ ! -e "{mark}" ]; then
  : > "{mark}"
  sleep {late}
  printf 'stale: written by the agent of the killed teambot\\n' > "$TEAMBOT_ARTIFACTS_DIR/spec.md"
  exit 0
fi
exec {python} {agent} "$@"
"""



def _gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True



def _project(project: Path, feature: str, script: str, mark: str) -> Path:
    """A one-stage project whose agent is the shell wrapper `script` (marking `mark`); returns its run directory."""
    (project / "objective.md").write_text(f"---\nfeature: {feature}\n---\n# {feature.title()}\n\nWrite the spec.\n")
    (project / "stages.yaml").write_text(STAGES)
    wrapper = project / "agent.sh"
    wrapper.write_text(script.format(mark=project / mark, late=LATE, python=sys.executable, agent=FAKE_AGENT))
    wrapper.chmod(0o755)
    (project / "teambot.yaml").write_text(f"runtime: command\ncommand:\n  argv: [{json.dumps(str(wrapper))}]\n"
                                          "  grace_seconds: 0.5\n")
    return project / ".agent-tracking" / feature

def test_resume_ends_an_agent_whose_group_was_never_recorded(tmp_path: Path) -> None:
    """An agent that kills teambot at once and writes late is ended by resume; the artifact keeps its recorded hash."""
    project = tmp_path
    run_dir = _project(project, "window", WRAPPER, "killed")
    first = teambot("run", "objective.md", "-q", cwd=project, env=CRASH)
    assert first.returncode == -signal.SIGKILL, first.stdout + first.stderr
    killed_at = time.monotonic()
    old = run_processes(run_dir)
    assert old, "the first agent outlived teambot"
    assert committed_stage(run_dir, "SPEC").pgid is None, "teambot died before it recorded the agent's group"
    try:
        resumed = teambot("resume", "-q", cwd=project)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert run_processes(run_dir) == [], "no agent of the run is left once resume is done"
        assert all(_gone(p) for p in old)
        time.sleep(max(0.0, killed_at + LATE + 1.0 - time.monotonic()))  # past the moment the old agent would write
        state = json.loads((run_dir / "state.json").read_text())
        record = state["stages"]["SPEC"]
        assert record["status"] == "succeeded" and state["run"]["status"] == "completed"
        written = (run_dir / "artifacts" / "spec.md").read_bytes()
        assert b"stale" not in written
        assert hashlib.sha256(written).hexdigest() == record["artifacts"]["spec.md"]
    finally:
        kill_run_processes(run_dir)


# An agent that starts a daemon-like child (a new session, stdio on /dev/null), which writes
# the artifact after the agent has exited, and so after the stage has been recorded.
ESCAPING = """#!/bin/sh
{python} -c 'import os, sys, time
os.setsid()
open("{mark}", "w").close()
time.sleep({late})
open(os.path.join(os.environ["TEAMBOT_ARTIFACTS_DIR"], "spec.md"), "w").write("stale: from an escaped child\\n")' </dev/null >/dev/null 2>&1 &
while [ ! -e "{mark}" ]; do sleep 0.05; done
exec {python} {agent} "$@"
"""


def test_a_child_that_left_the_agents_group_is_ended_with_the_attempt(tmp_path: Path) -> None:
    """A child that setsid()s away from the agent's group is ended when the attempt ends: the artifact keeps its hash."""
    project = tmp_path
    run_dir = _project(project, "escape", ESCAPING, "escaped")
    try:
        started = time.monotonic()
        proc = teambot("run", "objective.md", "-q", cwd=project)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert run_processes(run_dir) == [], "the escaped child was ended with the attempt"
        time.sleep(max(0.0, started + LATE + 1.0 - time.monotonic()))
        record = json.loads((run_dir / "state.json").read_text())["stages"]["SPEC"]
        written = (run_dir / "artifacts" / "spec.md").read_bytes()
        assert hashlib.sha256(written).hexdigest() == record["artifacts"]["spec.md"]
        assert "left the agent's process group" in (run_dir / "logs" / "SPEC.log").read_text()
    finally:
        kill_run_processes(run_dir)


def test_a_new_run_in_a_removed_runs_directory_ends_that_runs_agents(tmp_path: Path) -> None:
    """kill -9 in the spawn window, the run directory deleted, `run` again: the old agent is ended, the artifact keeps its hash."""
    project = tmp_path
    run_dir = _project(project, "window", WRAPPER, "killed")
    try:
        assert teambot("run", "objective.md", "-q", cwd=project, env=CRASH).returncode == -signal.SIGKILL
        killed_at = time.monotonic()
        groups = {os.getpgid(proc.pid) for proc in run_processes(run_dir)}
        assert groups
        shutil.rmtree(run_dir)
        again = teambot("run", "objective.md", "-q", cwd=project)
        assert again.returncode == 0, again.stdout + again.stderr
        # ended before anything ran, not only once SPEC's new agent was done
        assert [g for g in groups if f"agent process group {g} " in again.stdout] == list(groups)
        assert run_processes(run_dir) == []
        time.sleep(max(0.0, killed_at + LATE + 1.0 - time.monotonic()))
        record = json.loads((run_dir / "state.json").read_text())["stages"]["SPEC"]
        written = (run_dir / "artifacts" / "spec.md").read_bytes()
        assert hashlib.sha256(written).hexdigest() == record["artifacts"]["spec.md"]
    finally:
        kill_run_processes(run_dir)
