"""`teambot run OBJECTIVE`: start a new run."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from teambot.cli.common import drive_run, quiet_option, workspace_option


@click.command("run")
@click.argument("objective", type=click.Path(path_type=Path, dir_okay=True))
@click.option("--stages", "stages", type=click.Path(path_type=Path), default=None, help="stages.yaml to use (default: ./stages.yaml, else the built-in workflow).")
@click.option("--runtime", default=None, help="Runtime doing the agent work (default: demo).")
@click.option("--max-concurrency", type=click.IntRange(1, 64), default=3, show_default=True, help="Stages running at once.")
@workspace_option
@click.option("--feature", default=None, help="Feature name (default: objective front matter, else the file name).")
@click.option("--max-hours", type=click.FloatRange(min=0, min_open=True), default=8.0, show_default=True, help="Stop the run after this many hours (across resumes).")
@click.option("--on-failure", type=click.Choice(["stop", "continue"]), default="stop", show_default=True, help="After a stage fails: start nothing new, or keep starting stages that do not depend on it.")
@quiet_option
def command(objective: Path, stages: Path | None, runtime: str | None, max_concurrency: int, workspace: Path | None,
            feature: str | None, max_hours: float, on_failure: str, quiet: bool) -> int:
    """Start a run of OBJECTIVE (a markdown file) through the workflow."""
    from teambot.cli import main as cli_main
    from teambot.cli.common import workspace_dir
    from teambot.config import load_workflow, resolve_stages_path
    from teambot.errors import UsageError
    from teambot.objective import load_objective
    from teambot.paths import RunPaths
    from teambot.runtimes.registry import RUNTIME_NAMES
    from teambot.session import DriveOptions
    from teambot.store.file import FileStateStore
    from teambot.store.models import RunRecord, RunState, StageRecord

    project_dir = Path.cwd()
    obj = load_objective(objective)
    workflow = load_workflow(resolve_stages_path(stages, project_dir), project_dir=project_dir)
    runtime = runtime or "demo"
    if runtime not in RUNTIME_NAMES:
        raise UsageError(f"unknown runtime {runtime!r}", hint=f"choose one of: {', '.join(RUNTIME_NAMES)}")
    name = obj.feature_name(feature)
    paths = RunPaths(workspace_dir(workspace).resolve(), name)
    store = FileStateStore(paths)  # takes the run's lock, or exits 3 naming the owner
    try:
        existing = store.load()
        if existing is not None:
            raise UsageError(
                f"a run for feature '{name}' already exists in {paths.root} (status {existing.run.status.value})",
                hint=f"continue it with `teambot resume {name}`, or start another with --feature NAME",
            )
        cli_main.crash_dir = paths.root
        for path in (paths.artifacts, paths.outputs, paths.logs, paths.prompts):
            path.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(obj.path, paths.objective_copy)
        run = RunRecord(feature=name, objective_path=str(obj.path.resolve()), objective_sha256=obj.sha256,
                        stages_path=str(workflow.path.resolve()), stages_sha256=workflow.sha256, runtime=runtime)
        records = {n: StageRecord(name=n, agent=workflow.config.stages[n].work_agent) for n in workflow.graph.order}
        store.commit_run(run, stages=records)
        state = RunState(run=run, stages=records)
        return drive_run(store, state, workflow, obj, paths, project_dir, quiet,
                      DriveOptions(runtime=runtime, max_concurrency=max_concurrency, max_hours=max_hours, on_failure=on_failure),
                      resumed=False)
    finally:
        store.close()

