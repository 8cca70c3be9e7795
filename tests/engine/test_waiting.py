"""Waiting for a person in the lifecycle and the scheduler: the states, their moves, requeueing."""

from __future__ import annotations

import pytest

from teambot.config.models import StageConfig, StagesFile
from teambot.graph import build_graph
from teambot.lifecycle import AWAITING, FINISHED, MachineError, StageLifecycle, StageStatus
from teambot.scheduler import Scheduler


@pytest.mark.parametrize("wait, decide, end", [("await_approval", "approve", StageStatus.SUCCEEDED),
                                               ("await_approval", "reject", StageStatus.PENDING),
                                               ("await_review", "reviewed", StageStatus.PENDING)])
def test_a_running_stage_waits_then_a_decision_moves_it(wait: str, decide: str, end: StageStatus) -> None:
    """running → awaiting_* → succeeded (approved) or pending (rejected, reviewed: it runs again)."""
    lc = StageLifecycle("A")
    lc.start()
    getattr(lc, wait)()
    assert lc.status in AWAITING and lc.status not in FINISHED
    getattr(lc, decide)()
    assert lc.status == end
    lc.release()


@pytest.mark.parametrize("status, trigger", [("running", "approve"), ("awaiting_review", "approve"),
                                             ("awaiting_approval", "reviewed"), ("pending", "await_approval"),
                                             ("awaiting_approval", "start")])
def test_decisions_on_a_stage_not_waiting_for_them_raise(status: str, trigger: str) -> None:
    """An approval of a stage that is not awaiting approval (and the like) is a bug: MachineError."""
    lc = StageLifecycle("A", StageStatus(status))
    with pytest.raises(MachineError):
        getattr(lc, trigger)()
    lc.release()


def test_rerun_resets_a_waiting_stage() -> None:
    """`teambot rerun` may send a waiting stage back to pending."""
    for status in AWAITING:
        lc = StageLifecycle("A", status)
        lc.reset()
        assert lc.status == StageStatus.PENDING
        lc.release()


def test_a_requeued_stage_is_ready_again_and_a_waiting_one_holds_its_dependents() -> None:
    """A stage taken, then waiting, is not done (B waits); requeued it is taken again; finished, B is ready."""
    config = StagesFile(stages={"A": StageConfig(work_agent="a"), "B": StageConfig(work_agent="b")}, stage_order=["A", "B"])
    graph = build_graph(config)
    scheduler = Scheduler(graph, {"A": "a", "B": "b"}, {"A": StageStatus.PENDING, "B": StageStatus.PENDING})
    assert scheduler.take(3) == ["A"]
    scheduler.release("A")  # A now awaits a person
    assert scheduler.take(3) == []
    scheduler.requeue("A")  # rejected: it runs again
    assert scheduler.take(3) == ["A"]
    scheduler.finished("A")
    assert scheduler.take(3) == ["B"]
