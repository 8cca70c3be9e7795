"""Reading a run's committed state without its lock: snapshot + journal (+ schema-3 files).

Safe beside a live writer: the writer replaces state.json and then deletes the journal
segments it holds, so a reader that sees state.json change, or a segment vanish or a gap in
the seqs while state.json changed, reads again. A gap or bad record while state.json stayed
the same is damage: StateError naming the file and offset.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ValidationError

from teambot.errors import StateError
from teambot.paths import RunPaths
from teambot.store import journal
from teambot.store.layout import check_layout, record_files
from teambot.store.legacy import fold_legacy
from teambot.store.models import ChildRecord, RunRecord, RunState, StageRecord
from teambot.store.snapshot import MOVE_ASIDE, Moved, parse_snapshot

_DOCTOR = "run `teambot doctor {feature}` to see every problem; `teambot doctor {feature} --repair` backs the journal up and repairs what it can"


@dataclass
class Loaded:
    state: RunState
    version: int  # schema_version of state.json as found
    legacy: bool  # schema-3 record files were folded in
    scan: journal.Scan


def read_state(paths: RunPaths) -> RunState | None:
    """The committed state of a run (without taking its lock), or None if there is none."""
    loaded = load_run(paths)
    return loaded.state if loaded else None


def load_run(paths: RunPaths) -> Loaded | None:
    for _ in range(50):
        try:
            return _load_once(paths)
        except Moved:
            continue
    raise StateError(f"{paths.state} kept changing while being read", hint="try again")


def _identity(path: Path) -> tuple[int, int, int, bytes] | None:
    """Which snapshot `path` is. Inode numbers are reused and mtimes are coarse (a few ms), so the
    head of the file, which holds its `seq`, is part of it: two snapshots with one seq hold the same records."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            return st.st_ino, st.st_mtime_ns, st.st_size, b""  # read_input reports it
        with open(path, "rb") as fh:
            head = fh.read(96)
    except FileNotFoundError:
        return None
    except OSError:
        return -1, 0, 0, b""  # unreadable: parse_snapshot reports it
    return st.st_ino, st.st_mtime_ns, st.st_size, head


def _load_once(paths: RunPaths) -> Loaded | None:
    check_layout(paths)
    before = _identity(paths.state)
    if before is None:
        left = record_files(paths)
        if not left:
            return None
        if _identity(paths.state) is not None:
            raise Moved()  # written meanwhile (a migration's snapshot)
        raise missing_snapshot(paths, left)
    state = parse_snapshot(paths.state)
    version = state.schema_version
    legacy = fold_legacy(paths, state)
    after = state.seq if version >= 4 else max((r.seq for r in [*state.stages.values(), *state.children.values()]), default=0)
    scan = journal.scan(paths.journal, after)
    if scan.problems:
        if _identity(paths.state) != before:
            raise Moved()
        raise StateError(f"the run's journal is damaged: {scan.problems[0]}", hint=_DOCTOR.format(feature=paths.feature))
    apply(scan, state, paths.feature)
    if _identity(paths.state) != before:
        raise Moved()
    return Loaded(state=state, version=version, legacy=legacy, scan=scan)


def apply(scan: journal.Scan, state: RunState | None, feature: str) -> RunState | None:
    """Lay each key's newest journal record over `state` (None: build one; needs a run record)."""
    run: RunRecord | None = state.run if state else None
    stages = state.stages if state else {}
    children = state.children if state else {}
    for (kind, raw_key), (seq, payload, path, offset) in sorted(scan.newest.items(), key=lambda item: item[1][0]):
        where = f"{path} at byte {offset}"
        key = raw_key.decode("utf-8", errors="replace")
        if kind == b"r":
            run = _validate(RunRecord, payload, where, feature)
        elif kind == b"s":
            record = _validate(StageRecord, payload, where, feature)
            if record.name != key:
                raise StateError(f"the run's journal is damaged: {where}: record of {record.name!r} under key {key!r}",
                                 hint=_DOCTOR.format(feature=feature))
            stages[key] = record
        else:
            child = _validate(ChildRecord, payload, where, feature)
            if child.id != key:
                raise StateError(f"the run's journal is damaged: {where}: record of {child.id!r} under key {key!r}",
                                 hint=_DOCTOR.format(feature=feature))
            children[key] = child
    if state is not None:
        state.run = run
        state.seq = max(state.seq, scan.last_seq)
        return state
    if run is None:
        return None
    return RunState(seq=scan.last_seq, run=run, stages=stages, children=children)


def _validate(model: type[BaseModel], payload: bytes, where: str, feature: str):
    try:
        return model.model_validate_json(payload)
    except ValidationError as exc:
        raise StateError(f"the run's journal is damaged: {where}: {exc.errors()[0]['msg']}",
                         hint=_DOCTOR.format(feature=feature)) from None


def missing_snapshot(paths: RunPaths, left: list[Path]) -> StateError:
    shown = ", ".join(str(p.relative_to(paths.root)) for p in left[:3]) + (f" and {len(left) - 3} more" if len(left) > 3 else "")
    return StateError(
        f"{paths.state} is missing, but the run still has records ({shown}); teambot will not treat it as a new or empty run",
        hint=f"restore state.json from a backup, or run `teambot doctor {paths.feature}` to see what remains "
             f"(`--repair` rebuilds state.json when the journal holds the whole run)",
    )


__all__ = ["MOVE_ASIDE", "Loaded", "apply", "load_run", "missing_snapshot", "read_state"]
