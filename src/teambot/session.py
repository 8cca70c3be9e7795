"""One process driving one run: reconcile its records with stages.yaml, execute, finish.

`run` creates the state; `resume` loads it. Both then go through `drive`, which owns the
signal handling, the executor and the run's final status and summary. Nothing here calls the
store: changes go to the run's records (records.py), which persistence observes.
"""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from teambot.config.loader import Workflow
from teambot.costs import CostPolicy
from teambot.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, TeambotError
from teambot.events import EventLog
from teambot.executor import ExecutorOptions, Outcome, ParallelStageExecutor, StopReason
from teambot.kinds.context import LoopSettings
from teambot.lifecycle import StageLifecycle, StageStatus
from teambot.objective import Objective
from teambot.paths import RunPaths
from teambot.processes import end_groups, kill_all, kill_group, run_agents
from teambot.signals import HANGUP, drop_dead_terminal, interrupt_on_stop_signals, stop_signals
from teambot.stopping import StopToken
from teambot.records import RunRecords
from teambot.store.owner import make_owner
from teambot.store.models import RunStatus, StageRecord, now_iso



@dataclass(frozen=True)
class DriveOptions:
    runtime: str = "demo"
    max_concurrency: int = 3
    max_hours: float = 8.0
    on_failure: str = "stop"
    rerun_stale: bool = False
    durable: bool = True
    loops: LoopSettings = field(default_factory=LoopSettings)
    isolation: str = "worktree"  # teambot.yaml `isolation`: "worktree" in a git project, or "none"
    worktrees_dir: str | None = None  # teambot.yaml `worktrees_dir` (relative to the project), else <run>/worktrees
    budget: object | None = None  # teambot.yaml `budget` (config.models.Budget); the run record may raise it


def stale_stages(workflow: Workflow, stages: dict[str, StageRecord]) -> list[str]:
    """Succeeded stages whose definition changed since they ran."""
    return [
        name
        for name in workflow.graph.order
        if name in stages
        and stages[name].status == StageStatus.SUCCEEDED
        and stages[name].fingerprint is not None
        and stages[name].fingerprint != workflow.config.stages[name].fingerprint()
    ]


def _transition(records: RunRecords, name: str, trigger: str, **changes) -> None:
    """Move one recorded stage through its lifecycle (`trigger` raises if illegal) and record it."""
    lifecycle = StageLifecycle(name, records[name].status)
    getattr(lifecycle, trigger)()
    records.update(name, status=lifecycle.status, pgid=None, **changes)
    lifecycle.release()


def reset_stages(records: RunRecords, names, events: EventLog, reason: str, *, fresh_budget: bool = False,
                 budget: int | None = None) -> list[str]:
    """Move the given stages back to pending (lifecycle `reset`), committing each one.

    `fresh_budget` (rerun, --rerun-stale, unblock): review / acceptance stages start a new
    iteration budget (of `budget` iterations, else the configured number); their history is
    kept. Resume keeps the budget where it was.
    """
    done = []
    for name in names:
        record = records[name]
        previous = record.status
        fresh = {"budget_start": len(record.iterations), "budget": budget} if fresh_budget else {}
        if previous == StageStatus.PENDING:
            if fresh and (record.budget_start, record.budget) != (fresh["budget_start"], fresh["budget"]):
                records.update(name, **fresh)
            continue
        _transition(records, name, "reset", error=None, blocked_by=None, **fresh)
        events.emit("stage_reset", name, reason=reason, previous=previous.value)
        done.append(name)
    return done


def send_back(records: RunRecords, workflow: Workflow, roots, events: EventLog, reason: str, *,
              dependents_reason: str | None = None, fresh_budget: bool = False, check_roots: bool = True) -> list[str]:
    """Move `roots` and every stage that depends on them back to pending, in workflow order (a
    skipped stage stays skipped: it did no work that a change could undo); returns them.

    Each of them that succeeded with recorded inputs (a root only with `check_roots`) is marked
    `run_if_changed`: checked again just before it would start, once the stages it depends on
    have rerun, and kept without running when nothing it reads changed after all (early cutoff).
    """
    affected = workflow.graph.downstream(roots)
    targets = [n for n in workflow.graph.order if n in affected and n in records and records[n].status != StageStatus.SKIPPED]
    checked = [n for n in targets if (check_roots or n not in roots)
               and records[n].status == StageStatus.SUCCEEDED and records[n].inputs is not None]
    for name in targets:
        why = reason if name in roots or dependents_reason is None else dependents_reason
        reset_stages(records, [name], events, why, fresh_budget=fresh_budget)
    for name in checked:
        records.update(name, run_if_changed=True)
    return targets


