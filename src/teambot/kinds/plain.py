"""A plain stage: one agent call with the stage's prompt; the runtime writes the declared artifacts."""

from __future__ import annotations

import asyncio

from teambot.approvals import with_rejection
from teambot.config.models import StageKindName
from teambot.costs import guard
from teambot.errors import AgentTimeout
from teambot.fsutil import atomic_write, write_new
from teambot.kinds.base import Attempted, KindDefaults
from teambot.kinds.context import StageWork
from teambot.prompts import render_prompt
from teambot.runtimes.base import StageRequest
from teambot.store.models import add_usage


class PlainKind(KindDefaults):
    name = StageKindName.PLAIN
    starts_late = True  # prepares its prompt while its dependencies' flush runs (reports.py)

    async def attempt(self, work: StageWork) -> Attempted:
        stage, name, paths = work.stage, work.name, work.paths
        prompt = render_prompt(name, stage, work.objective, work.upstream, work.project_dir,
                               persona=work.persona(stage.work_agent), paths=paths, workdir=work.workdir)
        prompt = with_rejection(prompt, work.record)  # a person rejected the last attempt: their comment
        saved = work.redact(prompt.text).encode("utf-8", errors="replace")
        if not write_new(paths.prompt(name), saved, root=paths.root):  # a record of what was sent: no flush, no rename
            atomic_write(paths.prompt(name), saved, durable=False, root=paths.root)  # an earlier attempt's
        for artifact in stage.artifacts:
            paths.prepare_artifact(artifact, durable=work.durable)
        request = StageRequest(
            feature=paths.feature, stage=name, agent=stage.work_agent, prompt=prompt.text,
            artifacts_dir=paths.artifacts, artifacts=tuple(stage.artifacts), upstream_artifacts=tuple(work.upstream),
            run_dir=paths.root, project_dir=work.project_dir, workdir=work.workdir, timeout=stage.timeout,
            log_path=paths.log(name), attempt=work.attempt, objective_title=work.objective.title,
            description=stage.description, on_spawn=work.on_spawn, system_prompt=prompt.system, user_prompt=prompt.user,
            model=stage.model,
        )
        await work.started()  # what it depends on is durable and reported: it may act
        guard(work)  # no call starts once a budget is reached
        try:
            async with asyncio.timeout(stage.timeout):  # (no task of its own, unlike wait_for)
                result = await work.runtime.run(request)
        except TimeoutError:
            raise AgentTimeout(f"timed out after {stage.timeout:g} s (stage timeout)") from None
        # a stage's usage is all it spent in this run: every attempt, every rerun; committed now, so
        # it counts (budgets) even if the attempt then fails its checks
        usage = add_usage(work.record.usage, result.usage)
        if result.usage is not None:
            work.commit(usage=usage)
        return Attempted(result.output, written=result.artifacts, usage=usage)
