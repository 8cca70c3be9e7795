"""A person's decision on a waiting stage: the one code path of `teambot approve / reject / review`
and of the HTTP API's POST .../approve, .../reject, .../review.

The decision goes into the run's inbox (inbox.py: no lock, refuses a second decision); the
process driving the run applies it within a second, or the next `teambot resume` does.
Who decided: the CLI records the OS user name (as before); the HTTP API records
`<user>@http`, the OS user running `teambot serve`: the owner of its one token, for whom
whoever holds the token acts. Design: .agent-tracking/design/approvals.md.
"""

from __future__ import annotations

import time
from pathlib import Path

from teambot.errors import LockedError, TeambotError, UsageError
from teambot.paths import RunPaths
from teambot.service.results import Decided, DecisionEntry, ProducedFile, RunOptions, StageDecisions

APPLY_WAIT = 10.0  # seconds to watch a live run take a decision (it polls its inbox every 0.5 s)
# what a decision that sends work back must say, and the name of the field that says it
_NEEDS_TEXT = {"reject": "comment", "changes_requested": "request_changes"}


def http_user() -> str:
    """Who decides over HTTP: the user running the server (the token's owner), marked as coming through it."""
    from teambot.inbox import user_name

    return f"{user_name()}@http"


def review_action(approve: bool, request_changes: str | None, comment: str | None, *,
                  names: tuple[str, str, str] = ("approve: true", "request_changes", "comment")) -> tuple[str, str | None]:
    """A reviewer's verdict as (action, text): exactly one of approve / request changes; a comment only
    goes with an approval (a request for changes is its own text). `names` are the caller's field names."""
    if approve == (request_changes is not None):
        raise UsageError(f"give exactly one verdict: {names[0]} or {names[1]} TEXT")
    if approve:
        return "approved", comment
    if comment is not None:
        raise UsageError(f"{names[2]} goes with {names[0]}; {names[1]} carries the text itself",
                         hint=f"put everything the work agent should read into {names[1]}")
    return "changes_requested", request_changes


def decide_stage(workspace: Path, feature: str, stage: str, action: str, comment: str | None = None, *,
                 by: str | None = None, field: str | None = None) -> Decided:
    """Record `by`'s decision (default: the OS user's) on the waiting `stage` in the run's inbox.

    A rejection or a request for changes needs text (`field` names it in the error); the stage
    must wait for this kind of decision and not be decided already (StageNotWaitingError,
    AlreadyDecidedError: HTTP 409); unknown run or stage: RunNotFoundError / StageNotFoundError.
    """
    from teambot import inbox
    from teambot.store.file import owner_alive

    if comment is not None and not comment.strip():
        if action in _NEEDS_TEXT:
            raise UsageError(f"{field or _NEEDS_TEXT[action]} is empty",
                             hint="say what should change: the stage's agent is given this text")
        comment = None
    if action in _NEEDS_TEXT and comment is None:
        raise UsageError(f"{field or _NEEDS_TEXT[action]} is missing",
                         hint="say what should change: the stage's agent is given this text")
    entry = inbox.decide(workspace, feature, stage, action, comment, by=by)
    live = owner_alive(RunPaths(workspace, feature))
    return Decided(feature=feature, stage=stage, action=entry.action, by=entry.by, at=entry.at, comment=entry.comment,
                   live=live, next=_next(feature, live))


def see_applied(project_dir: Path, workspace: Path, decided: Decided, *, wait: float = APPLY_WAIT) -> Decided:
    """Make sure a process applies the decision: a live run does by itself (watched until it has taken
    it, or has ended without it); when none drives the run, start `teambot resume` (as POST /resume)."""
    from teambot import inbox
    from teambot.service.launch import resume_run
    from teambot.store.file import owner_alive

    paths = RunPaths(workspace, decided.feature)
    deadline = time.monotonic() + wait
    while owner_alive(paths):
        if not _still_pending(paths, decided):
            return decided.model_copy(update={"live": True, "next": "the live run took it"})
        if time.monotonic() > deadline:
            return decided.model_copy(update={"live": True, "next": _next(decided.feature, True)})
        time.sleep(0.1)
    if not inbox.inbox_file(paths, decided.stage).exists():  # the run took it before it ended
        return decided.model_copy(update={"live": False, "next": "applied by the run"})
    try:
        launched = resume_run(project_dir, workspace, decided.feature, RunOptions())
    except LockedError:  # another process took the run meanwhile: it reads the inbox
        return decided.model_copy(update={"live": True, "next": _next(decided.feature, True)})
    except TeambotError as err:  # the decision stands (it is in the inbox); only applying it must wait
        return decided.model_copy(update={"live": False, "next": f"recorded, but teambot resume refused: {err.message}"})
    said = f"teambot resume started (pid {launched.pid}) to apply it"
    if launched.exit_code is not None:
        said = f"teambot resume ended at once (exit {launched.exit_code}): {launched.message or launched.log}"
    return decided.model_copy(update={"live": False, "resumed": launched, "next": said})


def stage_decisions(workspace: Path, feature: str, stage: str) -> StageDecisions:
    """What a person deciding on `stage` needs: whether and since when it waits, which decisions it takes,
    the files to read first (relative to the run directory), a decision not applied yet, past decisions."""
    from teambot import inbox
    from teambot.approvals import decide_command, produced
    from teambot.errors import RunNotFoundError, StageNotFoundError
    from teambot.lifecycle import AWAITING, StageStatus
    from teambot.service.files import run_paths
    from teambot.store.file import read_state

    paths = run_paths(workspace, feature)
    state = read_state(paths)  # lock-free, as `status` reads it; a damaged state is a StateError (422)
    if state is None:
        raise RunNotFoundError(f"no run named '{feature}' in {workspace}")
    record = state.stages.get(stage)
    if record is None:
        raise StageNotFoundError(f"no stage named '{stage}' in run '{feature}'", hint=f"stages: {', '.join(state.stages)}")
    waiting = record.status in AWAITING
    entry = inbox.read_entry(paths, stage)
    pending = entry if entry is not None and inbox.answers(entry, record) else None
    accepts = {StageStatus.AWAITING_APPROVAL: ["approve", "reject"],
               StageStatus.AWAITING_REVIEW: ["approved", "changes_requested"]}.get(record.status, [])
    root = str(paths.root) + "/"
    files = [ProducedFile(path=p.removeprefix(root), kind=_kind(p.removeprefix(root)))
             for p in produced(paths.root, record)] if waiting else []
    return StageDecisions(
        feature=feature, stage=stage, status=record.status.value, waiting_since=record.waiting_since,
        accepts=[] if pending else accepts, files=files, decisions=record.decisions,
        pending=DecisionEntry(action=pending.action, by=pending.by, at=pending.at, comment=pending.comment) if pending else None,
        decide=decide_command(stage, record.status, feature) if waiting else None)


def _still_pending(paths: RunPaths, decided: Decided) -> bool:
    from teambot import inbox

    entry = inbox.read_entry(paths, decided.stage)
    return entry is not None and entry.at == decided.at and entry.by == decided.by


def _kind(relative: str) -> str:
    if relative.startswith("outputs/"):
        return "output"
    if relative.startswith("artifacts/"):
        return "artifact"
    if relative.endswith("-review.request.md"):
        return "review_request"
    if relative.endswith("-work.md"):
        return "work"
    return "file"


def _next(feature: str, live: bool) -> str:
    return "the live run picks it up within a second" if live else f"next: teambot resume {feature}"
