"""The persisted state of a run: one RunRecord and a StageRecord per stage (pydantic, the edge)."""

from __future__ import annotations

import datetime as _dt
import re
import time
from enum import StrEnum

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_serializer, model_validator

from teambot.lifecycle import StageStatus
from teambot.names import split_child_id

# 2: stage records gained iterations, budget_start, budget and blocked_by; status `blocked`.
# An older teambot refuses a version-2 file rather than drop the loop history on its next write.
# 3: the state gained `children` (records of a stage's children, e.g. IMPLEMENTATION/T1); a
# version-2 file loads as is (no children). Version 2 readers refuse it rather than drop them.
# 4: state.json is the snapshot of a write-ahead journal (journal/*.wal) and records `seq`, the
# last journal record it holds. A version-3 reader would ignore the journal, so it refuses the
# file; a run in the version-2/3 layout is migrated by the first writer that opens it (backup kept).
SCHEMA_VERSION = 4


def now_iso() -> str:
    """UTC now as ISO 8601 with milliseconds (2026-12-02T19:50:01.123+00:00); the date and time
    part is formatted once per second (several records of every stage carry a time)."""
    global _second
    now = time.time()
    whole = int(now)
    if _second[0] != whole:
        _second = (whole, _dt.datetime.fromtimestamp(whole, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"))
    return f"{_second[1]}.{int((now - whole) * 1000):03d}+00:00"


_second: tuple[int, str] = (-1, "")


def _iso(value: str) -> str:
    _dt.datetime.fromisoformat(value)  # a ValueError here is reported as a corrupt state file
    return value


Timestamp = Annotated[str, AfterValidator(_iso)]


def _child_id(value: str) -> str:
    split_child_id(value)  # a ValueError here is reported as a corrupt state file
    return value


ChildId = Annotated[str, AfterValidator(_child_id)]


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    BLOCKED = "blocked"
    INTERRUPTED = "interrupted"
    WAITING = "waiting"  # stopped with stages awaiting a person's decision (exit 4); resume continues


class _Model(BaseModel):
    # extra="ignore": an older teambot reading a same-version file with extra fields keeps going
    model_config = ConfigDict(extra="ignore", validate_assignment=False)


class TokenUsage(_Model):
    """Tokens (and, when known, money) spent by one or more agent calls.

    `cached_prompt_tokens` is the part of `prompt_tokens` read from the provider's prompt cache;
    `cost_usd` is what the runtime reported, else usage x teambot.yaml `prices` (None: no price
    known for any of the calls); `model` the model that did the work (None when unknown or
    several). The optional fields are left out of the JSON while unset, so older records and
    `status --json` of runs without them read exactly as before.
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    cost_usd: float | None = None
    model: str | None = None

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def plus(self, other: TokenUsage | None) -> TokenUsage:
        if other is None:
            return self
        costs = [c for c in (self.cost_usd, other.cost_usd) if c is not None]
        return TokenUsage(prompt_tokens=self.prompt_tokens + other.prompt_tokens,
                          completion_tokens=self.completion_tokens + other.completion_tokens,
                          cached_prompt_tokens=self.cached_prompt_tokens + other.cached_prompt_tokens,
                          cost_usd=sum(costs) if costs else None,
                          model=_one_model(self.model, other.model))

    @model_serializer(mode="wrap")
    def _unset_left_out(self, handler):
        data = handler(self)
        for key, empty in (("cached_prompt_tokens", 0), ("cost_usd", None), ("model", None)):
            if data.get(key, empty) == empty:
                data.pop(key, None)
        return data


def _one_model(*models: str | None) -> str | None:
    """The model of a sum: the one model its calls name, None when they name none or several."""
    named = {m for m in models if m}
    return named.pop() if len(named) == 1 else None


def add_usage(total: TokenUsage | None, more: TokenUsage | None) -> TokenUsage | None:
    """Usage so far plus one more call's (either may be unknown)."""
    return more if total is None else total.plus(more)


class StepRecord(_Model):
    """One step's text, saved under iterations/<STAGE>/ before the record pointing to it."""

    file: str  # relative to the run directory
    sha256: str
    at: Timestamp


class AcceptanceResult(_Model):
    """What teambot saw when it ran the acceptance command itself (never an agent's claim)."""

    passed: bool
    exit_code: int | None  # None: it did not finish (timed out) or could not start
    tests: int | None = None  # from JUnit XML; None when the command gives none
    failures: int | None = None
    errors: int | None = None
    skipped: int | None = None
    summary: str  # one line: "3 tests, 1 failed", "no acceptance tests ran", ...
    output: StepRecord  # the command's output (and the failing tests' details)


class Iteration(_Model):
    """One round of a review or acceptance loop. Each step is committed as soon as it is done,
    so a resumed run continues at the first step this record lacks."""

    number: int  # 1-based over the stage's whole history (budgets never renumber it)
    started_at: Timestamp
    work: StepRecord | None = None  # the work agent's output (produce / revise / fix)
    artifacts: dict[str, str] = Field(default_factory=dict)  # declared artifacts the work step wrote -> sha256
    review: StepRecord | None = None  # the reviewer's review
    verdict_request: StepRecord | None = None  # its answer when asked once more for the verdict line
    verdict: str | None = None  # "approved" / "changes_requested" (review stages)
    verdict_note: str | None = None  # how the verdict was reached, e.g. "no verdict line, even when asked again"
    feedback: str | None = None  # what the next work step is told (a rejection's review, failing tests)
    test: AcceptanceResult | None = None  # acceptance stages


class Decision(_Model):
    """A person's decision on a waiting stage (approvals.py), kept in the stage's history."""

    action: str  # "approve" / "reject" (approval gate), "approved" / "changes_requested" (human review)
    by: str  # the OS user name of whoever ran the command; `<user>@http` for a decision through `teambot serve`
    at: Timestamp  # when the command was run
    comment: str | None = None
    attempt: int  # the attempt it decided on
    iteration: int | None = None  # review / acceptance stages: the newest iteration when decided
    applied_at: Timestamp | None = None  # when the run picked it up


class StageRecord(_Model):
    """What is known of one stage. `seq` orders commits (the newest copy of a record wins)."""

    name: str
    status: StageStatus = StageStatus.PENDING
    attempts: int = 0
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    agent: str | None = None
    error: str | None = None
    artifacts: dict[str, str] = Field(default_factory=dict)  # artifact name -> sha256
    output_sha256: str | None = None
    fingerprint: str | None = None  # of the definition the stage last succeeded with
    usage: TokenUsage | None = None
    pgid: int | None = None  # the agent's process group while running (command runtime)
    iterations: list[Iteration] = Field(default_factory=list)  # review / acceptance history, append-only
    budget_start: int = 0  # iterations before this index were spent by earlier budgets (`teambot unblock`)
    budget: int | None = None  # iterations of the current budget, when `unblock --iterations` set it
    blocked_by: str | None = None  # "iterations", "acceptance_gate" or "budget" while status is blocked
    # Provenance (teambot/provenance.py), recorded with `succeeded`: input key -> sha256 of what the
    # attempt read (None: recorded by an older teambot, judged by the fingerprint only), and
    # (size, mtime_ns) of each artifact beside its hash, so a check rehashes only what was touched.
    inputs: dict[str, str] | None = None
    artifact_stamps: dict[str, tuple[int, int]] = Field(default_factory=dict)
    # pending after `resume --rerun-stale` only because an upstream stage reruns: kept as it is,
    # without running, if its inputs turn out unchanged (early cutoff)
    run_if_changed: bool = False
    waiting_since: Timestamp | None = None  # while awaiting_approval / awaiting_review: since when
    decisions: list[Decision] = Field(default_factory=list)  # people's decisions, append-only (approvals.py)
    seq: int = 0


class ChildRecord(_Model):
    """What is known of one child of a stage (a task of a task stage), under a stable id.

    The lifecycle of a stage (its own record, committed on every transition and ordered by
    the same `seq` counter) plus the git facts of a task. See .agent-tracking/design/child-records.md.
    """

    id: ChildId  # "<STAGE>/<child>", e.g. "IMPLEMENTATION/T1": the same in every process of the run
    status: StageStatus = StageStatus.PENDING
    attempts: int = 0
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    agent: str | None = None
    error: str | None = None
    output_sha256: str | None = None
    usage: TokenUsage | None = None  # this child's calls only (the run total adds it to the stages')
    pgid: int | None = None  # the agent's process group while running
    branch: str | None = None  # the child's git branch
    base_commit: str | None = None  # the commit its branch was created from
    head_commit: str | None = None  # its branch's commit once its work is committed
    merge_commit: str | None = None  # the merge commit on the integration branch: it is merged
    # the integration branch's head just before teambot merged this child: recorded before the
    # merge starts, cleared once its outcome is recorded. A crash in between is decided from the
    # branch itself on resume (never by trusting that a step happened).
    merging_onto: str | None = None
    rejected_commit: str | None = None  # a head whose merge `verify` refused: the agent must change it first
    seq: int = 0

    @property
    def stage(self) -> str:
        return split_child_id(self.id)[0]

    @property
    def child(self) -> str:
        return split_child_id(self.id)[1]


def _natural(text: str) -> tuple:
    """Sort key that puts T2 before T10."""
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text) if part)


