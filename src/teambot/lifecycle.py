"""Each stage's lifecycle as a `transitions` state machine.

One plain synchronous Machine serves every stage (add_model per stage). auto_transitions
is off, so there is no `to_<state>()` escape hatch: an illegal move raises MachineError,
which is a bug, never a silent state edit. The agent call lives in the executor, not in
a callback.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from functools import lru_cache

from transitions import Machine, MachineError

__all__ = ["AWAITING", "FINISHED", "Lifecycles", "MachineError", "StageLifecycle", "StageStatus"]

# transitions logs every callback at INFO, and with model_override a WARNING per skipped
# convenience method (is_<state>, may_<trigger>) for every stage: noise, and measurable cost.
logging.getLogger("transitions").setLevel(logging.ERROR)


class StageStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"
    # Cannot go on without a person: out of review/acceptance iterations, or a gate refused it.
    BLOCKED = "blocked"
    # Waiting for a person's decision (approvals.py): its work is done and kept, nothing runs.
    AWAITING_APPROVAL = "awaiting_approval"  # `approval: required`: `teambot approve` / `reject`
    AWAITING_REVIEW = "awaiting_review"  # `review_agent: human`: `teambot review --approve / --request-changes`


# A finished stage: its dependents may start, resume leaves it alone.
FINISHED = frozenset({StageStatus.SUCCEEDED, StageStatus.SKIPPED})
# Waiting for a person: not finished (its dependents wait), not to be rerun by resume.
AWAITING = frozenset({StageStatus.AWAITING_APPROVAL, StageStatus.AWAITING_REVIEW})

S = StageStatus
_TRANSITIONS = [
    {"trigger": "start", "source": S.PENDING, "dest": S.RUNNING},
    {"trigger": "succeed", "source": S.RUNNING, "dest": S.SUCCEEDED},
    {"trigger": "fail", "source": S.RUNNING, "dest": S.FAILED},
    {"trigger": "interrupt", "source": S.RUNNING, "dest": S.INTERRUPTED},
    {"trigger": "skip", "source": S.PENDING, "dest": S.SKIPPED},
    # a gate refuses to start it (pending), or its iterations ran out (running)
    {"trigger": "block", "source": [S.PENDING, S.RUNNING], "dest": S.BLOCKED},
    # another attempt within the same run, while retries remain
    {"trigger": "retry", "source": S.FAILED, "dest": S.PENDING},
    # a person decides (approvals.py): the work waits, then is approved (done) or rejected (runs again)
    {"trigger": "await_approval", "source": S.RUNNING, "dest": S.AWAITING_APPROVAL},
    {"trigger": "approve", "source": S.AWAITING_APPROVAL, "dest": S.SUCCEEDED},
    {"trigger": "reject", "source": S.AWAITING_APPROVAL, "dest": S.PENDING},
    # a human reviewer's verdict is recorded in the iteration; the loop continues from it
    {"trigger": "await_review", "source": S.RUNNING, "dest": S.AWAITING_REVIEW},
    {"trigger": "reviewed", "source": S.AWAITING_REVIEW, "dest": S.PENDING},
    # resume (unfinished stages) and rerun / --rerun-stale (finished or waiting ones)
    {"trigger": "reset", "source": [S.RUNNING, S.FAILED, S.INTERRUPTED, S.BLOCKED, S.SUCCEEDED, S.SKIPPED,
                                    S.AWAITING_APPROVAL, S.AWAITING_REVIEW], "dest": S.PENDING},
]


# Released lifecycles stay models of the shared machine and are handed out again: attaching a new
# model costs ~80 µs (transitions binds every trigger to it), setting a reused one's state ~1 µs.
_FREE: list[StageLifecycle] = []
_FREE_MAX = 64


class StageLifecycle:
    """The lifecycle of one stage. Trigger methods are attached by the shared machine.

    `release()` when done with it: it may then serve another stage (do not use it afterwards).
    """

    state: StageStatus

    def __new__(cls, name: str, status: StageStatus = StageStatus.PENDING) -> StageLifecycle:
        try:
            return _FREE.pop()  # atomic: two threads never get the same one
        except IndexError:
            return super().__new__(cls)

    def __init__(self, name: str, status: StageStatus = StageStatus.PENDING) -> None:
        self.name = name
        if getattr(self, "_attached", False):
            _machine().set_state(StageStatus(status), model=self)
        else:
            _machine().add_model(self, initial=StageStatus(status))
            self._attached = True
        self._released = False

    @property
    def status(self) -> StageStatus:
        return self.state

    # Stubs so type checkers know the triggers; model_override=True replaces them.
    def start(self) -> bool: ...
    def succeed(self) -> bool: ...
    def fail(self) -> bool: ...
    def interrupt(self) -> bool: ...
    def skip(self) -> bool: ...
    def block(self) -> bool: ...
    def retry(self) -> bool: ...
    def reset(self) -> bool: ...
    def await_approval(self) -> bool: ...
    def approve(self) -> bool: ...
    def reject(self) -> bool: ...
    def await_review(self) -> bool: ...
    def reviewed(self) -> bool: ...

    def release(self) -> None:
        """Done with it: kept for reuse by another stage, or detached from the shared machine
        (long-lived processes build many lifecycles). Releasing twice does nothing."""
        if self._released:
            return
        self._released = True
        if len(_FREE) < _FREE_MAX:
            _FREE.append(self)
        else:
            _machine().remove_model(self)
            self._attached = False


class Lifecycles(dict):
    """Stage name -> its StageLifecycle, built from the stage's record on first use (`records`: a
    mapping of stage name to a record with a `status`); `drop` releases one once its record says
    where it stands."""

    def __init__(self, records) -> None:
        super().__init__()
        self.records = records

    def __missing__(self, name: str) -> StageLifecycle:
        lifecycle = self[name] = StageLifecycle(name, self.records[name].status)
        return lifecycle

    def drop(self, name: str) -> None:
        lifecycle = self.pop(name, None)
        if lifecycle is not None:
            lifecycle.release()


@lru_cache(maxsize=1)
def _machine() -> Machine:
    return Machine(
        model=None,
        states=StageStatus,
        transitions=_TRANSITIONS,
        initial=StageStatus.PENDING,
        auto_transitions=False,
        model_override=True,
        send_event=False,
    )
