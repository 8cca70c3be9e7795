"""Skipping optional stages: `teambot skip`, and `--skip` on `run` and `resume`.

A skipped stage counts as finished: its dependents run (without its artifacts), resume
leaves it alone, and only `teambot rerun STAGE` makes it pending again.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from teambot.config.loader import Workflow
from teambot.errors import UsageError
from teambot.events import EventLog
from teambot.lifecycle import StageLifecycle, StageStatus
from teambot.records import RunRecords
from teambot.store.models import RunState, now_iso


def check_skippable(workflow: Workflow, state: RunState | None, names: Iterable[str]) -> list[str]:
    """The stages to skip, in stage_order; raises UsageError (exit 2) before anything changes.

    Refused: a stage not in the workflow (with a did-you-mean), one without `optional: true`,
    and one that already succeeded (its work is kept). Failed, interrupted, blocked and
    pending stages may be skipped; a `running` one can only be met here when its process
    died (a live one holds the lock), and is recorded interrupted before it is skipped.
    """
    wanted = set()
    for name in names:
        if name not in workflow.graph.deps:
            close = difflib.get_close_matches(name, workflow.graph.order, n=1)
            hint = f"did you mean {close[0]}?" if close else f"stages: {', '.join(workflow.graph.order)}"
            raise UsageError(f"no stage named '{name}' in {workflow.path}", hint=hint)
        if not workflow.config.stages[name].optional:
            raise UsageError(f"stage {name} is not optional, so it cannot be skipped",
                             hint=f"only a stage with `optional: true` in {workflow.path} can be skipped")
        record = state.stages.get(name) if state is not None else None
        if record is not None and record.status == StageStatus.SUCCEEDED:
            raise UsageError(f"stage {name} already succeeded; its work is kept, so it cannot be skipped",
                             hint=f"to drop its result (and run its downstream again): teambot rerun {name}, "
                                  f"then teambot skip {name}")
        wanted.add(name)
    return [n for n in workflow.graph.order if n in wanted]


def skip_stages(records: RunRecords, names: Iterable[str], events: EventLog, reason: str) -> list[str]:
    """Record each stage `skipped` (lifecycle `skip`, after a `reset` if it had run) and emit `stage_skipped`.

    Returns the stages that changed; one already skipped is left as it is.
    """
    done = []
    for name in names:
        record = records[name]
        previous = record.status
        if previous == StageStatus.SKIPPED:
            continue
        lifecycle = StageLifecycle(name, previous)
        try:
            if previous != StageStatus.PENDING:
                lifecycle.reset()  # failed / interrupted / blocked: given up instead of tried again
            lifecycle.skip()
        finally:
            lifecycle.release()
        # started_at goes: the time shown for a skipped stage is when it was skipped
        records.update(name, status=lifecycle.status, started_at=None, finished_at=now_iso(), error=None,
                       blocked_by=None, pgid=None)
        events.emit("stage_skipped", name, reason=reason, previous=previous.value)
        done.append(name)
    return done
