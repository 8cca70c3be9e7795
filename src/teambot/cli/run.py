"""`teambot run OBJECTIVE`: start a new run (or, with --dry-run, only render its prompts)."""

from __future__ import annotations

from pathlib import Path

import click

from teambot.cli.common import drive_run, load_setup, quiet_option, workspace_dir, workspace_option


@click.command("run")
@click.argument("objective", type=click.Path(path_type=Path))
@click.option("--stages", "stages", type=click.Path(path_type=Path), default=None, help="stages.yaml to use (default: ./stages.yaml, else the built-in workflow).")
@click.option("--runtime", default=None, help="Runtime for every agent: demo, command or openai (default: teambot.yaml's, else demo).")
@click.option("--max-concurrency", type=click.IntRange(1, 64), default=None, help="Stages running at once (default: teambot.yaml's, else 3).")
@workspace_option
@click.option("--feature", default=None, help="Feature name (default: objective front matter, else the file name).")
@click.option("--max-hours", type=click.FloatRange(min=0, min_open=True), default=8.0, show_default=True, help="Stop the run after this many hours (across resumes).")
@click.option("--on-failure", type=click.Choice(["stop", "continue"]), default="stop", show_default=True, help="After a stage fails: start nothing new, or keep starting stages that do not depend on it.")
@click.option("--dry-run", is_flag=True, help="Render every stage's prompt into the run's prompts/ directory; call no agent.")
@click.option("--skip", "skip", multiple=True, metavar="STAGE", help="Skip this optional stage (repeatable); its dependents run without it.")
@click.option("--max-cost", type=click.FloatRange(min=0, min_open=True), default=None, help="The run's budget in US dollars (instead of teambot.yaml's; kept for resumes).")
@click.option("--max-tokens", type=click.IntRange(min=1), default=None, help="The run's budget in tokens (instead of teambot.yaml's; kept for resumes).")
@quiet_option
def command(objective: Path, stages: Path | None, runtime: str | None, max_concurrency: int | None, workspace: Path | None,
            feature: str | None, max_hours: float, on_failure: str, dry_run: bool, skip: tuple[str, ...],
            max_cost: float | None, max_tokens: int | None, quiet: bool) -> int:
    """Start a run of OBJECTIVE (a markdown file) through the workflow."""
    from teambot.cli import common
    from teambot.config import load_workflow, resolve_stages_path
    from teambot.errors import DiskFullError, UsageError
    from teambot.fsutil import atomic_write
    from teambot.objective import load_objective
    from teambot.paths import RunPaths
    from teambot.session import DriveOptions
    from teambot.records import RunRecords
    from teambot.skipping import check_skippable, skip_stages
    from teambot.store.file import FileStateStore
    from teambot.store.layout import no_state_error
    from teambot.store.models import RunRecord, RunState, StageRecord

    project_dir = Path.cwd()
    obj = load_objective(objective)
    workflow = load_workflow(resolve_stages_path(stages, project_dir), project_dir=project_dir)
    skipped = check_skippable(workflow, None, skip)  # exit 2 before anything is written
    setup = load_setup(project_dir, runtime, workflow)
    if not dry_run:
        setup.check_task_stages(workflow)  # git and hand-written tasks files: exit 2 before anything is written
    name = obj.feature_name(feature)
    paths = RunPaths(workspace_dir(workspace, setup.settings), name)
    store = FileStateStore(paths)  # takes the run's lock, or exits 3 naming the owner
    try:
        existing = store.load()
        if existing is not None:
            raise UsageError(
                f"a run for feature '{name}' already exists in {paths.root} (status {existing.run.status.value})",
                hint=f"continue it with `teambot resume {name}`, or start another with --feature NAME",
            )
        if (left := no_state_error(paths)) is not None:  # a run was here: never start it over on top
            raise left
        common.crash_dir = paths.root
        if dry_run:
            return _dry_run(workflow, obj, paths, setup)
        for path in (paths.artifacts, paths.outputs, paths.logs, paths.prompts):
            paths.make_dir(path)
        atomic_write(paths.objective_copy, setup.redact(obj.text), durable=False)
        run = RunRecord(feature=name, objective_path=str(obj.path.resolve()), objective_sha256=obj.sha256,
                        stages_path=str(workflow.path.resolve()), stages_sha256=workflow.sha256,
                        runtime=setup.runtime_name, runtime_override=runtime, project_dir=str(project_dir.resolve()))
        if max_cost is not None or max_tokens is not None:  # as `resume --max-cost` would set it
            from teambot.costs import raise_budget

            raise_budget(run, max_cost, max_tokens)
        records = {n: StageRecord(name=n, agent=workflow.config.stages[n].work_agent) for n in workflow.graph.order}
        options = DriveOptions(runtime=setup.runtime_name, max_concurrency=max_concurrency or setup.settings.max_concurrency,
                               max_hours=max_hours, on_failure=on_failure, loops=setup.loop_settings(),
                               isolation=setup.settings.isolation, worktrees_dir=setup.settings.worktrees_dir,
                               budget=setup.settings.budget)
        state = RunState(run=run, stages=records)
        live = RunRecords.persisted(store, state)  # the engine changes records; persistence writes them
        # drive builds the runtime before its first commit: bad runtime settings write no state

        def before(events, say) -> None:
            if done := skip_stages(live, skipped, events, "--skip"):
                say(f"skipped (--skip): {', '.join(done)}")

        return drive_run(live, workflow, obj, paths, setup, quiet, options, resumed=False,
                         before=before if skipped else None)
    except BaseException as exc:
        if store.was_empty and not dry_run and not paths.state.exists():
            # Refused before its first commit (e.g. an agent that cannot run): leave no empty run
            # behind. Still under our lock, so no other process can be using the directory.
            import shutil

            shutil.rmtree(paths.root, ignore_errors=True)
        if isinstance(exc, DiskFullError) and not paths.state.exists():  # nothing to resume yet
            raise DiskFullError(exc.path, exc.reason, then="run the same command again") from None
        raise
    finally:
        store.close()


