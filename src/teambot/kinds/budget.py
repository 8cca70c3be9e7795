"""The iteration history of a stage and its current budget (shared by review and acceptance loops).

`record.iterations` is append-only across resumes, reruns and `teambot unblock`; a budget
is the slice from `record.budget_start`, so a fresh budget never renumbers or forgets
earlier iterations.
"""

from __future__ import annotations

from teambot.kinds.context import StageWork
from teambot.store.models import Iteration, StageRecord, now_iso


def budget_of(record: StageRecord, configured: int) -> int:
    return record.budget or configured


def used(record: StageRecord) -> int:
    return len(record.iterations) - record.budget_start


def current(record: StageRecord) -> Iteration | None:
    """The newest iteration of the current budget, or None before its first one."""
    return record.iterations[-1] if used(record) > 0 else None


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
    work.commit(iterations=[*record.iterations[:-1], changed])
    return changed


def excerpt(text: str, cap: int = 2000) -> str:
    text = text.strip()
    return text if len(text) <= cap else text[:cap] + f" [... {len(text) - cap} more characters]"
