"""A full disk: one line naming what could not be written and where, exit 1, and `resume` finishes the run.

The workspace is a real small filesystem (a tmpfs, mounted for the test; skipped where mounting
is not allowed). A command stage fills it up at a chosen point, leaving `leave` bytes, so the
next writes of teambot run out of space at different places (a log, an output, a commit, a step
file of a review loop). Then the filler is removed and `teambot resume` must finish the run
without running any finished stage again.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest

from tests.helpers import events, teambot

FILL = '''
import os, sys
marker, target, leave = sys.argv[1], sys.argv[2], int(sys.argv[3])
if not os.path.exists(marker):  # only the first time: a resumed attempt must not fill it again
    open(marker, "w").close()
    with open(target, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"x" * 4096)
        except OSError:
            pass
        fh.truncate(max(0, fh.tell() - leave))
print("filled")
'''

FLOOD = '''
import os, pathlib, sys
sys.stdin.read()
for i in range(2500):  # far more than a pipe holds: the agent blocks if teambot stops reading
    print(f"line {i} " + "y" * 60, flush=i % 100 == 0)
stage = os.environ["TEAMBOT_STAGE"]
pathlib.Path(os.environ["TEAMBOT_ARTIFACTS_DIR"], stage.lower() + ".md").write_text("# " + stage + "\\n")
'''


@pytest.fixture
def small_fs(tmp_path: Path):
    """A fresh tmpfs of 2 MiB at tmp_path/ws, unmounted after the test."""
    mount = tmp_path / "ws"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode(errors='replace').strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def project(tmp_path: Path, stages: str, leave: int, teambot_yaml: str = "") -> Path:
    (tmp_path / "fill.py").write_text(FILL)
    (tmp_path / "stages.yaml").write_text(stages.replace("LEAVE", str(leave)))
    (tmp_path / "objective.md").write_text("---\nfeature: full\n---\n# Fill the disk\n\nbody\n")
    if teambot_yaml:
        (tmp_path / "teambot.yaml").write_text(teambot_yaml)
    return tmp_path


def check_disk_full_exit(proc: subprocess.CompletedProcess[str], ws: Path) -> None:
    """Exit 1 and exactly one line on stderr: the path that could not be written and what to do."""
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: No space left on device: could not write "), lines[0]
    assert f"write {ws}/" in lines[0] and lines[0].endswith("free space, then `teambot resume`"), lines[0]
    assert "Traceback" not in proc.stdout + proc.stderr and "bug" not in proc.stderr


def check_resumes(project_dir: Path, ws: Path) -> None:
    """After freeing space, resume completes and no stage that succeeded is run again."""
    (ws / "filler").unlink()
    done = [e["stage"] for e in events(ws / "full") if e["type"] == "stage_succeeded"]
    proc = teambot("resume", "--workspace", "ws", cwd=project_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    state = json.loads(teambot("status", "--workspace", "ws", "--json", cwd=project_dir).stdout)
    assert state["status"] == "completed"
    succeeded = [e["stage"] for e in events(ws / "full") if e["type"] == "stage_succeeded"]
    assert sorted(succeeded) == sorted(set(succeeded)), succeeded  # each stage succeeded once
    assert set(done) <= set(succeeded)


DEMO_STAGES = """\
stages:
  SPEC: {work_agent: ba, artifacts: [spec.md]}
  FILL:
    run: [["{python}", "fill.py", "marker", "ws/filler", "LEAVE"]]
  BUILD: {work_agent: dev, artifacts: [build.md]}
  REVIEW: {work_agent: dev, review_agent: rev, is_review_stage: true, artifacts: [reviewed.md]}
  DONE: {}
stage_order: [SPEC, FILL, BUILD, REVIEW, DONE]
"""


@pytest.mark.parametrize("leave", [0, 4096, 8192, 12288, 24576, 32768])
def test_a_full_disk_is_one_line_and_the_run_resumes(tmp_path, small_fs, leave):
    """Wherever the disk fills up (output, commit, prompt, artifact, step file), one line, exit 1, then resume completes."""
    project_dir = project(tmp_path, DEMO_STAGES, leave)
    proc = teambot("run", "objective.md", "--runtime", "demo", "--workspace", "ws", cwd=project_dir)
    check_disk_full_exit(proc, small_fs)
    check_resumes(project_dir, small_fs)


COMMAND_STAGES = """\
stages:
  FILL:
    run: [["{python}", "fill.py", "marker", "ws/filler", "LEAVE"]]
  SPEC: {work_agent: ba, artifacts: [spec.md]}
  DONE: {}