def recover_dead_owner(records: RunRecords, events: EventLog, say, run_dir: Path) -> None:
    """End every agent an earlier process of this run left alive, then mark its `running` stages interrupted.

    The caller holds the run's lock, so no live teambot owns these agents. They are found by
    the TEAMBOT_RUN_DIR marker in their environment, not only by the recorded pgid: teambot
    may have died between spawning an agent and committing its group, and such an agent
    would otherwise write its artifacts over those of the stage's next attempt.
    """
    end_leftover_agents(run_dir, say, recorded={n: r.pgid for n, r in records.items()
                                               if r.status == StageStatus.RUNNING and r.pgid is not None})
    owner = records.run.owner
    for name, record in list(records.items()):
        if record.status != StageStatus.RUNNING:
            continue
        who = f"pid {owner.pid}" if owner else "an earlier process"
        _transition(records, name, "interrupt", error=f"interrupted: teambot ({who}) stopped while it ran")
        events.emit("stage_interrupted", name, reason="previous process died")
    for cid, child in list(records.children.items()):  # a task stage's tasks, the same way
        if child.status == StageStatus.RUNNING:
            who = f"pid {owner.pid}" if owner else "an earlier process"
            records.update_child(cid, status=StageStatus.INTERRUPTED, pgid=None,
                                 error=f"interrupted: teambot ({who}) stopped while it ran")
            events.emit("task_interrupted", child.stage, task=child.child, reason="previous process died")


def end_leftover_agents(run_dir: Path, say, recorded: dict[str, int] | None = None) -> None:
    """End the process groups of every agent of this run still alive (the caller holds the lock).

    `recorded` (stage -> pgid of a stage left running) only serves the message about a group id
    now used by a stranger, which is left alone.
    """
    left = run_agents(run_dir)
    for name, pgid in (recorded or {}).items():
        if pgid not in left and kill_group(pgid, 0):
            say(f"stage {name}: process group {pgid} is alive but is not this run's agent (id reused?); left alone")
    for pgid, stages in sorted(left.items()):
        which = ", ".join(sorted(s for s in stages if s)) or "unknown"
        say(f"stage {which}: agent process group {pgid} from the dead run is still alive; ending it")
    end_groups(left)  # SIGTERM, a short grace, SIGKILL; returns once every group is gone


def add_missing_stages(records: RunRecords, workflow: Workflow) -> list[str]:
    added = []
    for name in workflow.graph.order:
        if name not in records:
            records.put(StageRecord(name=name, agent=workflow.config.stages[name].work_agent))
            added.append(name)
    return added


