"""The runtime seam: a stage request goes in, output text and artifacts come out.

Cancellation is asyncio cancellation: the executor cancels the task running `run()`, and
the runtime cleans up (ends its processes, closes connections) before re-raising
CancelledError. A failed agent raises an AgentError subclass; it is a result, not a crash.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from teambot.store.models import TokenUsage


@dataclass(frozen=True)
class StageRequest:
    """Everything a runtime needs to do one attempt of one stage."""

    feature: str
    stage: str
    agent: str | None
    prompt: str  # the whole prompt: persona + stage prompt (what command runtimes send)
    artifacts_dir: Path
    artifacts: tuple[str, ...]  # declared artifact names, relative to artifacts_dir
    upstream_artifacts: tuple[Path, ...]  # artifacts of the stages this one depends on
    run_dir: Path
    project_dir: Path
    timeout: float | None
    log_path: Path
    attempt: int = 1
    objective_title: str = ""
    description: str = ""
    # A runtime that starts an OS process group reports its id here, so the executor can
    # record it (resume ends a group left alive by a killed teambot).
    on_spawn: Callable[[int], None] | None = None
    # The same prompt in two parts, for runtimes with a system message (openai).
    system_prompt: str | None = None
    user_prompt: str = ""
    # Review and acceptance stages call agents several times per attempt: which call this is.
    kind: str = "plain"  # "plain", "review" (a review loop) or "acceptance" (an acceptance loop)
    step: str = "work"  # "work" (produce / revise / fix), "review", or "verdict" (asked again for it)
    iteration: int = 1
    # The working directory of the stage's processes (a task's own worktree, later); None at
    # construction means project_dir, so it is always a Path afterwards.
    workdir: Path | None = None
    task: str | None = None  # a task stage's task id (its agent gets TEAMBOT_TASK and TEAMBOT_WORKTREE)
    model: str | None = None  # the stage's `model:`, instead of the agent's configured model

    def __post_init__(self) -> None:
        if self.workdir is None:
            object.__setattr__(self, "workdir", self.project_dir)


@dataclass
class StageResult:
    """What an attempt produced. `artifacts` maps declared names to the files written during this
    attempt; the executor fails the stage for a declared artifact missing here, even if an
    older file of that name exists."""

    output: str
    artifacts: dict[str, Path] = field(default_factory=dict)
    usage: TokenUsage | None = None
    # True when `output` is not everything the agent said: cut at the output cap, or an HTTP
    # reply that stopped at its length limit. A cut review has no verdict; a cut output is
    # never taken as an artifact.
    truncated: bool = False


class AgentRuntime(Protocol):
    name: str

    async def run(self, request: StageRequest) -> StageResult:
        """Do the stage's work. Raises AgentError on failure; honours cancellation."""

    async def aclose(self) -> None:
        """Release shared resources (HTTP clients, ...) at the end of a run."""
