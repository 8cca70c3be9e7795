"""The file store: `state.json` plus per-stage commits, under a lock held for the whole run.

Layout (see .agent-tracking/design/state-store.md):
- state.json      schema_version, the run record and every stage record (a snapshot);
- stages/<S>.json the newest record of stage S committed since the last snapshot;
- children/<S>/<c>.json the same for child S/c of stage S (design/child-records.md).
Each file is replaced atomically (temp, fsync, rename, dir fsync). Loading takes each
stage's record with the highest `seq`, so a crash between any two writes leaves a
consistent state. Per-transition cost stays constant however many stages the run has.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from pydantic import ValidationError

from teambot.errors import LockedError, StateError
from teambot.fsutil import atomic_write, check_dirs, make_dirs
from teambot.inputs import InputError, read_input
from teambot.paths import RunPaths
from teambot.store.models import SCHEMA_VERSION, ChildRecord, Owner, RunRecord, RunState, StageRecord, now_iso

_MOVE_ASIDE = "teambot never overwrites it: move the run directory aside (or restore the file from a backup) and start again"


class _Moved(Exception):
    """The writer replaced state.json or folded a stage file into it while we were reading."""


# state.json holds every stage record with its iteration history: a large run is a few MiB.
# The limit only stops a device or a runaway file from being read into memory whole.
MAX_STATE_BYTES = 256 << 20


def _read_json(path: Path) -> object:
    try:
        # regular files only, opened without blocking: a FIFO or /dev/zero planted here must
        # not hang `teambot status` or fill the memory (docs/state.md, "A damaged state file")
        text = read_input(path, MAX_STATE_BYTES, "state file").decode("utf-8")
    except UnicodeDecodeError:
        raise StateError(f"{path} is corrupt: not UTF-8 text", hint=_MOVE_ASIDE) from None
    except FileNotFoundError:
        raise _Moved() from None
    except InputError as exc:  # not a regular file, too big, or unreadable (permissions: no need to move it)
        raise StateError(exc.message, hint=None if " cannot be read: " in exc.message else _MOVE_ASIDE) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        truncated = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        what = "truncated" if truncated else "not valid JSON"
        raise StateError(f"{path} is corrupt ({what}: {exc.msg} at line {exc.lineno} column {exc.colno})", hint=_MOVE_ASIDE) from None


def read_state(paths: RunPaths) -> RunState | None:
    """The committed state of a run (without taking its lock), or None if there is none.

    Safe beside a live writer: if state.json is replaced (a snapshot, which also deletes
    stages/*.json) while we read, we read again.
    """
    for _ in range(20):
        try:
            return _read_state_once(paths)
        except _Moved:
            continue
    raise StateError(f"{paths.state} kept changing while being read", hint="try again")


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


def _read_state_once(paths: RunPaths) -> RunState | None:
    before = _identity(paths.state)
    if before is None:
        return None
    data = _read_json(paths.state)
    if not isinstance(data, dict):
        raise StateError(f"{paths.state} is corrupt: top level is not an object", hint=_MOVE_ASIDE)
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise StateError(f"{paths.state} is corrupt: schema_version is {version!r}, not a number", hint=_MOVE_ASIDE)
    if version > SCHEMA_VERSION:
        raise StateError(
            f"{paths.state} was written by a newer teambot (state schema {version}; this teambot reads up to {SCHEMA_VERSION})",
            hint="upgrade teambot (pip install -U teambot) to continue this run",
        )
    try:
        state = RunState.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise StateError(f"{paths.state} is corrupt: {where}: {first['msg']}", hint=_MOVE_ASIDE) from None
    if paths.stage_records.is_dir():
        for entry in paths.stage_records.glob("*.json"):
            raw = _read_json(entry)
            try:
                record = StageRecord.model_validate(raw)
            except ValidationError as exc:
                raise StateError(f"{entry} is corrupt: {exc.errors()[0]['msg']}", hint=_MOVE_ASIDE) from None
            known = state.stages.get(record.name)
            if known is None or record.seq > known.seq:
                state.stages[record.name] = record
    if paths.child_records.is_dir():
        for entry in paths.child_records.glob("*/*.json"):
            child = _read_child(entry)
            known_child = state.children.get(child.id)
            if known_child is None or child.seq > known_child.seq:
                state.children[child.id] = child
    if _identity(paths.state) != before:
        raise _Moved()
    return state


def _read_child(entry: Path) -> ChildRecord:
    raw = _read_json(entry)
    try:
        record = ChildRecord.model_validate(raw)
    except ValidationError as exc:
        raise StateError(f"{entry} is corrupt: {exc.errors()[0]['msg']}", hint=_MOVE_ASIDE) from None
    if f"{entry.parent.name}/{entry.stem}" != record.id:  # a file copied or renamed by hand
        raise StateError(f"{entry} is corrupt: it holds the record of {record.id!r}", hint=_MOVE_ASIDE)
    return record


class FileStateStore:
    """The StateStore of one run directory. Opening it takes the run's lock or raises LockedError."""

    def __init__(self, paths: RunPaths, *, durable: bool = True) -> None:
        from filelock import FileLock, Timeout  # lazy: keeps CLI start-up light

        self.paths = paths
        self.durable = durable
        # Lock a separate file, never the one we replace; the OS drops it when we die.
        self._lock = FileLock(str(paths.lock), timeout=0)
        try:
            make_dirs(paths.root)  # fsynced into the workspace, which is fsynced into its parent
            self._lock.acquire()
        except Timeout:  # before OSError: filelock's Timeout is a TimeoutError, an OSError
            raise LockedError(self._owner_message(), hint="wait for it to finish, or stop it (Ctrl-C / kill PID) and run `teambot resume`") from None
        except OSError as exc:
            raise StateError(f"cannot use run directory {paths.root}: {exc.strerror or exc}",
                             hint="check the workspace path (--workspace or teambot.yaml) and its permissions") from None
        # Record ourselves at once: a process refused the lock from now on reads our pid here.
        atomic_write(paths.owner, make_owner().model_dump_json(), durable=False)
        # Looked at under the lock: nothing here yet but the lock (and an owner note) means the
        # directory holds no one's work, so a run refused before its first commit may remove it.
        try:
            self.was_empty = {entry.name for entry in paths.root.iterdir()} <= {paths.lock.name, paths.owner.name}
        except OSError:
            self.was_empty = False
        self._run: RunRecord | None = None
        self._stages: dict[str, StageRecord] = {}
        self._children: dict[str, ChildRecord] = {}
        self._seq = 0

    def _owner_message(self) -> str:
        owner = wait_for_owner(self.paths)
        if owner is None:
            return f"run '{self.paths.feature}' is locked by another teambot process"
        return f"run '{self.paths.feature}' is in use by another teambot process: pid {owner.pid} on {owner.host}, since {owner.since}"

    def load(self) -> RunState | None:
        state = read_state(self.paths)
        if state is not None:
            self._run = state.run
            self._stages = dict(state.stages)
            self._children = dict(state.children)
            self._seq = max((r.seq for r in [*state.stages.values(), *state.children.values()]), default=0)
        return state.model_copy(deep=True) if state else None

    def commit_stage(self, record: StageRecord) -> StageRecord:
        self._seq += 1
        saved = record.model_copy(update={"seq": self._seq})
        atomic_write(self.paths.stage_records / f"{saved.name}.json", saved.model_dump_json(), durable=self.durable,
                     root=self.paths.root)
        self._stages[saved.name] = saved
        return saved

    def commit_child(self, record: ChildRecord) -> ChildRecord:
        path = self.paths.child_record(record.id)  # refuses an id that is not STAGE/CHILD, before anything changes
        self._seq += 1
        saved = record.model_copy(update={"seq": self._seq})
        atomic_write(path, saved.model_dump_json(), durable=self.durable, root=self.paths.root)
        self._children[saved.id] = saved
        return saved

    def commit_run(self, run: RunRecord, stages: dict[str, StageRecord] | None = None) -> None:
        if stages is not None:
            self._stages = dict(stages)
            self._children = {}  # a new run starts without children
        self._run = run
        state = RunState(schema_version=SCHEMA_VERSION, run=run, stages=self._stages, children=self._children)
        atomic_write(self.paths.state, state.model_dump_json(indent=2), durable=self.durable, root=self.paths.root)
        # Everything in stages/ and children/ is now in the snapshot, which wins on equal seq.
        check_dirs(self.paths.stage_records, self.paths.root)  # never delete through a symlink
        if self.paths.stage_records.is_dir():
            for entry in self.paths.stage_records.glob("*.json"):
                entry.unlink(missing_ok=True)
        check_dirs(self.paths.child_records, self.paths.root)
        if self.paths.child_records.is_dir():
            for folder in self.paths.child_records.iterdir():
                if not folder.is_symlink() and not folder.is_dir():
                    continue  # a stray file: not ours to delete
                check_dirs(folder, self.paths.root)  # a symlinked folder: UnsafePathError
                for entry in folder.glob("*.json"):
                    entry.unlink(missing_ok=True)

    def close(self) -> None:
        self._lock.release()


def read_owner(paths: RunPaths) -> Owner | None:
    """The process that last took the run's lock (it may have died since), or None."""
    try:
        return Owner.model_validate_json(paths.owner.read_bytes())
    except (OSError, ValueError):
        return None


OWNER_WAIT = 2.0  # how long a process refused the lock waits for the holder to record itself


def wait_for_owner(paths: RunPaths, seconds: float = OWNER_WAIT) -> Owner | None:
    """The lock's holder, for a process that was just refused the lock.

    The holder records itself right after taking the lock, so for a moment the record may be
    missing or still name an earlier owner, now dead: poll briefly for one naming a live
    process (or one on another host, which cannot be checked).
    """
    deadline = time.monotonic() + seconds
    while True:
        owner = read_owner(paths)
        if owner is not None and (owner.host != socket.gethostname() or _alive(owner.pid)):
            return owner
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


def _alive(pid: int) -> bool:
    from teambot.processes import process_alive  # lazy: psutil stays out of CLI start-up

    return process_alive(pid)


def owner_alive(paths: RunPaths) -> bool:
    """True if the process that last took the lock still runs (checked on this host by pid).

    Read-only: probing the lock itself could make a `run` starting that instant exit 3.
    """
    owner = read_owner(paths)
    if owner is None:
        return False
    if owner.host != socket.gethostname():
        return True  # another machine (shared disk): cannot check, assume it is alive
    return _alive(owner.pid)


def make_owner() -> Owner:
    return Owner(pid=os.getpid(), host=socket.gethostname(), since=now_iso())
