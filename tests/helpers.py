"""Helpers for tests that drive the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_STAGES = REPO / "src" / "teambot" / "data" / "stages.yaml"
EXAMPLE_OBJECTIVE = REPO / "examples" / "objective.md"


def teambot(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `python -m teambot ARGS` in `cwd` and return the finished process (text output)."""
    return subprocess.run(
        [sys.executable, "-m", "teambot", *args], cwd=cwd, env=cli_env(env), capture_output=True, text=True, timeout=timeout
    )


def start_teambot(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start `python -m teambot ARGS` without waiting (for kill and signal tests)."""
    return subprocess.Popen(
        [sys.executable, "-m", "teambot", *args], cwd=cwd, env=cli_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def git_commit_all(project: Path, message: str = "start") -> None:
    """Make `project` a git repository (if it is not) and commit everything in it, as the test's own
    identity: the default workflow's task stage needs a repository with a commit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")} | {
        "GIT_AUTHOR_NAME": "Tess Ter", "GIT_AUTHOR_EMAIL": "tess@example.org", "GIT_COMMITTER_NAME": "Tess Ter",
        "GIT_COMMITTER_EMAIL": "tess@example.org", "GIT_CONFIG_NOSYSTEM": "1"}
    if not (project / ".git").exists():
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=project, env=env, check=True)
    subprocess.run(["git", "add", "-A"], cwd=project, env=env, check=True)
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", message], cwd=project, env=env, check=True)


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEAMBOT_")}
    env.update(extra or {})
    return env


def events(run_dir: Path) -> list[dict]:
    path = run_dir / "events.jsonl"
    out = []
    if not path.exists():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a torn last line after kill -9
    return out


def started(run_dir: Path) -> list[str]:
    """Stage names in the order their attempts started, from events.jsonl."""
    return [e["stage"] for e in events(run_dir) if e["type"] == "stage_started"]


def state(run_dir: Path) -> dict:
    """The run's committed state (snapshot plus journal), as `status` reads it, as JSON data."""
    from teambot.paths import RunPaths
    from teambot.store.file import read_state

    loaded = read_state(RunPaths(run_dir.parent, run_dir.name))
    if loaded is None:
        raise FileNotFoundError(f"no state in {run_dir}")
    return loaded.model_dump(mode="json")


def status_json(cwd: Path, feature: str | None = None) -> dict:
    proc = teambot("status", *([feature] if feature else []), "--json", cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def count_events(run_dir: Path, type_: str) -> int:
    path = run_dir / "events.jsonl"
    if not path.exists():
        return 0
    return path.read_text(encoding="utf-8", errors="replace").count(f'"type": "{type_}"')


def committed_stage(run_dir: Path, stage: str):
    """One stage's committed record (snapshot plus per-stage commits), read as `status` reads it."""
    from teambot.paths import RunPaths
    from teambot.store.file import read_state

    return read_state(RunPaths(run_dir.parent, run_dir.name)).stages[stage]


def run_processes(run_dir: Path) -> list:
    """Live (non-zombie) processes carrying this run's TEAMBOT_RUN_DIR marker: agents and their children."""
    import psutil

    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("TEAMBOT_RUN_DIR") == str(run_dir) and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def kill_run_processes(run_dir: Path) -> None:
    """Test clean-up: SIGKILL the process group of every process left with this run's marker."""
    import signal

    for proc in run_processes(run_dir):
        try:
            os.killpg(os.getpgid(proc.pid), signal.SIGKILL)
        except OSError:
            pass
