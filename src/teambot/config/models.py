"""Pydantic models for stages.yaml. Unknown keys are errors (extra="forbid")."""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from teambot.limits import Budget
from teambot.names import STAGE_NAME_RE  # noqa: F401 - re-exported: config/structure.py checks stage names with it

# Fields that place a stage in the graph or set how it is retried; changing them does not
# change the stage's work, so they stay out of the fingerprint (finished work is kept).
_NOT_WORK_FIELDS = frozenset({"depends_on", "timeout", "retries", "max_iterations", "approval", "budget"})
# Fields added after the first release count in the fingerprint only when set, so a run
# started by an older teambot does not see all its finished stages turn stale on upgrade.
_LATER_FIELDS = frozenset({"run", "acceptance_command", "tasks", "model"})

NonEmptyStr = Annotated[str, StringConstraints(min_length=1)]
Argv = Annotated[list[NonEmptyStr], Field(min_length=1)]


class StageKindName(StrEnum):
    """What a stage does when it runs; each name has one StageKind object (teambot/kinds/registry.py)."""

    PLAIN = "plain"  # one agent call
    REVIEW = "review"  # work agent → reviewer loop (is_review_stage)
    ACCEPTANCE = "acceptance"  # work agent → teambot runs the tests loop (is_acceptance_test_stage)
    COMMAND = "command"  # teambot runs argv lists, no agent (run)
    SYNC = "sync"  # no agent and no artifacts: a point where branches meet (COMPLETE)
    TASK = "task"  # a DAG of tasks from a tasks file, each in its own git worktree, merged one by one (tasks)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class TasksBlock(_Strict):
    """A task stage's `tasks:` block (docs/stages.md, "Task stages")."""

    from_: NonEmptyStr = Field(alias="from")  # an upstream stage's declared artifact, or a project path
    agents: Annotated[list[NonEmptyStr], Field(min_length=1)] | None = None  # default: parallel_agents, else work_agent
    per_agent: Annotated[int, Field(ge=1, le=16)] = 1  # tasks one agent id may run at once
    verify: Argv | None = None  # run on the integration tree after each merge
    on_conflict: Literal["resolve", "fail"] = "resolve"
    max_conflict_rounds: Annotated[int, Field(ge=0, le=10)] = 2
    setup: Argv | None = None  # run once in each new worktree

    def pool(self, stage: StageConfig) -> tuple[str, ...]:
        """The agent ids that run the stage's tasks."""
        agents = self.agents or stage.parallel_agents or ([stage.work_agent] if stage.work_agent else [])
        return tuple(dict.fromkeys(agents))


class StageConfig(_Strict):
    """One stage of the workflow. Fields from upstream teambot plus depends_on/timeout/retries."""

    name: str | None = None
    description: str = ""
    work_agent: str | None = None
    review_agent: str | None = None
    allowed_personas: list[str] = Field(default_factory=list)
    artifacts: list[NonEmptyStr] = Field(default_factory=list)
    exit_criteria: list[str] = Field(default_factory=list)
    optional: bool = False
    is_review_stage: bool = False
    is_acceptance_test_stage: bool = False
    requires_acceptance_tests_passed: bool = False
    parallel_agents: list[str] | None = None
    prompt_template: str | None = None
    include_objective: bool = True
    depends_on: list[str] | None = None
    timeout: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    retries: Annotated[int, Field(ge=0, le=20)] = 0
    # review and acceptance stages: iterations per budget (default: teambot.yaml's, else 4)
    max_iterations: Annotated[int, Field(ge=1, le=50)] | None = None
    # a command stage: argv lists run one after the other, no shell, no agent
    run: Annotated[list[Argv], Field(min_length=1)] | None = None
    # an acceptance stage's test command (default: teambot.yaml's acceptance.command)
    acceptance_command: Argv | None = None
    # a task stage: the tasks file and how its tasks run (kinds/task.py)
    tasks: TasksBlock | None = None
    # `required`: once its work succeeded the stage waits (awaiting_approval) for `teambot approve`
    approval: Literal["required"] | None = None
    # spending limit of this stage, its tasks included (costs.py); not part of its work
    budget: Budget | None = None
    # the model its agents use in this stage, instead of teambot.yaml's for them
    model: NonEmptyStr | None = None

    @model_validator(mode="before")
    @classmethod
    def _null_means_default(cls, data: object) -> object:
        """`artifacts: null` (hand-edited upstream files) means the field's default, not an error.

        `run: [ruff, check, .]` (one argv) is short for `run: [[ruff, check, .]]`.
        """
        if isinstance(data, dict):
            defaults = {"description", "allowed_personas", "artifacts", "exit_criteria", "retries"}
            data = {k: v for k, v in data.items() if not (v is None and k in defaults)}
            run = data.get("run")
            if isinstance(run, list) and run and all(isinstance(arg, str) for arg in run):
                data["run"] = [run]
        return data

    @property
    def is_command_stage(self) -> bool:
        return self.run is not None

    @property
    def kind(self) -> StageKindName:
        """The stage's kind, derived from the fields upstream stages.yaml files already have.

        The only place the booleans are read for dispatch. The order matters for a config that
        sets several (validation reports those): run, then review, then acceptance.
        """
        if self.tasks is not None:
            return StageKindName.TASK
        if self.run is not None:
            return StageKindName.COMMAND
        if self.is_review_stage:
            return StageKindName.REVIEW
        if self.is_acceptance_test_stage:
            return StageKindName.ACCEPTANCE
        if self.work_agent is None and not self.artifacts:
            return StageKindName.SYNC
        return StageKindName.PLAIN

    def fingerprint(self) -> str:
        """sha256 of the definition fields that change the stage's work (not its placement)."""
        data = self.model_dump(mode="json", exclude=set(_NOT_WORK_FIELDS), by_alias=True)
        for key in _LATER_FIELDS:
            if data.get(key) is None:
                data.pop(key, None)
        blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


class GroupConfig(_Strict):
    """A parallel group: members start after `after`; `before` waits for all of them."""

    after: str | None = None
    stages: list[str]
    before: str | None = None


class StagesFile(_Strict):
    """The whole stages.yaml document."""

    stages: dict[str, StageConfig]
    stage_order: list[str]
    parallel_groups: dict[str, GroupConfig] = Field(default_factory=dict)
    work_to_review_mapping: dict[str, str] = Field(default_factory=dict)
