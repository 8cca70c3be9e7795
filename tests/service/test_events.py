"""service.events: byte-offset ids over events.jsonl, read beside a writer and after a torn line."""

from __future__ import annotations

from pathlib import Path

import pytest

from teambot.errors import RunNotFoundError
from teambot.events import EventLog
from teambot.service import events


@pytest.fixture
def run(tmp_path: Path) -> Path:
    """A run directory with a state file (events needs a known run) and an empty event log."""
    root = tmp_path / "ws" / "demo"
    root.mkdir(parents=True)
    (root / "state.json").write_text("{}")
    return root


def test_ids_are_the_offsets_past_each_line(run: Path) -> None:
    """Each event's id is the byte offset just past its line, so ids grow and `since=id` continues after it."""
    log = EventLog(run / "events.jsonl")
    for stage in ("A", "B", "C"):
        log.emit("stage_started", stage, attempt=1)
    log.close()
    page = events(run.parent, "demo")
    data = (run / "events.jsonl").read_bytes()
    ends = [i + 1 for i, byte in enumerate(data) if byte == ord("\n")]
    assert [e.id for e in page.events] == ends and page.next == ends[-1]
    assert [e.stage for e in page.events] == ["A", "B", "C"]
    assert [e.stage for e in events(run.parent, "demo", ends[0]).events] == ["B", "C"]
    assert events(run.parent, "demo", ends[-1]).events == []


def test_a_line_being_written_waits_and_a_torn_line_is_passed_over(run: Path) -> None:
    """A line without its newline is not returned yet; after a crash tore it, the next writer's events follow it."""
    log = EventLog(run / "events.jsonl")
    log.emit("run_started", None)
    log.close()
    with (run / "events.jsonl").open("a") as fh:
        fh.write('{"ts": 1, "type": "stage_sta')  # a crash mid-line
    first = events(run.parent, "demo")
    assert [e.type for e in first.events] == ["run_started"]
    log = EventLog(run / "events.jsonl")  # the next process starts a fresh line after the torn one
    log.emit("run_resumed", None)
    log.close()
    later = events(run.parent, "demo", first.next)
    assert [e.type for e in later.events] == ["run_resumed"]
    assert later.next == (run / "events.jsonl").stat().st_size


def test_an_id_inside_a_line_continues_at_the_next_line(run: Path) -> None:
    """A `since` that is no event's id (inside a line) never yields half a line: reading resumes at the next whole one."""
    log = EventLog(run / "events.jsonl")
    log.emit("stage_started", "A")
    log.emit("stage_started", "B")
    log.close()
    first = events(run.parent, "demo").events[0]
    assert [e.stage for e in events(run.parent, "demo", first.id - 5).events] == ["B"]


def test_pages_are_bounded(run: Path) -> None:
    """`limit` bounds a page; asking again from `next` gets the rest, each event once."""
    log = EventLog(run / "events.jsonl")
    for i in range(25):
        log.emit("stage_started", f"S{i}")
    log.close()
    seen, since = [], 0
    while True:
        page = events(run.parent, "demo", since, limit=10)
        if not page.events:
            break
        seen += [e.stage for e in page.events]
        since = page.next
    assert seen == [f"S{i}" for i in range(25)]


def test_an_unknown_run(tmp_path: Path) -> None:
    """A feature with no state file is RunNotFoundError (HTTP 404)."""
    with pytest.raises(RunNotFoundError):
        events(tmp_path, "nope")
