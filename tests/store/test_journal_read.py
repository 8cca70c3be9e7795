"""Reading the journal fast (one checksum and one split of a line's head per record) reads what it always read."""

from __future__ import annotations

import json
from pathlib import Path

from teambot.paths import RunPaths
from teambot.store import journal
from teambot.store.reader import apply


def test_a_record_whose_key_is_longer_than_the_fast_split_window_is_read(tmp_path: Path) -> None:
    """The journal reader splits a line's head within a window; a record with a longer key is still read, checksum and all."""
    paths = RunPaths(tmp_path, "f")
    paths.journal.mkdir(parents=True)
    run = json.dumps({"feature": "f", "objective_path": "/o.md", "objective_sha256": "0" * 64,
                      "stages_path": "/s.yaml", "stages_sha256": "1" * 64}).encode()
    long = "S" + "x" * 300
    stage = json.dumps({"name": long, "status": "succeeded", "attempts": 1}).encode()
    body = journal.HEADER + journal.encode(1, b"r", "-", run) + journal.encode(2, b"s", long, stage)
    (paths.journal / journal.segment_name(1)).write_bytes(body)
    scan = journal.scan(paths.journal, 0)
    assert scan.problems == [] and scan.torn is None and scan.records == 2
    assert scan.newest[(b"s", long.encode())][1] == stage
    state = apply(scan, None, "f")  # what a loader lays over the snapshot
    assert state is not None and state.stages[long].attempts == 1
    damaged = bytearray(body)
    damaged[len(journal.HEADER) + len(journal.encode(1, b"r", "-", run)) + 300] ^= 1  # inside the long key
    (paths.journal / journal.segment_name(1)).write_bytes(bytes(damaged) + journal.encode(3, b"r", "-", run))
    scan = journal.scan(paths.journal, 0)
    assert [p.what for p in scan.problems] == ["checksum mismatch or malformed record, followed by good records"]
