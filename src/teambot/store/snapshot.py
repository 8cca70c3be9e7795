"""Reading state.json (the snapshot) and the schema-3 record files: parse, check, report damage."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from teambot.errors import StateError
from teambot.inputs import InputError, read_input
from teambot.store.models import SCHEMA_VERSION, ChildRecord, RunState, StageRecord

MOVE_ASIDE = "teambot never overwrites it: move the run directory aside (or restore the file from a backup) and start again"

# state.json holds every stage record with its iteration history: a large run is a few MiB.
# The limit only stops a device or a runaway file from being read into memory whole.
MAX_STATE_BYTES = 256 << 20


class Moved(Exception):
    """The writer replaced state.json or removed a record file while we were reading."""


def read_json(path: Path) -> object:
    try:
        # regular files only, opened without blocking: a FIFO or /dev/zero planted here must
        # not hang `teambot status` or fill the memory (docs/state.md, "A damaged state file")
        text = read_input(path, MAX_STATE_BYTES, "state file").decode("utf-8")
    except UnicodeDecodeError:
        raise StateError(f"{path} is corrupt: not UTF-8 text", hint=MOVE_ASIDE) from None
    except FileNotFoundError:
        raise Moved() from None
    except InputError as exc:  # not a regular file, too big, or unreadable (permissions: no need to move it)
        raise StateError(exc.message, hint=None if " cannot be read: " in exc.message else MOVE_ASIDE) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        truncated = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        what = "truncated" if truncated else "not valid JSON"
        raise StateError(f"{path} is corrupt ({what}: {exc.msg} at line {exc.lineno} column {exc.colno})", hint=MOVE_ASIDE) from None


def parse_snapshot(path: Path) -> RunState:
    """The state in state.json (any schema up to ours), or StateError naming the file and the reason."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise StateError(f"{path} is corrupt: top level is not an object", hint=MOVE_ASIDE)
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise StateError(f"{path} is corrupt: schema_version is {version!r}, not a number", hint=MOVE_ASIDE)
    if version > SCHEMA_VERSION:
        raise StateError(
            f"{path} was written by a newer teambot (state schema {version}; this teambot reads up to {SCHEMA_VERSION})",
            hint="upgrade teambot (pip install -U teambot) to continue this run",
        )
    try:
        return RunState.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise StateError(f"{path} is corrupt: {where}: {first['msg']}", hint=MOVE_ASIDE) from None


def read_stage_file(entry: Path) -> StageRecord:
    raw = read_json(entry)
    try:
        return StageRecord.model_validate(raw)
    except ValidationError as exc:
        raise StateError(f"{entry} is corrupt: {exc.errors()[0]['msg']}", hint=MOVE_ASIDE) from None


def read_child_file(entry: Path) -> ChildRecord:
    raw = read_json(entry)
    try:
        record = ChildRecord.model_validate(raw)
    except ValidationError as exc:
        raise StateError(f"{entry} is corrupt: {exc.errors()[0]['msg']}", hint=MOVE_ASIDE) from None
    if f"{entry.parent.name}/{entry.stem}" != record.id:  # a file copied or renamed by hand
        raise StateError(f"{entry} is corrupt: it holds the record of {record.id!r}", hint=MOVE_ASIDE)
    return record