def drive(
    *,
    records: RunRecords,
    workflow: Workflow,
    objective: Objective,
    paths: RunPaths,
    events: EventLog,
    project_dir: Path,
    options: DriveOptions,
    resumed: bool,
    say,
    runtime,
    personas=None,
    redact=str,
    inputs=None,
    stop: StopToken | None = None,
    signals: bool = True,
) -> int:
    """Run every unfinished stage with `runtime`; return the exit code. The caller holds the lock.

    `stop` stops the run from outside (any thread); with `signals` (the CLI) the process's stop
    signals request it too, and a second one ends the process at once.
    """
    run = records.run
    run.owner = make_owner()
    run.status = RunStatus.RUNNING
    run.error = None
    run.updated_at = now_iso()
    run.stages_path = str(workflow.path.resolve())  # absolute: status/resume may run from another directory
    run.stages_sha256 = workflow.sha256
    run.runtime = options.runtime
    if resumed:
        run.processes += 1
    records.save_run(new=not resumed)  # a new run's first snapshot
    events.emit("run_resumed" if resumed else "run_started", None, feature=paths.feature, pid=os.getpid(),
                runtime=options.runtime, max_concurrency=options.max_concurrency)
    if not resumed:  # a new run where a removed one was: its agents must not write into this one
        end_leftover_agents(paths.root, say)
    integration = _open_integration(records, events, paths, project_dir, options, say, resumed)

    budget = options.max_hours * 3600.0 - run.elapsed_seconds
    if budget <= 0:
        asyncio.run(runtime.aclose())
        return _finish_time_limit(records, events, options, say)

    executor = ParallelStageExecutor(
        workflow=workflow, records=records, events=events, runtime=runtime,
        paths=paths, objective=objective, project_dir=project_dir, personas=personas, redact=redact, inputs=inputs,
        integration=integration,
        options=ExecutorOptions(max_concurrency=options.max_concurrency, on_failure=options.on_failure,
                                time_budget=budget, durable=options.durable, loops=options.loops,
                                costs=CostPolicy(options.budget, run)),
    )
    outcome = asyncio.run(_execute(executor, runtime, stop or StopToken(), signals))
    run.elapsed_seconds = executor.elapsed()
    run.updated_at = now_iso()
    return _finish(records, events, outcome, options, say)


def _open_integration(records: RunRecords, events: EventLog, paths: RunPaths, project_dir: Path,
                      options: DriveOptions, say, resumed: bool):
    """The run's integration worktree in a git project (None: stages work in the project itself)."""
    from teambot.tasks.worktrees import git_project, open_integration

    run = records.run
    if options.isolation == "none":
        return None
    repo = git_project(project_dir)
    if repo is None:
        return None  # a task stage was refused before the run started (cli: check_task_stages)
    try:
        # a run keeps the folder it started with (teambot.yaml may change between resumes)
        worktrees = Path(run.worktrees) if run.worktrees else (
            (project_dir / options.worktrees_dir / paths.feature).resolve() if options.worktrees_dir else paths.root / "worktrees")
        integration = open_integration(repo, project_dir, worktrees, paths.feature, run.base_commit)
    except TeambotError as exc:
        _finish_fatal(records, events, exc)
    if not resumed and _user_changes(repo, paths.root.parent):
        say(f"warning: uncommitted changes in {repo.toplevel()} are not part of the run: it works on branch "
            f"{integration.branch}, started from your last commit")
    if (run.branch, run.base_commit, run.worktrees) != (integration.branch, integration.base, str(integration.worktrees)):
        run.branch, run.base_commit, run.worktrees = integration.branch, integration.base, str(integration.worktrees)
        records.save_run()
    return integration


def _user_changes(repo, workspace: Path) -> bool:
    """Uncommitted changes in the user's checkout, teambot's own workspace (the runs) left out."""
    top = repo.toplevel().resolve()
    inside = workspace.resolve()
    return any(not (top / path).resolve().is_relative_to(inside) for _, path in repo.status().entries)


async def _execute(executor: ParallelStageExecutor, runtime, stop: StopToken, signals: bool) -> Outcome:
    loop = asyncio.get_running_loop()
    signals_seen = 0
    stop.bind(loop, lambda: executor.request_stop(StopReason.INTERRUPTED))

    def on_signal(signum: int) -> None:
        nonlocal signals_seen
        drop_dead_terminal(signum)
        if signals_seen and signum == HANGUP:
            return  # a closing terminal may hang up twice (the kernel, then the shell): not a second Ctrl-C
        signals_seen += 1
        if signals_seen == 1:
            stop.request()
        else:
            # A second Ctrl-C stops at once. Every commit so far is atomic, and stages still
            # `running` on disk are recovered by the next resume like after a crash.
            kill_all(signal.SIGKILL)
            os._exit(EXIT_INTERRUPTED)

    # SIGHUP (the terminal closed), SIGQUIT and every other stop signal act like Ctrl-C.
    handled = stop_signals() if signals else ()
    for signum in handled:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        return await executor.run()
    finally:
        stop.unbind()
        for signum in handled:
            loop.remove_signal_handler(signum)
        if handled:
            interrupt_on_stop_signals()  # remove_signal_handler left them at their defaults (die at once)
        await runtime.aclose()


