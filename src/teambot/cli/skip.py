"""`teambot skip STAGE [FEATURE]`: record an optional stage `skipped`; its dependents then run without it."""

from __future__ import annotations

from pathlib import Path

import click

from teambot.cli.common import workspace_option


@click.command("skip")
@click.argument("stage")
@click.argument("feature", required=False)
@workspace_option
def command(stage: str, feature: str | None, workspace: Path | None) -> int:
    """Skip STAGE (it must be `optional: true`); `teambot resume` then runs its dependents."""
    from teambot.cli.common import locked_run
    from teambot.config import load_workflow
    from teambot.events import EventLog
    from teambot.records import RunRecords
    from teambot.session import recover_dead_owner
    from teambot.skipping import check_skippable, skip_stages
    from teambot.store.models import RunStatus

    with locked_run(workspace, feature, unfinished_only=True) as (paths, store, state):
        name = paths.feature
        workflow = load_workflow(Path(state.run.stages_path), project_dir=Path.cwd(), check_templates=False)
        targets = check_skippable(workflow, state, [stage])
        records = RunRecords.persisted(store, state)
        if stage not in state.stages:  # added to stages.yaml since the run began; resume adds it too
            from teambot.session import add_missing_stages

            add_missing_stages(records, workflow)
        events = EventLog(paths.events)
        try:
            # we hold the lock, so a stage still `running` belongs to a dead process: end its agent first
            recover_dead_owner(records, events, click.echo, paths.root)
            changed = skip_stages(records, targets, events, f"teambot skip {stage}")
        finally:
            events.close()
        if changed and state.run.status in (RunStatus.FAILED, RunStatus.BLOCKED):
            state.run.status = RunStatus.INTERRUPTED  # no longer failed: waiting for resume
            state.run.error = None
        state.run.owner = None
        records.save_run()
        if changed:
            click.echo(f"{stage}: skipped; the stages that depend on it will run without it")
        else:
            click.echo(f"{stage}: already skipped")
        click.echo(f"next: teambot resume {name}")
        return 0
