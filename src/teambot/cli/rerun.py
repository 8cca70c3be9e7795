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
    from teambot import service
    from teambot.cli.common import pick_feature, workspace_dir

    ws = workspace_dir(workspace)
    name = pick_feature(ws, feature, unfinished_only=False)
    result = service.rerun_stage(ws, name, stage, project_dir=Path.cwd(), say=click.echo)
    click.echo(f"marked to run again: {', '.join(result.targets)}")
    click.echo(f"next: teambot resume {name}")
    return 0
