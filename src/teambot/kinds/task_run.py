"""One attempt of a task stage: run the tasks file's DAG, each task in its own worktree, merged one at a time.

Per task: worktree from the integration head (after its dependencies merged) → optional
`setup` → the agent → teambot commits what it left → the merge queue (one merge at a time,
run-wide): merge into the integration branch, `verify` there, and only then `succeeded` with
the merge commit. Every step that matters is recorded in the task's child record before it
starts (the merge's intent, `merging_onto`), so a kill -9 anywhere is decided on resume from
git itself (kinds/task.py recovers before any task starts). Design: .agent-tracking/design/task-stages.md.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from teambot.costs import guard, over_budget
from teambot.crashpoints import crash_point
from teambot.errors import AgentError, AgentTimeout, GitError, StageBlocked
from teambot.fsutil import atomic_write
from teambot.git import Repo
from teambot.kinds.context import StageWork
from teambot.lifecycle import StageLifecycle, StageStatus
from teambot.names import child_id
from teambot.runtimes.base import StageRequest, StageResult
from teambot.store.models import ChildRecord, add_usage, now_iso
from teambot.kinds import task_prompts as prompts
from teambot.tasks.model import Task
from teambot.tasks.schedule import TaskPicker
from teambot.tasks.worktrees import WORKTREE_LOCK, Integration, ensure_tree, remove_tree, task_branch

# Tests only: TEAMBOT_TEST_CRASH_AT=<point>:<task> kills teambot (SIGKILL, no clean-up) at that
# point of that task, to prove a resume decides every step from the records and git.
CRASH_POINTS = ("agent", "committed", "intent", "merged", "verified")
VERIFY_TAIL = 3000  # characters of verify output kept in the task's error (the whole output is in its log)


class TaskFailed(AgentError):
    """One task failed (its record says why); `retryable`: another attempt of it may help."""


class TaskStageRun:
    def __init__(self, work: StageWork, tasks: tuple[Task, ...]) -> None:
        assert work.stage.tasks is not None and work.integration is not None and work.merge_lock is not None
        self.work = work
        self.block = work.stage.tasks
        self.integration: Integration = work.integration
        self.tasks = {t.id: t for t in tasks}
        self.order = list(self.tasks)
        self.repo = Repo(self.integration.repo)
        self.lock = work.merge_lock
        self._jobs: dict[asyncio.Task[None], str] = {}  # running tasks' jobs -> task id
        self._budget: StageBlocked | None = None  # a budget reached after a task's call: the stage stops
        self._calling: set[str] = set()  # tasks inside an agent call

    # -- records -------------------------------------------------------------------------
    def cid(self, task: str) -> str:
        return child_id(self.work.name, task)

    def record(self, task: str) -> ChildRecord:
        cid = self.cid(task)
        return self.work.children.get(cid) or ChildRecord(id=cid)

    def commit(self, task: str, **changes) -> ChildRecord:
        cid = self.cid(task)
        record = self.record(task).model_copy(update=changes)
        self.work.children[cid] = self.work.commit_child(record)
        return self.work.children[cid]

    def emit(self, type: str, task: str, **details) -> None:
        self.work.emit(type, task=task, **details)

    # -- the DAG -------------------------------------------------------------------------
    async def run(self) -> str:
        for tid in self.order:
            if self.cid(tid) not in self.work.children:
                self.commit(tid, branch=task_branch(self.integration.feature, tid))
        merged = {t for t in self.order if self.record(t).status == StageStatus.SUCCEEDED}
        picker = TaskPicker(tuple(self.tasks.values()), self.block.pool(self.work.stage),
                            per_agent=self.block.per_agent, done=merged)
        running = self._jobs
        failures: dict[str, str] = {}
        try:
            while True:
                if self._budget is None:  # a budget reached: no task starts any more
                    for start in picker.pick(max(1, self.work.concurrency) - len(running)):
                        job = asyncio.get_running_loop().create_task(self._task(self.tasks[start.task], start.agent))
                        running[job] = start.task
                if not running:
                    break
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for job in done:
                    tid = running.pop(job)
                    if job.cancelled():  # stopped by a budget (below): it runs again once the budget is raised
                        continue
                    exc = job.exception()
                    if exc is None:
                        picker.merged(tid)
                    elif isinstance(exc, AgentError):
                        failures[tid] = str(exc)
                        picker.failed(tid)
                    else:
                        raise exc  # a full disk or a bug: the stage stops (the others are interrupted below)
        finally:
            for job in running:
                job.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
        if self._budget is not None:
            raise self._budget
        waiting = picker.blocked_by_failure()
        waiting = [t for t in waiting if t not in failures]
        if failures or waiting:
            parts = [f"{tid}: {why}" for tid, why in failures.items()]
            kept = [str(self.integration.task_tree(t)) for t in failures if self.integration.task_tree(t).is_dir()]
            if kept:
                parts.append(f"worktrees kept for inspection: {', '.join(kept)}")
            if waiting:
                parts.append(f"not started (a task they build on failed): {', '.join(waiting)}")
            raise AgentError(f"{len(failures)} of {len(self.order)} task(s) failed; " + "; ".join(parts), retryable=False)
        return self._summary()

    def _summary(self) -> str:
        lines = [f"# {self.work.name}", "", f"{len(self.order)} task(s) merged into `{self.integration.branch}`.", "",
                 "| task | title | agent | merge commit |", "| --- | --- | --- | --- |"]
        for tid in self.order:
            rec = self.record(tid)
            lines.append(f"| {tid} | {self.tasks[tid].title} | {rec.agent or '-'} | {(rec.merge_commit or '-')[:12]} |")
        return "\n".join(lines) + "\n"

    # -- one task ------------------------------------------------------------------------
    async def _task(self, task: Task, agent: str) -> None:
        tries = self.work.stage.retries + 1
        for n in range(1, tries + 1):
            try:
                return await self._attempt(task, agent)
            except TaskFailed as exc:
                if not exc.retryable or n == tries:
                    raise
                self.emit("task_retrying", task.id, error=str(exc))
                await asyncio.sleep(min(2.0, 0.2 * n))

    async def _attempt(self, task: Task, agent: str) -> None:
        rec = self.record(task.id)
        lifecycle = StageLifecycle(self.cid(task.id), rec.status)
        try:
            if lifecycle.status != StageStatus.PENDING:
                lifecycle.reset()
            lifecycle.start()
            attempt = rec.attempts + 1
            self.commit(task.id, status=lifecycle.status, attempts=attempt, agent=agent, started_at=now_iso(),
                        finished_at=None, error=None, pgid=None)
            self.emit("task_started", task.id, agent=agent, attempt=attempt)
            try:
                merge = await self._work_and_merge(task, agent, attempt, feedback=rec.error)
            except (asyncio.CancelledError, StageBlocked) as exc:  # a budget stops the stage: the task runs again later
                stopped = exc if isinstance(exc, StageBlocked) else self._budget
                why = stopped.message if stopped is not None else "interrupted"
                lifecycle.interrupt()
                self.commit(task.id, status=lifecycle.status, finished_at=now_iso(), error=why, pgid=None)
                self.emit("task_interrupted", task.id)
                raise
            except (AgentError, GitError) as exc:
                message = self.work.redact(str(exc) if isinstance(exc, AgentError) else exc.message)
                lifecycle.fail()
                self.commit(task.id, status=lifecycle.status, finished_at=now_iso(), error=message, pgid=None)
                self.emit("task_failed", task.id, error=message)
                retryable = exc.retryable if isinstance(exc, AgentError) else False
                raise TaskFailed(message, retryable=retryable) from None
            lifecycle.succeed()
            self.commit(task.id, status=lifecycle.status, finished_at=now_iso(), merge_commit=merge, merging_onto=None,
                        pgid=None)
            self.emit("task_merged", task.id, merge_commit=merge)
            tree = self.integration.task_tree(task.id)
            if tree.exists():  # merged: its worktree has done its job (the branch stays until `teambot clean`)
                await asyncio.to_thread(remove_tree, self.repo, tree)
        finally:
            lifecycle.release()

    async def _work_and_merge(self, task: Task, agent: str, attempt: int, feedback: str | None) -> str:
        rec = self.record(task.id)
        branch = task_branch(self.integration.feature, task.id)
        tree_path = self.integration.task_tree(task.id)
        ready = await asyncio.to_thread(self._committed_work, task, rec, branch, tree_path)
        if ready is not None:
            # the agent's work is committed but not merged (a crash, a conflict): back to the merge
            # queue without calling the agent again
            if rec.head_commit != ready:
                self.commit(task.id, head_commit=ready)
            return await self._merge(task, agent, attempt)
        base = await asyncio.to_thread(self.repo.branch_commit, self.integration.branch)
        created = await asyncio.to_thread(ensure_tree, self.repo, tree_path, branch, base)
        if created:
            self.commit(task.id, base_commit=base)
            if self.block.setup:
                await self._command(task, self.block.setup, tree_path, "setup")
        tree = Repo(tree_path)
        leftover = await asyncio.to_thread(tree.commit_all, f"{task.id}: {task.title} (work left by an interrupted attempt)",
                                           self._trailers(task))
        if leftover:
            self.emit("task_committed", task.id, commit=leftover, leftover=True)
        prompt = prompts.work_prompt(self.work, task, agent, tree_path, self._merged_titles(), feedback)
        await self._call(task, agent, attempt, tree_path, prompt, step="work")
        crash_point("agent", task.id)
        await asyncio.to_thread(tree.commit_all, f"{task.id}: {task.title}", self._trailers(task))
        head = await asyncio.to_thread(tree.head)
        if head == self.record(task.id).rejected_commit:
            raise AgentError("the agent changed nothing after verify refused its last merge", retryable=True)
        crash_point("committed", task.id)
        self.commit(task.id, head_commit=head)
        self.emit("task_committed", task.id, commit=head)
        return await self._merge(task, agent, attempt)

    # -- the merge queue -----------------------------------------------------------------
    async def _merge(self, task: Task, agent: str, attempt: int) -> str:
        rounds = 0
        while True:
            async with self.lock:
                merged, conflicts = await self._merge_once(task)
                if merged is not None:
                    crash_point("merged", task.id)
                    if self.block.verify:
                        await self._verify(task, merged)
                    crash_point("verified", task.id)
                    return merged
            self.emit("task_conflict", task.id, files=list(conflicts), round=rounds + 1)
            shown = ", ".join(conflicts[:10]) + (f" and {len(conflicts) - 10} more" if len(conflicts) > 10 else "")
            if self.block.on_conflict == "fail":
                raise AgentError(f"merge conflict with {self.integration.branch} in {shown} (on_conflict: fail)",
                                 retryable=False)
            if rounds >= self.block.max_conflict_rounds:
                raise AgentError(f"merge conflict with {self.integration.branch} in {shown}, still after {rounds} "
                                 "round(s) of resolving (max_conflict_rounds)", retryable=False)
            rounds += 1
            await self._resolve(task, agent, attempt, rounds)

    async def _merge_once(self, task: Task) -> tuple[str | None, tuple[str, ...]]:
        inner = Repo(self.integration.worktree)
        before = await asyncio.to_thread(inner.branch_commit, self.integration.branch)
        self.commit(task.id, merging_onto=before)  # the intent, durable before git moves anything
        await self.work.settle()
        crash_point("intent", task.id)
        result = await asyncio.to_thread(inner.merge, task_branch(self.integration.feature, task.id),
                                         f"Merge task {task.id}: {task.title}", self._trailers(task))
        if result.commit is not None:
            return result.commit, ()
        await asyncio.to_thread(inner.abort_merge)
        self.commit(task.id, merging_onto=None)
        return None, result.conflicts

    async def _verify(self, task: Task, merged: str) -> None:
        """Run `verify` on the integration tree; on failure the merge is undone and the task fails."""
        try:
            await self._command(task, self.block.verify, self.integration.workdir, "verify")
        except AgentError as exc:
            rec = self.record(task.id)
            inner = Repo(self.integration.worktree)
            await asyncio.to_thread(_locked, inner.move_branch, self.integration.branch, rec.merging_onto, expected=merged)
            # the agent must change something before the next merge: this head is never merged again
            self.commit(task.id, merging_onto=None, head_commit=None, rejected_commit=rec.head_commit)
            raise AgentError(f"verify failed after merging, merge undone: {exc}", retryable=True) from None

    async def _resolve(self, task: Task, agent: str, attempt: int, round: int) -> None:
        """Merge the integration head into the task branch; its agent resolves the conflicts there."""
        tree_path = self.integration.task_tree(task.id)
        tree = Repo(tree_path)
        if not tree_path.is_dir():
            await asyncio.to_thread(ensure_tree, self.repo, tree_path, task_branch(self.integration.feature, task.id))
        before = await asyncio.to_thread(tree.head)
        result = await asyncio.to_thread(tree.merge, self.integration.branch,
                                         f"{task.id}: merge {self.integration.branch} (resolving conflicts)",
                                         self._trailers(task))
        if result.commit is None:
            files = result.conflicts
            base = self.record(task.id).base_commit or before
            others = await asyncio.to_thread(tree.trailer_values, "Teambot-Task", base, self.integration.branch, files)
            titles = {o: self.tasks[o].title if o in self.tasks else "" for o in others if o != task.id}
            prompt = prompts.resolve_prompt(self.work, task, agent, tree_path, files, titles, round)
            await self._call(task, agent, attempt, tree_path, prompt, step="resolve")
            markers = await asyncio.to_thread(tree.conflict_markers, files)
            if markers:  # not resolved: this round is spent, the next one starts from a clean merge again
                await asyncio.to_thread(tree.abort_merge)
                where = ", ".join(f"{m.path}:{m.line}" for m in markers[:5])
                self.emit("task_conflict", task.id, files=list(files), round=round, unresolved=where)
                return
            await asyncio.to_thread(tree.commit_all, f"{task.id}: resolve conflicts with {self.integration.branch}",
                                    self._trailers(task))
        head = await asyncio.to_thread(tree.head)
        self.commit(task.id, head_commit=head)

    # -- agents and commands ---------------------------------------------------------------
    async def _call(self, task: Task, agent: str, attempt: int, workdir: Path, prompt, *, step: str) -> StageResult:
        cid, work, paths = self.cid(task.id), self.work, self.work.paths
        atomic_write(paths.prompt(cid), work.redact(prompt.text), durable=False, root=paths.root)
        request = StageRequest(
            feature=paths.feature, stage=cid, agent=agent, prompt=prompt.text, artifacts_dir=paths.artifacts,
            artifacts=(), upstream_artifacts=tuple(work.upstream), run_dir=paths.root, project_dir=work.project_dir,
            workdir=workdir, timeout=work.stage.timeout, log_path=paths.log(cid), attempt=attempt,
            objective_title=work.objective.title, description=task.title,
            on_spawn=lambda pgid: self.commit(task.id, pgid=pgid), system_prompt=prompt.system,
            user_prompt=prompt.user, kind="task", step=step, task=task.id, model=work.stage.model,
        )
        guard(work)  # no call starts once a budget is reached
        await work.settle()  # what this task recorded so far is durable before a new call is paid for
        self._calling.add(task.id)
        try:
            async with asyncio.timeout(work.stage.timeout):
                result = await work.runtime.run(request)
        except TimeoutError:
            raise AgentTimeout(f"{step} timed out after {work.stage.timeout:g} s (stage timeout)") from None
        except AgentError as exc:
            if exc.usage is not None:
                self.commit(task.id, usage=add_usage(self.record(task.id).usage, exc.usage))
                self._check_budget(task.id)
            raise
        finally:
            self._calling.discard(task.id)
        data = work.redact(result.output).encode("utf-8", errors="replace")
        atomic_write(paths.output(cid), data, durable=work.durable, root=paths.root)
        self.commit(task.id, usage=add_usage(self.record(task.id).usage, result.usage), pgid=None,
                    output_sha256=hashlib.sha256(data).hexdigest())
        self._check_budget(task.id)
        return result

    def _check_budget(self, tid: str) -> None:
        """After a task's call: once the stage's or the run's budget is reached, the stage's other
        running tasks stop now (their agents' process groups are ended) and none starts; this task
        keeps what it paid for and goes on to its merge."""
        blocked = over_budget(self.work)
        if blocked is None or self._budget is not None:
            return
        self._budget = blocked
        for job, other in self._jobs.items():
            if other != tid and other in self._calling:  # a task merging or verifying finishes what it paid for
                job.cancel()

    async def _command(self, task: Task, argv, workdir: Path, label: str) -> None:
        """Run `setup` or `verify` (argv, no shell) in `workdir`; AgentError with its output's tail on failure."""
        from teambot.runtimes.command import CommandRuntime, CommandSpec

        cid, work, paths = self.cid(task.id), self.work, self.work.paths
        request = StageRequest(
            feature=paths.feature, stage=cid, agent=None, prompt="", artifacts_dir=paths.artifacts, artifacts=(),
            upstream_artifacts=(), run_dir=paths.root, project_dir=work.project_dir, workdir=workdir,
            timeout=work.stage.timeout, log_path=paths.log(cid), attempt=self.record(task.id).attempts,
            objective_title=work.objective.title, on_spawn=lambda pgid: self.commit(task.id, pgid=pgid), task=task.id,
        )
        spec = CommandSpec(argv=tuple(argv), prompt_via="none", output_cap=work.settings.command_output_cap,
                           grace=work.settings.command_grace, origin=f"stages.{work.name}.tasks.{label}", label=label)
        done = await CommandRuntime(spec, work.redact).execute(request)
        if done.code != 0:
            tail = work.redact(done.stdout).strip()[-VERIFY_TAIL:]
            raise AgentError(f"{label} {' '.join(argv)} failed ({done.message}){': ' + tail if tail else ''}")

    # -- small git questions -----------------------------------------------------------------
    def _committed_work(self, task: Task, rec: ChildRecord, branch: str, tree_path: Path) -> str | None:
        """The branch's head when it holds the agent's finished, committed work not yet merged, else None.

        Recorded (`head_commit`), or committed by teambot just before a crash that kept it from
        being recorded (teambot's commit subject `<id>: <title>`); never a head `verify` refused,
        and never with uncommitted changes beside it (an interrupted agent: it runs again).
        """
        head = self.repo.branch_commit(branch)
        if head is None or head == rec.rejected_commit or head == rec.base_commit:
            return None
        if tree_path.is_dir() and Repo(tree_path).has_changes():
            return None
        if head == rec.head_commit or self.repo.subject(head) == f"{task.id}: {task.title}":
            return head
        return None

    def _trailers(self, task: Task) -> dict[str, str]:
        return {"Teambot-Feature": self.integration.feature, "Teambot-Task": task.id}

    def _merged_titles(self) -> list[str]:
        return [f"{t}: {self.tasks[t].title}" for t in self.order if self.record(t).status == StageStatus.SUCCEEDED]



def _locked(call, *args, **kwargs):
    """`call` under the worktree lock (move_branch lists the worktrees)."""
    with WORKTREE_LOCK:
        return call(*args, **kwargs)
