"""The file store: a write-ahead journal plus `state.json`, under a lock held for the whole run.

Layout (see .agent-tracking/design/journal.md):
- state.json          the snapshot: schema_version 4, `seq` (the last journal record it holds),
                      the run record, every stage and child record;
- journal/<seq>.wal   records committed since the snapshot, one checksummed line each.
A commit appends one record; one that must survive a power loss (anything but a `running`
record's bookkeeping) is durable after one fdatasync of the journal. A snapshot is written
when the run ends, when the journal outgrows the snapshot, and when a writer opens a run
whose journal holds records (so it starts from a short one); older segments are then deleted.
A run in the schema-3 layout (stages/*.json, children/*/*.json) is migrated on first open.
"""

from __future__ import annotations

from teambot.errors import LockedError, StateError, TeambotError
from teambot.fsutil import atomic_write, make_dirs
from teambot.lifecycle import StageStatus
from teambot.paths import RunPaths
from teambot.store import journal
from teambot.store.layout import check_layout
from teambot.store.legacy import back_up, legacy_files, remove_legacy
from teambot.store.models import SCHEMA_VERSION, ChildRecord, RunRecord, RunState, RunStatus, StageRecord
from teambot.store.owner import make_owner, owner_alive, read_owner, wait_for_owner
from teambot.store.reader import Loaded, load_run, read_state
from teambot.store.snapshot import MAX_STATE_BYTES

__all__ = ["MAX_STATE_BYTES", "FileStateStore", "make_owner", "needs_flush", "owner_alive", "read_owner", "read_state",
           "wait_for_owner"]

# Fields a `running` record may change without a flush: the attempt's bookkeeping. Lost in a
# power cut, the record reads as the one before (pending, failed, ...): "run it again" either
# way, and resume finds the attempt's agents by their TEAMBOT_RUN_DIR marker, not by pgid.
_LAZY_FIELDS = frozenset({"status", "attempts", "started_at", "finished_at", "agent", "error", "pgid", "seq"})

SNAPSHOT_MIN_BYTES = 8 << 20  # a snapshot once the journal outgrows max(this, 2 x the last snapshot)


def needs_flush(new: StageRecord | ChildRecord, old: StageRecord | ChildRecord | None) -> bool:
    """Whether a commit must be durable before it returns: every record but a `running` one that
    changes only its attempt's bookkeeping (a step, usage or git fact recorded while running is flushed)."""
    if new.status != StageStatus.RUNNING or old is None:
        return True
    return any(getattr(new, name) != getattr(old, name) for name in type(new).model_fields if name not in _LAZY_FIELDS)