class Owner(_Model):
    pid: int
    host: str
    since: Timestamp
    started: float | None = None  # the process's start time (psutil create_time): a reused pid is not this owner


class RunBudget(_Model):
    """The run's spending limits set on the command line (None: teambot.yaml's, if any)."""

    max_cost: float | None = None  # US dollars
    max_tokens: int | None = None


class RunRecord(_Model):
    feature: str
    status: RunStatus = RunStatus.RUNNING
    objective_path: str
    objective_sha256: str
    stages_path: str
    stages_sha256: str
    runtime: str = "demo"  # the default runtime in effect (teambot.yaml or --runtime)
    runtime_override: str | None = None  # --runtime given to `run`; resume keeps it
    created_at: Timestamp = Field(default_factory=now_iso)
    updated_at: Timestamp = Field(default_factory=now_iso)
    elapsed_seconds: float = 0.0
    owner: Owner | None = None
    error: str | None = None
    processes: int = 1  # how many processes have driven this run (1 + resumes)
    # absolute: resume works there from any directory, and status compares templates and personas
    # there (None: runs started before it was kept)
    project_dir: str | None = None
    branch: str | None = None  # the run's integration branch (a git project), `teambot/<feature>`
    base_commit: str | None = None  # the commit that branch was created from (the user's HEAD at the start)
    worktrees: str | None = None  # absolute: the folder holding the run's git worktrees
    # `resume --max-cost / --max-tokens`: the run's budget, overriding teambot.yaml `budget` (costs.py)
    budget: RunBudget | None = None


class RunState(_Model):
    schema_version: int = SCHEMA_VERSION
    seq: int = 0  # the last journal record this snapshot holds (schema 4); records after it are in journal/
    run: RunRecord
    stages: dict[str, StageRecord] = Field(default_factory=dict)
    children: dict[str, ChildRecord] = Field(default_factory=dict)  # keyed by ChildRecord.id

    @model_validator(mode="after")
    def _keys_are_ids(self) -> RunState:
        for key, record in self.children.items():
            if key != record.id:
                raise ValueError(f"children[{key!r}] holds the record of {record.id!r}")
        return self

    def children_of(self, stage: str) -> list[ChildRecord]:
        """The children of `stage`, in natural order of their names (T1, T2, T10)."""
        return sorted((c for c in self.children.values() if c.stage == stage), key=lambda c: (_natural(c.child), c.child))
