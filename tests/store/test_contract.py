"""The StateStore contract, run against every store (file and memory)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from teambot.errors import LockedError, StateError
from teambot.lifecycle import StageStatus
from teambot.paths import RunPaths
from teambot.store.file import FileStateStore
from teambot.store.memory import MemoryStateStore
from teambot.store.models import SCHEMA_VERSION, ChildRecord, RunRecord, RunStatus, StageRecord, TokenUsage

V2_STATE = Path(__file__).resolve().parent.parent / "e2e" / "fixtures" / "v2-run" / "run" / "state.json"


def _run(**changes) -> RunRecord:
    base = dict(feature="f", objective_path="/o.md", objective_sha256="0" * 64, stages_path="/s.yaml", stages_sha256="1" * 64)
    return RunRecord(**(base | changes))


@pytest.fixture(params=["file", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    s = FileStateStore(RunPaths(tmp_path, "f")) if request.param == "file" else MemoryStateStore()
    yield s
    s.close()


def test_empty_store_loads_none(store) -> None:
    """A store that was never written loads as None."""
    assert store.load() is None


def test_commit_run_with_stages_round_trips(store) -> None:
    """commit_run(run, stages) is what load returns."""
    store.commit_run(_run(), stages={"A": StageRecord(name="A"), "B": StageRecord(name="B")})
    state = store.load()
    assert state.run.feature == "f"
    assert set(state.stages) == {"A", "B"}


def test_commit_stage_assigns_increasing_seq_and_newest_wins(store) -> None:
    """Each commit_stage gets a larger seq; load returns each stage's newest record."""
    store.commit_run(_run(), stages={"A": StageRecord(name="A")})
    first = store.commit_stage(StageRecord(name="A", status=StageStatus.RUNNING, attempts=1))
    second = store.commit_stage(StageRecord(name="A", status=StageStatus.SUCCEEDED, attempts=1))
    assert second.seq > first.seq
    assert store.load().stages["A"].status == StageStatus.SUCCEEDED


def test_commit_run_keeps_stage_commits(store) -> None:
    """A later commit_run carries every stage record committed before it."""
    store.commit_run(_run(), stages={"A": StageRecord(name="A")})
    store.commit_stage(StageRecord(name="A", status=StageStatus.RUNNING, attempts=1))
    store.commit_run(_run(elapsed_seconds=5.0))
    state = store.load()
    assert state.run.elapsed_seconds == 5.0
    assert state.stages["A"].status == StageStatus.RUNNING


def test_file_store_survives_reopen(tmp_path: Path) -> None:
    """A new FileStateStore on the same directory loads what the previous one committed."""
    paths = RunPaths(tmp_path, "f")
    first = FileStateStore(paths)
    first.commit_run(_run(), stages={"A": StageRecord(name="A")})
    first.commit_stage(StageRecord(name="A", status=StageStatus.RUNNING, attempts=1))
    first.abandon()  # no final commit_run, no closing snapshot: as after kill -9
    second = FileStateStore(paths)
    try:
        assert second.load().stages["A"].status == StageStatus.RUNNING
    finally:
        second.close()


def test_file_store_lock_excludes_a_second_store(tmp_path: Path) -> None:
    """Opening a run another store holds raises LockedError naming the owner."""
    from teambot.store.file import make_owner

    paths = RunPaths(tmp_path, "f")
    first = FileStateStore(paths)
    first.commit_run(_run(owner=make_owner()), stages={})
    try:
        with pytest.raises(LockedError, match=r"pid \d+"):
            FileStateStore(paths)
    finally:
        first.close()
    FileStateStore(paths).close()  # free again once released


@pytest.mark.parametrize(
    "content, needle",
    [
        (b'{"schema_version": 1, "run": {"feat', "truncated"),
        (b"not json at all", "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[1, 2]", "not an object"),
        (json.dumps({"schema_version": 99, "run": {}}).encode(), "newer teambot"),
        (json.dumps({"schema_version": SCHEMA_VERSION + 1, "run": {}}).encode(), f"reads up to {SCHEMA_VERSION}"),
        (json.dumps({"schema_version": 1, "run": {"feature": 3}}).encode(), "corrupt"),
    ],
)
def test_corrupt_state_is_an_error_and_never_overwritten(tmp_path: Path, content: bytes, needle: str) -> None:
    """A corrupt or newer state.json raises StateError with the reason and is left as it was."""
    paths = RunPaths(tmp_path, "f")
    paths.root.mkdir(parents=True)
    paths.state.write_bytes(content)
    store = FileStateStore(paths)
    try:
        with pytest.raises(StateError, match=needle):
            store.load()
    finally:
        store.close()
    assert paths.state.read_bytes() == content


