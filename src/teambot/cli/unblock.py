"""`teambot unblock STAGE [FEATURE]`: give a blocked review or acceptance stage a fresh iteration budget."""

from __future__ import annotations

from pathlib import Path

import click

from teambot.cli.common import workspace_option


@click.command("unblock")
@click.argument("stage")
@click.argument("feature", required=False)
@click.option("--iterations", type=click.IntRange(1, 50), default=None,
              help="Iterations in the new budget (default: the stage's max_iterations).")
@workspace_option
def command(stage: str, feature: str | None, iterations: int | None, workspace: Path | None) -> int:
    """Give STAGE a fresh iteration budget (its history is kept); `teambot resume` then continues it."""
    from teambot.cli.common import locked_run
    from teambot.errors import UsageError
    from teambot.events import EventLog
    from teambot.lifecycle import StageStatus
    from teambot.session import recover_dead_owner, reset_stages
    from teambot.store.models import RunStatus

    with locked_run(workspace, feature, unfinished_only=True, disk_full_then="run the same command again") as (paths, store, state):
        name = paths.feature
        record = state.stages.get(stage)
        if record is None:
            raise UsageError(f"no stage named '{stage}' in run '{name}'", hint=f"stages: {', '.join(state.stages)}")
        if record.status != StageStatus.BLOCKED:
            raise UsageError(f"stage {stage} is {record.status.value}, not blocked; nothing to unblock")
        if record.blocked_by == "acceptance_gate":
            raise UsageError(f"stage {stage} is blocked by the acceptance gate, not by its iteration budget",
                             hint="make the acceptance tests pass (unblock or rerun the acceptance stage), then resume")
        events = EventLog(paths.events)
        try:
            recover_dead_owner(store, state, events, click.echo, paths.root)
            reset_stages(store, state, [stage], events, f"teambot unblock {stage}", fresh_budget=True, budget=iterations)
        finally:
            events.close()
        if state.run.status == RunStatus.BLOCKED:
            state.run.status = RunStatus.INTERRUPTED
        state.run.owner = None
        store.commit_run(state.run)
        record = state.stages[stage]
        budget = f"of {iterations} iteration(s)" if iterations else "(max_iterations: the stage's, else teambot.yaml's, else 4)"
        click.echo(f"{stage}: a fresh iteration budget {budget}; {len(record.iterations)} earlier iteration(s) kept in its history")
        click.echo(f"next: teambot resume {name}")
        return 0
