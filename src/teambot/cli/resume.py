"""`teambot resume [FEATURE]`: rerun only the stages that have not finished."""

from __future__ import annotations

from pathlib import Path

import click

from teambot.cli.common import drive_run, load_setup, quiet_option, workspace_option


@click.command("resume")
@click.argument("feature", required=False)
@click.option("--rerun-stale", is_flag=True, help="Also rerun finished stages that are stale (their definition, something they read, or their artifacts changed), and their dependents whose inputs change.")
@click.option("--max-hours", type=click.FloatRange(min=0, min_open=True), default=8.0, show_default=True, help="Total hours the run may take, counting earlier processes.")
@click.option("--stages", "stages", type=click.Path(path_type=Path), default=None, help="stages.yaml to use (default: the one the run started with).")
@click.option("--runtime", default=None, help="Runtime doing the agent work (default: the run's).")
@click.option("--max-concurrency", type=click.IntRange(1, 64), default=None, help="Stages running at once (default: teambot.yaml's, else 3).")
@click.option("--on-failure", type=click.Choice(["stop", "continue"]), default="stop", show_default=True)
@click.option("--skip", "skip", multiple=True, metavar="STAGE", help="Skip this optional stage (repeatable); its dependents run without it.")
@click.option("--max-cost", type=click.FloatRange(min=0, min_open=True), default=None, help="The run's budget in US dollars, counting all it has spent (kept for later resumes).")
@click.option("--max-tokens", type=click.IntRange(min=1), default=None, help="The run's budget in tokens, counting all it has spent (kept for later resumes).")
@workspace_option
@quiet_option
def command(feature: str | None, rerun_stale: bool, max_hours: float, stages: Path | None, runtime: str | None,
            max_concurrency: int | None, on_failure: str, skip: tuple[str, ...], max_cost: float | None,
            max_tokens: int | None, workspace: Path | None, quiet: bool) -> int:
    """Continue a run: finished stages are kept, unfinished ones run again."""
    from teambot.cli import common
    from teambot.cli.common import pick_feature, workspace_dir
    from teambot.config import load_workflow
    from teambot.errors import ConfigError, UsageError
    from teambot.lifecycle import FINISHED, StageStatus
    from teambot.objective import load_objective
    from teambot.paths import RunPaths
    from teambot.provenance import format_reasons, stale_reasons
    from teambot.session import DriveOptions, add_missing_stages, end_leftover_agents, recover_dead_owner, reset_stages
    from teambot.records import RunRecords
    from teambot.stage_results import lost_outputs, rerun_lost_outputs
    from teambot.skipping import check_skippable, skip_stages
    from teambot.store.file import FileStateStore
    from teambot.store.layout import no_state_error
    from teambot.store.models import RunStatus

    project_dir = Path.cwd()
    ws = workspace_dir(workspace)
    name = pick_feature(ws, feature, unfinished_only=True)
    paths = RunPaths(ws, name)
    store = FileStateStore(paths)  # exits 3 if another process owns the run
    try:
        state = store.load()
        if state is None and (left := no_state_error(paths)) is not None:
            raise left
        if state is None:
            raise UsageError(f"no run named '{name}' in {ws}")
        common.crash_dir = paths.root
        records = RunRecords.persisted(store, state)  # the engine changes records; persistence writes them
        run = state.run
        if run.project_dir and Path(run.project_dir).is_dir():  # the run's project, from whatever directory
            project_dir = Path(run.project_dir)
        stages_path = stages if stages is not None else Path(run.stages_path)
        if not stages_path.exists():
            raise ConfigError(f"the run's stages file {stages_path} no longer exists", hint="pass the workflow to use: teambot resume --stages PATH")
        workflow = load_workflow(stages_path, project_dir=project_dir)
        skipped = check_skippable(workflow, state, skip)  # exit 2 before anything changes
        setup = load_setup(project_dir, runtime or run.runtime_override, workflow)
        objective_path = Path(run.objective_path)
        notes: list[str] = []
        if not objective_path.is_file():
            notes.append(f"note: objective {objective_path} is gone; using the copy saved with the run")
            objective_path = paths.objective_copy
        obj = load_objective(objective_path)
        if obj.sha256 != run.objective_sha256:
            notes.append(f"note: objective {objective_path} changed since the run started; unfinished stages use the new text")

        # what changed since each finished stage ran: its definition, what it read, its own artifacts
        reasons = stale_reasons(workflow, state.stages, paths, setup.input_reader(obj, cache=True))
        # a succeeded stage whose output a power cut lost is not done (stage_results.lost_outputs)
        lost = lost_outputs(workflow, state.stages, paths)
        reasons = {n: why for n, why in reasons.items() if n not in lost}
        stale_now = list(reasons)

        def reconcile(events, say) -> None:
            for note in notes:
                say(note)
            recover_dead_owner(records, events, say, paths.root)
            added = add_missing_stages(records, workflow)
            if added:
                say(f"new stages: {', '.join(added)}")
            rerun_lost_outputs(records, workflow, lost, events, say)
            stale = stale_now  # new stages have no record of a success yet, so adding them changes nothing here
            if stale and rerun_stale:
                rerun_stale_stages(records, workflow, reasons, events, say)
            elif stale:
                say("stale stages (kept; `teambot resume --rerun-stale` runs them again, or `teambot rerun STAGE`):")
                for line in format_reasons(reasons):
                    say(line)
            if done := skip_stages(records, skipped, events, "--skip"):
                say(f"skipped (--skip): {', '.join(done)}")
            unfinished = [n for n in workflow.graph.order
                          if state.stages[n].status in (StageStatus.FAILED, StageStatus.INTERRUPTED, StageStatus.BLOCKED)]
            reset_stages(records, unfinished, events, "resume")

        todo = [n for n in workflow.graph.order if n not in state.stages or state.stages[n].status not in FINISHED]
        if not todo and not lost and not (rerun_stale and stale_now):
            end_leftover_agents(paths.root, click.echo)  # an agent of a stage since removed from the workflow
            if run.status != RunStatus.COMPLETED:
                run.status = RunStatus.COMPLETED
                run.error = None
                records.save_run()
            click.echo(f"run '{name}' is already complete; nothing to resume.")
            if stale_now:
                click.echo("stale stages (use --rerun-stale to run them again):")
                for line in format_reasons(reasons):
                    click.echo(line)
            return 0
        run.project_dir = str(project_dir.resolve())  # where this process reads templates and personas
        if max_cost is not None or max_tokens is not None:  # committed with the run record as the run starts
            from teambot.costs import raise_budget

            raise_budget(run, max_cost, max_tokens)
        options = DriveOptions(runtime=setup.runtime_name, max_concurrency=max_concurrency or setup.settings.max_concurrency,
                               max_hours=max_hours, on_failure=on_failure, loops=setup.loop_settings(),
                               isolation=setup.settings.isolation, worktrees_dir=setup.settings.worktrees_dir,
                               budget=setup.settings.budget)
        return drive_run(records, workflow, obj, paths, setup, quiet, options, resumed=True, before=reconcile)
    finally:
        store.close()


def rerun_stale_stages(records, workflow, reasons: dict[str, list[str]], events, say) -> None:
    """--rerun-stale: the stale stages and their dependents go back to pending, each one that
    succeeded with recorded inputs to be checked again before it would start (session.send_back:
    a rerun that reproduced the same artifacts costs nothing downstream)."""
    from teambot.session import send_back

    rerun = send_back(records, workflow, reasons, events, "stale (--rerun-stale)", fresh_budget=True)
    # stale only through an upstream artifact: they run if that artifact is still different once its stage reran
    roots = [n for n, why in reasons.items() if not all(w.startswith("upstream artifact ") for w in why)]
    say(f"rerunning stale stages: {', '.join(roots)}")
    if dependents := [n for n in rerun if n not in roots]:
        say(f"  then their dependents, each only if what it reads has changed by then: {', '.join(dependents)}")
