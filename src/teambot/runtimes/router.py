"""Send each stage to its agent's runtime: teambot.yaml's per-agent overrides, else the default.

`build_runtime(settings, override, emit, redactor)` is what a run uses as its one
AgentRuntime. The router builds each agent's runtime on first use (a command spec from the
agent's argv or preset, an openai variant with the agent's model) and closes them all in
`aclose()`. A preset whose argv depends on the project (aider's `--no-git` outside a git work
tree) gets a GitAwareRuntime, which chooses per attempt. `--runtime NAME` (override) puts every agent on NAME, keeping their
argv/preset/model. `check()` finds, before a run starts, what would fail every stage of an
agent mid-run.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from teambot.errors import AgentError, AgentTimeout, ConfigError
from teambot.redact import Redactor
from teambot.runtimes.base import AgentRuntime, StageRequest, StageResult
from teambot.runtimes.presets import PLACEHOLDERS, PRESETS, Preset, in_git_work_tree
from teambot.runtimes.registry import check_runtime_name
from teambot.settings import NO_AGENT_SETTINGS, AgentSettings, Settings

if TYPE_CHECKING:  # pragma: no cover - typing only
    from teambot.runtimes.command import CommandRuntime, CommandSpec

# argv[0] can be checked before a run only when no per-stage placeholder is left in it
_STAGE_PLACEHOLDER = re.compile(r"\{(" + "|".join(p for p in PLACEHOLDERS if p != "project_dir") + r")\}")


class RouterRuntime:
    """An AgentRuntime that dispatches by `request.agent`."""

    name = "router"

    def __init__(self, settings: Settings, override: str | None = None, emit: Callable[..., Any] | None = None,
                 redactor: Callable[[str], str] | None = None) -> None:
        if override is not None:
            check_runtime_name(override)
        self.settings = settings
        self.override = override
        self.emit = emit
        self.redactor = redactor or Redactor((settings.openai.api_key_env, *settings.secret_env_vars))
        self._agents: dict[tuple[str | None, str | None], AgentRuntime] = {}  # (agent, stage model)
        self._demo: AgentRuntime | None = None
        self._openai = None
        names = {override} if override else {settings.runtime, *(a.runtime for a in settings.agents.values())}
        if "demo" in names:  # now: its knobs (TEAMBOT_DEMO_*) are checked before the run starts
            self._demo_runtime()

    # -- configuration -------------------------------------------------------------------
    def agent_settings(self, agent: str | None) -> AgentSettings:
        return self.settings.agents.get(agent or "", NO_AGENT_SETTINGS)

    def runtime_name(self, agent: str | None) -> str:
        """The runtime that does `agent`'s work: --runtime, else agents.<id>.runtime, else runtime."""
        return self.override or self.agent_settings(agent).runtime or self.settings.runtime

    def check(self, agents: Iterable[str | None], *, artifacts: Mapping[str | None, int] | None = None,
              project_dir: Path | None = None) -> None:
        """Raise ConfigError naming every agent of the workflow that cannot be run as configured.

        `artifacts` maps an agent (None: stages without one) to the most artifacts any of its
        stages declares; the openai runtime writes only one. `project_dir` (default: the
        current directory) is where a relative argv[0] such as `./bin/agent` is looked up.
        """
        from teambot.runtimes.argv import resolve_program

        project_dir = Path.cwd() if project_dir is None else project_dir
        agents, artifacts = list(agents), artifacts or {}
        problems = []
        for agent in sorted({a for a in agents if a is not None}):
            try:
                spec = self._spec_for(agent)
                program = spec.argv[0].replace("{project_dir}", str(project_dir)) if spec is not None else ""
                if spec is not None and not _STAGE_PLACEHOLDER.search(program):
                    resolve_program(program, os.environ.get("PATH", os.defpath), project_dir, spec.origin)
            except AgentError as exc:
                problems.append(f"agents.{agent}: {exc.message}")
        for agent in sorted(set(agents) | set(artifacts), key=lambda a: (a is not None, a or "")):
            most = artifacts.get(agent, 0)
            if most > 1 and self.runtime_name(agent) == "openai":
                who, whose = (f"agents.{agent}", "this agent's") if agent is not None else ("stages without a work_agent", "those")
                problems.append(f"{who}: the openai runtime writes one artifact per stage, but one of {whose} stages "
                                f"declares {most}; put it on a command runtime or split the stage")
        if problems:
            raise ConfigError(f"teambot.yaml: {len(problems)} agent(s) cannot run", problems=problems,
                              hint="configure them in teambot.yaml (docs/configuration.md, docs/runtimes.md)")

    def demo_acceptance_command(self, agent: str | None) -> tuple[str, ...] | None:
        """The demo's acceptance command when `agent` runs on the demo runtime (see kinds/acceptance.py)."""
        if self.runtime_name(agent) != "demo":
            return None
        from teambot.runtimes.demo import DEMO_ACCEPTANCE_COMMAND

        return DEMO_ACCEPTANCE_COMMAND

    # -- AgentRuntime ----------------------------------------------------------------------
    async def run(self, request: StageRequest) -> StageResult:
        from teambot.costs import priced

        model, prices = self.model_of(request.agent, request.model), self.settings.prices
        try:
            result = await self._run(request)
        except AgentError as exc:  # a failed call's tokens are priced too: every call counts
            exc.usage = priced(exc.usage, model, prices)
            raise
        result.usage = priced(result.usage, model, prices)
        return result

    async def _run(self, request: StageRequest) -> StageResult:
        runtime = self.runtime_for(request.agent, request.model)
        timeout = self.agent_settings(request.agent).timeout
        if request.timeout is not None or timeout is None:
            return await runtime.run(request)
        # The stage sets no timeout (the executor's wait_for has none): the agent's applies.
        try:
            return await asyncio.wait_for(runtime.run(dataclasses.replace(request, timeout=timeout)), timeout)
        except TimeoutError:
            raise AgentTimeout(f"timed out after {timeout:g} s (agents.{request.agent}.timeout)") from None

    def model_of(self, agent: str | None, stage_model: str | None = None) -> str | None:
        """The model doing `agent`'s work: the stage's `model:`, else the agent's, else openai.model (openai)."""
        if stage_model:
            return stage_model
        own = self.agent_settings(agent).model
        if own or self.runtime_name(agent) != "openai":
            return own
        return self.settings.openai.model

    async def aclose(self) -> None:
        seen: set[int] = set()
        for runtime in [*self._agents.values(), self._demo, self._openai]:
            if runtime is not None and id(runtime) not in seen:
                seen.add(id(runtime))
                await runtime.aclose()

    def runtime_for(self, agent: str | None, model: str | None = None) -> AgentRuntime:
        """`agent`'s runtime; with `model` (a stage's `model:`), a variant using that model."""
        if (agent, model) not in self._agents:
            self._agents[(agent, model)] = self._build(agent, model)
        return self._agents[(agent, model)]

    # -- building ----------------------------------------------------------------------------
    def _build(self, agent: str | None, model: str | None = None) -> AgentRuntime:
        name = self.runtime_name(agent)
        if name == "demo":
            return self._demo_runtime()
        if name == "openai":
            return self._openai_base().variant(model or self.agent_settings(agent).model or self.settings.openai.model)
        from teambot.runtimes.command import CommandRuntime

        spec = self._spec_for(agent, model)
        assert spec is not None
        runtime = CommandRuntime(spec, self.redactor)
        preset = self._preset_for(agent)
        if preset is not None and preset.outside_git:
            outside = dataclasses.replace(spec, argv=(*spec.argv, *preset.outside_git))
            return GitAwareRuntime(runtime, CommandRuntime(outside, self.redactor))
        return runtime

    def _demo_runtime(self) -> AgentRuntime:
        if self._demo is None:
            from teambot.runtimes.demo import DemoRuntime

            self._demo = DemoRuntime()
        return self._demo

    def _openai_base(self):
        if self._openai is None:
            from teambot.runtimes.openai import OpenAIRuntime

            self._openai = OpenAIRuntime(self.settings.openai, emit=self.emit, redactor=self.redactor)
        return self._openai

    def _preset_for(self, agent: str | None) -> Preset | None:
        """The Preset the agent's argv comes from (None: its own argv, or not a command runtime)."""
        own = self.agent_settings(agent)
        name = own.preset if own.argv or own.preset else self.settings.command.preset  # as _spec_for chooses
        return PRESETS.get(name) if name else None

    def _spec_for(self, agent: str | None, model: str | None = None):
        """The agent's CommandSpec (None when it does not use the command runtime); `model` replaces its model."""
        name = self.runtime_name(agent)
        if name == "openai":
            if not (self.agent_settings(agent).model or self.settings.openai.model):
                raise AgentError(f"runtime openai needs a model: set openai.model or agents.{agent}.model", retryable=False)
            return None
        if name != "command":
            return None
        from teambot.runtimes.command import CommandSpec

        own, shared = self.agent_settings(agent), self.settings.command
        model = model or own.model
        via = own.prompt_via
        if own.argv or own.preset:
            source, argv, preset = f"agents.{agent}", own.argv, own.preset
        elif shared.argv or shared.preset:
            source, argv, preset = "command", shared.argv, shared.preset
            via = via or shared.prompt_via
        else:
            raise AgentError(f"no agent command configured for agent {agent}: set command.preset "
                             f"({', '.join(PRESETS)}) or command.argv, or agents.{agent}.preset / .argv in teambot.yaml",
                             retryable=False)
        report = own.output_format or shared.output_format
        if preset is not None:
            chosen = PRESETS[preset]
            argv, origin, via = chosen.command(model), f"preset {preset} ({source}.preset)", via or chosen.prompt_via
            report = report or chosen.report
        else:
            origin = f"{source}.argv"
            via = via or ("file" if any("{prompt_file}" in a for a in argv) else "stdin")
        return CommandSpec(argv=tuple(argv), prompt_via=via, model=model, output_cap=shared.output_cap_bytes,
                           grace=shared.grace_seconds, origin=origin, report=None if report == "text" else report)


class GitAwareRuntime:
    """A preset whose argv depends on the project (aider): `outside` when it is not inside a git
    work tree, decided per attempt since the runtime learns the project directory per request."""

    name = "command"

    def __init__(self, inside: CommandRuntime, outside: CommandRuntime) -> None:
        self.inside, self.outside = inside, outside

    @property
    def spec(self) -> CommandSpec:
        """The argv used inside a git work tree (the preset's own)."""
        return self.inside.spec

    async def run(self, request: StageRequest) -> StageResult:
        runtime = self.inside if in_git_work_tree(request.workdir) else self.outside
        return await runtime.run(request)

    async def aclose(self) -> None:
        await self.inside.aclose()
        await self.outside.aclose()


def build_runtime(settings: Settings, override: str | None = None, emit: Callable[..., Any] | None = None,
                  redactor: Callable[[str], str] | None = None) -> RouterRuntime:
    """The runtime a run uses: routes each stage by agent; `emit(type, stage, **details)` gets runtime events.

    `redactor` is the run's (the one its event log uses); without it one is built from `settings`.
    """
    return RouterRuntime(settings, override, emit, redactor)