stage_order: [FILL, SPEC, DONE]
"""


@pytest.mark.parametrize("leave", [65536, 131072])
def test_a_log_that_cannot_be_written_stops_the_agent_at_once(tmp_path, small_fs, leave):
    """An agent flooding stdout while its log hits a full disk is stopped (not left blocked on a pipe); one line, exit 1."""
    marker = f"teambot-disk-{uuid.uuid4().hex}"
    (tmp_path / "agent.py").write_text(FLOOD)
    yaml = f"runtime: command\ncommand:\n  argv: {json.dumps([sys.executable, 'agent.py', marker])}\n"
    project_dir = project(tmp_path, COMMAND_STAGES, leave, yaml)
    started = time.monotonic()
    proc = teambot("run", "objective.md", "--workspace", "ws", cwd=project_dir, timeout=60)
    assert time.monotonic() - started < 30  # not waiting for a heartbeat or a timeout
    check_disk_full_exit(proc, small_fs)
    assert "logs/SPEC.log" in proc.stderr or "outputs/SPEC.md" in proc.stderr, proc.stderr
    assert not [p for p in psutil.process_iter(["cmdline"]) if marker in (p.info["cmdline"] or [])]
    check_resumes(project_dir, small_fs)


def test_full_before_the_first_commit_says_to_run_again(tmp_path, small_fs):
    """No room for the run's first files: one line saying to run the same command again (nothing to resume), which then works."""
    project_dir = project(tmp_path, DEMO_STAGES.replace("LEAVE", "0"), 0)
    (project_dir / "marker").touch()  # the FILL stage leaves the disk alone: the test fills it first
    subprocess.run([sys.executable, "fill.py", "unused-marker", str(small_fs / "filler"), "4096"], cwd=project_dir, check=True)
    proc = teambot("run", "objective.md", "--runtime", "demo", "--workspace", "ws", cwd=project_dir)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("error: No space left on device: could not write ") and f"{small_fs}/full/" in line, line
    assert line.endswith("free space, then run the same command again"), line
    (small_fs / "filler").unlink()
    again = teambot("run", "objective.md", "--runtime", "demo", "--workspace", "ws", cwd=project_dir)
    assert again.returncode == 0, again.stdout + again.stderr


def test_the_run_is_recorded_failed_when_that_still_fits(tmp_path, small_fs):
    """A big output that does not fit (its temp file is removed again): the stage and the run are recorded failed with the message."""
    (tmp_path / "agent.py").write_text(FLOOD)
    yaml = f"runtime: command\ncommand:\n  argv: {json.dumps([sys.executable, 'agent.py'])}\n"
    project_dir = project(tmp_path, COMMAND_STAGES, 262144, yaml)
    proc = teambot("run", "objective.md", "--workspace", "ws", cwd=project_dir, timeout=60)
    check_disk_full_exit(proc, small_fs)
    assert f"could not write {small_fs}/full/outputs/SPEC.md" in proc.stderr
    report = json.loads(teambot("status", "--workspace", "ws", "--json", cwd=project_dir).stdout)
    [spec] = [s for s in report["stages"] if s["name"] == "SPEC"]
    assert report["status"] == "failed" and spec["status"] == "failed"
    assert "outputs/SPEC.md; free space, then `teambot resume`" in spec["error"]
    check_resumes(project_dir, small_fs)


def test_rerun_on_a_full_disk_says_to_run_it_again(tmp_path, small_fs):
    """`teambot rerun` refused by a full disk says to run the same command again (not resume), which then works."""
    project_dir = project(tmp_path, DEMO_STAGES.replace("LEAVE", "0"), 0)
    (project_dir / "marker").touch()  # the FILL stage leaves the disk alone
    assert teambot("run", "objective.md", "--runtime", "demo", "--workspace", "ws", cwd=project_dir).returncode == 0
    subprocess.run([sys.executable, "fill.py", "unused-marker", str(small_fs / "filler"), "0"], cwd=project_dir, check=True)
    proc = teambot("rerun", "SPEC", "--workspace", "ws", cwd=project_dir)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("error: No space left on device: could not write ") and f"{small_fs}/full/" in line, line
    assert line.endswith("free space, then run the same command again"), line
    (small_fs / "filler").unlink()
    again = teambot("rerun", "SPEC", "--workspace", "ws", cwd=project_dir)
    assert again.returncode == 0 and "marked to run again: SPEC" in again.stdout, again.stdout + again.stderr
