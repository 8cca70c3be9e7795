"""Options and look-ups shared by the commands that work on an existing run."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from teambot.errors import UsageError

# A command that knows its run directory sets this, so a crash log lands beside the run.
crash_dir: Path | None = None

workspace_option = click.option(
    "--workspace", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Directory holding runs (default: .agent-tracking under the current directory).",
)
quiet_option = click.option("--quiet", "-q", is_flag=True, help="Print only the final summary.")


def workspace_dir(option: Path | None, settings=None) -> Path:
    """--workspace, else teambot.yaml's `workspace`, else .agent-tracking; absolute."""
    if option is not None:
        return (Path.cwd() / option).resolve()
    if settings is None:
        from teambot.errors import ConfigError
        from teambot.paths import DEFAULT_WORKSPACE
        from teambot.settings import load_settings

        try:
            configured = load_settings(Path.cwd()).workspace
        except ConfigError:
            configured = DEFAULT_WORKSPACE  # status/resume must still find runs; run reports the file's problems
    else:
        configured = settings.workspace
    return (Path.cwd() / configured).resolve()


def pick_feature(workspace: Path, feature: str | None, *, unfinished_only: bool) -> str:
    """FEATURE as given, or the one run (unfinished one, for resume) in the workspace."""
    from teambot.errors import RunNotFoundError
    from teambot.service import feature_names
    from teambot.store.file import read_state
    from teambot.store.models import RunStatus

    runs = feature_names(workspace)
    if feature is not None:
        if feature not in runs:
            hint = f"runs in {workspace}: {', '.join(runs)}" if runs else f"start one with `teambot run OBJECTIVE` (workspace {workspace})"
            raise RunNotFoundError(f"no run named '{feature}' in {workspace}", hint=hint)
        return feature
    if not runs:
        raise UsageError(f"no runs in {workspace}", hint="start one with `teambot run OBJECTIVE`, or pass --workspace")
    if not unfinished_only:
        if len(runs) == 1:
            return runs[0]
        raise UsageError(f"{len(runs)} runs in {workspace}: {', '.join(runs)}", hint="name one: teambot status FEATURE")
    candidates = []
    for name in runs:
        state = read_state(_paths(workspace, name))
        if state is not None and state.run.status != RunStatus.COMPLETED:
            candidates.append((name, state.run.status.value))
    if len(candidates) == 1:
        return candidates[0][0]
    if not candidates:
        if len(runs) == 1:
            return runs[0]  # resume will say it is complete
        raise UsageError(f"no unfinished run in {workspace} (complete: {', '.join(runs)})", hint="name one to check it: teambot resume FEATURE")
    listing = ", ".join(f"{n} ({s})" for n, s in candidates)
    raise UsageError(f"{len(candidates)} unfinished runs in {workspace}: {listing}", hint="name the one to resume: teambot resume FEATURE")


@contextlib.contextmanager
def locked_run(workspace: Path | None, feature: str | None, *, unfinished_only: bool, disk_full_then: str | None = None):
    """(paths, store, state) of an existing run, its lock held until the block ends (exit 3 if taken).

    `disk_full_then`: what a full disk's message says to do once there is room, for commands
    whose own work must be done again (`rerun`, `unblock`), not `teambot resume`.
    """
    from teambot.paths import RunPaths
    from teambot.service.edits import locked

    ws = workspace_dir(workspace)
    paths = RunPaths(ws, pick_feature(ws, feature, unfinished_only=unfinished_only))
    with locked(paths, disk_full_then=disk_full_then) as (store, state):  # the service's: one rule for both
        yield paths, store, state


