"""Racing starts, readers during writes and signal trials of benchmarks/torture.py."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
import uuid
from pathlib import Path

from torture_trials import (FEATURE, MARK, Result, _tail, cli_env, events_with_offsets, fresh_project,
                            start, status_json, wait_no_leftovers)

OBJECTIVE = "# Torture\n\n## Goals\n- Keep every read whole.\n\n## Success Criteria\n- [ ] Done\n"


# -- 2. racing starts --------------------------------------------------------------------
def race_trial(seed: int, template: Path, root: Path, starters: int) -> Result:
    """K `teambot run` of one feature at once: one winner, every loser exit 3 naming its pid."""
    rng = random.Random(seed)
    result = Result("race", seed, notes={"starts": starters})
    began = time.monotonic()
    project = fresh_project(template, root, f"race-{seed}")
    run_dir = project / ".agent-tracking" / FEATURE
    mark = uuid.uuid4().hex
    # slow stages, so the winner still holds the lock when the slowest loser gets there
    env = cli_env({"TEAMBOT_DEMO_DELAY": "0.3", MARK: mark})
    procs = []
    for _ in range(starters):
        procs.append(start(["run", "objective.md", "-q", "--runtime", "demo"], project, env))
        time.sleep(rng.uniform(0.0, 0.02))
    deadline = time.monotonic() + 120
    while sum(p.poll() is not None for p in procs) < starters - 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    running = [p for p in procs if p.poll() is None]
    winners = running or [p for p in procs if p.returncode == 0]
    for p in running:
        p.send_signal(signal.SIGTERM)  # the race is decided; no need to finish the run
    outputs = {p.pid: p.communicate(timeout=120) for p in procs}
    if len(winners) != 1:
        result.problems.append(f"{len(winners)} winners of {starters} starts (exit codes {[p.returncode for p in procs]})")
    else:
        winner = winners[0]
        if winner.returncode not in (0, 130):
            result.problems.append(f"winner pid {winner.pid} exited {winner.returncode}: {_tail(outputs[winner.pid][1])}")
        for p in procs:
            if p is winner:
                continue
            err = outputs[p.pid][1]
            if p.returncode != 3:
                result.problems.append(f"loser pid {p.pid} exited {p.returncode}, not 3: {_tail(err)}")
            elif f"pid {winner.pid}" not in err:
                result.problems.append(f"loser pid {p.pid} exit 3 without naming the winner pid {winner.pid}: {_tail(err)}")
    if any("Traceback" in err for _, err in outputs.values()):
        result.problems.append("a traceback on stderr")
    left = wait_no_leftovers(run_dir, mark)
    if left:
        result.problems.append(f"processes left: {', '.join(left)}")
    result.seconds = time.monotonic() - began
    return result


# -- 3. readers during writes ------------------------------------------------------------
def chain_yaml(n: int) -> str:
    names = [f"S{i:04d}" for i in range(1, n + 1)]
    lines = ["stages:"]
    for name in names:
        lines += [f"  {name}:", "    work_agent: a"]
    return "\n".join([*lines, "stage_order:", *(f"  - {name}" for name in names)]) + "\n"


def readers_trial(seed: int, root: Path, readers: int, stages: int) -> Result:
    """M `status --json` loops while a long run writes: every read exits 0 with whole JSON."""
    rng = random.Random(seed)
    result = Result("readers", seed, notes={"reads": 0, "readers": readers, "stages": stages})
    began = time.monotonic()
    project = root / f"readers-{seed}"
    project.mkdir()
    (project / "objective.md").write_text(OBJECTIVE, encoding="utf-8")
    (project / "stages.yaml").write_text(chain_yaml(stages), encoding="utf-8")
    run_dir = project / ".agent-tracking" / FEATURE
    mark = uuid.uuid4().hex
    env = cli_env({"TEAMBOT_DEMO_DELAY": f"{rng.uniform(0.005, 0.02):.3f}", MARK: mark})
    proc = start(["run", "objective.md", "-q", "--runtime", "demo", "--feature", FEATURE], project, env)
    deadline = time.monotonic() + 60
    while not (run_dir / "state.json").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    lock = threading.Lock()
    during = [0]

    def read_loop() -> None:
        while proc.poll() is None:
            problems: list[str] = []
            report = status_json(project, problems, "a read during the run")
            if report is not None and len(report.get("stages", [])) != stages:
                problems.append(f"a read during the run listed {len(report.get('stages', []))} stages, not {stages}")
            with lock:
                result.notes["reads"] += 1
                during[0] += report is not None and report.get("status") == "running"
                result.problems.extend(problems)

    threads = [threading.Thread(target=read_loop) for _ in range(readers)]
    for t in threads:
        t.start()
    _, err = proc.communicate(timeout=600)
    for t in threads:
        t.join()
    result.notes["reads_while_running"] = during[0]
    if proc.returncode != 0:
        result.problems.append(f"the run exited {proc.returncode}: {_tail(err)}")
    if during[0] == 0:
        result.problems.append("no read happened while the run was running (make the run longer)")
    result.seconds = time.monotonic() - began
    return result


# -- 4. SIGTERM and double Ctrl-C --------------------------------------------------------
def signal_trial(seed: int, template: Path, root: Path, how: str) -> Result:
    """`how` is "term" (SIGTERM) or "int2" (two SIGINTs): exit 130, stages interrupted, nothing left."""
    rng = random.Random(seed)
    result = Result("signal-" + how, seed)
    began = time.monotonic()
    project = fresh_project(template, root, f"signal-{how}-{seed}")
    run_dir = project / ".agent-tracking" / FEATURE
    mark = uuid.uuid4().hex
    env = cli_env({"TEAMBOT_DEMO_DELAY": f"{rng.uniform(0.1, 0.3):.3f}", MARK: mark})
    proc = start(["run", "objective.md", "-q", "--runtime", "demo", "--max-concurrency", "3"], project, env)
    wanted = rng.randint(1, 8)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if sum(e.get("type") == "stage_started" for _, e in events_with_offsets(run_dir)) >= wanted:
            break
        time.sleep(0.01)
    time.sleep(rng.uniform(0.0, 0.15))
    if proc.poll() is None:
        if how == "term":
            os.kill(proc.pid, signal.SIGTERM)
        else:
            os.kill(proc.pid, signal.SIGINT)
            time.sleep(rng.uniform(0.0, 0.05))
            os.kill(proc.pid, signal.SIGINT)
        result.kills = 1
    _, err = proc.communicate(timeout=120)
    problems = result.problems
    if not result.kills:
        problems.append(f"the run ended ({proc.returncode}) before the signal; nothing was tested")
    elif proc.returncode != 130:
        problems.append(f"exit {proc.returncode}, not 130: {_tail(err)}")
    if "Traceback" in err:
        problems.append(f"traceback on stderr: {_tail(err)}")
    report = status_json(project, problems, "after the signal")
    if report is not None and result.kills:
        _check_interrupted(report, run_dir, problems)
        result.notes["interrupted"] = sum(s["status"] == "interrupted" for s in report["stages"])
    left = wait_no_leftovers(run_dir, mark)
    if left:
        problems.append(f"processes left: {', '.join(left)}")
    result.seconds = time.monotonic() - began
    return result


def _check_interrupted(report: dict, run_dir: Path, problems: list[str]) -> None:
    """Every stage started and not finished is reported interrupted; none shows running."""
    if report["status"] != "interrupted":
        problems.append(f"run status {report['status']}, not interrupted")
    open_stages: set[str] = set()
    for _, event in events_with_offsets(run_dir):
        if event.get("type") == "stage_started":
            open_stages.add(event["stage"])
        elif event.get("type") in ("stage_succeeded", "stage_failed", "stage_skipped", "stage_blocked"):
            open_stages.discard(event["stage"])
    statuses = {s["name"]: s["status"] for s in report["stages"]}
    for name, status in statuses.items():
        if status == "running":
            problems.append(f"{name} still shows running after the signal")
    for name in sorted(open_stages):
        if statuses.get(name) not in ("interrupted", "succeeded"):
            problems.append(f"{name} was running at the signal and is now {statuses.get(name)}, not interrupted")
