"""What the service's write side and its file readers return (pydantic: the CLI renders, the API serialises)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from teambot.service.models import Decision, Iteration, StageState


class _Result(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RerunResult(_Result):
    """`rerun STAGE`: the stages marked to run again on the next resume."""

    feature: str
    stage: str
    targets: list[str]
    changed: bool  # False: every target was pending already


class UnblockResult(_Result):
    """`unblock STAGE`: a fresh iteration budget; `kept` earlier iterations stay in its history."""

    feature: str
    stage: str
    iterations: int | None  # the new budget's size when given (else the stage's max_iterations)
    kept: int


class RunOptions(_Result):
    """The options of `teambot run` / `teambot resume` a caller may set (None: the command's default)."""

    feature: str | None = None
    stages: str | None = None  # a stages file inside the project directory
    runtime: str | None = None
    max_concurrency: int | None = Field(default=None, ge=1, le=64)
    max_hours: float | None = Field(default=None, gt=0)
    on_failure: Literal["stop", "continue"] | None = None
    skip: list[str] = Field(default_factory=list)
    rerun_stale: bool = False  # resume only


class Launched(_Result):
    """A `teambot run` / `resume` process started in its own session: it outlives whoever started it.

    `exit_code` is set when the process already ended while we watched it start (a resume with
    nothing to do, say); `log` holds its output.
    """

    feature: str
    command: Literal["run", "resume"]
    pid: int
    log: str
    exit_code: int | None = None
    message: str | None = None  # the process's last line when it already ended


class Cancelled(_Result):
    """`cancel`: the owner was sent SIGTERM; `stopped` tells whether it ended within the wait."""

    feature: str
    pid: int
    stopped: bool
    status: str  # the run's status afterwards


class RunEvent(_Result):
    """One line of events.jsonl with its id: the byte offset just past the line (ids only grow)."""

    id: int
    feature: str  # the run it belongs to
    ts: float
    type: str
    stage: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class EventPage(_Result):
    """Events after `since`; ask again with `since=next` (equal to the last id, or `since` if none)."""

    feature: str
    events: list[RunEvent]
    next: int


class GraphNode(_Result):
    name: str
    status: StageState
    agent: str | None
    group: str | None  # its parallel group
    depth: int  # longest chain of dependencies before it (0: a first stage)
    kind: str


class Graph(_Result):
    """The effective DAG of a run (from the stages file it runs with), each node with its live status."""

    feature: str
    nodes: list[GraphNode]
    edges: list[tuple[str, str]]  # (dependency, stage waiting for it)
    groups: dict[str, list[str]]
    notes: list[str] = Field(default_factory=list)


class StageIterations(_Result):
    """A review / acceptance stage's rounds, with the text of each step."""

    feature: str
    stage: str
    budget_start: int
    iterations: list[Iteration]
    texts: dict[str, str]  # step file (relative to the run directory) -> its text


class FileEntry(_Result):
    path: str  # relative to artifacts/
    size: int


class DecisionEntry(_Result):
    """A decision written into the run's inbox that the run has not applied yet."""

    action: str
    by: str
    at: str
    comment: str | None = None


class Decided(_Result):
    """`approve` / `reject` / `review`: the decision is in the run's inbox.

    `live`: a process drives the run and picks it up within a second. `resumed`: no process
    did, and `teambot resume` was started to apply it (asked for with `resume`).
    """

    feature: str
    stage: str
    action: Literal["approve", "reject", "approved", "changes_requested"]
    by: str
    at: str
    comment: str | None
    live: bool
    resumed: Launched | None = None
    next: str  # what happens now, in a sentence


class ProducedFile(_Result):
    """A file a person should read before deciding (GET /api/runs/{feature}/files/{path})."""

    path: str  # relative to the run directory
    kind: Literal["output", "artifact", "work", "review_request", "file"]


class StageDecisions(_Result):
    """A stage as a person deciding on it sees it: does it wait, since when, what to read, what was decided."""

    feature: str
    stage: str
    status: StageState
    waiting_since: str | None
    accepts: list[str]  # the actions it takes now: approve/reject, approved/changes_requested, or none
    files: list[ProducedFile]
    pending: DecisionEntry | None  # decided, not applied yet (the run picks it up on resume / within a second)
    decisions: list[Decision]  # applied decisions, oldest first
    decide: str | None  # the CLI command that decides it