def test_no_temp_files_left_behind(tmp_path: Path) -> None:
    """Atomic writes leave no temp files in the run directory."""
    paths = RunPaths(tmp_path, "f")
    store = FileStateStore(paths)
    store.commit_run(_run(), stages={"A": StageRecord(name="A")})
    for _ in range(5):
        store.commit_stage(StageRecord(name="A"))
    store.commit_run(_run())
    store.close()
    assert not [p for p in paths.root.rglob("*") if p.name.endswith(".tmp")]


def test_reader_beside_a_live_writer_never_fails_or_goes_back(tmp_path: Path) -> None:
    """read_state while a writer commits stages and snapshots: always parses, never shows an older record."""
    import threading

    from teambot.store.file import read_state

    paths = RunPaths(tmp_path, "f")
    store = FileStateStore(paths, durable=False)
    store.snapshot_min_bytes = 4096  # a snapshot (and its segment deletion) every few records, racing the reader
    names = [f"S{i}" for i in range(20)]
    store.commit_run(_run(), stages={n: StageRecord(name=n) for n in names})
    done = threading.Event()

    def write() -> None:
        for round_ in range(30):
            for n in names:
                store.commit_stage(StageRecord(name=n, attempts=round_ + 1))
            store.commit_run(_run(elapsed_seconds=float(round_), status=RunStatus.FAILED if round_ % 3 else RunStatus.RUNNING))
            time.sleep(0.002)
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    seen = {n: 0 for n in names}
    reads = 0
    try:
        while not done.is_set():
            state = read_state(paths)
            reads += 1
            for n in names:
                assert state.stages[n].attempts >= seen[n], "a read went back in time"
                seen[n] = state.stages[n].attempts
    finally:
        writer.join()
        store.close()
    assert reads > 5
    assert read_state(paths).stages["S0"].attempts == 30


# -- children (STAGE/child records, see .agent-tracking/design/child-records.md) -----------------


def test_commit_child_round_trips_every_field(store) -> None:
    """A committed child record loads back with its lifecycle and git fields under its id."""
    store.commit_run(_run(), stages={"IMPLEMENTATION": StageRecord(name="IMPLEMENTATION")})
    saved = store.commit_child(ChildRecord(
        id="IMPLEMENTATION/T1", status=StageStatus.SUCCEEDED, attempts=2, agent="builder-1", error=None,
        started_at="2026-01-01T00:00:00+00:00", finished_at="2026-01-01T00:01:00+00:00",
        usage=TokenUsage(prompt_tokens=3, completion_tokens=4), pgid=4321, branch="teambot-task/f/T1",
        base_commit="a" * 40, head_commit="b" * 40, merge_commit="c" * 40))
    loaded = store.load().children["IMPLEMENTATION/T1"]
    assert loaded.model_dump() == saved.model_dump()
    assert (loaded.stage, loaded.child, loaded.merge_commit, loaded.usage.total) == ("IMPLEMENTATION", "T1", "c" * 40, 7)


def test_children_share_the_seq_counter_and_newest_wins(store) -> None:
    """Stage and child commits draw from one increasing seq; a child's newest record wins."""
    store.commit_run(_run(), stages={"IMPLEMENTATION": StageRecord(name="IMPLEMENTATION")})
    seqs = [store.commit_stage(StageRecord(name="IMPLEMENTATION", status=StageStatus.RUNNING)).seq,
            store.commit_child(ChildRecord(id="IMPLEMENTATION/T1", status=StageStatus.RUNNING, attempts=1)).seq,
            store.commit_stage(StageRecord(name="IMPLEMENTATION", status=StageStatus.RUNNING, attempts=1)).seq,
            store.commit_child(ChildRecord(id="IMPLEMENTATION/T1", status=StageStatus.FAILED, attempts=1)).seq]
    assert seqs == sorted(seqs) and len(set(seqs)) == 4
    assert store.load().children["IMPLEMENTATION/T1"].status == StageStatus.FAILED