def _dry_run(workflow, obj, paths, setup) -> int:
    """Render each stage's prompt as the run would, into prompts/; no state, no agent.

    A review or acceptance stage gets its first work prompt (later prompts depend on the
    reviews and test results of a real run).
    """
    from teambot.config.models import StageKindName
    from teambot.executor import artifact_lineage
    from teambot.fsutil import atomic_write
    from teambot.prompts import render_prompt
    from teambot.prompts.loops import render_work_prompt

    for warning in (*workflow.warnings, *setup.warnings):
        click.echo(f"warning: {warning}", err=True)
    setup.check_inputs(workflow)
    lineage = artifact_lineage(workflow)
    loops = setup.loop_settings()
    for name in workflow.graph.order:
        stage = workflow.config.stages[name]
        kind = stage.kind
        if kind is StageKindName.COMMAND:
            click.echo(f"{name}: command stage ({len(stage.run or [])} command(s)), no prompt")
            continue
        if kind is StageKindName.SYNC:
            click.echo(f"{name}: no agent (sync point), no prompt")
            continue
        upstream = [paths.artifact(a) for _, a in lineage[name]]
        persona = setup.personas(stage.work_agent)
        if kind in (StageKindName.REVIEW, StageKindName.ACCEPTANCE):
            budget = stage.max_iterations or (loops.review_iterations if kind is StageKindName.REVIEW
                                              else loops.acceptance_iterations)
            prompt = render_work_prompt(name, stage, obj, upstream, setup.project_dir, persona=persona, iteration=1,
                                        position=1, budget=budget, feedback=None, feedback_title=None, paths=paths)
        else:
            prompt = render_prompt(name, stage, obj, upstream, setup.project_dir, persona=persona, paths=paths)
        atomic_write(paths.prompt(name), setup.redact(prompt.text), durable=False, root=paths.root)
        click.echo(f"{name}: {paths.prompt(name)} ({len(prompt.text)} characters, agent {stage.work_agent})")
    click.echo(f"dry run: no agent was called and no run state was written ({paths.root})")
    return 0
