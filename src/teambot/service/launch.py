"""Start, resume and cancel runs as ordinary `teambot run` / `resume` processes.

A run started here is `python -m teambot run ...` in its own session (setsid): it takes the
run's lock like any other, survives whoever started it (a server restarting, a closed
terminal) and shows to every reader through the run's files. Its output goes to
<workspace>/.serve/<feature>/<command>.log, outside the run directory: a run refused before
its first commit removes its directory, which must then hold nothing but the lock.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from teambot.errors import (EXIT_BAD_INPUT, EXIT_LOCKED, LockedError, NotRunningError, ObjectiveError, RunExistsError,
                            TeambotError, UsageError)
from teambot.paths import RunPaths, slugify
from teambot.service.files import confine, has_run, run_paths
from teambot.service.results import Cancelled, Launched, RunOptions

START_WAIT = 30.0  # seconds to watch a launched process take the run (or refuse it)
SERVE_DIR = ".serve"  # under the workspace: objectives posted to the API, launch logs


def start_run(project_dir: Path, workspace: Path, objective: str, options: RunOptions) -> Launched:
    """Check the objective and options, then start `teambot run` on them; nothing is written if a check fails."""
    from teambot.config import load_workflow, resolve_stages_path
    from teambot.objective import MAX_OBJECTIVE_BYTES, load_objective
    from teambot.skipping import check_skippable

    if len(objective.encode("utf-8")) > MAX_OBJECTIVE_BYTES:
        raise ObjectiveError(f"the objective is more than {MAX_OBJECTIVE_BYTES:,} bytes", hint="shorten it")
    with tempfile.TemporaryDirectory(prefix="teambot-objective-") as scratch:
        draft = Path(scratch) / "objective.md"
        draft.write_text(objective, encoding="utf-8")
        try:
            obj = load_objective(draft)  # empty, bad front matter: ObjectiveError before anything is written
        except ObjectiveError as err:  # the scratch file's name means nothing to the caller
            raise ObjectiveError(err.message.replace(str(draft), "(posted)"), hint=err.hint) from None
    name = obj.feature_name(options.feature or obj.front_feature or slugify(obj.title))
    stages = _stages_path(project_dir, options.stages) if options.stages else resolve_stages_path(None, project_dir)
    workflow = load_workflow(stages, project_dir=project_dir)
    check_skippable(workflow, None, options.skip)
    _check_settings(project_dir, options.runtime)
    paths = RunPaths(workspace, name)
    if has_run(paths):
        raise RunExistsError(f"a run for feature '{name}' already exists in {paths.root}",
                             hint=f"continue it with `teambot resume {name}`, or start another with another feature name")
    home = _serve_dir(workspace, name)
    target = home / "objective.md"
    target.write_text(objective, encoding="utf-8")
    argv = ["run", str(target), "--feature", name, "--stages", str(stages), *_common(options)]
    return _launch(project_dir, workspace, name, "run", argv)


def resume_run(project_dir: Path, workspace: Path, feature: str, options: RunOptions) -> Launched:
    """Start `teambot resume FEATURE`; LockedError while a live process drives the run."""
    from teambot.store.file import owner_alive, read_owner

    paths = run_paths(workspace, feature)
    if owner_alive(paths):
        owner = read_owner(paths)
        raise LockedError(f"run '{feature}' is in use by another teambot process: pid {owner.pid} on {owner.host}, "
                          f"since {owner.since}", hint="wait for it to finish, or cancel it, then resume")
    argv = ["resume", feature, *_common(options)]
    if options.stages:
        argv += ["--stages", str(_stages_path(project_dir, options.stages))]
    if options.rerun_stale:
        argv.append("--rerun-stale")
    return _launch(project_dir, workspace, feature, "resume", argv)


def cancel_run(workspace: Path, feature: str, *, wait: float = 30.0) -> Cancelled:
    """SIGTERM to the process driving the run (its stages become `interrupted`, resumable); wait for it to end."""
    import socket

    from teambot.processes import process_alive
    from teambot.service.runs import run_status
    from teambot.store.file import owner_alive, read_owner

    paths = run_paths(workspace, feature)
    owner = read_owner(paths)
    if owner is None or not owner_alive(paths):
        status = run_status(workspace, feature).status
        raise NotRunningError(f"run '{feature}' is not running (status {status}); nothing to cancel")
    if owner.host != socket.gethostname():
        raise NotRunningError(f"run '{feature}' runs on host {owner.host}; cancel it there (pid {owner.pid})")
    if not _is_teambot(owner.pid):  # a recycled pid: never signal a stranger
        raise NotRunningError(f"run '{feature}': pid {owner.pid} is not a teambot process; nothing to cancel")
    try:
        os.kill(owner.pid, signal.SIGTERM)  # teambot treats it as Ctrl-C: running stages become interrupted
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + wait
    while process_alive(owner.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    stopped = not process_alive(owner.pid)
    return Cancelled(feature=feature, pid=owner.pid, stopped=stopped, status=run_status(workspace, feature).status)


def _is_teambot(pid: int) -> bool:
    import psutil

    try:
        return any("teambot" in part for part in psutil.Process(pid).cmdline())
    except (psutil.Error, OSError):
        return False


def _stages_path(project_dir: Path, relative: str) -> Path:
    """A stages file the caller names: only inside the project directory."""
    try:
        return confine(project_dir, relative)
    except TeambotError:
        raise UsageError(f"stages file '{relative}' is not a file inside {project_dir}",
                         hint="name a stages file relative to the project directory, e.g. stages.yaml") from None


def _check_settings(project_dir: Path, runtime: str | None) -> None:
    """teambot.yaml is valid and the runtime exists (what `run` checks before taking the lock)."""
    from teambot.runtimes.registry import check_runtime_name
    from teambot.settings import read_settings

    read_settings(project_dir)  # its warnings (unused agent ids) are the run's to print, in its log
    if runtime is not None:
        check_runtime_name(runtime)


def _common(options: RunOptions) -> list[str]:
    argv = ["--quiet"]
    if options.runtime:
        argv += ["--runtime", options.runtime]
    if options.max_concurrency is not None:
        argv += ["--max-concurrency", str(options.max_concurrency)]
    if options.max_hours is not None:
        argv += ["--max-hours", repr(options.max_hours)]
    if options.on_failure:
        argv += ["--on-failure", options.on_failure]
    for stage in options.skip:
        argv += ["--skip", stage]
    return argv


def _serve_dir(workspace: Path, feature: str) -> Path:
    from teambot.fsutil import make_dirs

    home = workspace / SERVE_DIR / feature
    make_dirs(home, root=workspace, durable=False)
    return home


def _launch(project_dir: Path, workspace: Path, feature: str, command: str, args: list[str]) -> Launched:
    """Start the process in its own session and watch until it has taken the run or given up."""
    from teambot.service.events import events

    paths = RunPaths(workspace, feature)
    since = paths.events.stat().st_size if paths.events.is_file() else 0
    log = _serve_dir(workspace, feature) / f"{command}.log"
    argv = [sys.executable, "-m", "teambot", args[0], *args[1:], "--workspace", str(workspace)]
    with log.open("ab") as out:
        out.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S%z')} teambot {command} {feature}\n".encode())
        out.flush()
        proc = subprocess.Popen(argv, cwd=project_dir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    threading.Thread(target=proc.wait, daemon=True).start()  # reaped when it ends, never left a zombie
    wanted = "run_started" if command == "run" else "run_resumed"
    deadline = time.monotonic() + START_WAIT
    while time.monotonic() < deadline:
        code = proc.poll()
        if has_run(paths):
            page = events(workspace, feature, since)
            since = page.next
            if any(e.type == wanted and e.details.get("pid") == proc.pid for e in page.events):
                return Launched(feature=feature, command=command, pid=proc.pid, log=str(log))
        if code is not None:
            return _ended(feature, command, proc.pid, log, code)
        time.sleep(0.05)
    return Launched(feature=feature, command=command, pid=proc.pid, log=str(log))


def _ended(feature: str, command: str, pid: int, log: Path, code: int) -> Launched:
    """The process ended while we watched: a refusal is raised as the error the CLI printed."""
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()[-20:]
    errors = [line[len("error: "):] for line in lines if line.startswith("error: ")]
    hints = [line[len("hint: "):] for line in lines if line.startswith("hint: ")]
    message, hint = (errors[-1] if errors else None), (hints[-1] if hints else None)
    if code == EXIT_LOCKED:
        raise LockedError(message or f"run '{feature}' is locked by another teambot process", hint=hint)
    if code == EXIT_BAD_INPUT:
        raise UsageError(message or f"teambot {command} refused its input (see {log})", hint=hint)
    last = next((line for line in reversed(lines) if line.strip()), None)
    return Launched(feature=feature, command=command, pid=pid, log=str(log), exit_code=code, message=message or last)
