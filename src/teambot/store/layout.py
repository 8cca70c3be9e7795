"""The kinds of file a run directory holds, checked before anything is read or written there.

A directory where teambot keeps a file (state.json, owner.json, events.jsonl) or a file where
it keeps a directory (journal/, stages/, children/) is outside damage: a clear error naming the
path (exit 2), never an "unexpected error" and never a run that looks empty.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from teambot.errors import StateError, UnsafePathError
from teambot.paths import RunPaths

_ASIDE = "move it aside (keep it if it holds work); `teambot doctor FEATURE` shows what the run still holds"


def _files(paths: RunPaths) -> tuple[Path, ...]:
    return paths.state, paths.owner, paths.events


def _dirs(paths: RunPaths) -> tuple[Path, ...]:
    return paths.journal, paths.stage_records, paths.child_records


def check_layout(paths: RunPaths) -> None:
    """StateError (or UnsafePathError for a symlinked directory) for the first path of the wrong kind."""
    try:
        mode = os.stat(paths.root).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return
    if not stat.S_ISDIR(mode):
        raise StateError(f"{paths.root} is a file, where teambot keeps the run's directory", hint=_ASIDE)
    for path in _files(paths):
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(mode):
            raise StateError(f"{path} is a directory, where teambot keeps a file", hint=_ASIDE)
    for path in _dirs(paths):
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(mode):
            raise UnsafePathError(path, "is a symbolic link")
        if not stat.S_ISDIR(mode):
            raise StateError(f"{path} is a file, where teambot keeps a directory", hint=_ASIDE)


def record_files(paths: RunPaths) -> list[Path]:
    """Every file holding a record of the run besides state.json: journal segments, schema-3 stage and child files."""
    from teambot.store.journal import segments

    found = list(segments(paths.journal)) if paths.journal.is_dir() else []
    if paths.stage_records.is_dir():
        found += sorted(paths.stage_records.glob("*.json"))
    if paths.child_records.is_dir():
        found += sorted(paths.child_records.glob("*/*.json"))
    return found


def traces(paths: RunPaths) -> list[Path]:
    """What shows a run was here: its records, state.json and events.jsonl (a run directory holding
    any of them is never treated as empty)."""
    found = [p for p in (paths.state, paths.events) if os.path.lexists(p)]
    return found + record_files(paths)


def no_state_error(paths: RunPaths) -> StateError | None:
    """For a run directory without state.json or records: the error to give if it still shows that a
    run was here (its events.jsonl), so nothing treats it as a feature never run."""
    if not os.path.lexists(paths.events):
        return None
    return StateError(
        f"{paths.root} holds the files of an earlier run (events.jsonl) but no state.json or journal: its records are lost",
        hint=f"`teambot doctor {paths.feature}` lists what remains; move the directory aside to start the feature again",
    )
