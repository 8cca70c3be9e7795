"""What the service returns: pydantic models that the CLI renders and an HTTP API serialises.

Field names and order are the `teambot status --json` contract (tests/cli/test_status.py pins
the keys); `model_dump(mode="json")` of a RunStatus is exactly what that command prints.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from teambot.store.models import Decision, Iteration, Owner, TokenUsage

__all__ = ["ChildReport", "Iteration", "Owner", "RunStatus", "RunSummary", "StageReport", "TokenUsage"]

# lifecycle.StageStatus values; a stage whose process died mid-run is reported `interrupted`
StageState = Literal["pending", "running", "succeeded", "failed", "skipped", "interrupted", "blocked",
                     "awaiting_approval", "awaiting_review"]
# store.models.RunStatus values; a `running` run whose owner is gone is reported `interrupted`
RunState = Literal["running", "completed", "failed", "blocked", "interrupted", "waiting"]


class _Report(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChildReport(_Report):
    """One child of a stage (`IMPLEMENTATION/T1`): its lifecycle and its git facts."""

    id: str
    name: str
    status: StageState
    attempts: int
    started_at: str | None
    finished_at: str | None
    agent: str | None
    error: str | None
    usage: TokenUsage | None
    branch: str | None
    base_commit: str | None
    head_commit: str | None
    merge_commit: str | None


class StageReport(_Report):
    """One stage of the workflow, in stage order; a stage with no record yet is `pending`."""

    name: str
    status: StageState
    attempts: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    agent: str | None = None
    error: str | None = None
    stale: bool = False  # succeeded, but something changed since (`resume --rerun-stale`)
    stale_reasons: list[str] = Field(default_factory=list)  # what: "objective changed", "artifact x.md missing", ...
    usage: TokenUsage | None = None
    artifacts: dict[str, str] = Field(default_factory=dict)  # artifact name -> sha256
    blocked_by: str | None = None  # while blocked: "iterations", "acceptance_gate" or "budget" (costs.py)
    iterations: list[Iteration] = Field(default_factory=list)  # review / acceptance rounds
    budget_start: int = 0  # iterations before this index belong to earlier budgets (`unblock`)
    children: list[ChildReport] = Field(default_factory=list)
    # a person's part (approvals.py): since when it waits, what to look at, how to decide, past decisions
    waiting_since: str | None = None
    produced: list[str] = Field(default_factory=list)  # absolute paths, while it waits
    decide: str | None = None  # the command that decides, while it waits
    decisions: list[Decision] = Field(default_factory=list)


class RunStatus(_Report):
    """Everything known of one run, read without disturbing it (`teambot status FEATURE --json`)."""

    feature: str
    status: RunState
    error: str | None
    run_dir: str
    objective: str
    stages_file: str
    runtime: str
    created_at: str
    updated_at: str
    elapsed_seconds: float
    owner: Owner | None  # the process that last drove the run (it may be gone)
    stale: list[str]
    stale_reasons: dict[str, list[str]] = Field(default_factory=dict)  # stage -> what changed since it ran
    usage: TokenUsage  # every stage's and child's calls
    notes: list[str]  # what the reader should know: an unreadable stages file, a dead owner
    stages: list[StageReport]
    waiting: list[str] = Field(default_factory=list)  # stages awaiting a person's decision


class RunSummary(_Report):
    """One line of the runs list (`teambot status --json` with several runs, `GET /api/runs`)."""

    feature: str
    status: RunState | Literal["unreadable"]  # unreadable: see `error`
    succeeded: int = 0  # stages done
    total: int = 0  # stages in the workflow
    created_at: str | None = None
    updated_at: str | None = None
    elapsed_seconds: float | None = None
    usage: TokenUsage | None = None
    cost_usd: float | None = None  # what the run's calls cost, when known (reported, or priced with `prices`)
    owner_pid: int | None = None  # the live process driving the run, if any
    error: str | None = None  # why the run could not be read (the others are still listed)
