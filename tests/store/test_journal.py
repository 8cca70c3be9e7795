"""The write-ahead journal of the file store: what a commit writes and flushes, and what a damaged journal loads as."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from teambot.errors import StateError
from teambot.lifecycle import StageStatus
from teambot.paths import RunPaths
from teambot.store.file import FileStateStore, needs_flush, read_state
from teambot.store.models import SCHEMA_VERSION, ChildRecord, RunRecord, RunStatus, StageRecord

FIXTURE_V2 = Path(__file__).resolve().parent.parent / "e2e" / "fixtures" / "v2-run" / "run" / "state.json"


def _run(**changes) -> RunRecord:
    base = dict(feature="f", objective_path="/o.md", objective_sha256="0" * 64, stages_path="/s.yaml", stages_sha256="1" * 64)
    return RunRecord(**(base | changes))


def _crashed_run(tmp_path: Path, stages: int = 3) -> RunPaths:
    """A run whose process died after each stage went running then succeeded: everything is in the journal."""
    paths = RunPaths(tmp_path, "f")
    store = FileStateStore(paths)
    store.commit_run(_run(), stages={f"S{i}": StageRecord(name=f"S{i}") for i in range(stages)})
    for i in range(stages):
        store.commit_stage(StageRecord(name=f"S{i}", status=StageStatus.RUNNING, attempts=1))
        store.commit_stage(StageRecord(name=f"S{i}", status=StageStatus.SUCCEEDED, attempts=1))
    store.abandon()
    return paths


def _segment(paths: RunPaths) -> Path:
    [segment] = sorted(paths.journal.glob("*.wal"))
    return segment


def _record_offsets(segment: Path) -> list[int]:
    data = segment.read_bytes()
    offsets, at = [], data.index(b"\n") + 1
    while at < len(data):
        offsets.append(at)
        at = data.index(b"\n", at) + 1
    return offsets


def test_a_succeeded_record_costs_one_flush_and_a_running_one_none(tmp_path: Path) -> None:
    """Committing `running` writes without fdatasync; `succeeded` is durable after exactly one fdatasync of the journal."""
    store = FileStateStore(RunPaths(tmp_path, "f"))
    try:
        store.commit_run(_run(), stages={"A": StageRecord(name="A")})
        before = store.flushes
        store.commit_stage(StageRecord(name="A", status=StageStatus.RUNNING, attempts=1))
        store.commit_stage(StageRecord(name="A", status=StageStatus.RUNNING, attempts=1, pgid=4242))
        assert store.flushes == before
        store.commit_stage(StageRecord(name="A", status=StageStatus.SUCCEEDED, attempts=1))
        assert store.flushes == before + 1
    finally:
        store.close()


def test_a_running_record_that_records_a_step_is_flushed() -> None:
    """A `running` record is lazy only while it changes its attempt's bookkeeping: a step, usage or git fact is flushed."""
    from teambot.store.models import Iteration, TokenUsage

    old = StageRecord(name="A", status=StageStatus.RUNNING, attempts=1)
    assert not needs_flush(old.model_copy(update={"pgid": 7}), old)
    assert not needs_flush(old.model_copy(update={"attempts": 2, "started_at": "2026-01-01T00:00:00+00:00"}), old)
    assert needs_flush(old.model_copy(update={"iterations": [Iteration(number=1, started_at="2026-01-01T00:00:00+00:00")]}), old)
    assert needs_flush(old.model_copy(update={"usage": TokenUsage(prompt_tokens=1)}), old)
    assert needs_flush(old.model_copy(update={"status": StageStatus.FAILED}), old)
    child = ChildRecord(id="A/T1", status=StageStatus.RUNNING)
    assert needs_flush(child.model_copy(update={"branch": "teambot-task/f/T1"}), child)
    assert not needs_flush(child.model_copy(update={"pgid": 9}), child)


def test_a_crashed_run_loads_from_the_journal_and_the_next_writer_snapshots_it(tmp_path: Path) -> None:
    """After a kill the journal holds the commits; the next writer folds them into state.json and drops the segments."""
    paths = _crashed_run(tmp_path)
    assert json.loads(paths.state.read_text())["stages"]["S2"]["status"] == "pending"  # the snapshot lags
    assert read_state(paths).stages["S2"].status == StageStatus.SUCCEEDED
    store = FileStateStore(paths)
    try:
        assert store.load().stages["S2"].status == StageStatus.SUCCEEDED
    finally:
        store.close()
    assert not list(paths.journal.glob("*.wal"))
    data = json.loads(paths.state.read_text())
    assert data["schema_version"] == SCHEMA_VERSION and data["stages"]["S2"]["status"] == "succeeded"
    assert data["seq"] == max(r["seq"] for r in data["stages"].values())


