"""stages.yaml fields that put a person in the loop: `approval: required` and `review_agent: human`.

The rules here are read by validation; what happens at run time is teambot/approvals.py.
"""

from __future__ import annotations

from teambot.config.models import StageConfig

HUMAN = "human"  # the review_agent id of a person: no runtime, no agent check


def is_human(agent: str | None) -> bool:
    return agent == HUMAN


def needs_approval(stage: StageConfig) -> bool:
    return stage.approval == "required"


def approval_problems(stage: StageConfig) -> list[tuple[str, str]]:
    """(field, message) for `approval` / `human` where they cannot work."""
    found = []
    if stage.approval and stage.tasks is not None:
        found.append(("approval", "a task stage merges its tasks one by one and cannot be rejected as a whole; "
                                  "put approval: required on a stage that depends on it"))
    if is_human(stage.work_agent):
        found.append(("work_agent", "'human' is the id of a person reviewing (review_agent: human); "
                                    "a work_agent must be an agent"))
    if is_human(stage.review_agent) and not stage.is_review_stage:
        found.append(("review_agent", "review_agent: human needs is_review_stage: true"))
    return found
