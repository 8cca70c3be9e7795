"""The StateStore contract, run against every store (file and memory)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from teambot.errors import LockedError, StateError
from teambot.lifecycle import StageStatus
from teambot.paths import RunPaths
from teambot.store.file import FileStateStore
from teambot.store.memory import MemoryStateStore
from teambot.store.models import RunRecord, StageRecord


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
    first.close()  # no final commit_run: as after kill -9
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
    names = [f"S{i}" for i in range(20)]
    store.commit_run(_run(), stages={n: StageRecord(name=n) for n in names})
    done = threading.Event()

    def write() -> None:
        for round_ in range(30):
            for n in names:
                store.commit_stage(StageRecord(name=n, attempts=round_ + 1))
            store.commit_run(_run(elapsed_seconds=float(round_)))
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