def test_snapshot_carries_children_and_a_new_run_drops_them(store) -> None:
    """commit_run keeps every child committed so far; commit_run with `stages` (a new run) starts without children."""
    store.commit_run(_run(), stages={"IMPLEMENTATION": StageRecord(name="IMPLEMENTATION")})
    store.commit_child(ChildRecord(id="IMPLEMENTATION/T1", status=StageStatus.SUCCEEDED))
    store.commit_run(_run(elapsed_seconds=2.0))
    assert store.load().children["IMPLEMENTATION/T1"].status == StageStatus.SUCCEEDED
    store.commit_run(_run(), stages={"IMPLEMENTATION": StageRecord(name="IMPLEMENTATION")})
    assert store.load().children == {}


def test_resetting_a_stage_leaves_its_children_as_they_are(store) -> None:
    """Committing a stage back to pending (resume, rerun) changes none of its children: a finished child stays finished."""
    store.commit_run(_run(), stages={"IMPLEMENTATION": StageRecord(name="IMPLEMENTATION")})
    store.commit_stage(StageRecord(name="IMPLEMENTATION", status=StageStatus.FAILED, attempts=1))
    store.commit_child(ChildRecord(id="IMPLEMENTATION/T1", status=StageStatus.SUCCEEDED, merge_commit="c" * 40))
    store.commit_child(ChildRecord(id="IMPLEMENTATION/T2", status=StageStatus.FAILED, error="boom"))
    store.commit_stage(StageRecord(name="IMPLEMENTATION", status=StageStatus.PENDING, attempts=1))
    state = store.load()
    assert state.stages["IMPLEMENTATION"].status == StageStatus.PENDING
    assert [(c.child, c.status) for c in state.children_of("IMPLEMENTATION")] == [
        ("T1", StageStatus.SUCCEEDED), ("T2", StageStatus.FAILED)]
    assert state.children["IMPLEMENTATION/T1"].merge_commit == "c" * 40


def test_children_of_lists_one_stages_children_in_natural_order(store) -> None:
    """children_of(stage) holds only that stage's children, T2 before T10, whatever the commit order."""
    store.commit_run(_run(), stages={"A": StageRecord(name="A"), "B": StageRecord(name="B")})
    for child_id in ("A/T10", "B/T1", "A/T2", "A/T1", "A/setup"):
        store.commit_child(ChildRecord(id=child_id))
    state = store.load()
    assert [c.id for c in state.children_of("A")] == ["A/T1", "A/T2", "A/T10", "A/setup"]
    assert [c.id for c in state.children_of("B")] == ["B/T1"]


def test_file_store_children_survive_reopen_and_later_commits_win(tmp_path: Path) -> None:
    """After a snapshot and a kill (no final snapshot), a new process's child commit outranks the snapshot's copy."""
    paths = RunPaths(tmp_path, "f")
    first = FileStateStore(paths)
    first.commit_run(_run(), stages={"S": StageRecord(name="S")})
    for attempt in range(1, 4):  # children's seq run ahead of the stages'
        first.commit_child(ChildRecord(id="S/T1", status=StageStatus.FAILED, attempts=attempt))
    first.commit_run(_run())
    first.close()
    second = FileStateStore(paths)
    second.load()
    second.commit_child(ChildRecord(id="S/T1", status=StageStatus.RUNNING, attempts=4))
    second.abandon()  # no snapshot: as after kill -9
    assert [p.name for p in paths.journal.iterdir()], "the commit is in the journal"
    third = FileStateStore(paths)
    try:
        child = third.load().children["S/T1"]
        assert (child.status, child.attempts) == (StageStatus.RUNNING, 4)
    finally:
        third.close()


