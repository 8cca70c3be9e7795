"""`teambot approve / reject / review STAGE [FEATURE]`: a person's decision on a waiting stage.

No run lock: the decision goes into the run's inbox (inbox.py), where the live run picks it
up within a second, or the next `teambot resume` does.
"""

from __future__ import annotations

from pathlib import Path

import click

from teambot.cli.common import workspace_option


def _decide(stage: str, feature: str | None, workspace: Path | None, action: str, comment: str | None) -> int:
    from teambot.cli.common import pick_feature, workspace_dir
    from teambot.inbox import decide
    from teambot.store.file import owner_alive
    from teambot.paths import RunPaths

    ws = workspace_dir(workspace)
    name = pick_feature(ws, feature, unfinished_only=True)
    entry = decide(ws, name, stage, action, comment)
    click.echo(f"{stage}: {action.replace('_', ' ')} by {entry.by} recorded in the run's inbox")
    if owner_alive(RunPaths(ws, name)):
        click.echo("the live run picks it up within a second")
    else:
        click.echo(f"next: teambot resume {name}")
    return 0


@click.command("approve")
@click.argument("stage")
@click.argument("feature", required=False)
@click.option("--comment", default=None, help="A note kept with the decision in the stage's history.")
@workspace_option
def approve(stage: str, feature: str | None, comment: str | None, workspace: Path | None) -> int:
    """Approve STAGE, which waits (awaiting_approval): its dependents may start."""
    return _decide(stage, feature, workspace, "approve", comment)


@click.command("reject")
@click.argument("stage")
@click.argument("feature", required=False)
@click.option("--comment", required=True, help="What is wrong: the stage runs again with it as feedback.")
@workspace_option
def reject(stage: str, feature: str | None, comment: str, workspace: Path | None) -> int:
    """Reject STAGE, which waits (awaiting_approval): it runs again, its prompt carrying the comment."""
    return _decide(stage, feature, workspace, "reject", _text(comment, "--comment"))


@click.command("review")
@click.argument("stage")
@click.argument("feature", required=False)
@click.option("--approve", "approved", is_flag=True, help="Approve the work under review.")
@click.option("--request-changes", "changes", metavar="TEXT", default=None, help="Request changes: the work agent gets TEXT.")
@click.option("--comment", default=None, help="A note with --approve.")
@workspace_option
def review(stage: str, feature: str | None, approved: bool, changes: str | None, comment: str | None,
           workspace: Path | None) -> int:
    """Give the verdict of a human reviewer (review_agent: human) on STAGE, which waits (awaiting_review)."""
    from teambot.errors import UsageError

    if approved == (changes is not None):
        raise UsageError("give exactly one verdict: --approve or --request-changes TEXT")
    if approved:
        return _decide(stage, feature, workspace, "approved", comment)
    return _decide(stage, feature, workspace, "changes_requested", _text(changes, "--request-changes"))


def _text(value: str, option: str) -> str:
    from teambot.errors import UsageError

    if not value.strip():
        raise UsageError(f"{option} is empty", hint="say what should change: the stage's agent is given this text")
    return value


commands = (approve, reject, review)
