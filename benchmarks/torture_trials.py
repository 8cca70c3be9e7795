"""The trials of benchmarks/torture.py, importable by tests/e2e/test_torture.py.

Each trial drives the real CLI (`python -m teambot`) in subprocesses, in a fresh copy of a
project made once by `teambot init`, with the demo runtime, and returns a Result listing
what broke (empty: the trial passed). A trial's randomness comes only from its seed, so a
failure is reported with the seed that reproduces its choices (timings on a loaded machine
still vary). Standard library + psutil + the installed teambot only.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil

FEATURE = "todo-cli"  # the feature of the objective `teambot init` writes
MARK = "TEAMBOT_TORTURE_MARK"  # our own marker: every process of a trial inherits it
MAX_RESUMES = 6


@dataclass
class Result:
    kind: str
    seed: int
    problems: list[str] = field(default_factory=list)
    kills: int = 0
    kills_in_resume: int = 0
    seconds: float = 0.0
    notes: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


# -- running the CLI ---------------------------------------------------------------------
def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEAMBOT_")}
    env.update(extra or {})
    return env


def start(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "teambot", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def status_json(project: Path, problems: list[str], when: str) -> dict | None:
    """`teambot status --json`; a non-zero exit or unparsable output is a problem."""
    proc = subprocess.run([sys.executable, "-m", "teambot", "status", FEATURE, "--json"], cwd=project,
                          env=cli_env(), capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        problems.append(f"{when}: status --json exit {proc.returncode}: {_tail(proc.stderr)}")
        return None
    try:
        return json.loads(proc.stdout)
    except ValueError as exc:
        problems.append(f"{when}: status --json printed unparsable JSON ({exc})")
        return None


def make_template(root: Path) -> Path:
    """A project set up once by `teambot init`; every trial works in a copy of it."""
    template = root / "template"
    template.mkdir(parents=True)
    proc = subprocess.run([sys.executable, "-m", "teambot", "init", "."], cwd=template, env=cli_env(),
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise SystemExit(f"teambot init failed ({proc.returncode}): {proc.stderr}")
    # the default workflow's task stage (IMPLEMENTATION) needs a git repository with a commit
    env = {k: v for k, v in cli_env().items() if not k.startswith("GIT_")} | {
        "GIT_AUTHOR_NAME": "torture", "GIT_AUTHOR_EMAIL": "torture@localhost", "GIT_COMMITTER_NAME": "torture",
        "GIT_COMMITTER_EMAIL": "torture@localhost", "GIT_CONFIG_NOSYSTEM": "1"}
    for argv in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"], ["git", "commit", "-q", "-m", "start"]):
        subprocess.run(argv, cwd=template, env=env, check=True, capture_output=True, timeout=60)
    return template


def fresh_project(template: Path, root: Path, label: str) -> Path:
    project = root / label
    shutil.copytree(template, project)
    return project


def _tail(text: str, n: int = 300) -> str:
    text = " ".join(text.split())
    return text[-n:] if text else "(no output)"


# -- reading the run ---------------------------------------------------------------------
def events_with_offsets(run_dir: Path) -> list[tuple[int, dict]]:
    """(byte offset, event) for every parsable line of events.jsonl (a torn line is skipped)."""
    path = run_dir / "events.jsonl"
    if not path.exists():
        return []
    out, offset = [], 0
    for line in path.read_bytes().split(b"\n"):
        try:
            out.append((offset, json.loads(line)))
        except ValueError:
            pass
        offset += len(line) + 1
    return out


def events_size(run_dir: Path) -> int:
    try:
        return (run_dir / "events.jsonl").stat().st_size
    except FileNotFoundError:
        return 0


def sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def leftovers(run_dir: Path, mark: str) -> list[str]:
    """Live processes of this run: TEAMBOT_RUN_DIR or our trial marker in their environment."""
    found = []
    for proc in psutil.process_iter(["pid", "name", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            env = proc.environ()
        except (psutil.Error, OSError):
            continue  # gone, or another user's process
        if env.get("TEAMBOT_RUN_DIR") == str(run_dir) or env.get(MARK) == mark:
            found.append(f"pid {proc.pid} ({proc.info['name']})")
    return found


def wait_no_leftovers(run_dir: Path, mark: str, grace: float = 3.0) -> list[str]:
    """Leftovers still alive after `grace` seconds (a process may take a moment to exit)."""
    deadline = time.monotonic() + grace
    while True:
        left = leftovers(run_dir, mark)
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


# -- 1. crash torture --------------------------------------------------------------------
class _Ledger:
    """What was recorded between kills, to judge everything that happened afterwards."""

    def __init__(self) -> None:
        self.succeeded_at: dict[str, int] = {}  # stage -> events.jsonl size when first seen succeeded
        self.artifacts: dict[str, dict[str, str]] = {}  # stage -> recorded artifact hashes
        self.steps_at: dict[tuple[str, int, str], tuple[int, str]] = {}  # (stage, iteration, step) -> (size, sha)

    def observe(self, report: dict, size: int, when: str, problems: list[str]) -> None:
        for stage in report["stages"]:
            name = stage["name"]
            if stage["status"] == "succeeded":
                self.succeeded_at.setdefault(name, size)
                known = self.artifacts.setdefault(name, dict(stage["artifacts"]))
                if known != stage["artifacts"]:
                    problems.append(f"{when}: {name} recorded succeeded with {known}, now {stage['artifacts']}")
            elif name in self.succeeded_at:
                problems.append(f"{when}: {name} was recorded succeeded, now {stage['status']}")
            for it in stage.get("iterations") or []:
                for step in ("work", "review", "verdict_request"):
                    entry = it.get(step)
                    if entry:
                        key = (name, it["number"], step)
                        seen = self.steps_at.setdefault(key, (size, entry["sha256"]))
                        if seen[1] != entry["sha256"]:
                            problems.append(f"{when}: committed step {key} changed its recorded sha256")


def crash_trial(seed: int, template: Path, root: Path, kills: int | None = None) -> Result:
    """kill -9 at random moments during `run` and `resume`, then resume until completed."""
    rng = random.Random(seed)
    result = Result("crash", seed)
    began = time.monotonic()
    project = fresh_project(template, root, f"crash-{seed}")
    run_dir = project / ".agent-tracking" / FEATURE
    mark = uuid.uuid4().hex
    env = {"TEAMBOT_DEMO_DELAY": f"{rng.uniform(0.005, 0.06):.3f}", MARK: mark}
    for stage in rng.sample(["SETUP", "SPEC", "RESEARCH", "TEST_STRATEGY", "PLAN", "IMPLEMENTATION", "TEST"], 2):
        env[f"TEAMBOT_DEMO_DELAY_{stage}"] = f"{rng.uniform(0.05, 0.3):.3f}"
    env = cli_env(env)
    planned = kills if kills is not None else rng.randint(1, 4)
    ledger, problems = _Ledger(), result.problems
    command = ["run", "objective.md", "-q", "--runtime", "demo", "--max-concurrency", "3"]
    completed = False
    for n in range(planned):
        proc = start(command, project, env)
        killed = _kill_at_random_moment(proc, run_dir, rng)
        out, err = proc.communicate(timeout=120)
        when = f"after kill {n + 1} ({command[0]})"
        if killed:
            result.kills += 1
            result.kills_in_resume += command[0] == "resume"
        elif proc.returncode == 0:
            completed = True
        else:
            problems.append(f"{command[0]} exited {proc.returncode} unkilled: {_tail(err)}")
        if "Traceback" in err:
            problems.append(f"{when}: traceback on stderr: {_tail(err)}")
        # nothing to load before the first commit of state.json
        report = status_json(project, problems, when) if (run_dir / "state.json").exists() else None
        if report:
            ledger.observe(report, events_size(run_dir), when, problems)
        if completed or problems:
            break
        if run_dir.joinpath("state.json").exists():
            command = ["resume", FEATURE, "-q"]
    for attempt in range(MAX_RESUMES):
        if completed or problems:
            break
        final = subprocess.run([sys.executable, "-m", "teambot", *command], cwd=project, env=env,
                               capture_output=True, text=True, timeout=300)
        if final.returncode != 0:
            problems.append(f"final {command[0]} #{attempt + 1} exited {final.returncode}: {_tail(final.stderr)}")
        completed = final.returncode == 0
        command = ["resume", FEATURE, "-q"]
    report = status_json(project, problems, "at the end")
    if report:
        ledger.observe(report, events_size(run_dir), "at the end", problems)
        if report["status"] != "completed":
            problems.append(f"run ended {report['status']}, not completed")
        _check_final(report, run_dir, ledger, problems)
    left = wait_no_leftovers(run_dir, mark)
    if left:
        problems.append(f"processes of the run left after it completed: {', '.join(left)}")
    result.seconds = time.monotonic() - began
    return result


def _kill_at_random_moment(proc: subprocess.Popen[str], run_dir: Path, rng: random.Random) -> bool:
    """SIGKILL after a random number of new events (0: at a random instant of start-up)."""
    size = events_size(run_dir)
    target = rng.randint(0, 14)
    if target == 0:
        time.sleep(rng.uniform(0.0, 1.2))
    else:
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if _count_lines_after(run_dir, size) >= target:
                break
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.06))
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    return True


def _count_lines_after(run_dir: Path, size: int) -> int:
    try:
        with (run_dir / "events.jsonl").open("rb") as fh:
            fh.seek(size)
            return fh.read().count(b"\n")
    except FileNotFoundError:
        return 0


def _check_final(report: dict, run_dir: Path, ledger: _Ledger, problems: list[str]) -> None:
    for offset, event in events_with_offsets(run_dir):
        stage, kind = event.get("stage"), event.get("type")
        if kind == "stage_started" and offset >= ledger.succeeded_at.get(stage, 1 << 62):
            problems.append(f"{stage} was recorded succeeded, then got another stage_started")
        if kind == "step_completed":
            details = event.get("details", {})
            key = (stage, details.get("iteration"), details.get("step"))
            if offset >= ledger.steps_at.get(key, (1 << 62,))[0]:
                problems.append(f"committed review step {key} ran again")
    final_steps = {(s["name"], it["number"], step) for s in report["stages"] for it in s.get("iterations") or []
                   for step in ("work", "review", "verdict_request") if it.get(step)}
    for key in sorted(set(ledger.steps_at) - final_steps):
        problems.append(f"committed step {key} is gone from the iterations history")
    for stage in report["stages"]:
        for name, digest in stage["artifacts"].items():
            if stage["status"] == "succeeded" and sha256(run_dir / "artifacts" / name) != digest:
                problems.append(f"{stage['name']}: artifacts/{name} does not match its recorded sha256")
        for it in stage.get("iterations") or []:
            for step in ("work", "review", "verdict_request"):
                entry = it.get(step)
                if entry and sha256(run_dir / entry["file"]) != entry["sha256"]:
                    problems.append(f"{stage['name']}: {entry['file']} does not match its recorded sha256")