def test_file_store_snapshot_empties_the_journal(tmp_path: Path) -> None:
    """The run's final snapshot folds the journal into state.json and deletes its segments; state.json holds every record."""
    from teambot.store.models import RunStatus

    paths = RunPaths(tmp_path, "f")
    store = FileStateStore(paths)
    store.commit_run(_run(), stages={"S": StageRecord(name="S")})
    store.commit_child(ChildRecord(id="S/T1", status=StageStatus.SUCCEEDED))
    assert list(paths.journal.glob("*.wal"))
    store.commit_run(_run(status=RunStatus.COMPLETED))
    assert not list(paths.journal.glob("*.wal"))
    store.close()
    data = json.loads(paths.state.read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["children"]["S/T1"]["status"] == "succeeded"


@pytest.mark.parametrize(
    "content, needle",
    [
        (b'{"id": "S/T1", "sta', "truncated"),
        (b"not json", "not valid JSON"),
        (json.dumps({"id": "S/../x"}).encode(), "not a stage name|child name"),
        (json.dumps({"id": "S/T2"}).encode(), "holds the record of 'S/T2'"),
        (json.dumps({"id": "S/T1", "status": "exploded"}).encode(), "corrupt"),
    ],
)
def test_corrupt_child_file_is_an_error_naming_it(tmp_path: Path, content: bytes, needle: str) -> None:
    """A torn, invalid or misplaced children/<STAGE>/<child>.json raises StateError naming the file, left as it was."""
    paths = RunPaths(tmp_path, "f")
    store = FileStateStore(paths)
    store.commit_run(_run(), stages={"S": StageRecord(name="S")})
    target = paths.child_records / "S" / "T1.json"
    target.parent.mkdir(parents=True)
    target.write_bytes(content)
    try:
        with pytest.raises(StateError, match=needle) as caught:
            store.load()
        assert str(target) in caught.value.message
    finally:
        store.close()
    assert target.read_bytes() == content


def test_child_ids_that_leave_the_run_dir_are_refused(tmp_path: Path) -> None:
    """ChildRecord refuses a hostile id; one forced past validation is refused by the file store, nothing written."""
    from pydantic import ValidationError

    from teambot.errors import UsageError

    with pytest.raises(ValidationError):
        ChildRecord(id="S/../../escape")
    paths = RunPaths(tmp_path, "f")
    store = FileStateStore(paths)
    store.commit_run(_run(), stages={"S": StageRecord(name="S")})
    try:
        with pytest.raises(UsageError, match="child id"):
            store.commit_child(ChildRecord.model_construct(id="S/../../escape", seq=0))
    finally:
        store.close()
    assert not (tmp_path / "escape.json").exists() and not paths.child_records.exists()


def test_version_2_state_loads_without_children(tmp_path: Path) -> None:
    """A state.json written by schema-2 teambot loads as it is (no children); the next snapshot is the current version."""
    paths = RunPaths(tmp_path, "v2-run")
    paths.root.mkdir(parents=True)
    paths.state.write_bytes(V2_STATE.read_bytes())
    store = FileStateStore(paths)
    try:
        state = store.load()
        assert state.schema_version == 2
        assert state.children == {}
        assert {n: r.status for n, r in state.stages.items()} == {"DRAFT": StageStatus.SUCCEEDED, "FINISH": StageStatus.FAILED}
        store.commit_child(ChildRecord(id="FINISH/T1"))
        store.commit_run(state.run)
    finally:
        store.close()
    data = json.loads(paths.state.read_text())
    assert data["schema_version"] == SCHEMA_VERSION and list(data["children"]) == ["FINISH/T1"]
    assert data["stages"]["DRAFT"]["artifacts"] == json.loads(V2_STATE.read_text())["stages"]["DRAFT"]["artifacts"]


def test_reader_beside_a_live_writer_sees_children_never_go_back(tmp_path: Path) -> None:
    """read_state while a writer commits children and snapshots: always parses, no child record goes back in time."""
    import threading

    from teambot.store.file import read_state

    paths = RunPaths(tmp_path, "f")
    store = FileStateStore(paths, durable=False)
    store.snapshot_min_bytes = 4096
    ids = [f"S/T{i}" for i in range(10)]
    store.commit_run(_run(), stages={"S": StageRecord(name="S")})
    done = threading.Event()

    def write() -> None:
        for round_ in range(30):
            for child_id in ids:
                store.commit_child(ChildRecord(id=child_id, attempts=round_ + 1))
            store.commit_run(_run(elapsed_seconds=float(round_), status=RunStatus.FAILED if round_ % 3 else RunStatus.RUNNING))
            time.sleep(0.002)
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    seen = dict.fromkeys(ids, 0)
    reads = 0
    try:
        while not done.is_set():
            state = read_state(paths)
            reads += 1
            for child in state.children.values():
                assert child.attempts >= seen[child.id], "a read went back in time"
                seen[child.id] = child.attempts
    finally:
        writer.join()
        store.close()
    assert reads > 5
    assert read_state(paths).children["S/T9"].attempts == 30
