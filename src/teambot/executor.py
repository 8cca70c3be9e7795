"""ParallelStageExecutor: an asyncio worker pool over the stage DAG.

A stage starts as soon as every dependency has succeeded (no waves), bounded by
max_concurrency and one running stage per agent. The executor changes the run's records
(records.py) and never calls the store: persistence observes the changes. Durability order
for each attempt: `running` (with the attempt; written, not flushed), call the runtime, write
outputs, then `succeeded`, awaited until durable before it is reported or a dependent starts
visibly (dependents prepare meanwhile: reports.py).
A failed stage is a result: siblings keep running and are recorded.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from teambot import approvals, costs, provenance
from teambot.calls import InFlight, stop_calling
from teambot.config.loader import Workflow
from teambot.config.models import StageKindName
from teambot.errors import AgentError, AwaitingPerson, StageBlocked, TeambotError
from teambot.events import EventLog
from teambot.fsutil import disk_full_error
from teambot.kinds.base import StageKind
from teambot.kinds.context import LoopSettings, StageWork
from teambot.kinds.registry import kind_of
from teambot.lifecycle import AWAITING, FINISHED, Lifecycles, StageStatus
from teambot.objective import Objective
from teambot.paths import RunPaths
from teambot.provenance import InputReader
from teambot.runtimes.base import AgentRuntime
from teambot.scheduler import Scheduler
from teambot.outcome import Outcome, StopReason
from teambot.stage_results import artifact_lineage, declared_artifacts, log_traceback, write_output

__all__ = ["ExecutorOptions", "Outcome", "ParallelStageExecutor", "StopReason", "agents_of", "artifact_lineage"]
from teambot.records import RunRecords
from teambot.reports import Reports, Start
from teambot.store.models import add_usage, now_iso

if TYPE_CHECKING:
    from teambot.tasks.worktrees import Integration

HEARTBEAT_SECONDS = 10.0
ERROR_CAP = 2000  # characters of an error kept in state; the whole story is in the stage's log


@dataclass(frozen=True)
class ExecutorOptions:
    max_concurrency: int = 3
    on_failure: str = "stop"  # or "continue": keep starting stages that do not depend on a failed one
    time_budget: float | None = None  # seconds this process may still run (max-hours minus elapsed)
    retry_backoff: float = 1.0  # first retry waits this long, doubling each time
    durable: bool = True
    loops: LoopSettings = field(default_factory=LoopSettings)  # review / acceptance / command stage defaults
    costs: object | None = None  # costs.CostPolicy: the run's budget (None: none)


class ParallelStageExecutor:
    """Runs every pending stage of one run to a final status, committing each transition."""

    def __init__(
        self,
        *,
        workflow: Workflow,
        records: RunRecords,
        events: EventLog,
        runtime: AgentRuntime,
        paths: RunPaths,
        objective: Objective,
        project_dir,
        options: ExecutorOptions,
        personas: Callable[[str | None], str | None] | None = None,
        redact: Callable[[str], str] = str,
        integration: Integration | None = None,
        inputs: InputReader | None = None,
    ) -> None:
        self.workflow = workflow
        self.graph = workflow.graph
        self.stages = workflow.config.stages
        # the run's live records: every change goes to their observers (persistence writes the journal)
        self.records = records
        self.run_record = records.run
        self.events = events
        self.runtime = InFlight(runtime)  # counts each stage's calls in flight (what a reached budget stops)
        self.paths = paths
        self.objective = objective
        self.project_dir = project_dir
        self.options = options
        self.personas = personas
        self.redact = redact  # applied to everything this executor writes (secrets → ***)
        self.children = records.children
        # in a git project: the run's integration worktree, where every stage works (tasks/worktrees.py)
        self.integration = integration
        self._merge_lock: asyncio.Lock | None = None  # the merge queue: one merge (or stage commit) at a time
        # reads what each attempt's inputs are, recorded with `succeeded` (provenance.py)
        self.inputs = inputs or InputReader(project_dir, objective, personas)
        # each stage's lifecycle, built when first needed from its record and released when its task ends
        self.lifecycles = Lifecycles(records)
        self._lineage = artifact_lineage(workflow)
        self._stop = StopReason.NONE
        self._fatal: TeambotError | None = None
        self._running: dict[asyncio.Task[StageStatus], str] = {}
        self._groups_started: set[str] = set()
        self._groups_completed: set[str] = set()
        self._started_at = time.monotonic()
        self._elapsed_base = records.run.elapsed_seconds
        self._last_heartbeat = time.monotonic()
        # stages waiting for a person: the inbox is polled while any waits (approvals.py)
        self._waiting = {n for n in self.graph.order if records[n].status in AWAITING}
        # stages stopped because another stage's call spent the run's budget: stage -> why
        self._budget_stops: dict[str, str] = {}
        # a stage that committed `succeeded` lets its dependents prepare while its flush runs (reports.py)
        self.reports = Reports()
        self._scheduler: Scheduler | None = None
        self._wake: asyncio.Future[None] | None = None  # wakes the main loop to start their dependents
        if options.costs is not None and options.costs.limits() != costs.Limits():
            records.subscribe(costs.BudgetWatch(records, options.costs, self._budget_reached))

    # -- control -----------------------------------------------------------------------
    def request_stop(self, reason: StopReason) -> None:
        """Start nothing new and cancel running stages (they are committed `interrupted`)."""
        if self._stop in (StopReason.NONE, StopReason.FAILURE):
            self._stop = reason
        for task in self._running:
            task.cancel()

    def _budget_reached(self, stage: str, limit: str, used) -> None:
        """A call of `stage` spent the run's budget: every other stage inside an agent call stops now
        (its agent's process group is ended; it is recorded blocked and runs again once the budget is raised)."""
        self.options.costs.announced.add(("run", None, limit))
        self._guarded(lambda: self.events.emit("budget_exceeded", stage, scope="run", limit=limit, tokens=used.total,
                                               cost_usd=used.cost_usd))
        stop_calling(self._running, self.runtime, stage, costs.run_budget_message(self.paths.feature, limit, used),
                     self._budget_stops)

    def _halt(self, exc: TeambotError) -> None:
        """A write failed in a way no retry mends (a full disk, a symlink in the run directory):
        stop the run like an interrupt; the error ends it once every stage has wound down."""
        if self._fatal is None:
            self._fatal = exc
        self.request_stop(StopReason.INTERRUPTED)

    def _guarded(self, write: Callable[[], object]) -> None:
        """One of the run loop's own writes (an event, the heartbeat); a fatal error halts the run."""
        try:
            write()
        except TeambotError as exc:
            self._halt(exc)

    def elapsed(self) -> float:
        return self._elapsed_base + (time.monotonic() - self._started_at)

    # -- main loop -----------------------------------------------------------------------
    async def run(self) -> Outcome:
        self._merge_lock = asyncio.Lock()
        agents = {n: agents_of(self.stages[n]) for n in self.graph.order}
        statuses = {n: self.records[n].status for n in self.graph.order}
        scheduler = self._scheduler = Scheduler(self.graph, agents, statuses)
        failed: dict[str, str] = {}
        blocked: dict[str, str] = {}
        deadline = None if self.options.time_budget is None else time.monotonic() + self.options.time_budget
        try:
            while True:
                if self._waiting and self._stop is StopReason.NONE:
                    self._take_decisions(scheduler)
                if self._stop is StopReason.NONE:
                    capacity = self.options.max_concurrency - len(self._running) + self.reports.settling()
                    for name in scheduler.take(capacity):
                        self._start(name)
                if not self._running:
                    break
                wait = approvals.POLL_SECONDS if self._waiting else HEARTBEAT_SECONDS
                if deadline is not None and self._stop in (StopReason.NONE, StopReason.FAILURE):
                    wait = max(0.0, min(wait, deadline - time.monotonic()))
                self._wake = asyncio.get_running_loop().create_future()
                done, _ = await asyncio.wait([*self._running, self._wake], timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                self._wake = None
                if deadline is not None and time.monotonic() >= deadline and self._stop in (StopReason.NONE, StopReason.FAILURE):
                    self.request_stop(StopReason.TIME_LIMIT)  # once: stages wind down within their grace
                for task in done:
                    if task not in self._running:  # the wake-up
                        continue
                    name = self._running.pop(task)
                    scheduler.release(name)  # its agents are free, whatever its status
                    self.lifecycles.drop(name)  # its record says where it stands
                    if not task.cancelled() and isinstance(task.exception(), TeambotError):
                        self._halt(task.exception())  # the stage's record says what it could write
                        continue
                    status = task.result() if not task.cancelled() else StageStatus.INTERRUPTED
                    if status == StageStatus.SUCCEEDED:
                        self._maybe_group_completed(name)  # (the stage told the scheduler: _advance, _run_stage)
                    elif status in AWAITING:
                        self._waiting.add(name)
                    elif status in (StageStatus.FAILED, StageStatus.BLOCKED):
                        (failed if status == StageStatus.FAILED else blocked)[name] = self.records[name].error or status.value
                        if self.options.on_failure == "stop":
                            if self._stop is StopReason.NONE:
                                self._stop = StopReason.FAILURE
                self._heartbeat()
        finally:
            for lifecycle in self.lifecycles.values():
                lifecycle.release()
        pending = [n for n in self.graph.order if self.records[n].status not in FINISHED]
        waiting = {n: self.records[n].status.value for n in self.graph.order if self.records[n].status in AWAITING}
        pending = [n for n in pending if n not in failed and n not in blocked and n not in waiting]
        return Outcome(stop=self._stop, failed=failed, pending=pending, blocked=blocked,
                       blocked_by={n: self.records[n].blocked_by or "iterations" for n in blocked}, fatal=self._fatal,
                       waiting=waiting)

    def _take_decisions(self, scheduler: Scheduler) -> None:
        """Apply the decisions people left in the inbox: an approved stage's dependents may start,
        a rejected or reviewed stage runs again (approvals.py)."""
        for name in sorted(self._waiting):
            try:
                status = approvals.take_decision(self._stage_work(name, self.records[name].attempts), self.lifecycles[name])
            except TeambotError as exc:
                self._halt(exc)
                return
            if status is None:
                continue
            self._waiting.discard(name)
            if status == StageStatus.SUCCEEDED:
                scheduler.finished(name)
                self._maybe_group_completed(name)
            else:
                scheduler.requeue(name)

    def _start(self, name: str) -> None:
        task = asyncio.get_running_loop().create_task(self._run_stage(name), name=f"stage:{name}")
        self._running[task] = name

    def _group_started(self, name: str) -> None:
        group = self.graph.group_of(name)
        if group is not None and group not in self._groups_started:
            self._groups_started.add(group)
            self.events.emit("parallel_group_started", None, group=group, stages=list(self.graph.groups[group]))

    def _advance(self, name: str) -> None:
        """`name` committed `succeeded`: the scheduler may start its dependents while its flush runs
        (its agent and its place are free; reports.py says when they may show)."""
        self.reports.advance(name)
        self._scheduler.finished(name)
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def _after_reports(self, name: str) -> None:
        """Before a stage records or emits anything without an attempt (kept, blocked at once)."""
        await self.reports.after_reports()
        self._group_started(name)

    def _start_of(self, name: str, attempt: int) -> Start:
        def announce() -> None:
            self._group_started(name)
            self.events.emit("stage_started", name, agent=self.stages[name].work_agent, attempt=attempt)
            for artifact in start.missing:  # an upstream artifact deleted since its stage succeeded
                self.events.emit("upstream_artifact_missing", name, artifact=artifact)

        start = Start(self.reports, announce)
        return start

    def _maybe_group_completed(self, name: str) -> None:
        group = self.graph.group_of(name)
        if group is None or group in self._groups_completed:
            return
        members = self.graph.groups[group]
        if all(self.records[m].status in FINISHED for m in members if m in self.records):  # skipped members count
            self._groups_completed.add(group)
            self._guarded(lambda: self.events.emit("parallel_group_completed", None, group=group, stages=list(members)))

    def _heartbeat(self) -> None:
        """Keep the run record's elapsed time fresh so a kill loses at most a few seconds."""
        now = time.monotonic()
        if now - self._last_heartbeat >= HEARTBEAT_SECONDS:
            self._last_heartbeat = now
            self.run_record.elapsed_seconds = self.elapsed()
            self.run_record.updated_at = now_iso()
            self._guarded(self.records.save_run)

    # -- one stage -----------------------------------------------------------------------
    def _commit(self, name: str, **changes) -> None:
        self.records.update(name, **changes)

    async def _run_stage(self, name: str) -> StageStatus:
        stage = self.stages[name]
        retries = stage.retries
        kind = kind_of(stage)
        lifecycle = self.lifecycles[name]
        if self.records[name].run_if_changed:
            await self._after_reports(name)  # (it may be kept: an event)
            if self._keep_if_unchanged(name):
                self._scheduler.finished(name)
                return StageStatus.SUCCEEDED
        blocked = kind.precheck(self._stage_work(name, self.records[name].attempts))
        if blocked is not None:  # refuses to start (the gate, a spent budget): no attempt is recorded
            await self._after_reports(name)
            return self._block(name, blocked)
        while True:
            lifecycle.start()
            attempt = self.records[name].attempts + 1
            self._commit(name, status=lifecycle.status, attempts=attempt, started_at=now_iso(), finished_at=None,
                         agent=stage.work_agent, error=None, pgid=None)
            start = self._start_of(name, attempt)
            try:
                outputs = await self._attempt(name, kind, attempt, start)
            except asyncio.CancelledError:
                start.now()
                if name in self._budget_stops and self._stop in (StopReason.NONE, StopReason.FAILURE):
                    return self._block(name, StageBlocked(self._budget_stops.pop(name), kind="budget"))
                lifecycle.interrupt()
                self._commit(name, status=lifecycle.status, finished_at=now_iso(), error="interrupted", pgid=None)
                self.events.emit("stage_interrupted", name, reason=str(self._stop or "cancelled"))
                raise
            except StageBlocked as exc:
                return self._block(name, exc)
            except AwaitingPerson as exc:  # a human reviewer: the stage waits, its agents are free
                lifecycle.await_review()
                self._commit(name, status=lifecycle.status, waiting_since=now_iso(), pgid=None)
                await self.records.settled()  # durable before anyone is told to decide
                self.events.emit("stage_awaiting_review", name, iteration=exc.iteration, reason=exc.message)
                return lifecycle.status
            except TeambotError as exc:  # a full disk or an unsafe path: no retry helps, the run stops
                self._record_fatal(name, exc)
                raise
            except AgentError as exc:
                error, retryable = self.redact(exc.message), exc.retryable
                if exc.usage is not None:  # a failed call still cost its tokens: every call counts
                    self._commit(name, usage=add_usage(self.records[name].usage, exc.usage))
            except Exception as exc:  # a runtime bug must not lose the run: record it as a failure
                full = disk_full_error(exc)
                if full is not None:  # a write the runtime made itself: still the disk, not a bug
                    self._record_fatal(name, full)
                    raise full from exc
                error, retryable = self.redact(f"unexpected {type(exc).__name__}: {exc}"), False
                log_traceback(self.paths, name)
            else:
                waits = approvals.needs_approval(stage)  # its work is done and kept; a person decides
                (lifecycle.await_approval if waits else lifecycle.succeed)()
                self._commit(name, status=lifecycle.status, finished_at=now_iso(), pgid=None, **outputs,
                             **({"waiting_since": now_iso()} if waits else {}))
                for report in kind.stale_reports(stage):  # an old "why blocked" no longer holds
                    self.paths.report(name, report).unlink(missing_ok=True)
                if not waits:
                    self._advance(name)  # its dependents prepare while the flush runs
                # Durable before it is reported or a dependent starts visibly; stages finishing
                # together share one flush (group commit, store/persistence.py).
                try:
                    await self.records.settled()
                    self.events.emit("stage_awaiting_approval" if waits else "stage_succeeded", name, attempt=attempt,
                                     artifacts=sorted(self.records[name].artifacts))
                    self._maybe_group_completed(name)
                finally:
                    self.reports.reported(name)
                return lifecycle.status
            if len(error) > ERROR_CAP:
                error = error[:ERROR_CAP] + f" [... {len(error) - ERROR_CAP} more characters]"
            lifecycle.fail()
            self._commit(name, status=lifecycle.status, finished_at=now_iso(), error=error, pgid=None)
            if retryable and retries > 0 and self._stop is StopReason.NONE:
                retries -= 1
                wait = self.options.retry_backoff * (2 ** (attempt - 1)) * (0.75 + random.random() / 2)
                self.events.emit("stage_retrying", name, attempt=attempt, error=error, wait_seconds=round(wait, 3))
                lifecycle.retry()
                self._commit(name, status=lifecycle.status)
                await asyncio.sleep(wait)
                continue
            self.events.emit("stage_failed", name, attempt=attempt, error=error)
            return StageStatus.FAILED

    def _record_fatal(self, name: str, exc: TeambotError) -> None:
        """Record the stage failed with the error if the disk still takes it (else it stays
        `running` on disk, which resume recovers as after a crash)."""
        try:
            self.lifecycles[name].fail()
            self._commit(name, status=StageStatus.FAILED, finished_at=now_iso(), error=self.redact(exc.message), pgid=None)
            self.events.emit("stage_failed", name, attempt=self.records[name].attempts, error=self.redact(exc.message))
        except (TeambotError, OSError):
            pass

    def _block(self, name: str, exc: StageBlocked) -> StageStatus:
        lifecycle = self.lifecycles[name]
        before_start = lifecycle.status == StageStatus.PENDING
        lifecycle.block()
        if not before_start:
            when = {"finished_at": now_iso()}
        elif exc.kind == "acceptance_gate":  # refused to start: it has not run in this budget
            when = {"started_at": None, "finished_at": now_iso()}
        else:  # blocked again before starting (budget still spent): its last attempt's times stand
            when = {}
        self._commit(name, status=lifecycle.status, error=self.redact(exc.message), pgid=None, blocked_by=exc.kind, **when)
        self.events.emit("stage_blocked", name, reason=exc.message, kind=exc.kind, report=exc.report)
        return StageStatus.BLOCKED

    async def _attempt(self, name: str, kind: StageKind, attempt: int, start: Start) -> dict:
        """One attempt of the stage's kind; returns the record fields to commit with `succeeded`.

        Until `start` (every stage advanced before it reported), it only prepares: a kind that
        starts late (plain) renders and saves its prompt meanwhile; however it ends, it has
        started first."""
        try:
            personas = provenance.read_once(self.personas)  # what provenance records of a persona is what the prompt got
            inputs = self.inputs.inputs(self.stages[name], self._lineage[name], self.records, self.paths, personas)
            start.missing = provenance.missing_upstream(inputs)
            if not kind.starts_late:
                await start()
            done = await kind.attempt(self._stage_work(name, attempt, personas, start))
            await start()
        except asyncio.CancelledError:
            raise
        except BaseException:
            await start()  # how it ended is told after it started
            raise
        if self.integration is not None and kind.name is not StageKindName.TASK:
            async with self._merge_lock:  # one git writer at a time on the integration branch (the merge queue's lock)
                await asyncio.to_thread(self.integration.commit_stage, name, self.stages[name].name or name)
        hashes = declared_artifacts(self.stages, name, self.paths, durable=self.options.durable, written=done.written)
        fields = write_output(self.stages[name], name, self.paths, done.output, hashes, redact=self.redact,
                              durable=self.options.durable, usage=done.usage)
        inputs = provenance.adopt_revisions(inputs, self._lineage[name], self.records, self.paths, self._commit,
                                            durable=self.options.durable)
        return fields | {"inputs": inputs, "artifact_stamps": provenance.stamps(self.paths, hashes), "run_if_changed": False}

    def _keep_if_unchanged(self, name: str) -> bool:
        """Early cutoff: a stage pending only because an upstream stage reran (`resume --rerun-stale`)
        is kept as it was, without running, when nothing it read changed."""
        current = self.inputs.inputs(self.stages[name], self._lineage[name], self.records, self.paths)
        if not provenance.unchanged(self.records[name], self.stages[name], current, self.paths):
            self._commit(name, run_if_changed=False)
            return False
        lifecycle = self.lifecycles[name]
        lifecycle.start()
        lifecycle.succeed()
        self._commit(name, status=lifecycle.status, run_if_changed=False)
        self.events.emit("stage_kept", name, reason="nothing it read changed")
        return True

    def _stage_work(self, name: str, attempt: int, personas: Callable[[str | None], str | None] | None = None,
                    start: Start | None = None) -> StageWork:
        return StageWork(
            name=name, stage=self.stages[name], attempt=attempt, paths=self.paths, objective=self.objective,
            project_dir=self.project_dir, runtime=self.runtime, settings=self.options.loops,
            upstream=self._upstream_artifacts(name), get_record=lambda: self.records[name],
            commit=lambda **changes: self._commit(name, **changes),
            emit=lambda type, **details: self.events.emit(type, name, **details), redact=self.redact,
            persona=personas or self.personas or provenance.no_persona, on_spawn=lambda pgid: self._commit(name, pgid=pgid),
            durable=self.options.durable, records=self.records, stages=self.stages,
            workdir=self.integration.workdir if self.integration is not None else self.project_dir,
            children=self.children, commit_child=self.records.put_child, settled=self.records.settled,
            integration=self.integration,
            merge_lock=self._merge_lock, concurrency=self.options.max_concurrency, costs=self.options.costs,
            start=start,
        )

    def _upstream_artifacts(self, name: str) -> list:
        # a skipped stage produced nothing; a file left by an earlier attempt of it is not an input
        return [self.paths.artifact(artifact) for stage, artifact in self._lineage[name]
                if self.records[stage].status != StageStatus.SKIPPED]


def agents_of(stage) -> tuple[str, ...]:
    """The agents a stage keeps busy while it runs (its kind says: a review loop holds its reviewer too)."""
    return kind_of(stage).holds(stage)
