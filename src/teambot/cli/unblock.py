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
    from teambot import service
    from teambot.cli.common import pick_feature, workspace_dir

    ws = workspace_dir(workspace)
    name = pick_feature(ws, feature, unfinished_only=True)
    result = service.unblock_stage(ws, name, stage, iterations=iterations, say=click.echo)
    budget = f"of {iterations} iteration(s)" if iterations else "(max_iterations: the stage's, else teambot.yaml's, else 4)"
    click.echo(f"{stage}: a fresh iteration budget {budget}; {result.kept} earlier iteration(s) kept in its history")
    click.echo(f"next: teambot resume {name}")
    return 0
