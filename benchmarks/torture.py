"""Torture checks for teambot (issue 9, "Keep measuring"): rerun them to keep them passing.

1. crash torture: the default workflow (`teambot init`, demo runtime, a small random
   TEAMBOT_DEMO_DELAY, --max-concurrency 3), kill -9 at random moments during `run` and
   `resume`, then resume until completed; no stage seen succeeded starts again, no committed
   review step runs again, artifacts and step files match their recorded hashes, no process
   of the run is left;
2. racing starts: K `teambot run` of one feature at once: one winner, every loser exits 3
   naming the winner's pid;
3. readers during writes: M `teambot status --json` loops during a long generated run never
   see a bad read (non-zero exit, unparsable JSON, a missing stage);
4. SIGTERM and double SIGINT: exit 130, no traceback, the running stages interrupted, no
   process left.

Run from the repo root with teambot installed (standard library + psutil):

    python benchmarks/torture.py                 # the full set, several minutes
    python benchmarks/torture.py --quick         # a smoke run, about a minute
    python benchmarks/torture.py --trials 40     # 40 crash trials (others scale with it)

Prints a summary and, unless --no-write, writes it to docs/torture.md. Each failure names
its seed: `--only KIND --seed SEED --trials 1` repeats that trial's random choices.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from torture_concurrency import race_trial, readers_trial, signal_trial  # noqa: E402
from torture_trials import Result, crash_trial, make_template  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO / "docs" / "torture.md"
KINDS = ("crash", "race", "readers", "signal")


def plan(args: argparse.Namespace) -> dict[str, int]:
    """How many trials of each kind: --trials sets the crash trials, the others follow it."""
    crash = args.trials if args.trials is not None else (3 if args.quick else 20)
    return {"crash": crash, "race": max(1, crash // 2), "readers": 1 if args.quick else 2, "signal": max(2, crash // 2)}


def run_all(args: argparse.Namespace, root: Path) -> list[Result]:
    counts = plan(args)
    template = make_template(root)
    results: list[Result] = []
    for kind in args.only or KINDS:
        for i in range(counts[kind]):
            seed = args.seed + i
            if kind == "crash":
                res = crash_trial(seed, template, root)
            elif kind == "race":
                res = race_trial(seed, template, root, starters=args.starters)
            elif kind == "readers":
                res = readers_trial(seed, root, readers=args.readers, stages=args.stages)
            else:
                res = signal_trial(seed, template, root, "term" if i % 2 == 0 else "int2")
            results.append(res)
            print(f"{res.kind:12} seed {seed:>8}  {'ok  ' if res.ok else 'FAIL'}  {res.seconds:6.1f} s"
                  + "".join(f"\n    {p}" for p in res.problems), flush=True)
    return results


def summary(results: list[Result], args: argparse.Namespace) -> str:
    rows = ["| Check | Trials | Passed | Kills / signals | Details | Seconds |", "|---|---:|---:|---:|---|---:|"]
    groups: dict[str, list[Result]] = {}
    for res in results:
        groups.setdefault(res.kind.split("-")[0], []).append(res)
    for kind, group in groups.items():
        kills = sum(r.kills for r in group)
        rows.append(f"| {_TITLES[kind]} | {len(group)} | {sum(r.ok for r in group)} | {kills} | {_details(kind, group)} "
                    f"| {sum(r.seconds for r in group):.0f} |")
    failed = [r for r in results if not r.ok]
    lines = rows + ["", f"**{len(failed)} failed trial(s)** of {len(results)}."]
    if failed:
        lines += ["", "## Failures", ""]
        for res in failed:
            kind = res.kind.split("-")[0]
            lines.append(f"- {res.kind}, seed {res.seed} (rerun: `python benchmarks/torture.py --only {kind} "
                         f"--seed {res.seed} --trials 1 --no-write`):")
            lines += [f"  - {p}" for p in res.problems]
    return "\n".join(lines) + "\n"


_TITLES = {"crash": "crash torture (kill -9 in run and resume)", "race": "racing starts",
           "readers": "readers during writes", "signal": "SIGTERM / double SIGINT"}


def _details(kind: str, group: list[Result]) -> str:
    if kind == "crash":
        in_resume = sum(r.kills_in_resume for r in group)
        return f"{sum(r.kills for r in group) - in_resume} kills during run, {in_resume} during resume"
    if kind == "race":
        return f"{sum(r.notes['starts'] for r in group)} starts, {len(group)} races"
    if kind == "readers":
        reads = sum(r.notes["reads"] for r in group)
        during = sum(r.notes.get("reads_while_running", 0) for r in group)
        return f"{group[0].notes['readers']} readers × {group[0].notes['stages']}-stage run: {reads} reads ({during} while running)"
    term = sum(r.kind == "signal-term" for r in group)
    interrupted = sum(r.notes.get("interrupted", 0) for r in group)
    return f"{term} SIGTERM, {len(group) - term} double SIGINT; {interrupted} stages interrupted"


def report(body: str, args: argparse.Namespace, started: float, load_before: tuple[float, ...]) -> str:
    now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = "python benchmarks/torture.py" + ("" if len(sys.argv) < 2 else " " + shlex.join(sys.argv[1:]))
    load_after = os.getloadavg()
    counts = plan(args)
    return f"""# Torture checks

