"""Task stage benchmarks (issue 10, "Benchmarks (not tests)").

Runs the real CLI (`python -m teambot run ... --runtime demo`) in a scratch git repository:

- makespan: a random 30-task DAG with random task durations (demo delays) at
  --max-concurrency 4 on a pool of 4 agents, against the lower bound
  max(critical path, total work / 4) (target: ratio <= 1.15). Read from events.jsonl: first
  task_started to last task_merged;
- teambot's own cost per task (worktree, agent call, commit, merge, worktree removal) on
  no-op tasks (demo delay 0) run one at a time: stage time / tasks.

Writes its figures into docs/benchmarks.md between the `tasks` markers (the rest of the file
is left alone). Stdlib only; run from the repo root with the project installed:

    python benchmarks/tasks.py            # 3 repeats
    python benchmarks/tasks.py --quick    # 1 repeat
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "docs" / "benchmarks.md"
START, END = "<!-- tasks:start -->", "<!-- tasks:end -->"
AGENTS = ("builder-1", "builder-2", "builder-3", "builder-4")
TARGET_RATIO = 1.15

STAGES = """\
stages:
  IMPLEMENTATION:
    work_agent: builder-1
    tasks:
      from: tasks.yaml
      agents: [{agents}]
stage_order: [IMPLEMENTATION]
"""


def git(cwd: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")} | {
        "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost", "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@localhost"}
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def random_dag(n: int, rng: random.Random) -> tuple[list[dict], dict[str, float]]:
    tasks, durations = [], {}
    for i in range(n):
        deps = sorted({f"T{rng.randrange(i)}" for _ in range(rng.randint(0, 2))}) if i else []
        tasks.append({"id": f"T{i}", "title": f"task {i}", "depends_on": deps})
        durations[f"T{i}"] = round(rng.uniform(0.5, 3.0), 2)
    return tasks, durations


def lower_bound(tasks: list[dict], durations: dict[str, float], workers: int) -> tuple[float, float, float]:
    finish: dict[str, float] = {}
    for task in tasks:  # ids are in dependency order (deps only point back)
        finish[task["id"]] = durations[task["id"]] + max((finish[d] for d in task["depends_on"]), default=0.0)
    critical, work = max(finish.values()), sum(durations.values())
    return max(critical, work / workers), critical, work


def run(tasks: list[dict], durations: dict[str, float], concurrency: int, agents: tuple[str, ...]) -> dict:
    with tempfile.TemporaryDirectory(prefix="teambot-bench-tasks-") as tmp:
        root = Path(tmp)
        git(root, "init", "-q", "-b", "main")
        (root / "README.md").write_text("bench\n")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "start")
        (root / "stages.yaml").write_text(STAGES.format(agents=", ".join(agents)))
        (root / "tasks.yaml").write_text(json.dumps({"tasks": tasks}))
        (root / "objective.md").write_text("---\nfeature: bench\n---\n# Bench\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith("TEAMBOT_")}
        env.update({f"TEAMBOT_DEMO_DELAY_{tid}": str(d) for tid, d in durations.items()})
        done = subprocess.run([sys.executable, "-m", "teambot", "run", "objective.md", "-q", "--max-concurrency",
                               str(concurrency)], cwd=root, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"benchmark run failed: {done.stdout}{done.stderr}")
        events = [json.loads(line) for line in (root / ".agent-tracking" / "bench" / "events.jsonl").read_text().splitlines()]
    starts = [e["ts"] for e in events if e["type"] == "task_started"]
    merged = [e["ts"] for e in events if e["type"] == "task_merged"]
    stage = [e["ts"] for e in events if e["type"] in ("stage_started", "stage_succeeded")]
    return {"makespan": max(merged) - min(starts), "stage": stage[-1] - stage[0], "tasks": len(merged)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeats = 1 if args.quick else 3
    rows = []
    for seed in range(repeats):
        tasks, durations = random_dag(30, random.Random(seed))
        bound, critical, work = lower_bound(tasks, durations, 4)
        measured = run(tasks, durations, 4, AGENTS)
        rows.append((seed, critical, work, bound, measured["makespan"], measured["makespan"] / bound))
        print(f"seed {seed}: makespan {measured['makespan']:.2f} s, bound {bound:.2f} s, ratio {rows[-1][-1]:.3f}")
    noop_n = 20
    noop = [{"id": f"T{i}", "title": f"no-op {i}", "depends_on": []} for i in range(noop_n)]
    costs = []
    for _ in range(repeats):
        measured = run(noop, {t["id"]: 0.0 for t in noop}, 1, AGENTS[:1])
        costs.append(measured["stage"] / noop_n)
        print(f"no-op task: {costs[-1] * 1000:.0f} ms per task")
    write(rows, costs, args.quick)


def write(rows, costs, quick: bool) -> None:
    worst = max(r[-1] for r in rows)
    lines = [START, "## Task stages (benchmarks/tasks.py)", "",
             f"Measured {dt.date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} cores, Python "
             f"{platform.python_version()}, git in a temporary directory; `python benchmarks/tasks.py"
             f"{' --quick' if quick else ''}`; load average at the end {os.getloadavg()[0]:.1f} (other work on the "
             "machine lengthens every figure).", "",
             "Makespan of a random 30-task DAG (0.5–3 s per task, demo delays) at `--max-concurrency 4` on 4 agents, "
             "first task_started to last task_merged, against max(critical path, total work / 4):", "",
             "| seed | critical path (s) | total work (s) | lower bound (s) | makespan (s) | ratio |",
             "| --- | --- | --- | --- | --- | --- |"]
    lines += [f"| {s} | {c:.2f} | {w:.2f} | {b:.2f} | {m:.2f} | {r:.3f} |" for s, c, w, b, m, r in rows]
    lines += ["", f"Worst ratio {worst:.3f} (target ≤ {TARGET_RATIO}: {'met' if worst <= TARGET_RATIO else 'NOT met'}). "
              "The gap is teambot's own per-task cost (below) plus merges waiting for the one merge queue.", "",
              f"teambot's own cost per task, 20 no-op tasks one at a time (worktree add, demo agent, commit, merge "
              f"--no-ff, worktree remove, records): median {statistics.median(costs) * 1000:.0f} ms "
              f"(runs: {', '.join(f'{c * 1000:.0f}' for c in costs)} ms). Almost all of it is git processes "
              "(about a dozen per task).", END]
    text = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
    block = "\n".join(lines)
    if START in text and END in text:
        text = text[:text.index(START)] + block + text[text.index(END) + len(END):]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
