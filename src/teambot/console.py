"""What the user sees while a run goes: the only module that imports rich.

It learns about progress only from events. On a TTY a live table shows every stage with
status, agent and elapsed time, and the stages running at once side by side; otherwise
(CI, pipes) one timestamped line per event; `--quiet` keeps only the final summary.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime

from teambot.events import Event

_ICON = {"pending": "·", "running": "▶", "succeeded": "✔", "failed": "✘", "interrupted": "■", "skipped": "↷", "blocked": "⛔"}
_STYLE = {"running": "bold yellow", "succeeded": "green", "failed": "bold red", "interrupted": "magenta", "skipped": "dim",
          "blocked": "bold red"}


class PlainConsole:
    """Timestamped lines on stdout, for pipes and CI."""

    def __init__(self, quiet: bool = False) -> None:
        self.quiet = quiet

    def say(self, message: str) -> None:
        print(message, flush=True)

    def on_event(self, event: Event) -> None:
        if self.quiet:
            return
        line = describe(event)
        if line:
            stamp = datetime.fromtimestamp(event.ts).strftime("%H:%M:%S")
            print(f"[{stamp}] {line}", flush=True)

    def __enter__(self) -> PlainConsole:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _decision_line(type_: str, stage: str | None, d: dict) -> str:
    """A person's part (approvals.py): a stage waits, or someone decided."""
    comment = f": {d['comment']}" if d.get("comment") else ""
    return {
        "stage_awaiting_approval": f"{stage} done; WAITING for approval (teambot approve / reject {stage})",
        "stage_awaiting_review": f"{stage}: iteration {d.get('iteration')} WAITING for a human review (teambot review {stage})",
        "stage_approved": f"{stage} approved by {d.get('by')}{comment}",
        "stage_rejected": f"{stage} rejected by {d.get('by')}{comment}; it runs again",
        "review_given": f"{stage}: {d.get('verdict')} by {d.get('by')} (iteration {d.get('iteration')}){comment}",
    }[type_]


def describe(event: Event) -> str | None:
    d = event.details
    match event.type:
        case "run_started" | "run_resumed":
            verb = "started" if event.type == "run_started" else "resumed"
            return f"run {d.get('feature')} {verb} (runtime {d.get('runtime')}, max concurrency {d.get('max_concurrency')})"
        case "stage_started":
            return f"{event.stage} started ({d.get('agent') or 'no agent'}, attempt {d.get('attempt')})"
        case "stage_succeeded":
            return f"{event.stage} succeeded"
        case "stage_failed":
            return f"{event.stage} FAILED: {d.get('error')}"
        case "stage_retrying":
            return f"{event.stage} failed ({d.get('error')}); retrying in {d.get('wait_seconds')} s"
        case "stage_interrupted":
            return f"{event.stage} interrupted ({d.get('reason')})"
        case "stage_skipped":
            return f"{event.stage} skipped ({d.get('reason')})"
        case "stage_reset":
            return f"{event.stage} will run again ({d.get('reason')})"
        case "stage_kept":
            return f"{event.stage} kept without running: {d.get('reason')}"
        case "upstream_artifact_missing":
            return (f"{event.stage}: upstream artifact {d.get('artifact')} is missing (deleted after its stage "
                    "succeeded); its prompt says it is not produced")
        case "parallel_group_started":
            return f"parallel group {d.get('group')} started: {' ∥ '.join(d.get('stages', []))}"
        case "parallel_group_completed":
            return f"parallel group {d.get('group')} completed"
        case "agent_attempt_failed" | "agent_waiting":
            return f"{event.stage}: {_agent_retry(event.type, d)}"
        case "stage_blocked":
            return f"{event.stage} BLOCKED: {d.get('reason')}"
        case "stage_awaiting_approval" | "stage_awaiting_review" | "stage_approved" | "stage_rejected" | "review_given":
            return _decision_line(event.type, event.stage, d)
        case "iteration_started":
            return f"{event.stage}: iteration {d.get('iteration')} ({d.get('of_budget')} of {d.get('budget')})"
        case "step_completed":
            verdict = f": {d['verdict']}" if d.get("verdict") else ""
            return f"{event.stage}: {d.get('step')} step of iteration {d.get('iteration')} done ({d.get('agent')}){verdict}"
        case "acceptance_tests_started":
            return f"{event.stage}: running the acceptance tests: {d.get('command')}"
        case "acceptance_tests_completed":
            outcome = "PASSED" if d.get("passed") else "FAILED"
            return f"{event.stage}: acceptance tests {outcome} in iteration {d.get('iteration')}: {d.get('summary')}"
        case "task_started" | "task_merged" | "task_failed" | "task_conflict" | "task_interrupted" | "task_retrying":
            return f"{event.stage}/{d.get('task')} {_task_line(event.type, d)}"
        case "notification_failed":  # a delivery that worked is only recorded
            return f"notification {d.get('event')} to {d.get('target')} failed: {d.get('error')}"
    return None


def _task_line(type: str, d: dict) -> str:
    """What happened to one task of a task stage (its events carry the task id)."""
    match type:
        case "task_started":
            return f"started ({d.get('agent')}, attempt {d.get('attempt')})"
        case "task_merged":
            return f"merged ({str(d.get('merge_commit') or '')[:12]}{', after a crash' if d.get('recovered') else ''})"
        case "task_failed":
            return f"FAILED: {d.get('error')}"
        case "task_conflict":
            return f"merge conflict in {', '.join(d.get('files') or [])} (round {d.get('round')})"
        case "task_retrying":
            return f"failed ({d.get('error')}); trying again"
    return f"interrupted ({d.get('reason') or 'stopped'})"


