"""`teambot clean [FEATURE]`: remove a finished run's git worktrees and merged task branches."""

from __future__ import annotations

from pathlib import Path

import click

from teambot.cli.common import workspace_option


@click.command("clean")
@click.argument("feature", required=False)
@click.option("--branch", is_flag=True, help="Also delete the run's integration branch teambot/FEATURE.")
@click.option("--force", is_flag=True, help="Also remove worktrees with uncommitted changes and unmerged task branches.")
@workspace_option
def command(feature: str | None, branch: bool, force: bool, workspace: Path | None) -> int:
    """Remove FEATURE's worktrees and task branches (its records and the integration branch stay)."""
    from teambot.cli.common import locked_run
    from teambot.tasks.worktrees import clean_run

    with locked_run(workspace, feature, unfinished_only=False) as (paths, _store, state):
        project = Path(state.run.project_dir) if state.run.project_dir else Path.cwd()
        worktrees = Path(state.run.worktrees) if state.run.worktrees else paths.root / "worktrees"
        done = clean_run(project, worktrees, paths.feature, branch=branch, force=force)
        for path in done.removed:
            click.echo(f"removed worktree {path}")
        for name in done.branches:
            click.echo(f"deleted branch {name}")
        for path, why in done.kept:
            click.echo(f"kept {path}: {why}")
        for name, why in done.kept_branches:
            click.echo(f"kept branch {name}: {why}")
        if not (done.removed or done.branches or done.kept or done.kept_branches):
            click.echo(f"nothing to clean for {paths.feature}")
        elif state.run.branch and not branch:
            click.echo(f"the result stays on branch {state.run.branch} (delete it with: teambot clean {paths.feature} --branch)")
        return 0
