"""StageWork: what a review loop, acceptance loop or command stage needs from the executor.

One StageWork serves one attempt of one stage. `call` runs an agent through the run's
runtime (the stage timeout applies to each call); `save` writes a step's text under
iterations/<STAGE>/ (atomically, before any record points to it); `commit` records the
stage's new fields, so every finished step survives a kill.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from teambot.config.models import StageConfig
from teambot.costs import guard
from teambot.errors import AgentError, AgentTimeout
from teambot.fsutil import atomic_write
from teambot.objective import Objective
from teambot.paths import RunPaths
from teambot.prompts.assemble import RenderedPrompt
from teambot.runtimes.base import AgentRuntime, StageRequest, StageResult
from teambot.store.models import ChildRecord, StageRecord, StepRecord, TokenUsage, add_usage, now_iso

if TYPE_CHECKING:
    from teambot.costs import CostPolicy
    from teambot.tasks.worktrees import Integration


@dataclass(frozen=True)
class LoopSettings:
    """The run-wide defaults a stage's own fields override (teambot.yaml review/acceptance)."""

    review_iterations: int = 4
    acceptance_iterations: int = 4
    acceptance_command: tuple[str, ...] | None = None
    acceptance_timeout: float = 1800.0
    command_output_cap: int = 10 * 1024 * 1024
    command_grace: float = 5.0


@dataclass
class StageWork:
    name: str
    stage: StageConfig
    attempt: int
    paths: RunPaths
    objective: Objective
    project_dir: Path
    runtime: AgentRuntime
    settings: LoopSettings
    upstream: list[Path]  # artifacts of the stages this one depends on, in stage order
    get_record: Callable[[], StageRecord]
    commit: Callable[..., StageRecord]  # commit(**fields) -> the committed record
    emit: Callable[..., Any]  # emit(type, **details) for this stage
    redact: Callable[[str], str]
    persona: Callable[[str | None], str | None]
    on_spawn: Callable[[int], None]
    durable: bool = True
    usage: TokenUsage | None = field(default=None)
    # where the stage's processes run (agents, commands, the acceptance command); None: project_dir
    workdir: Path | None = None
    # every stage's record (live) and config: what a kind's pre-check looks at beyond its own stage
    records: Mapping[str, StageRecord] = field(default_factory=dict)
    stages: Mapping[str, StageConfig] = field(default_factory=dict)
    # a task stage: the run's child records (live), how to commit one, the run's git worktrees,
    # the run-wide merge queue (one merge at a time) and how many tasks may run at once
    children: MutableMapping[str, ChildRecord] = field(default_factory=dict)
    commit_child: Callable[[ChildRecord], ChildRecord] | None = None
    # awaits until every record so far is durable (group commit); None: nothing to wait for
    settled: Callable[[], Awaitable[None]] | None = None
    integration: Integration | None = None
    merge_lock: asyncio.Lock | None = None
    concurrency: int = 3
    costs: CostPolicy | None = None  # the run's budget (costs.py); None: no budgets at all
    # the attempt's visible start (reports.py): awaited before its first agent call; None: started
    start: Callable[[], Awaitable[None]] | None = None

    def __post_init__(self) -> None:
        if self.workdir is None:
            self.workdir = self.project_dir
        # A loop stage's usage is its total over every step and attempt (earlier ones are committed).
        self.usage = self.record.usage

    @property
    def record(self) -> StageRecord:
        return self.get_record()

    async def started(self) -> None:
        """Wait until the stage may act visibly (its dependencies reported), and announce its start."""
        if self.start is not None:
            await self.start()

    async def settle(self) -> None:
        """Wait until every record committed so far is durable (before an act that relies on one)."""
        if self.settled is not None:
            await self.settled()

    async def call(self, agent: str | None, prompt: RenderedPrompt, *, kind: str, step: str, iteration: int,
                   artifacts: tuple[str, ...] = ()) -> StageResult:
        """One agent call; its prompt is saved (redacted) beside the step's output."""
        guard(self)  # no call starts once a budget is reached
        await self.settle()  # the steps before it are durable before a new call is paid for
        self.save_text(self.step_path(iteration, f"{step}.prompt"), prompt.text)
        for artifact in artifacts:
            self.paths.prepare_artifact(artifact, durable=self.durable)
        request = StageRequest(
            feature=self.paths.feature, stage=self.name, agent=agent, prompt=prompt.text,
            artifacts_dir=self.paths.artifacts, artifacts=artifacts, upstream_artifacts=tuple(self.upstream),
            run_dir=self.paths.root, project_dir=self.project_dir, workdir=self.workdir, timeout=self.stage.timeout,
            log_path=self.paths.log(self.name), attempt=self.attempt, objective_title=self.objective.title,
            description=self.stage.description, on_spawn=self.on_spawn, system_prompt=prompt.system,
            user_prompt=prompt.user, kind=kind, step=step, iteration=iteration, model=self.stage.model,
        )
        try:
            async with asyncio.timeout(self.stage.timeout):
                result = await self.runtime.run(request)
        except TimeoutError:
            raise AgentTimeout(f"{step} step of iteration {iteration} timed out after {self.stage.timeout:g} s "
                               "(stage timeout)") from None
        except AgentError as exc:  # say where in the loop it failed
            if exc.usage is not None:  # a failed call still cost its tokens: every call counts
                self.usage = add_usage(self.usage, exc.usage)
                self.commit(usage=self.usage)
            raise type(exc)(f"{step} step of iteration {iteration}: {exc.message}", retryable=exc.retryable) from None
        if result.usage is not None:  # committed now: a step that fails its checks still spent them
            self.usage = add_usage(self.usage, result.usage)
            self.commit(usage=self.usage)
        return result

    def step_path(self, iteration: int, step: str, suffix: str = ".md") -> Path:
        return self.paths.iterations(self.name) / f"{iteration:02d}-{step}{suffix}"

    def save_text(self, path: Path, text: str) -> str:
        """Write `text` (redacted) atomically; returns its sha256."""
        data = self.redact(text).encode("utf-8", errors="replace")
        atomic_write(path, data, durable=self.durable, root=self.paths.root)
        return hashlib.sha256(data).hexdigest()

    def save(self, iteration: int, step: str, text: str, suffix: str = ".md") -> StepRecord:
        """Save one step's text and return the record that will point to it."""
        path = self.step_path(iteration, step, suffix)
        digest = self.save_text(path, text)
        return StepRecord(file=str(path.relative_to(self.paths.root)), sha256=digest, at=now_iso())

    def read(self, step: StepRecord | None, cap: int = 64 * 1024) -> str:
        """A saved step's text (cut at `cap` characters with a note), or "" if it is gone."""
        if step is None:
            return ""
        try:
            text = (self.paths.root / step.file).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        if len(text) > cap:
            text = text[:cap] + f"\n\n[... cut: {len(text) - cap} more characters in {self.paths.root / step.file}]"
        return text
