"""The loop shared by review and acceptance stages: its driver, the iteration history, the budget.

`record.iterations` is append-only across resumes, reruns and `teambot unblock`; a budget
is the slice from `record.budget_start`, so a fresh budget never renumbers or forgets
earlier iterations.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from teambot.errors import StageBlocked
from teambot.fsutil import atomic_write
from teambot.kinds.context import StageWork
from teambot.store.models import Iteration, StageRecord, now_iso

Step = tuple[Callable[[Iteration], bool], Callable[[Iteration], Awaitable[Iteration]]]


async def iterate(work: StageWork, budget: int, *, ended: Callable[[Iteration], bool],
                  succeeded: Callable[[Iteration], bool], steps: Sequence[Step],
                  finish: Callable[[Iteration], str], blocked: Callable[[], StageBlocked]) -> str:
    """Run iterations until one succeeds: each pass does the first step (missing, run) the newest
    iteration still misses, so a resumed or retried attempt continues exactly where it stopped."""
    while True:
        it = current(work.record)
        if it is None or ended(it):
            if it is not None and succeeded(it):
                return finish(it)
            if used(work.record) >= budget:
                raise blocked()
            it = begin(work, budget)
        for missing, run in steps:
            if missing(it):
                it = await run(it)


def spent_budget(work: StageWork, kind) -> StageBlocked | None:
    """Why a review / acceptance stage is blocked before it starts (its newest iteration ended
    without success and its budget is used up), or None when it has work to do.

    `kind` is the stage kind (ReviewKind or AcceptanceKind): its ended, succeeded,
    configured_budget and blocked_report.
    """
    budget = budget_of(work.record, kind.configured_budget(work))
    it = current(work.record)
    if it is None or not kind.ended(it) or kind.succeeded(it) or used(work.record) < budget:
        return None
    return kind.blocked_report(work, budget)


def report_blocked(path: Path, text: str, message: str, *, kind: str, link: str = "see",
                   redact: Callable[[str], str] = str) -> StageBlocked:
    """Write the "why blocked" report and return the StageBlocked naming it. Best effort: a
    report that cannot be written is said in the message, the stage is still blocked."""
    try:
        atomic_write(path, redact(text), durable=False)
    except OSError as exc:
        return StageBlocked(f"{message} (the report {path} could not be written: {exc.strerror or exc})", kind=kind)
    return StageBlocked(f"{message}; {link} {path}", kind=kind, report=str(path))


def budget_of(record: StageRecord, configured: int) -> int:
    return record.budget or configured


def used(record: StageRecord) -> int:
    return len(record.iterations) - record.budget_start


def current(record: StageRecord) -> Iteration | None:
    """The newest iteration of the current budget, or None before its first one."""
    return record.iterations[-1] if used(record) > 0 else None


def position(record: StageRecord, iteration: Iteration) -> int:
    """1 for the first iteration of the current budget, 2 for the next, ..."""
    return iteration.number - record.budget_start


def previous(record: StageRecord, iteration: Iteration) -> Iteration | None:
    """The iteration before `iteration` in the whole history (across budgets)."""
    index = iteration.number - 2
    return record.iterations[index] if 0 <= index < len(record.iterations) else None


def begin(work: StageWork, budget: int) -> Iteration:
    """Start and commit the next iteration."""
    record = work.record
    iteration = Iteration(number=len(record.iterations) + 1, started_at=now_iso())
    work.commit(iterations=[*record.iterations, iteration])
    work.emit("iteration_started", iteration=iteration.number, budget=budget, of_budget=used(work.record))
    return iteration


def update(work: StageWork, iteration: Iteration, /, **changes) -> Iteration:
    """Commit new fields of the newest iteration (one step done)."""
    record = work.record
    assert record.iterations and record.iterations[-1].number == iteration.number
    changed = iteration.model_copy(update=changes)
    work.commit(iterations=[*record.iterations[:-1], changed], usage=work.usage)
    return changed


def excerpt(text: str, cap: int = 2000) -> str:
    text = text.strip()
    return text if len(text) <= cap else text[:cap] + f" [... {len(text) - cap} more characters]"


async def call_work_agent(work: StageWork, it: Iteration, budget: int, *, kind: str, feedback: str | None,
                          title: str | None):
    """The work step's agent call: the stage prompt plus what the previous iteration ended with
    (and, when it has feedback, the agent's own files and last report, which it is revising)."""
    from teambot.approvals import loop_rejection
    from teambot.prompts.loops import render_work_prompt

    stage = work.stage
    prev = previous(work.record, it)
    if feedback is None and (rejected := loop_rejection(work.record, prev)) is not None:
        feedback, title = rejected  # a person rejected the approved result: this iteration answers it
    own = [p for p in (work.paths.artifact(a) for a in stage.artifacts) if p.is_file()] if feedback else []
    prompt = render_work_prompt(work.name, stage, work.objective, work.upstream, work.project_dir,
                                persona=work.persona(stage.work_agent), iteration=it.number,
                                position=position(work.record, it), budget=budget, feedback=feedback, feedback_title=title,
                                own_files=own, previous_output=work.read(prev.work) if feedback and prev else None,
                                paths=work.paths, workdir=work.workdir)
    return await work.call(stage.work_agent, prompt, kind=kind, step="work", iteration=it.number,
                           artifacts=tuple(stage.artifacts))

