"""The acceptance gate reads every acceptance stage's latest result, so timing cannot open it."""

from __future__ import annotations

from teambot.config.models import StageConfig
from teambot.kinds.acceptance import gate_problem
from teambot.store.models import AcceptanceResult, Iteration, StageRecord, StepRecord

STAGES = {
    "A": StageConfig(work_agent="builder-1", is_acceptance_test_stage=True),
    "A2": StageConfig(work_agent="builder-2", is_acceptance_test_stage=True),
    "G": StageConfig(work_agent="pm", requires_acceptance_tests_passed=True),
}


def record_with(name: str, *results: tuple[bool, str]) -> StageRecord:
    """A record whose iterations ended with these (passed, at) test results."""
    its = [Iteration(number=i, started_at=at, test=AcceptanceResult(
        passed=passed, exit_code=0 if passed else 1, summary="ok" if passed else "1 failed",
        output=StepRecord(file=f"iterations/{name}/{i:02d}-test.log", sha256="0" * 64, at=at)))
        for i, (passed, at) in enumerate(results, 1)]
    return StageRecord(name=name, iterations=its)


def test_no_result_yet_names_the_acceptance_stage():
    """Before any test ran the gate is closed and says which stage has to run."""
    why, fix = gate_problem({"A": StageRecord(name="A"), "A2": StageRecord(name="A2")}, STAGES)
    assert "no acceptance test result yet from A" in why and fix == "A"


def test_every_acceptance_stage_needs_a_result():
    """A passed and A2 has not tested yet (still running, say): closed until A2 has a result."""
    records = {"A": record_with("A", (True, "2026-01-01T00:00:05+00:00")), "A2": StageRecord(name="A2")}
    why, fix = gate_problem(records, STAGES)
    assert fix == "A2" and "from A2" in why


def test_a_pass_from_an_earlier_budget_does_not_count():
    """After a rerun (fresh budget) an old pass is history, not a result: closed until A tests again."""
    records = {"A": record_with("A", (True, "2026-01-01T00:00:01+00:00")),
               "A2": record_with("A2", (True, "2026-01-01T00:00:02+00:00"))}
    assert gate_problem(records, STAGES) is None
    records["A2"] = records["A2"].model_copy(update={"budget_start": 1})
    assert gate_problem(records, STAGES)[1] == "A2"


def test_a_later_pass_elsewhere_does_not_hide_a_failure():
    """A2 failed, then A passed later: still closed, and the stage to fix is A2."""
    records = {"A": record_with("A", (True, "2026-01-01T00:00:05+00:00")),
               "A2": record_with("A2", (False, "2026-01-01T00:00:01+00:00"))}
    why, fix = gate_problem(records, STAGES)
    assert fix == "A2" and "A2 (iteration 1) failed" in why


def test_each_stage_is_judged_by_its_latest_result():
    """A stage that failed, then passed, counts as passed; all passing opens the gate."""
    records = {"A": record_with("A", (False, "2026-01-01T00:00:01+00:00"), (True, "2026-01-01T00:00:02+00:00")),
               "A2": record_with("A2", (True, "2026-01-01T00:00:03+00:00"))}
    assert gate_problem(records, STAGES) is None
    records["A2"] = record_with("A2", (True, "2026-01-01T00:00:03+00:00"), (False, "2026-01-01T00:00:04+00:00"))
    assert gate_problem(records, STAGES)[1] == "A2"


def test_a_gated_acceptance_stage_does_not_wait_for_itself():
    """An acceptance stage with the gate checks the other acceptance stages only (it cannot test before it starts)."""
    stages = dict(STAGES, A2=StageConfig(work_agent="builder-2", is_acceptance_test_stage=True,
                                         requires_acceptance_tests_passed=True))
    records = {"A": record_with("A", (True, "2026-01-01T00:00:01+00:00")), "A2": StageRecord(name="A2")}
    assert gate_problem(records, stages, "A2") is None
    assert gate_problem(records, stages, "G")[1] == "A2"
