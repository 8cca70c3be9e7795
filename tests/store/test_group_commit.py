"""Persistence as an observer with group commit: record changes become journal writes, stages that
finish together share a flush, and the event loop never waits on the disk."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from teambot.errors import DiskFullError
from teambot.lifecycle import StageStatus
from teambot.paths import RunPaths
from teambot.records import RunRecords
from teambot.store.file import FileStateStore, read_state
from teambot.store.models import RunRecord, RunState, StageRecord


def _open(tmp_path: Path, stages: int, store_class=FileStateStore) -> tuple[FileStateStore, RunRecords, list[str]]:
    names = [f"S{i:02d}" for i in range(stages)]
    store = store_class(RunPaths(tmp_path, "f"))
    run = RunRecord(feature="f", objective_path="/o.md", objective_sha256="0" * 64, stages_path="/s.yaml",
                    stages_sha256="1" * 64)
    records = RunRecords.persisted(store, RunState(run=run, stages={n: StageRecord(name=n) for n in names}))
    records.save_run(new=True)
    for name in names:
        records.update(name, status=StageStatus.RUNNING, attempts=1)
    return store, records, names


async def _finish_all(records: RunRecords, names: list[str]) -> None:
    async def finish(name: str) -> None:
        records.update(name, status=StageStatus.SUCCEEDED)
        await records.settled()

    await asyncio.gather(*(finish(n) for n in names))


def test_stages_finishing_together_share_flushes_and_are_durable_when_settled(tmp_path: Path) -> None:
    """64 stages that record `succeeded` at once and await durability cost a few fdatasyncs, not 64,
    and every one of them is in the journal (read by another reader) once settled() returned."""
    store, records, names = _open(tmp_path, 64)
    before = store.flushes
    asyncio.run(_finish_all(records, names))
    flushes = store.flushes - before
    assert 1 <= flushes <= 8, f"{flushes} flushes for 64 stages finishing together"
    state = read_state(store.paths)  # the journal as a reader sees it, with the writer still open
    assert {state.stages[n].status for n in names} == {StageStatus.SUCCEEDED}
    store.close()


def test_running_records_are_written_without_a_flush(tmp_path: Path) -> None:
    """A `running` record is appended (a reader sees it) but costs no fdatasync; settled() then has nothing to wait for."""
    store, records, names = _open(tmp_path, 3)
    before = store.flushes
    for name in names:
        records.update(name, pgid=4242)
    asyncio.run(records.settled())
    assert store.flushes == before
    assert read_state(store.paths).stages[names[0]].pgid == 4242
    store.close()


class _SlowDisk(FileStateStore):
    """A file store whose fdatasync takes 0.3 s (a slow disk)."""

    flush_threads: list[str] = []

    def flush(self) -> None:
        type(self).flush_threads.append(threading.current_thread().name)
        time.sleep(0.3)
        super().flush()


def test_a_slow_flush_never_stalls_the_event_loop(tmp_path: Path) -> None:
    """While the flusher waits 0.3 s on the disk, the event loop keeps running other work; the
    stage awaiting durability resumes only after the flush."""
    store, records, names = _open(tmp_path, 1, _SlowDisk)
    ticks = 0

    async def ticker(stop: asyncio.Event) -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    async def main() -> float:
        stop = asyncio.Event()
        tick_task = asyncio.create_task(ticker(stop))
        started = time.monotonic()
        await _finish_all(records, names)
        waited = time.monotonic() - started
        stop.set()
        await tick_task
        return waited

    waited = asyncio.run(main())
    assert waited >= 0.3, "settled() returned before the flush finished"
    assert ticks >= 10, f"the event loop ran only {ticks} ticks during a 0.3 s flush"
    assert _SlowDisk.flush_threads and all(t == "teambot-flusher" for t in _SlowDisk.flush_threads)
    store.close()


class _FullDisk(FileStateStore):
    """A file store whose fdatasync fails with a full disk."""

    def flush(self) -> None:
        raise DiskFullError(self.paths.journal, "no space left on device")


def test_a_failed_flush_is_raised_to_the_waiter_and_stops_further_changes(tmp_path: Path) -> None:
    """A flush that fails (a full disk) is raised by settled(), and by the next change, never swallowed."""
    store, records, names = _open(tmp_path, 2, _FullDisk)
    with pytest.raises(DiskFullError):
        asyncio.run(_finish_all(records, names[:1]))
    with pytest.raises(DiskFullError):
        records.update(names[1], status=StageStatus.SUCCEEDED)
    store.abandon()


def test_every_change_reaches_every_observer_in_order(tmp_path: Path) -> None:
    """RunRecords announces each change, in order, to each subscriber beside persistence."""
    store, records, names = _open(tmp_path, 2)
    seen: list[tuple[str, str]] = []

    class Watcher:
        def stage_changed(self, record: StageRecord) -> None:
            seen.append((record.name, record.status.value))

        def child_changed(self, record) -> None:
            seen.append((record.id, record.status.value))

        def run_changed(self, run, stages) -> None:
            seen.append(("run", run.status.value))

        async def settled(self) -> None:
            return None

    records.subscribe(Watcher())
    records.update(names[0], status=StageStatus.SUCCEEDED)
    records.update(names[1], status=StageStatus.FAILED)
    records.save_run()
    assert seen == [(names[0], "succeeded"), (names[1], "failed"), ("run", "running")]
    assert read_state(store.paths).stages[names[1]].status == StageStatus.FAILED
    store.close()


def test_an_idle_flusher_thread_ends_and_a_later_change_starts_another(tmp_path: Path, monkeypatch) -> None:
    """The flusher thread ends once idle (a long-lived server's edits leave no thread behind), and the next
    change that must be durable starts a new one and is flushed."""
    from teambot.store import persistence

    monkeypatch.setattr(persistence, "IDLE_SECONDS", 0.05)
    store, records, names = _open(tmp_path, 2)
    asyncio.run(_finish_all(records, names[:1]))
    deadline = time.monotonic() + 5
    while any(t.name == "teambot-flusher" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(t.name == "teambot-flusher" for t in threading.enumerate()), "the idle flusher thread lives on"
    before = store.flushes
    asyncio.run(_finish_all(records, names[1:]))
    assert store.flushes == before + 1
    assert read_state(store.paths).stages[names[1]].status == StageStatus.SUCCEEDED
    store.close()


def test_a_wake_up_left_on_a_closed_loop_does_not_strand_the_next_loops_waiters(tmp_path: Path) -> None:
    """A flush wake-up scheduled on an event loop that closed before running it does not keep a later
    loop's stage waiting: settled() on the new loop still returns once the record is durable."""
    store, records, names = _open(tmp_path, 2)
    loop = asyncio.new_event_loop()
    # the change schedules a wake-up behind loop.stop(): the loop stops before running it
    loop.call_soon(lambda: records.update(names[0], status=StageStatus.SUCCEEDED))
    loop.call_soon(loop.stop)
    loop.run_forever()
    loop.close()
    asyncio.run(asyncio.wait_for(_finish_all(records, names[1:]), timeout=10))
    assert read_state(store.paths).stages[names[1]].status == StageStatus.SUCCEEDED
    store.close()


def test_a_stage_cancelled_while_awaiting_durability_leaves_the_others_waiting(tmp_path: Path) -> None:
    """Stages finishing together share one flush: cancelling one of them (a stop) ends its wait at
    once and does not end the others', which return after the flush; every record is durable."""
    store, records, names = _open(tmp_path, 3, _SlowDisk)

    async def main() -> tuple[list[object], float, float]:
        async def finish(name: str) -> float:
            records.update(name, status=StageStatus.SUCCEEDED)
            await records.settled()
            return time.monotonic()

        tasks = [asyncio.create_task(finish(n)) for n in names]
        await asyncio.sleep(0.1)  # all three wait; the 0.3 s flush is under way
        cancelled_at = time.monotonic()
        tasks[0].cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        return results, cancelled_at, time.monotonic()

    results, cancelled_at, ended = asyncio.run(main())
    assert isinstance(results[0], asyncio.CancelledError)
    assert all(isinstance(r, float) and r - cancelled_at >= 0.1 for r in results[1:]), results
    state = read_state(store.paths)
    assert {state.stages[n].status for n in names} == {StageStatus.SUCCEEDED}
    store.close()


def test_a_wait_that_starts_while_the_covering_flush_runs_returns_when_that_flush_ends(tmp_path: Path) -> None:
    """A stage that awaits durability only after the flush covering its record has begun (it did
    other work in between) returns when that flush ends, never waits for a flush nobody asks for."""
    store, records, names = _open(tmp_path, 1, _SlowDisk)

    async def main() -> float:
        records.update(names[0], status=StageStatus.SUCCEEDED)
        await asyncio.sleep(0.1)  # the flusher was woken at the end of that turn: its 0.3 s flush runs now
        started = time.monotonic()
        await asyncio.wait_for(records.settled(), timeout=10)
        return time.monotonic() - started

    waited = asyncio.run(main())
    assert waited < 5, f"settled() took {waited:.1f} s"
    assert read_state(store.paths).stages[names[0]].status == StageStatus.SUCCEEDED
    store.close()