@pytest.mark.parametrize("tail", [b"3fa0", b"deadbeef 99 s S0 {\"name\": \"S0\"", b"\0" * 300])
def test_a_torn_tail_is_ignored_and_dropped_by_the_next_writer(tmp_path: Path, tail: bytes) -> None:
    """A last record cut short (or zeros left by a power cut) never committed: load ignores it, the next writer drops it."""
    paths = _crashed_run(tmp_path)
    with _segment(paths).open("ab") as fh:
        fh.write(tail)
    assert read_state(paths).stages["S2"].status == StageStatus.SUCCEEDED
    store = FileStateStore(paths)
    store.load()
    store.commit_stage(StageRecord(name="S0", status=StageStatus.PENDING, attempts=1))
    store.abandon()
    assert tail not in _segment(paths).read_bytes()
    assert read_state(paths).stages["S0"].status == StageStatus.PENDING


def test_a_last_record_failing_its_checksum_is_a_torn_tail(tmp_path: Path) -> None:
    """A complete last line whose checksum fails was being written: the stage keeps its record before it."""
    paths = _crashed_run(tmp_path)
    segment = _segment(paths)
    data = bytearray(segment.read_bytes())
    data[-5] ^= 0x01  # inside the last record's payload
    segment.write_bytes(bytes(data))
    assert read_state(paths).stages["S2"].status == StageStatus.RUNNING


def test_a_flipped_byte_in_the_middle_is_an_error_naming_file_and_offset(tmp_path: Path) -> None:
    """A bad record with good ones after it is damage: StateError naming the segment and byte offset; nothing overwritten."""
    paths = _crashed_run(tmp_path)
    segment = _segment(paths)
    offset = _record_offsets(segment)[2]
    data = bytearray(segment.read_bytes())
    data[offset + 20] ^= 0x01
    segment.write_bytes(bytes(data))
    with pytest.raises(StateError, match=rf"{segment} at byte {offset}: checksum mismatch"):
        read_state(paths)
    store = FileStateStore(paths)
    try:
        with pytest.raises(StateError, match="checksum mismatch") as caught:
            store.load()
        assert "teambot doctor f" in caught.value.hint
    finally:
        store.close()
    assert segment.read_bytes() == bytes(data), "a damaged journal is never rewritten by a load or a close"


def test_a_missing_record_in_the_middle_is_an_error(tmp_path: Path) -> None:
    """A record cut out of the middle (seq gap) is reported, not skipped."""
    paths = _crashed_run(tmp_path)
    segment = _segment(paths)
    offsets = _record_offsets(segment)
    data = segment.read_bytes()
    segment.write_bytes(data[: offsets[2]] + data[offsets[3]:])
    with pytest.raises(StateError, match=r"records missing"):
        read_state(paths)


def test_a_journal_from_a_newer_teambot_is_refused(tmp_path: Path) -> None:
    """A segment whose header names a newer journal format: StateError saying to upgrade, never read as empty."""
    paths = _crashed_run(tmp_path)
    segment = _segment(paths)
    segment.write_bytes(segment.read_bytes().replace(b"teambot-journal 1\n", b"teambot-journal 2\n", 1))
    with pytest.raises(StateError, match="newer teambot") as caught:
        read_state(paths)
    assert str(segment) in caught.value.message


def test_a_missing_snapshot_beside_a_journal_is_an_error_not_an_empty_run(tmp_path: Path) -> None:
    """state.json deleted while the journal remains: StateError naming it and pointing to doctor, for readers and writers."""
    paths = _crashed_run(tmp_path)
    paths.state.unlink()
    with pytest.raises(StateError, match="state.json is missing, but the run still has records") as caught:
        read_state(paths)
    assert "teambot doctor f" in caught.value.hint
    store = FileStateStore(paths)
    try:
        with pytest.raises(StateError):
            store.load()
    finally:
        store.close()
    assert not paths.state.exists(), "nothing was written in its place"