Generated by `benchmarks/torture.py` (see benchmarks/README.md); do not edit by hand, re-run
the script. These are the outside checks of issue 9 ("Keep measuring") that must keep passing.

## How these figures were made

- Date: {now}; wall time {time.monotonic() - started:.0f} s
- Command (from the repo root): `{command}` (base seed {args.seed})
- Machine: {os.cpu_count()} CPUs, {platform.system()} {platform.release()} {platform.machine()}; Python {platform.python_version()}; teambot revision {_revision()}
- Load average (1/5/15 min) before: {'/'.join(f'{x:.2f}' for x in load_before)}, after: {'/'.join(f'{x:.2f}' for x in load_after)}. The machine was shared with other work, so the counts are modest: {counts['crash']} crash trials, {counts['race']} races of {args.starters} starts, {counts['readers']} reader runs ({args.readers} readers, {args.stages} stages), {counts['signal']} signal trials.
- Crash trials: a copy of a `teambot init` project, demo runtime, `TEAMBOT_DEMO_DELAY` 5-60 ms plus 50-300 ms on two random stages, `--max-concurrency 3`; 1-4 `kill -9` per trial, each after a random number (0-14) of new events plus 0-60 ms, or at a random instant of start-up; after each kill `teambot status --json` must exit 0 with whole JSON; then `resume` until completed.

## Results

{body}"""


def _revision() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "unknown"
    return rev + (" (with uncommitted changes under src/)" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, help="crash trials (races and signal trials: half as many); default 20, 3 with --quick")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 3 crash trials, 1 race, 1 reader run, 2 signal trials")
    parser.add_argument("--only", action="append", choices=KINDS, help="run only this kind (repeatable)")
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100000, help="base seed; trial i uses seed + i")
    parser.add_argument("--starters", type=int, default=6, help="`teambot run` started at once per race (default 6)")
    parser.add_argument("--readers", type=int, default=8, help="concurrent status --json loops (default 8)")
    parser.add_argument("--stages", type=int, default=200, help="stages of the readers' run (default 200)")
    parser.add_argument("--no-write", action="store_true", help="print the report, do not write docs/torture.md")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir with every trial's project")
    args = parser.parse_args(argv)
    started, load_before = time.monotonic(), os.getloadavg()
    root = Path(tempfile.mkdtemp(prefix="teambot-torture-"))
    try:
        results = run_all(args, root)
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    body = summary(results, args)
    print("\n" + body)
    if not args.no_write:
        args.output.write_text(report(body, args, started, load_before), encoding="utf-8")
        print(f"wrote {args.output}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
