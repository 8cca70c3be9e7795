"""A FIFO or a device planted as one of the run's own state files is refused (exit 2) by status and resume, never read."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.helpers import teambot

_TARGETS = ["state.json", "stages/SPEC.json", "children/SPEC/T1.json"]


def _plant(run_dir: Path, target: str, kind: str) -> Path:
    """Replace (or add) `target` in the run directory by a FIFO or a symlink to /dev/zero."""
    path = run_dir / target
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    return path


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
@pytest.mark.parametrize("target", _TARGETS)
def test_a_special_file_as_run_state_is_exit_2_naming_it(project: Path, run_dir: Path, target: str, kind: str) -> None:
    """status and resume exit 2 within seconds with one line naming the file; no hang, no MemoryError, no traceback."""
    proc = teambot("run", "objective.md", "-q", cwd=project, env={"TEAMBOT_DEMO_FAIL": "SPEC"})
    assert proc.returncode == 1, proc.stderr
    planted = _plant(run_dir, target, kind)
    for command in ("status", "resume"):
        started = time.monotonic()
        proc = teambot(command, cwd=project, timeout=60)
        elapsed = time.monotonic() - started
        assert proc.returncode == 2, (command, proc.stdout, proc.stderr)
        assert elapsed < 30, (command, elapsed)
        assert "Traceback" not in proc.stderr and "bug" not in proc.stderr, proc.stderr
        first = proc.stderr.splitlines()[0]
        assert str(planted) in first and "not a regular file" in first, proc.stderr
