"""A command stage (`run: [argv, ...]`): teambot runs each argv in turn, no shell, no agent.

The stage's working directory (StageWork.workdir: the project directory unless a task gives
its worktree) is the commands' cwd; exit 0 is success and the first non-zero exit fails the
stage (later commands do not run). Output goes to the stage's log as it comes and, per
command, into outputs/<STAGE>.md. The stage timeout covers all its commands; timeout and
cancellation end the process group as for agent commands.
"""

from __future__ import annotations

import asyncio

from teambot.config.models import StageConfig, StageKindName
from teambot.errors import AgentError, AgentTimeout
from teambot.kinds.base import Attempted, KindDefaults
from teambot.kinds.context import StageWork
from teambot.runtimes.base import StageRequest


async def run_commands(work: StageWork) -> str:
    """Run the stage's commands; returns the stage output (declared artifacts are checked after)."""
    try:
        return await asyncio.wait_for(_run_all(work), work.stage.timeout)
    except TimeoutError:
        raise AgentTimeout(f"timed out after {work.stage.timeout:g} s (stage timeout)") from None


async def _run_all(work: StageWork) -> str:
    from teambot.runtimes.argv import mask_argv
    from teambot.runtimes.command import CommandRuntime, CommandSpec
    from teambot.runtimes.output import artifact_stamps, claim_artifacts

    request = StageRequest(
        feature=work.paths.feature, stage=work.name, agent=None, prompt="", artifacts_dir=work.paths.artifacts,
        artifacts=tuple(work.stage.artifacts), upstream_artifacts=tuple(work.upstream), run_dir=work.paths.root,
        project_dir=work.project_dir, workdir=work.workdir, timeout=work.stage.timeout,
        log_path=work.paths.log(work.name), attempt=work.attempt, objective_title=work.objective.title,
        description=work.stage.description, on_spawn=work.on_spawn,
    )
    for artifact in work.stage.artifacts:
        work.paths.prepare_artifact(artifact, durable=work.durable)
    before = artifact_stamps(request)
    parts = [f"# {work.name}", ""]
    for i, argv in enumerate(work.stage.run or []):
        spec = CommandSpec(argv=tuple(argv), prompt_via="none", output_cap=work.settings.command_output_cap,
                           grace=work.settings.command_grace, origin=f"stages.{work.name}.run[{i}]", label="command")
        runner = CommandRuntime(spec, work.redact)
        done = await runner.execute(request)
        parts += [f"## $ {' '.join(mask_argv(runner.argv_for(request, None)))}", "", "```",
                  work.redact(done.stdout).rstrip(), "```", f"exit code {done.code}", ""]
        if done.code != 0:
            raise AgentError(done.message)
    output = "\n".join(parts)
    # No fallback text: the transcript is teambot's, and a declared artifact must come from the work.
    produced = claim_artifacts(request, before, "")
    missing = [a for a in work.stage.artifacts if a not in produced]
    if missing:
        raise AgentError(f"declared artifact {missing[0]} was not written by the stage's commands", retryable=False)
    return output


class CommandKind(KindDefaults):
    """`run: [argv, ...]`: teambot runs the commands itself; no agent is held."""

    name = StageKindName.COMMAND

    def holds(self, stage: StageConfig) -> tuple[str, ...]:
        return ()

    async def attempt(self, work: StageWork) -> Attempted:
        return Attempted(await run_commands(work), usage=work.usage)