_FAILED = {"rate_limited": "was rate limited", "server_error": "had a server error", "timeout": "timed out",
           "connection": "could not connect", "malformed": "sent a malformed reply", "incomplete": "cut the reply short"}


def _agent_retry(type: str, d: dict) -> str:
    """One readable line for an HTTP runtime's failed attempt or wait (events carry the numbers)."""
    who = d.get("runtime") or "the agent"
    what = f"returned {d['status']}" if d.get("status") else _FAILED.get(d.get("reason") or "", "failed")
    if type == "agent_waiting":
        seconds = float(d.get("seconds") or 0)
        of = f" of {d['attempts']}" if d.get("attempts") else ""
        shown = f"{seconds:.1f}" if seconds >= 1 else f"{seconds:.2g}"  # 2.0 s, 0.3 s, 0.012 s
        return f"{who} {what}, retrying in {shown} s (attempt {d.get('next_attempt')}{of})"
    then = "will retry" if d.get("will_retry") else "giving up"
    return f"{who} attempt {d.get('attempt')} of {d.get('attempts')} failed: {d.get('error')} ({then})"


_LOOP_EVENTS = ("iteration_started", "step_completed", "acceptance_tests_started", "acceptance_tests_completed")


def _loop_state(event: Event) -> str:
    """`2 (2/4): review done, changes_requested`: where a looping stage is, for the live table."""
    d = event.details
    number = d.get("iteration")
    match event.type:
        case "iteration_started":
            return f"{number} ({d.get('of_budget')}/{d.get('budget')}): started"
        case "step_completed":
            verdict = f", {d['verdict']}" if d.get("verdict") else ""
            return f"{number}: {d.get('step')} done{verdict}"
        case "acceptance_tests_started":
            return f"{number}: running the tests"
    return f"{number}: tests {'passed' if d.get('passed') else 'failed'}"


class LiveConsole:
    """A rich live table, refreshed from events and a clock."""

    def __init__(self, order: list[str], agents: dict[str, str | None], groups: dict[str, str | None], statuses: dict[str, str]) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = Console(stderr=False)
        self.order = order
        self.agents = agents
        self.groups = groups
        self.status = dict(statuses)
        self.started: dict[str, float] = {}
        self.ended: dict[str, float] = {}
        self.loops: dict[str, str] = {}  # a review / acceptance stage's iteration and step
        self.tasks: dict[str, dict[str, tuple[str, float]]] = {}  # task stage -> running task -> (agent, since)
        self.notes: list[str] = []
        self.live = Live(self, console=self.console, refresh_per_second=4, transient=False)

    def __enter__(self) -> LiveConsole:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)

    def say(self, message: str) -> None:
        self.console.print(message)

    def on_event(self, event: Event) -> None:
        name = event.stage
        now = time.monotonic()
        if event.type == "stage_started" and name:
            self.status[name] = "running"
            self.started[name] = now
            self.ended.pop(name, None)
        elif event.type in ("stage_succeeded", "stage_failed", "stage_interrupted", "stage_blocked", "stage_skipped") and name:
            self.status[name] = event.type.removeprefix("stage_")
            self.ended[name] = now
        elif event.type == "stage_retrying" and name:
            self.status[name] = "pending"
        elif event.type == "stage_kept" and name:
            self.status[name] = "succeeded"
        elif event.type in ("stage_awaiting_approval", "stage_awaiting_review") and name:
            self.status[name] = event.type.removeprefix("stage_")
        if name and event.type in _LOOP_EVENTS:
            self.loops[name] = _loop_state(event)
        if name and event.type.startswith("task_"):
            running = self.tasks.setdefault(name, {})
            task = str(event.details.get("task"))
            if event.type == "task_started":
                running[task] = (str(event.details.get("agent") or ""), now)
            elif event.type in ("task_merged", "task_failed", "task_interrupted"):
                running.pop(task, None)
        line = describe(event)
        if line and event.type in ("stage_failed", "stage_retrying", "run_started", "run_resumed", "stage_blocked",
                                   "step_completed", "acceptance_tests_completed", "task_started", "task_merged",
                                   "task_failed", "task_conflict", "upstream_artifact_missing",
                                   "stage_awaiting_approval", "stage_awaiting_review", "stage_approved", "stage_rejected"):
            self.notes = (self.notes + [line])[-4:]

    def __rich__(self):
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        table = Table(box=None, pad_edge=False, expand=False)
        for column in ("", "stage", "group", "agent", "status", "time", "iteration"):
            table.add_column(column)
        now = time.monotonic()
        for name in self.order:
            status = self.status.get(name, "pending")
            took = ""
            if name in self.started:
                took = f"{self.ended.get(name, now) - self.started[name]:.1f}s"
            table.add_row(_ICON.get(status, "?"), name, self.groups.get(name) or "", self.agents.get(name) or "",
                          Text(status, style=_STYLE.get(status, "")), took, self.loops.get(name, ""))
            for task, (agent, since) in sorted(self.tasks.get(name, {}).items()) if status == "running" else ():
                table.add_row(_ICON["running"], f"  {task}", "", agent, Text("running", style=_STYLE.get("running", "")),
                              f"{now - since:.1f}s", "")
        running = [n for n in self.order if self.status.get(n) == "running"]
        running = [f"{n} ({', '.join(sorted(self.tasks[n]))})" if self.tasks.get(n) else n for n in running]
        parts = [table, Text("running now: " + ("  ∥  ".join(running) if running else "-"), style="bold")]
        parts += [Text(note, style="dim") for note in self.notes]
        return Group(*parts)


def make_console(*, quiet: bool, order, agents, groups, statuses):
    if not quiet and sys.stdout.isatty():
        return LiveConsole(list(order), dict(agents), dict(groups), {k: str(v) for k, v in statuses.items()})
    return PlainConsole(quiet=quiet)