def _finish_fatal(records: RunRecords, events: EventLog, error: TeambotError) -> NoReturn:
    """Record the run failed if the disk still takes it, then raise `error` for the CLI to print
    (one line). Everything committed before stays as it was: `teambot resume` goes on from it."""
    run = records.run
    run.status = RunStatus.FAILED
    run.error = error.message
    try:
        records.save_run()
        events.emit("run_failed", None, error=error.message)
    except (TeambotError, OSError):
        pass
    raise error


def _finish_time_limit(records: RunRecords, events: EventLog, options: DriveOptions, say) -> int:
    run = records.run
    run.status = RunStatus.FAILED
    run.error = f"time limit of {options.max_hours:g} h reached ({run.elapsed_seconds / 3600:.2f} h used)"
    records.save_run()
    events.emit("run_failed", None, reason="time_limit", error=run.error)
    say(f"run failed: {run.error}")
    say(f"  to continue, allow more time: teambot resume {run.feature} --max-hours N")
    return EXIT_FAILED


def _finish(records: RunRecords, events: EventLog, outcome: Outcome, options: DriveOptions, say) -> int:
    run = records.run
    if outcome.fatal is not None:
        _finish_fatal(records, events, outcome.fatal)
    if outcome.stop is StopReason.TIME_LIMIT:
        return _finish_time_limit(records, events, options, say)
    if outcome.stop is StopReason.INTERRUPTED:
        run.status = RunStatus.INTERRUPTED
        records.save_run()
        events.emit("run_interrupted", None, pending=outcome.pending)
        say(f"run interrupted; finished stages are kept. Continue with: teambot resume {run.feature}")
        return EXIT_INTERRUPTED
    if outcome.blocked and not outcome.failed:
        run.status = RunStatus.BLOCKED
        run.error = "; ".join(f"{name}: {why}" for name, why in outcome.blocked.items())
        records.save_run()
        events.emit("run_blocked", None, blocked=outcome.blocked, pending=outcome.pending)
        say(f"run blocked: {len(outcome.blocked)} stage(s) need a person; finished work is kept")
        for name, why in outcome.blocked.items():
            say(f"  {name}: {why}")
            if outcome.blocked_by.get(name) == "acceptance_gate":
                say(f"    make the acceptance tests pass, then: teambot resume {run.feature}")
            elif outcome.blocked_by.get(name) == "budget":
                pass  # the reason says which budget and how to raise it
            else:
                say(f"    when you have looked at it: teambot unblock {name} {run.feature} (a fresh iteration budget), "
                    f"then teambot resume {run.feature}")
        return EXIT_FAILED
    if outcome.waiting and not outcome.failed and outcome.stop is StopReason.NONE:
        from teambot.approvals import finish_waiting

        return finish_waiting(records, events, outcome, say)
    if outcome.completed:
        run.status = RunStatus.COMPLETED
        records.save_run()
        events.emit("run_completed", None, elapsed_seconds=round(run.elapsed_seconds, 3))
        say(f"run completed: {run.feature} ({run.elapsed_seconds:.1f} s)")
        if run.branch:
            say(f"  the result is on branch {run.branch}; take it with: git merge {run.branch}")
        return EXIT_OK
    run.status = RunStatus.FAILED
    if outcome.failed:
        run.error = "; ".join(f"{name}: {error}" for name, error in {**outcome.failed, **outcome.blocked}.items())
    else:
        run.error = "stages could not start: " + ", ".join(outcome.pending)
    records.save_run()
    events.emit("run_failed", None, failed=outcome.failed, pending=outcome.pending)
    say(f"run failed: {len(outcome.failed)} stage(s) failed")
    for name, error in outcome.failed.items():
        say(f"  {name}: {error}")
    for name, why in outcome.blocked.items():
        say(f"  {name} (blocked): {why}")
    if outcome.pending:
        say(f"  not run: {', '.join(outcome.pending)}")
    say(f"  fix the cause, then: teambot resume {run.feature}")
    return EXIT_FAILED
