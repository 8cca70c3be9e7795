"""`teambot rerun STAGE [FEATURE]`: mark a stage and everything downstream to run again."""

from __future__ import annotations

from pathlib import Path

import click

from teambot.cli.common import workspace_option


@click.command("rerun")
@click.argument("stage")
@click.argument("feature", required=False)
@workspace_option
def command(stage: str, feature: str | None, workspace: Path | None) -> int:
    """Mark STAGE and everything downstream pending; `teambot resume` then runs them."""
    import difflib

    from teambot.cli.common import locked_run
    from teambot.config import load_workflow
    from teambot.errors import UsageError
    from teambot.events import EventLog
    from teambot.lifecycle import StageStatus
    from teambot.session import recover_dead_owner, reset_stages
    from teambot.store.models import RunStatus

    with locked_run(workspace, feature, unfinished_only=False, disk_full_then="run the same command again") as (paths, store, state):
        name = paths.feature
        workflow = load_workflow(Path(state.run.stages_path), project_dir=Path.cwd(), check_templates=False)
        if stage not in workflow.graph.deps:
            close = difflib.get_close_matches(stage, workflow.graph.order, n=1)
            hint = f"did you mean {close[0]}?" if close else f"stages: {', '.join(workflow.graph.order)}"
            raise UsageError(f"no stage named '{stage}' in {workflow.path}", hint=hint)
        affected = workflow.graph.downstream([stage])
        # a skipped stage downstream stays skipped; rerun of the skipped stage itself makes it pending
        targets = [n for n in workflow.graph.order if n in affected and n in state.stages
                   and (n == stage or state.stages[n].status != StageStatus.SKIPPED)]
        events = EventLog(paths.events)
        try:
            # we hold the lock, so stages still `running` belong to a dead process: end their agents first
            recover_dead_owner(store, state, events, click.echo, paths.root)
            changed = reset_stages(store, state, targets, events, f"teambot rerun {stage}", fresh_budget=True)
            for name in targets:  # asked for: runs even if an interrupted `resume --rerun-stale` left it to be checked
                if state.stages[name].run_if_changed:
                    state.stages[name] = store.commit_stage(state.stages[name].model_copy(update={"run_if_changed": False}))
        finally:
            events.close()
        if state.run.status in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.BLOCKED) and changed:
            state.run.status = RunStatus.INTERRUPTED
        state.run.owner = None
        store.commit_run(state.run)
        click.echo(f"marked to run again: {', '.join(targets)}")
        click.echo(f"next: teambot resume {name}")
        return 0
