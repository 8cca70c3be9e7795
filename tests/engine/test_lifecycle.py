"""The stage lifecycle state machine."""

from __future__ import annotations

import pytest

from teambot.lifecycle import MachineError, StageLifecycle, StageStatus


def test_happy_path() -> None:
    """pending → running → succeeded."""
    lc = StageLifecycle("A")
    lc.start()
    lc.succeed()
    assert lc.status == StageStatus.SUCCEEDED


@pytest.mark.parametrize("status, trigger", [("succeeded", "start"), ("pending", "succeed"), ("failed", "interrupt"), ("pending", "reset")])
def test_illegal_moves_raise(status: str, trigger: str) -> None:
    """An invalid transition raises MachineError instead of editing the status."""
    lc = StageLifecycle("A", StageStatus(status))
    with pytest.raises(MachineError):
        getattr(lc, trigger)()
    assert lc.status == StageStatus(status)


def test_no_auto_transitions() -> None:
    """There is no to_<state>() escape hatch."""
    assert not hasattr(StageLifecycle("A"), "to_succeeded")


def test_reset_and_retry() -> None:
    """Unfinished and finished stages can be reset; a failed one can be retried."""
    for status in ("running", "failed", "interrupted", "succeeded", "skipped"):
        lc = StageLifecycle("A", StageStatus(status))
        lc.reset()
        assert lc.status == StageStatus.PENDING
    lc = StageLifecycle("B", StageStatus.FAILED)
    lc.retry()
    assert lc.status == StageStatus.PENDING


def test_a_released_lifecycle_serves_another_stage_from_its_own_status() -> None:
    """A released lifecycle is handed out again (no new model on the machine) starting from the status it is
    given, and the transition table still refuses an illegal move."""
    from teambot.lifecycle import _machine

    first = StageLifecycle("A", StageStatus.RUNNING)
    first.succeed()
    first.release()
    models = len(_machine().models)
    second = StageLifecycle("B", StageStatus.FAILED)
    assert second is first and second.name == "B" and second.status == StageStatus.FAILED
    assert len(_machine().models) == models
    second.retry()
    assert second.status == StageStatus.PENDING
    with pytest.raises(MachineError):
        second.succeed()  # pending -> succeeded is not a transition
    second.release()
    second.release()  # twice: still one entry in the pool
    assert StageLifecycle("C") is second and StageLifecycle("D") is not second
