"""No silent loss: damaged or missing pieces of a run's record give their documented outcome, and `doctor` reports them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import start_teambot, started, status_json, teambot, wait_for

KILLED_AT = {"TEAMBOT_DEMO_DELAY": "0", "TEAMBOT_DEMO_DELAY_RESEARCH": "60"}


def _killed_run(project: Path, run_dir: Path) -> dict[str, str]:
    """A run killed -9 while RESEARCH runs (the stages before it succeeded); returns its stage statuses."""
    proc = start_teambot("run", "objective.md", "-q", cwd=project, env=KILLED_AT)
    try:
        assert wait_for(lambda: "RESEARCH" in started(run_dir), timeout=90)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    return {s["name"]: s["status"] for s in status_json(project)["stages"]}


def _segment(run_dir: Path) -> Path:
    [segment] = sorted((run_dir / "journal").glob("*.wal"))
    return segment


def _clean(proc: subprocess.CompletedProcess[str]) -> str:
    """stderr of a refused command: no traceback, no 'teambot bug'."""
    assert "Traceback" not in proc.stderr and "bug" not in proc.stderr, proc.stderr
    return proc.stderr


def test_a_deleted_snapshot_is_reported_and_rebuilt_never_started_over(project: Path, run_dir: Path) -> None:
    """state.json deleted mid-run: status, resume and run exit 2 naming it (not "no run"); doctor --repair rebuilds it; resume reruns nothing finished."""
    before = _killed_run(project, run_dir)
    assert before["SPEC"] == "succeeded"
    journal = _segment(run_dir).read_bytes()
    (run_dir / "state.json").unlink()
    for args in (("status",), ("resume", "-q"), ("run", "objective.md", "-q")):
        proc = teambot(*args, cwd=project)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert f"{run_dir / 'state.json'} is missing, but the run still has records" in _clean(proc)
        assert "no run" not in proc.stderr and "teambot doctor todo-cli" in proc.stderr
    assert _segment(run_dir).read_bytes() == journal, "nothing touched the records"
    doctor = teambot("doctor", cwd=project)
    assert doctor.returncode == 1 and "state.json: missing, while the run still has records" in doctor.stdout, doctor.stdout
    repair = teambot("doctor", "--repair", cwd=project)
    assert repair.returncode == 0, repair.stdout + repair.stderr
    assert "repaired: wrote" in repair.stdout and "is healthy" in repair.stdout
    after = {s["name"]: s["status"] for s in status_json(project)["stages"]}
    assert {n for n, s in after.items() if s == "succeeded"} == {n for n, s in before.items() if s == "succeeded"}
    count = len(started(run_dir))
    assert teambot("resume", "-q", cwd=project, env={"TEAMBOT_DEMO_DELAY": "0"}).returncode == 0
    assert not set(started(run_dir)[count:]) & {n for n, s in before.items() if s == "succeeded"}


def test_a_finished_run_without_its_state_is_never_treated_as_new(project: Path, run_dir: Path) -> None:
    """A completed run whose state.json was deleted: status, resume, rerun and run exit 2 (its events remain); nothing is deleted or rerun."""
    assert teambot("run", "objective.md", "-q", cwd=project, env={"TEAMBOT_DEMO_DELAY": "0"}).returncode == 0
    (run_dir / "state.json").unlink()
    events = (run_dir / "events.jsonl").read_bytes()
    for args in (("status",), ("resume", "-q"), ("rerun", "SPEC"), ("run", "objective.md", "-q")):
        proc = teambot(*args, cwd=project)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert "holds the files of an earlier run" in _clean(proc)
    assert (run_dir / "events.jsonl").read_bytes() == events
    assert teambot("doctor", cwd=project).returncode == 1


@pytest.mark.parametrize("target, kind", [("events.jsonl", "dir"), ("owner.json", "dir"), ("state.json", "dir"),
                                          ("journal", "file"), ("stages", "file")])
def test_a_wrong_kind_of_file_is_exit_2_naming_it(project: Path, run_dir: Path, target: str, kind: str) -> None:
    """A directory where a file belongs (or the reverse): status, resume and run exit 2 naming the path, never 'a teambot bug'."""
    proc = teambot("run", "objective.md", "-q", cwd=project, env={"TEAMBOT_DEMO_FAIL": "SPEC"})
    assert proc.returncode == 1, proc.stderr
    path = run_dir / target
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    if kind == "dir":
        path.mkdir()
    else:
        path.write_text("not a directory\n")
    for args in (("status",), ("resume", "-q"), ("run", "objective.md", "-q")):
        proc = teambot(*args, cwd=project)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        first = _clean(proc).splitlines()[0]
        assert str(path) in first and ("is a directory" in first if kind == "dir" else "is a file" in first), first
    doctor = teambot("doctor", "todo-cli", cwd=project)
    assert doctor.returncode == 1 and str(path) in doctor.stdout, doctor.stdout


def test_a_flipped_byte_in_the_journal_is_reported_then_repaired(project: Path, run_dir: Path) -> None:
    """A damaged record with good ones after it: status exits 2 naming the segment and offset; doctor lists it; --repair keeps every good record."""
    before = _killed_run(project, run_dir)
    segment = _segment(run_dir)
    data = bytearray(segment.read_bytes())
    lines = data.split(b"\n")
    offset = sum(len(line) + 1 for line in lines[:3])  # the third record
    data[offset + 30] ^= 0x01
    segment.write_bytes(bytes(data))
    proc = teambot("status", cwd=project)
    assert proc.returncode == 2 and f"{segment} at byte {offset}: checksum mismatch" in _clean(proc), proc.stderr
    doctor = teambot("doctor", cwd=project)
    assert doctor.returncode == 1 and f"problem: {segment} at byte {offset}" in doctor.stdout, doctor.stdout
    repair = teambot("doctor", "--repair", cwd=project)
    assert repair.returncode == 0 and "left out 1 damaged record" in repair.stdout, repair.stdout + repair.stderr
    backups = list((run_dir / "backup").glob("doctor-*/journal/*.wal"))
    assert [b.read_bytes() for b in backups] == [bytes(data)], "the journal as it was is kept"
    after = {s["name"]: s["status"] for s in status_json(project)["stages"]}
    assert after["SPEC_REVIEW"] == before["SPEC_REVIEW"] == "succeeded", "records after the damage are kept"
    assert teambot("resume", "-q", cwd=project, env={"TEAMBOT_DEMO_DELAY": "0"}).returncode == 0


def test_a_torn_tail_loads_and_doctor_drops_it(project: Path, run_dir: Path) -> None:
    """A record cut short at the end never committed: status works; doctor reports it; --repair drops it; then healthy."""
    before = _killed_run(project, run_dir)
    with _segment(run_dir).open("ab") as fh:
        fh.write(b'0badc0de 999 s SPEC {"name": "SP')
    assert {s["name"]: s["status"] for s in status_json(project)["stages"]} == before
    doctor = teambot("doctor", cwd=project)
    assert doctor.returncode == 1 and "torn last record" in doctor.stdout, doctor.stdout
    assert teambot("doctor", "--repair", cwd=project).returncode == 0
    healthy = teambot("doctor", cwd=project)
    assert healthy.returncode == 0 and "is healthy" in healthy.stdout, healthy.stdout


def test_a_journal_from_a_newer_teambot_is_refused_and_reported(project: Path, run_dir: Path) -> None:
    """A journal segment of a newer format: status and resume exit 2 saying to upgrade; doctor reports it; nothing rewritten."""
    _killed_run(project, run_dir)
    segment = _segment(run_dir)
    segment.write_bytes(segment.read_bytes().replace(b"teambot-journal 1\n", b"teambot-journal 7\n", 1))
    data = segment.read_bytes()
    for args in (("status",), ("resume", "-q")):
        proc = teambot(*args, cwd=project)
        assert proc.returncode == 2 and "newer teambot (journal format 7" in _clean(proc), proc.stderr
    doctor = teambot("doctor", cwd=project)
    assert doctor.returncode == 1 and "newer teambot" in doctor.stdout, doctor.stdout
    assert segment.read_bytes() == data


def test_doctor_reports_a_changed_or_missing_artifact(project: Path, run_dir: Path) -> None:
    """An artifact of a succeeded stage edited, another deleted: doctor names both and the rerun command; healthy run exits 0."""
    assert teambot("run", "objective.md", "-q", cwd=project, env={"TEAMBOT_DEMO_DELAY": "0"}).returncode == 0
    healthy = teambot("doctor", cwd=project)
    assert healthy.returncode == 0 and "is healthy" in healthy.stdout, healthy.stdout
    artifacts = [run_dir / "artifacts" / "feature_spec.md", run_dir / "artifacts" / "research.md"]  # recorded by SPEC, RESEARCH
    artifacts[0].write_text("edited by hand\n")
    artifacts[1].unlink()
    doctor = teambot("doctor", cwd=project)
    assert doctor.returncode == 1, doctor.stdout
    assert f"problem: {artifacts[0]}: " in doctor.stdout and "changed since the stage succeeded" in doctor.stdout
    assert f"problem: {artifacts[1]}: " in doctor.stdout and "is missing" in doctor.stdout
    assert "teambot rerun SPEC todo-cli" in doctor.stdout and "teambot rerun RESEARCH todo-cli" in doctor.stdout


def test_an_unrelated_live_pid_in_owner_json_is_not_a_running_owner(project: Path, run_dir: Path) -> None:
    """owner.json naming a live process that is not this run's teambot (pid reused): status reports the run interrupted, not running."""
    _killed_run(project, run_dir)
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        owner = {"pid": stranger.pid, "host": socket.gethostname(), "since": "2026-01-01T00:00:00+00:00", "started": 1.0}
        (run_dir / "owner.json").write_text(json.dumps(owner))
        assert status_json(project)["status"] == "interrupted"
        del owner["started"]  # an owner.json from before start times: the command line tells
        (run_dir / "owner.json").write_text(json.dumps(owner))
        assert status_json(project)["status"] == "interrupted"
    finally:
        stranger.kill()
        stranger.wait()


def test_doctor_repair_refuses_a_live_run(project: Path, run_dir: Path) -> None:
    """--repair takes the run's lock: on a run in progress it exits 3 naming the owner; plain doctor still reads it."""
    proc = start_teambot("run", "objective.md", "-q", cwd=project, env=KILLED_AT)
    try:
        assert wait_for(lambda: "RESEARCH" in started(run_dir), timeout=90)
        repair = teambot("doctor", "--repair", cwd=project)
        assert repair.returncode == 3 and f"pid {proc.pid}" in repair.stderr, repair.stderr
        assert teambot("doctor", cwd=project).returncode in (0, 1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert os.path.exists(run_dir / "state.json")