def test_the_journal_is_snapshotted_when_it_outgrows_the_snapshot(tmp_path: Path) -> None:
    """Past the size threshold a commit writes state.json and starts a new segment; nothing committed is lost."""
    paths = RunPaths(tmp_path, "f")
    store = FileStateStore(paths, durable=False)
    store.snapshot_min_bytes = 4096
    try:
        store.commit_run(_run(), stages={"A": StageRecord(name="A")})
        for attempt in range(1, 60):
            store.commit_stage(StageRecord(name="A", status=StageStatus.FAILED, attempts=attempt))
        segments = sorted(paths.journal.glob("*.wal"))
        assert len(segments) <= 1 and all(s.stat().st_size < 4096 + 1024 for s in segments), "older segments were dropped"
        snapshot_seq = json.loads(paths.state.read_text())["seq"]
        assert snapshot_seq > 30, "snapshots were taken along the way"
        assert all(int(s.stem) == snapshot_seq + 1 for s in segments)
        assert read_state(paths).stages["A"].attempts == 59
    finally:
        store.abandon()


def test_a_schema_3_run_is_migrated_with_a_backup(tmp_path: Path) -> None:
    """A run in the schema-3 layout (state.json + stages/ + children/) loads, is migrated by the writer, and keeps a backup."""
    paths = RunPaths(tmp_path, "f")
    paths.root.mkdir(parents=True)
    snapshot = {"schema_version": 3, "run": json.loads(_run().model_dump_json()),
                "stages": {"A": json.loads(StageRecord(name="A", seq=1).model_dump_json())}, "children": {}}
    paths.state.write_text(json.dumps(snapshot))
    (paths.stage_records).mkdir()
    (paths.stage_records / "A.json").write_text(StageRecord(name="A", status=StageStatus.SUCCEEDED, seq=5).model_dump_json())
    (paths.child_records / "A").mkdir(parents=True)
    (paths.child_records / "A" / "T1.json").write_text(ChildRecord(id="A/T1", status=StageStatus.SUCCEEDED, seq=4).model_dump_json())
    assert read_state(paths).stages["A"].status == StageStatus.SUCCEEDED  # a reader folds the old files
    store = FileStateStore(paths)
    try:
        state = store.load()
        assert state.stages["A"].status == StageStatus.SUCCEEDED and "A/T1" in state.children
        assert store.commit_stage(StageRecord(name="A", status=StageStatus.PENDING)).seq == 6, "seq goes on from the old files"
    finally:
        store.close()
    assert not paths.stage_records.exists() and not paths.child_records.exists()
    [backup] = list(paths.backups.iterdir())
    assert backup.name.startswith("schema-3-")
    assert json.loads((backup / "state.json").read_text())["schema_version"] == 3
    assert (backup / "stages" / "A.json").is_file() and (backup / "children" / "A" / "T1.json").is_file()
    data = json.loads(paths.state.read_text())
    assert data["schema_version"] == SCHEMA_VERSION and data["stages"]["A"]["status"] == "pending"


def test_the_schema_2_fixture_is_migrated_with_a_backup(tmp_path: Path) -> None:
    """The schema-2 state.json (tests/e2e/fixtures/v2-run) loads; the first writer migrates it and keeps the original."""
    paths = RunPaths(tmp_path, "v2-run")
    paths.root.mkdir(parents=True)
    shutil.copyfile(FIXTURE_V2, paths.state)
    store = FileStateStore(paths)
    try:
        state = store.load()
        assert {n: r.status for n, r in state.stages.items()} == {"DRAFT": StageStatus.SUCCEEDED, "FINISH": StageStatus.FAILED}
    finally:
        store.close()
    [backup] = list(paths.backups.iterdir())
    assert (backup / "state.json").read_bytes() == FIXTURE_V2.read_bytes()
    assert json.loads(paths.state.read_text())["schema_version"] == SCHEMA_VERSION


def test_a_finished_run_leaves_no_journal(tmp_path: Path) -> None:
    """commit_run with a final status writes the snapshot users read and deletes the journal."""
    paths = RunPaths(tmp_path, "f")
    store = FileStateStore(paths)
    store.commit_run(_run(), stages={"A": StageRecord(name="A")})
    store.commit_stage(StageRecord(name="A", status=StageStatus.SUCCEEDED, attempts=1))
    store.commit_run(_run(status=RunStatus.COMPLETED))
    store.close()
    assert not list(paths.journal.glob("*.wal"))
    assert json.loads(paths.state.read_text())["stages"]["A"]["status"] == "succeeded"