class FileStateStore:
    """The StateStore of one run directory. Opening it takes the run's lock or raises LockedError."""

    snapshot_min_bytes = SNAPSHOT_MIN_BYTES

    def __init__(self, paths: RunPaths, *, durable: bool = True) -> None:
        from filelock import FileLock, Timeout  # lazy: keeps CLI start-up light

        self.paths = paths
        self.durable = durable
        # Lock a separate file, never the one we replace; the OS drops it when we die.
        self._lock = FileLock(str(paths.lock), timeout=0)
        try:
            check_layout(paths)  # a file where the run directory belongs
            make_dirs(paths.root)  # fsynced into the workspace, which is fsynced into its parent
            self._lock.acquire()
        except Timeout:  # before OSError: filelock's Timeout is a TimeoutError, an OSError
            raise LockedError(self._owner_message(), hint="wait for it to finish, or stop it (Ctrl-C / kill PID) and run `teambot resume`") from None
        except OSError as exc:
            raise StateError(f"cannot use run directory {paths.root}: {exc.strerror or exc}",
                             hint="check the workspace path (--workspace or teambot.yaml) and its permissions") from None
        try:
            check_layout(paths)  # owner.json, events.jsonl, journal/ ... of the wrong kind: exit 2 naming it
            # Record ourselves at once: a process refused the lock from now on reads our pid here.
            atomic_write(paths.owner, make_owner().model_dump_json(), durable=False)
        except BaseException:
            self._lock.release()
            raise
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
        self._journal = journal.Writer(paths.journal, paths.root, durable=durable)
        self._unsnapshotted = False  # journal records the snapshot does not hold yet
        self._snapshot_bytes = 0
        self.flush_wanted = False  # a deferred record that must be durable waits for flush()

    def _owner_message(self) -> str:
        owner = wait_for_owner(self.paths)
        if owner is None:
            return f"run '{self.paths.feature}' is locked by another teambot process"
        return f"run '{self.paths.feature}' is in use by another teambot process: pid {owner.pid} on {owner.host}, since {owner.since}"

    @property
    def flushes(self) -> int:
        """fdatasyncs of the journal so far (benchmarks, tests)."""
        return self._journal.flushes

    def load(self) -> RunState | None:
        loaded = load_run(self.paths)
        if loaded is None:
            return None
        state = loaded.state
        self._run = state.run
        self._stages = dict(state.stages)
        self._children = dict(state.children)
        self._seq = max([state.seq, *(r.seq for r in [*state.stages.values(), *state.children.values()])])
        self._compact(loaded)
        return state.model_copy(deep=True)

    def _compact(self, loaded: Loaded) -> None:
        """Start from a snapshot holding everything: migrate a schema-3 run (after a backup), fold a
        journal left by an earlier process and drop its torn tail (it never committed)."""
        scan = loaded.scan
        migrate = loaded.version < SCHEMA_VERSION
        if migrate:
            files = [self.paths.state, *legacy_files(self.paths)]
            back_up(self.paths, f"schema-{loaded.version}", files, durable=self.durable)
        if migrate or scan.records or scan.torn is not None or scan.segments:
            self._snapshot()
        if loaded.legacy:  # held by the snapshot now (or already: a migration that stopped after its snapshot)
            remove_legacy(self.paths)

    @property
    def seq(self) -> int:
        """The last record appended (flush() makes it and everything before durable)."""
        return self._seq

    def flush(self) -> None:
        """Make every record appended so far durable: one fdatasync (safe from a flusher thread)."""
        self._journal.flush()

    def commit_stage(self, record: StageRecord, *, defer: bool = False) -> StageRecord:
        saved = self._next(record)
        self._append(b"s", saved.name, saved, flush=needs_flush(saved, self._stages.get(saved.name)), defer=defer)
        self._stages[saved.name] = saved
        self._maybe_snapshot()
        return saved

    def commit_child(self, record: ChildRecord, *, defer: bool = False) -> ChildRecord:
        self.paths.child_record(record.id)  # refuses an id that is not STAGE/CHILD, before anything changes
        saved = self._next(record)
        self._append(b"c", saved.id, saved, flush=needs_flush(saved, self._children.get(saved.id)), defer=defer)
        self._children[saved.id] = saved
        self._maybe_snapshot()
        return saved

    def commit_run(self, run: RunRecord, stages: dict[str, StageRecord] | None = None) -> None:
        if stages is not None:  # a new run: its first snapshot, without children
            self._run, self._stages, self._children = run, dict(stages), {}
            self._snapshot()
            # The run record again, as the journal's first record: a journal that starts at seq 1
            # and holds it can rebuild a lost state.json (`teambot doctor --repair`).
            self._append(b"r", "-", run, flush=False)
            return
        self._run = run
        if run.status != RunStatus.RUNNING:  # the run ended (or stopped): state.json is what users read
            self._snapshot()
            return
        self._append(b"r", "-", run, flush=False)  # heartbeats: elapsed time may lag a power cut by a beat
        self._maybe_snapshot()

    def close(self) -> None:
        try:
            if self._unsnapshotted and self._run is not None:
                self._snapshot()
        except (TeambotError, OSError):
            pass  # the journal holds every commit: the next writer folds it
        finally:
            self._journal.close()
            self._lock.release()

    def replace_state(self, state: RunState) -> None:
        """Write `state` as the snapshot and drop the journal (`doctor --repair`, after its backup)."""
        self._run, self._stages, self._children = state.run, dict(state.stages), dict(state.children)
        self._seq = max(self._seq, state.seq, *(r.seq for r in [*state.stages.values(), *state.children.values()]))
        self._snapshot()

    def abandon(self) -> None:
        """Release the lock without the closing snapshot, as a process killed at this instant (tests)."""
        self._journal.close()
        self._lock.release()

    # -- internals ----------------------------------------------------------------------
    def _next(self, record):
        # No copy: a committed record is never changed afterwards (the engine makes a new one per change).
        record.seq = self._seq + 1
        return record

    def _append(self, kind: bytes, key: str, model, *, flush: bool, defer: bool = False) -> None:
        """Append one record with the next seq (a failed append leaves no gap and no half record).

        `defer`: a record that must be durable is not flushed here; `flush_wanted` says so and the
        caller (the group-commit flusher) flushes it with whatever else is appended meanwhile."""
        if self._journal.broken is not None:
            raise StateError(f"{self.paths.journal} cannot take more records: {self._journal.broken}",
                             hint=f"run `teambot resume {self.paths.feature}` once the cause is fixed")
        seq = self._seq + 1
        self._journal.append(seq, kind, key, model.model_dump_json().encode("utf-8"), flush=flush and not defer)
        self._seq = seq
        if flush and defer:
            self.flush_wanted = True
        self._unsnapshotted = True

    def _maybe_snapshot(self) -> None:
        """A snapshot once the journal outgrows the last one (after the memory holds the new record:
        a snapshot taken before would drop it with the segments)."""
        if self._journal.size > max(self.snapshot_min_bytes, 2 * self._snapshot_bytes):
            self._snapshot()

    def _snapshot(self) -> None:
        """Write state.json holding every record so far, then drop the journal it replaces."""
        assert self._run is not None
        state = RunState(schema_version=SCHEMA_VERSION, seq=self._seq, run=self._run, stages=self._stages,
                         children=self._children)
        data = state.model_dump_json(indent=2)
        atomic_write(self.paths.state, data, durable=self.durable, root=self.paths.root)
        self._journal.drop_segments()
        self._unsnapshotted = False
        self._snapshot_bytes = len(data)
