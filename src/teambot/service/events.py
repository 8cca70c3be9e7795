"""A run's events with ids, read from events.jsonl without changing its writer.

An event's id is the byte offset just past its line in events.jsonl. The file is append-only
(events.py), so ids only grow, each names one line for good, and "the events after id N" is
"the whole lines from byte N on": a reader that reconnects with the last id it saw misses
nothing and sees nothing twice, however many processes wrote the run. A line still being
written (no newline yet) is not returned until it is whole; a torn line a crash left (the next
writer starts a fresh line after it) does not parse and is passed over.
"""

from __future__ import annotations

import json
from pathlib import Path

from teambot.service.files import run_paths
from teambot.service.results import EventPage, RunEvent

MAX_BYTES = 1 << 20  # per call: a long history comes in pages (ask again with `next`)


def events(workspace: Path, feature: str, since: int = 0, *, limit: int = 1000) -> EventPage:
    """The whole events after id `since` (0: from the start), at most `limit` of them."""
    paths = run_paths(workspace, feature)
    found: list[RunEvent] = []
    offset = max(since, 0)
    try:
        fh = paths.events.open("rb")
    except FileNotFoundError:
        return EventPage(feature=feature, events=[], next=offset)
    with fh:
        if offset > 0:  # an id is always just past a newline; anything else is realigned to the next line
            fh.seek(offset - 1)
            if fh.read(1) != b"\n":
                fh.readline()
                offset = fh.tell()
        fh.seek(offset)
        budget = MAX_BYTES
        while len(found) < limit and budget > 0:
            line = fh.readline(budget)
            if not line.endswith(b"\n"):
                if len(line) == budget and not found:  # one line longer than a page: pass over it
                    rest = fh.readline()
                    if rest.endswith(b"\n"):
                        offset += len(line) + len(rest)
                        continue
                break  # the end, or a line being written: it comes whole next time
            budget -= len(line)
            offset += len(line)
            event = _parse(line, offset, feature)
            if event is not None:
                found.append(event)
    return EventPage(feature=feature, events=found, next=offset)


def _parse(line: bytes, end: int, feature: str) -> RunEvent | None:
    try:
        raw = json.loads(line.decode("utf-8", errors="replace"))
        return RunEvent(id=end, feature=feature, ts=raw["ts"], type=raw["type"], stage=raw.get("stage"),
                        details=raw.get("details") or {})
    except (ValueError, KeyError, TypeError):
        return None  # a torn line left by a crash
