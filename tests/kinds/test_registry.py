"""The StageKind seam: each stage's kind is derived from its fields, and the registry has one object per kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from teambot.config.loader import DEFAULT_STAGES, load_workflow
from teambot.config.models import StageConfig, StageKindName
from teambot.executor import agents_of
from teambot.kinds.base import REPORT_KINDS
from teambot.kinds.registry import KINDS, kind_of

DEFAULT_KINDS = {
    "SETUP": "plain", "BUSINESS_PROBLEM": "plain", "SPEC": "plain", "SPEC_REVIEW": "review", "RESEARCH": "plain",
    "TEST_STRATEGY": "plain", "PLAN": "plain", "PLAN_REVIEW": "review", "IMPLEMENTATION": "task",
    "IMPLEMENTATION_REVIEW": "review", "TEST": "plain", "ACCEPTANCE_TEST": "acceptance", "POST_REVIEW": "review",
    "COMPLETE": "sync",
}


def _default():
    return load_workflow(DEFAULT_STAGES, project_dir=Path.cwd(), check_templates=False)


def test_each_default_stage_maps_to_its_kind() -> None:
    """Every stage of the packaged workflow gets the kind its upstream fields describe."""
    workflow = _default()
    assert {n: workflow.config.stages[n].kind.value for n in workflow.graph.order} == DEFAULT_KINDS


def test_the_registry_has_one_object_per_kind_name() -> None:
    """Each StageKindName has exactly one registered object, and that object carries the same name."""
    assert set(KINDS) == set(StageKindName)
    assert all(kind.name is name for name, kind in KINDS.items())
    assert len({id(kind) for kind in KINDS.values()}) == len(StageKindName)


def test_kind_of_dispatches_by_the_derived_name() -> None:
    """kind_of returns the registry's object for the stage's derived kind, for every default stage."""
    workflow = _default()
    for name in workflow.graph.order:
        stage = workflow.config.stages[name]
        assert kind_of(stage) is KINDS[stage.kind], name


@pytest.mark.parametrize(("fields", "expected"), [
    ({"work_agent": "a"}, StageKindName.PLAIN),
    ({"artifacts": ["x.md"]}, StageKindName.PLAIN),  # no agent but artifacts: still an agent call
    ({}, StageKindName.SYNC),
    ({"run": [["true"]]}, StageKindName.COMMAND),
    ({"work_agent": "a", "review_agent": "r", "is_review_stage": True}, StageKindName.REVIEW),
    ({"work_agent": "a", "is_acceptance_test_stage": True}, StageKindName.ACCEPTANCE),
    ({"work_agent": "a", "requires_acceptance_tests_passed": True}, StageKindName.PLAIN),  # the gate is not a kind
])
def test_kind_is_derived_from_the_existing_fields(fields, expected) -> None:
    """No new stages.yaml field: run, is_review_stage, is_acceptance_test_stage and the agent decide the kind."""
    assert StageConfig(**fields).kind is expected


def test_each_kind_holds_the_agents_it_calls() -> None:
    """A review stage keeps both agents busy; a plain stage with a review_agent only its own; sync and command none."""
    stages = _default().config.stages
    assert agents_of(stages["SPEC_REVIEW"]) == ("ba", "reviewer")
    assert agents_of(stages["PLAN"]) == ("pm",)  # review_agent set, but PLAN is not a review loop
    assert agents_of(stages["COMPLETE"]) == ()
    assert agents_of(StageConfig(run=[["true"]])) == ()  # a command stage calls no agent
    same = StageConfig(work_agent="a", review_agent="a", is_review_stage=True)
    assert agents_of(same) == ("a",)


def test_loop_kinds_and_gated_stages_clear_every_old_blocked_report() -> None:
    """A success clears review, acceptance and gate reports for loop kinds and gated stages, none otherwise."""
    stages = _default().config.stages
    assert kind_of(stages["SPEC_REVIEW"]).stale_reports(stages["SPEC_REVIEW"]) == REPORT_KINDS
    assert kind_of(stages["ACCEPTANCE_TEST"]).stale_reports(stages["ACCEPTANCE_TEST"]) == REPORT_KINDS
    assert kind_of(stages["SPEC"]).stale_reports(stages["SPEC"]) == ()
    gated = StageConfig(work_agent="a", requires_acceptance_tests_passed=True)
    assert kind_of(gated).stale_reports(gated) == REPORT_KINDS
