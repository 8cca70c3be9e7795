"""`teambot approve / reject / review STAGE [FEATURE]`: a person's decision on a waiting stage.

No run lock: the decision goes into the run's inbox (inbox.py), where the live run picks it
up within a second, or the next `teambot resume` does. The body is the service's
(service/decisions.py), which the HTTP API calls too.
"""

from __future__ import annotations

from pathlib import Path

import click

from teambot.cli.common import workspace_option


def _decide(stage: str, feature: str | None, workspace: Path | None, action: str, comment: str | None,
            field: str | None = None) -> int:
    from teambot.cli.common import pick_feature, workspace_dir
    from teambot.service.decisions import decide_stage

    ws = workspace_dir(workspace)
    name = pick_feature(ws, feature, unfinished_only=True)
    decided = decide_stage(ws, name, stage, action, comment, field=field)
    click.echo(f"{stage}: {action.replace('_', ' ')} by {decided.by} recorded in the run's inbox")
    click.echo(decided.next)
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
    return _decide(stage, feature, workspace, "reject", comment, "--comment")


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
    from teambot.service.decisions import review_action

    action, text = review_action(approved, changes, comment, names=("--approve", "--request-changes", "--comment"))
    return _decide(stage, feature, workspace, action, text, "--request-changes" if action == "changes_requested" else None)


commands = (approve, reject, review)
