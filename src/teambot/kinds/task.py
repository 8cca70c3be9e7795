"""A task stage (`tasks:`): the tasks file's DAG, each task in its own git worktree, merged one by one.

The kind reads and checks the tasks file, repairs what a crash left (a merge whose outcome
was not recorded is decided from the integration branch itself), then hands the DAG to
kinds/task_run.py. Design: .agent-tracking/design/task-stages.md.
"""

from __future__ import annotations

import asyncio

from teambot.config.models import StageConfig, StageKindName
from teambot.errors import AgentError, ConfigError
from teambot.git import Repo
from teambot.inputs import InputError
from teambot.kinds.base import Attempted, KindDefaults
from teambot.kinds.context import StageWork
from teambot.lifecycle import StageStatus
from teambot.store.models import now_iso
from teambot.tasks.model import TasksFile, load_tasks
from teambot.kinds.task_run import TaskStageRun
from teambot.tasks.worktrees import clear_stale_locks


class TaskKind(KindDefaults):
    name = StageKindName.TASK

    def holds(self, stage: StageConfig) -> tuple[str, ...]:
        assert stage.tasks is not None
        return stage.tasks.pool(stage)

    async def attempt(self, work: StageWork) -> Attempted:
        if work.integration is None:
            raise AgentError(f"{work.name} is a task stage but the run has no integration worktree "
                             "(teambot.yaml isolation: none, or not a git repository)", retryable=False)
        tasks = read_tasks(work)
        run = TaskStageRun(work, tasks.tasks)
        await recover(run)
        return Attempted(await run.run(), usage=work.usage)


def tasks_source(work: StageWork):
    """The tasks file: an upstream stage's artifact, else a path in the project."""
    block = work.stage.tasks
    assert block is not None
    if any(block.from_ in st.artifacts for n, st in work.stages.items() if n != work.name):
        return work.paths.artifact(block.from_)
    return work.project_dir / block.from_


def read_tasks(work: StageWork) -> TasksFile:
    path = tasks_source(work)
    try:
        return load_tasks(path, agents=work.stage.tasks.pool(work.stage))
    except ConfigError as exc:
        details = "; ".join(exc.problems)
        raise AgentError(f"{exc.message}{': ' + details if details else ''}", retryable=False) from None
    except FileNotFoundError:
        raise AgentError(f"tasks file {path} does not exist", retryable=False) from None
    except InputError as exc:  # a FIFO, a device, too big
        raise AgentError(exc.message, retryable=False) from None


async def recover(run: TaskStageRun) -> None:
    """Decide every merge a crash left undecided, from the integration branch itself.

    A task whose record holds `merging_onto` was being merged: when its committed head is in
    the integration branch the merge happened (verify runs again if set, since nothing says it
    passed), otherwise it did not and the task goes back to the merge queue. Then the
    integration tree is made to match its branch (only teambot writes there during a merge) or,
    with no merge undecided, work a stage left uncommitted in it is committed.
    """
    work, integration = run.work, run.integration
    inner = Repo(integration.worktree)
    async with run.lock:
        await asyncio.to_thread(clear_stale_locks, inner)
        if await asyncio.to_thread(inner.merging):
            await asyncio.to_thread(inner.abort_merge)
        undecided = [t for t in run.order if run.record(t).merging_onto and run.record(t).status != StageStatus.SUCCEEDED]
        for tid in undecided:
            rec = run.record(tid)
            head = await asyncio.to_thread(inner.branch_commit, integration.branch)
            if rec.head_commit and head and await asyncio.to_thread(inner.is_ancestor, rec.head_commit, head):
                merge = await asyncio.to_thread(inner.find_merge, integration.branch, rec.head_commit, rec.merging_onto)
                merge = merge or head
                if run.block.verify:
                    try:
                        await run._verify(run.tasks[tid], merge)
                    except AgentError as exc:
                        run.commit(tid, status=StageStatus.FAILED, error=str(exc), finished_at=now_iso(), pgid=None)
                        continue
                run.commit(tid, status=StageStatus.SUCCEEDED, merge_commit=merge, merging_onto=None,
                           finished_at=now_iso(), pgid=None, error=None)
                run.emit("task_merged", tid, merge_commit=merge, recovered=True)
            else:
                run.commit(tid, merging_onto=None)
        if undecided:
            await asyncio.to_thread(inner.reset_hard)
        else:
            await asyncio.to_thread(inner.commit_all, f"{work.name}: work left uncommitted before the task stage",
                                    {"Teambot-Feature": integration.feature, "Teambot-Stage": work.name})
