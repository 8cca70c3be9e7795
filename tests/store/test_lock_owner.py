"""A process refused the run's lock names the holder, even one that has taken the lock but not yet recorded itself."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from teambot.errors import LockedError
from teambot.paths import RunPaths
from teambot.store.file import FileStateStore
from tests.helpers import cli_env

# Takes the run's lock as teambot does, but records itself only 0.5 s after it reads a line:
# the moment between taking the lock and writing owner.json, stretched so the test lands in it.
SLOW_HOLDER = """
import sys, time
from pathlib import Path
from filelock import FileLock
from teambot.fsutil import atomic_write
from teambot.store.file import make_owner

root = Path(sys.argv[1])
root.mkdir(parents=True, exist_ok=True)
lock = FileLock(str(root / "run.lock"), timeout=0)
lock.acquire()
print("locked", flush=True)
sys.stdin.readline()
time.sleep(0.5)
atomic_write(root / "owner.json", make_owner().model_dump_json(), durable=False)
time.sleep(60)
"""


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_refused_store_waits_for_the_holder_to_record_itself(tmp_path: Path) -> None:
    """The holder has the lock, its record is not written yet and an older one names a dead pid: the error names the holder."""
    paths = RunPaths(tmp_path, "feat")
    paths.root.mkdir(parents=True)
    stale = _dead_pid()
    paths.owner.write_text(json.dumps({"pid": stale, "host": socket.gethostname(), "since": "2026-01-01T00:00:00+00:00"}))
    holder = subprocess.Popen([sys.executable, "-c", SLOW_HOLDER, str(paths.root)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=cli_env())
    try:
        assert holder.stdout.readline() == "locked\n"
        holder.stdin.write("go\n")
        holder.stdin.flush()
        with pytest.raises(LockedError) as refused:
            FileStateStore(paths)
        assert f"pid {holder.pid} " in refused.value.message
        assert f"pid {stale} " not in refused.value.message
    finally:
        holder.kill()
        holder.wait()


def test_the_winner_records_itself_before_anything_else(tmp_path: Path) -> None:
    """Right after taking the lock the store has written owner.json naming this process."""
    paths = RunPaths(tmp_path, "feat")
    store = FileStateStore(paths)
    try:
        assert json.loads(paths.owner.read_text())["pid"] == os.getpid()
    finally:
        store.close()
