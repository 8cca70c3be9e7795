"""Every directory teambot creates during a run is fsynced into its parent (a power loss keeps it).

Watched with strace on the real CLI: each successful mkdir of the teambot process must be
followed by an fsync of that directory's parent. Skipped where strace is not installed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import cli_env

STAGES = """\
stages:
  SPEC: {work_agent: ba, artifacts: [docs/spec.md]}
  REVIEW: {work_agent: dev, review_agent: rev, is_review_stage: true, artifacts: [reviewed.md]}
  DONE: {}
stage_order: [SPEC, REVIEW, DONE]
"""

MKDIR = re.compile(r'^\d+ +mkdir(?:at)?\((?:[^,]*, )?"([^"]+)", [0-7]+\) = 0$')
FSYNC = re.compile(r"^\d+ +fsync\(\d+<([^>]+)>\) = 0$")


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_each_new_directory_is_fsynced_into_its_parent(tmp_path: Path) -> None:
    """The workspace, the run directory, journal/, iterations/<STAGE>/, artifacts/ subfolders...: each parent is fsynced after the mkdir."""
    (tmp_path / "stages.yaml").write_text(STAGES)
    (tmp_path / "objective.md").write_text("---\nfeature: dirs\n---\n# Dirs\n\nbody\n")
    trace = tmp_path.parent / f"{tmp_path.name}.strace"
    proc = subprocess.run(
        ["strace", "-f", "-qq", "-y", "-e", "trace=mkdir,mkdirat,fsync", "-o", str(trace),
         sys.executable, "-m", "teambot", "run", "objective.md", "--runtime", "demo", "-q"],
        cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 and "ptrace" in proc.stderr:
        pytest.skip(f"strace cannot trace here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    created: list[tuple[int, Path]] = []
    synced: list[tuple[int, Path]] = []
    for number, line in enumerate(trace.read_text().splitlines()):
        if made := MKDIR.match(line):
            path = Path(made.group(1))
            created.append((number, path if path.is_absolute() else tmp_path / path))
        elif done := FSYNC.match(line):
            synced.append((number, Path(done.group(1))))
    run_dir = tmp_path / ".agent-tracking" / "dirs"
    ours = [(n, p) for n, p in created if p == tmp_path / ".agent-tracking" or run_dir in (p, *p.parents)]
    expected = {run_dir, run_dir / "journal", run_dir / "iterations" / "REVIEW", run_dir / "artifacts" / "docs", run_dir / "logs"}
    assert expected <= {p for _, p in ours}, ours
    for number, path in ours:
        assert any(n > number and p == path.parent for n, p in synced), f"{path} was not fsynced into {path.parent}"
