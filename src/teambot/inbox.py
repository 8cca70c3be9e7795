"""A run's inbox: people's decisions on waiting stages, written without the run lock.

`teambot approve / reject / review` write `<run>/inbox/<STAGE>.json` (one decision per
waiting stage); the process driving the run polls it while a stage waits, and the next
`resume` reads it. A decision is written to a temp file, fsynced, then hard-linked to its
name: the link fails if a decision is already there, so two people deciding at once never
overwrite each other (the second one is told, exit 2), and a reader never sees half a file.
The run applies a decision (commits it) before it removes the file, so a crash in between
leaves a decision that no longer matches the stage: it is discarded, never applied twice.
"""

from __future__ import annotations

import getpass
import os
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from teambot.errors import AlreadyDecidedError, RunNotFoundError, StageNotFoundError, StageNotWaitingError
from teambot.fsutil import disk_full_as_error, fsync_dir, make_dirs
from teambot.lifecycle import StageStatus
from teambot.paths import RunPaths
from teambot.store.models import StageRecord, now_iso

Action = Literal["approve", "reject", "approved", "changes_requested"]
# which status each action decides on
WAITS_FOR: dict[str, StageStatus] = {
    "approve": StageStatus.AWAITING_APPROVAL, "reject": StageStatus.AWAITING_APPROVAL,
    "approved": StageStatus.AWAITING_REVIEW, "changes_requested": StageStatus.AWAITING_REVIEW,
}


class InboxEntry(BaseModel):
    """One decision in the inbox; `attempt` and `iteration` say which wait it answers."""

    model_config = ConfigDict(extra="forbid")

    stage: str
    action: Action
    by: str
    at: str
    comment: str | None = None
    attempt: int
    iteration: int | None = None


def inbox_dir(paths: RunPaths) -> Path:
    return paths.root / "inbox"


def inbox_file(paths: RunPaths, stage: str) -> Path:
    return inbox_dir(paths) / f"{stage}.json"


def user_name() -> str:
    """Who decides: the OS user name (getpass reads LOGNAME/USER, then the password database)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no name for this uid (a container): the id still says who
        return f"uid {os.getuid()}"


def decide(workspace: Path, feature: str, stage: str, action: str, comment: str | None, *,
           by: str | None = None) -> InboxEntry:
    """Write `by`'s (default: the OS user's) decision on a waiting stage into the run's inbox;
    StageNotWaitingError / AlreadyDecidedError (UsageErrors, exit 2) if the stage does not wait
    for this kind of decision or was decided already."""
    from teambot.store.file import read_state

    paths = RunPaths(workspace, feature)
    state = read_state(paths)
    if state is None:
        raise RunNotFoundError(f"no run named '{feature}' in {workspace}")
    record = state.stages.get(stage)
    if record is None:
        raise StageNotFoundError(f"no stage named '{stage}' in run '{feature}'", hint=f"stages: {', '.join(state.stages)}")
    want = WAITS_FOR[action]
    if record.status != want:
        raise StageNotWaitingError(f"stage {stage} is {record.status.value}, not {want.value}; there is nothing to decide",
                                   hint=_not_waiting_hint(record, feature))
    existing = read_entry(paths, stage)
    if existing is not None and answers(existing, record):
        raise _decided_twice(existing, feature)
    entry = InboxEntry(stage=stage, action=action, by=by or user_name(), at=now_iso(), comment=comment,
                       attempt=record.attempts, iteration=record.iterations[-1].number if record.iterations else None)
    path = inbox_file(paths, stage)
    if existing is not None:  # a leftover that answers an earlier wait: it would never be applied
        path.unlink(missing_ok=True)
    try:
        _write_new(path, entry.model_dump_json(indent=2).encode(), paths.root)
    except FileExistsError:  # someone decided in the same instant
        raise _decided_twice(read_entry(paths, stage) or entry, feature) from None
    return entry


def read_entry(paths: RunPaths, stage: str) -> InboxEntry | None:
    """The decision waiting in the inbox for `stage`; None if there is none or it cannot be read
    (an unreadable file is left alone for a person to look at)."""
    try:
        return InboxEntry.model_validate_json(inbox_file(paths, stage).read_bytes())
    except (OSError, ValidationError, ValueError):
        return None


def answers(entry: InboxEntry, record: StageRecord) -> bool:
    """Whether `entry` decides the wait `record` is in now (not an earlier one of the stage)."""
    newest = record.iterations[-1].number if record.iterations else None
    return (record.status == WAITS_FOR[entry.action] and entry.attempt == record.attempts
            and entry.iteration == newest)


def remove(paths: RunPaths, stage: str) -> None:
    """Drop a decision once the run has committed it (or found it stale)."""
    try:
        inbox_file(paths, stage).unlink(missing_ok=True)
    except OSError:  # best effort: a stale entry is recognised and ignored next time
        pass


def _write_new(path: Path, data: bytes, root: Path) -> None:
    """Create `path` holding `data`, all or nothing; FileExistsError if it exists."""
    make_dirs(path.parent, root=root)
    with disk_full_as_error(path):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.link(tmp, path)  # atomic, and refuses to replace a decision already there
        finally:
            os.unlink(tmp)
        fsync_dir(path.parent)


def _decided_twice(entry: InboxEntry, feature: str) -> AlreadyDecidedError:
    return AlreadyDecidedError(f"stage {entry.stage} was already decided ({entry.action} by {entry.by} at {entry.at[:19]}); "
                               "the run has not picked the decision up yet",
                               hint=f"`teambot resume {feature}` picks it up (a live run does within a second)")


def _not_waiting_hint(record: StageRecord, feature: str) -> str | None:
    if record.status == StageStatus.AWAITING_REVIEW:
        return f"it waits for a review: teambot review {record.name} {feature} --approve | --request-changes TEXT"
    if record.status == StageStatus.AWAITING_APPROVAL:
        return f"it waits for an approval: teambot approve {record.name} {feature} (or reject --comment TEXT)"
    if record.decisions:
        last = record.decisions[-1]
        return f"its last decision: {last.action} by {last.by} at {last.at[:19]}"
    return None
