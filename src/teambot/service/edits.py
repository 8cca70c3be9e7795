"""Edits of a stopped run under its lock: `rerun` a stage (and downstream), `unblock` a blocked one.

The bodies of `teambot rerun` and `teambot unblock`, moved here so the HTTP API does exactly
what the CLI does. `say` receives the lines the CLI prints as they happen (what a dead owner
left behind); the result carries everything else the CLI reports.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Callable, Iterator
from pathlib import Path

from teambot.errors import DiskFullError, RunNotFoundError, StageNotFoundError, UsageError
from teambot.paths import RunPaths
from teambot.service.results import RerunResult, UnblockResult

Say = Callable[[str], None]
_AGAIN = "run the same command again"  # a full disk: this command's own work is what must be redone


def _quiet(_: str) -> None:
    pass


@contextlib.contextmanager
def locked(paths: RunPaths, *, disk_full_then: str | None = None) -> Iterator[tuple]:
    """(store, state) of an existing run, its lock held until the block ends (LockedError if taken)."""
    from teambot.store.file import FileStateStore

    try:
        store = FileStateStore(paths)  # takes the lock and records the owner: a write too
        try:
            state = store.load()
            if state is None:
                from teambot.store.layout import no_state_error

                # events left without state: a damaged run, never "no run" (teambot doctor tells what remains)
                raise no_state_error(paths) or RunNotFoundError(f"no run named '{paths.feature}' in {paths.workspace}")
            yield store, state
        finally:
            store.close()
    except DiskFullError as exc:
        if disk_full_then is None:
            raise
        raise DiskFullError(exc.path, exc.reason, then=disk_full_then) from None


def _known_run(paths: RunPaths) -> None:
    """RunNotFoundError before the lock is taken: taking it creates the run directory."""
    from teambot.service.files import has_run

    if not has_run(paths):
        raise RunNotFoundError(f"no run named '{paths.feature}' in {paths.workspace}")


def rerun_stage(workspace: Path, feature: str, stage: str, *, project_dir: Path | None = None,
                say: Say = _quiet) -> RerunResult:
    """Mark `stage` and everything downstream pending (a skipped stage downstream stays skipped)."""
    from teambot.config import load_workflow
    from teambot.events import EventLog
    from teambot.lifecycle import StageStatus
    from teambot.records import RunRecords
    from teambot.session import recover_dead_owner, reset_stages
    from teambot.store.models import RunStatus

    paths = RunPaths(workspace, feature)
    _known_run(paths)
    with locked(paths, disk_full_then=_AGAIN) as (store, state):
        workflow = load_workflow(Path(state.run.stages_path), project_dir=project_dir or Path.cwd(), check_templates=False)
        if stage not in workflow.graph.deps:
            close = difflib.get_close_matches(stage, workflow.graph.order, n=1)
            hint = f"did you mean {close[0]}?" if close else f"stages: {', '.join(workflow.graph.order)}"
            raise StageNotFoundError(f"no stage named '{stage}' in {workflow.path}", hint=hint)
        affected = workflow.graph.downstream([stage])
        # a skipped stage downstream stays skipped; rerun of the skipped stage itself makes it pending
        targets = [n for n in workflow.graph.order if n in affected and n in state.stages
                   and (n == stage or state.stages[n].status != StageStatus.SKIPPED)]
        events = EventLog(paths.events)
        try:
            # we hold the lock, so stages still `running` belong to a dead process: end their agents first
            records = RunRecords.persisted(store, state)
            recover_dead_owner(records, events, say, paths.root)
            changed = reset_stages(records, targets, events, f"teambot rerun {stage}", fresh_budget=True)
            for name in targets:  # asked for: runs even if an interrupted `resume --rerun-stale` left it to be checked
                if records[name].run_if_changed:
                    records.update(name, run_if_changed=False)
        finally:
            events.close()
        if state.run.status in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.BLOCKED) and changed:
            state.run.status = RunStatus.INTERRUPTED
        state.run.owner = None
        records.save_run()
        return RerunResult(feature=feature, stage=stage, targets=targets, changed=bool(changed))


def unblock_stage(workspace: Path, feature: str, stage: str, *, iterations: int | None = None,
                  say: Say = _quiet) -> UnblockResult:
    """Give a stage blocked by its iteration budget a fresh budget; its history is kept."""
    from teambot.events import EventLog
    from teambot.lifecycle import StageStatus
    from teambot.records import RunRecords
    from teambot.session import recover_dead_owner, reset_stages
    from teambot.store.models import RunStatus

    paths = RunPaths(workspace, feature)
    _known_run(paths)
    with locked(paths, disk_full_then=_AGAIN) as (store, state):
        record = state.stages.get(stage)
        if record is None:
            raise StageNotFoundError(f"no stage named '{stage}' in run '{feature}'", hint=f"stages: {', '.join(state.stages)}")
        if record.status != StageStatus.BLOCKED:
            raise UsageError(f"stage {stage} is {record.status.value}, not blocked; nothing to unblock")
        if record.blocked_by == "acceptance_gate":
            raise UsageError(f"stage {stage} is blocked by the acceptance gate, not by its iteration budget",
                             hint="make the acceptance tests pass (unblock or rerun the acceptance stage), then resume")
        if record.blocked_by == "budget":
            raise UsageError(f"stage {stage} is blocked by a spending budget, not by its iteration budget",
                             hint=f"raise it: `teambot resume {feature} --max-cost N` (the run's) or the stage's "
                                  "budget in the stages file, then resume")
        events = EventLog(paths.events)
        try:
            records = RunRecords.persisted(store, state)
            recover_dead_owner(records, events, say, paths.root)
            reset_stages(records, [stage], events, f"teambot unblock {stage}", fresh_budget=True, budget=iterations)
        finally:
            events.close()
        if state.run.status == RunStatus.BLOCKED:
            state.run.status = RunStatus.INTERRUPTED
        state.run.owner = None
        records.save_run()
        return UnblockResult(feature=feature, stage=stage, iterations=iterations, kept=len(state.stages[stage].iterations))