class AgentSetup:
    """What every stage of a run shares: settings, runtime choice, personas and the redactor."""

    def __init__(self, project_dir: Path, settings, override: str | None) -> None:
        from functools import partial

        from teambot.prompts.personas import load_persona
        from teambot.redact import Redactor

        self.project_dir = project_dir
        self.settings = settings
        self.warnings: list[str] = []  # printable lines about teambot.yaml that do not stop a run
        self.override = override
        self.runtime_name = override or settings.runtime
        self.redact = Redactor(extra_env_names=[settings.openai.api_key_env, *settings.secret_env_vars,
                                                *(t.url_env for t in settings.notify if t.url_env)])
        personas_dir = Path(settings.personas_dir)
        self.personas = partial(load_persona, personas_dir if personas_dir.is_absolute() else project_dir / personas_dir)

    def input_reader(self, objective, *, cache: bool = False):
        """What reads a stage's inputs (provenance) as this run's stages read them."""
        from teambot.provenance import InputReader

        return InputReader(self.project_dir, objective, self.personas, self.settings, self.override, cache=cache)

    def loop_settings(self):
        """teambot.yaml's review / acceptance / command defaults, as the executor takes them."""
        from teambot.kinds.context import LoopSettings

        s = self.settings
        return LoopSettings(
            review_iterations=s.review.max_iterations, acceptance_iterations=s.acceptance.max_iterations,
            acceptance_command=tuple(s.acceptance.command) if s.acceptance.command else None,
            acceptance_timeout=s.acceptance.timeout, command_output_cap=s.command.output_cap_bytes,
            command_grace=s.command.grace_seconds,
        )

    def check_inputs(self, workflow) -> None:
        """Read every persona and prompt template the run will use, now: one that is a FIFO, a
        device or too big exits 2 (InputError) before anything runs, not when its stage starts."""
        from teambot.config.models import StageKindName
        from teambot.kinds.registry import kind_of
        from teambot.prompts.assemble import template_text

        for name in workflow.graph.order:
            stage = workflow.config.stages[name]
            if stage.kind is StageKindName.COMMAND:
                continue
            for agent in kind_of(stage).holds(stage):
                self.personas(agent)
            if stage.prompt_template:
                template_text(stage.prompt_template, self.project_dir)

    def check_task_stages(self, workflow) -> None:
        """A task stage needs a git project and worktrees; a hand-written tasks file must be valid.
        Exit 2 before anything runs (a tasks file a stage writes is checked when it is written)."""
        from teambot.config.models import StageKindName
        from teambot.tasks.model import load_tasks
        from teambot.tasks.worktrees import require_git

        names = [n for n in workflow.graph.order if workflow.config.stages[n].kind is StageKindName.TASK]
        if not names:
            return
        if self.settings.isolation == "none":
            raise UsageError(f"task stage {', '.join(names)} runs each task in a git worktree, but teambot.yaml sets "
                             "isolation: none", hint="remove `isolation: none` from teambot.yaml")
        require_git(self.project_dir, names)
        produced = {a for st in workflow.config.stages.values() for a in st.artifacts}
        for name in names:
            stage = workflow.config.stages[name]
            if stage.tasks.from_ not in produced:
                load_tasks(self.project_dir / stage.tasks.from_, agents=stage.tasks.pool(stage))

    def runtime_factory(self, events, workflow):
        """The run's runtime; every agent of the workflow is checked first (ConfigError, exit 2)."""
        from teambot.runtimes.router import build_runtime

        from teambot.config.models import StageKindName
        from teambot.config.people import is_human
        from teambot.errors import ConfigError
        from teambot.kinds.checks import command_problems

        self.check_inputs(workflow)
        self.check_task_stages(workflow)
        stages = [workflow.config.stages[n] for n in workflow.graph.order]
        most: dict[str | None, int] = {}
        for stage in stages:
            if stage.kind is not StageKindName.COMMAND:
                most[stage.work_agent] = max(most.get(stage.work_agent, 0), len(stage.artifacts))
        runtime = build_runtime(self.settings, self.override, emit=events.emit, redactor=self.redact)
        agents = [s.work_agent for s in stages if s.kind is not StageKindName.COMMAND] + \
                 [s.review_agent for s in stages if s.kind is StageKindName.REVIEW and not is_human(s.review_agent)] + \
                 [a for s in stages if s.kind is StageKindName.TASK for a in s.tasks.pool(s)]
        runtime.check(agents, artifacts=most, project_dir=self.project_dir)
        problems = command_problems(workflow, self.loop_settings(), runtime.demo_acceptance_command, self.project_dir)
        if problems:
            raise ConfigError(f"{workflow.path}: {len(problems)} stage command(s) cannot run", problems=problems,
                              hint="fix them in the stages file or teambot.yaml (docs/stages.md, docs/configuration.md)")
        return runtime


def load_setup(project_dir: Path, override: str | None, workflow=None) -> AgentSetup:
    """teambot.yaml (validated) plus the --runtime override, checked before anything is written.

    With `workflow`, `setup.warnings` names each agent id of teambot.yaml that no stage uses.
    """
    from teambot.kinds.registry import kind_of
    from teambot.runtimes.registry import check_runtime_name
    from teambot.settings import read_settings

    used = None
    if workflow is not None:
        stages = [workflow.config.stages[n] for n in workflow.graph.order]
        used = {agent for s in stages for agent in kind_of(s).holds(s)}
    settings, warnings = read_settings(project_dir, agents_used=used)
    if override is not None:
        check_runtime_name(override)
    setup = AgentSetup(project_dir, settings, override)
    setup.warnings = warnings
    return setup


def drive_run(records, workflow, obj, paths, setup: AgentSetup, quiet, options, *, resumed, before=None) -> int:
    """Open the event log and the console around `drive` (shared with resume)."""
    import sys

    from teambot.console import make_console
    from teambot.events import EventLog
    from teambot.notify import attach_notifier
    from teambot.session import drive

    for warning in (*workflow.warnings, *setup.warnings):
        print(f"warning: {warning}", file=sys.stderr)
    events = EventLog(paths.events, redact=setup.redact)
    graph = workflow.graph
    try:
        # Build and check the runtime first: bad agent settings exit 2 before any state changes.
        runtime = setup.runtime_factory(events, workflow)
    except BaseException:
        events.close()
        raise
    notifier = None
    try:
        notifier = attach_notifier(setup.settings.notify, events, paths, setup.redact)  # None without targets
        if before is not None:  # resume's reconciliation, reported before the live view starts
            before(events, lambda message: print(message, flush=True))
        console = make_console(
            quiet=quiet, order=graph.order,
            agents={n: workflow.config.stages[n].work_agent for n in graph.order},
            groups={n: graph.group_of(n) for n in graph.order},
            statuses={n: records[n].status for n in graph.order},
        )
        events.listeners.append(console.on_event)
        with console:
            return drive(records=records, workflow=workflow, objective=obj, paths=paths, events=events,
                         project_dir=setup.project_dir, options=options, resumed=resumed, say=console.say,
                         runtime=runtime, personas=setup.personas, redact=setup.redact, inputs=setup.input_reader(obj))
    except BaseException:
        _close(runtime)
        raise
    finally:
        if notifier is not None:
            notifier.close()  # waits a few seconds at most; records what was not delivered
        events.close()


def _close(runtime) -> None:
    """aclose a runtime that never ran (drive closes the ones it runs)."""
    import asyncio

    try:
        asyncio.run(runtime.aclose())
    except Exception:  # already failing: the original error is the one to report
        pass


def _paths(workspace: Path, feature: str):
    from teambot.paths import RunPaths

    return RunPaths(workspace, feature)
