"""Crashes through runs of fast stages: kill -9 at random moments, and a power cut simulated by dropping
everything written after the journal's last flush (and, in the last test, output files, which are never
flushed). What was reported succeeded stays succeeded; nothing finished reruns; a stage whose output was
lost runs again."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

from teambot.paths import RunPaths
from teambot.store.file import read_state
from teambot.store.journal import FLUSH_LOG_ENV
from tests.helpers import wait_for, events, start_teambot, started, status_json, teambot

def _chain(tmp_path: Path, stages: int = 40) -> tuple[Path, Path]:
    """A project with a chain of `stages` agent stages (demo runtime); (project, run dir)."""
    project = tmp_path / "project"
    project.mkdir()
    names = [f"S{i:02d}" for i in range(stages)]
    lines = ["stages:", *(f"  {n}: {{work_agent: a}}" for n in names), "stage_order:", *(f"  - {n}" for n in names)]
    (project / "stages.yaml").write_text("\n".join(lines) + "\n")
    (project / "objective.md").write_text("---\nfeature: chain\n---\n# Chain\n\nMany fast stages.\n")
    return project, project / ".agent-tracking" / "chain"


def _succeeded(report: dict) -> set[str]:
    return {s["name"] for s in report["stages"] if s["status"] == "succeeded"}


def test_kill9_at_random_moments_keeps_every_reported_success(tmp_path: Path) -> None:
    """kill -9 at random points: every stage `status --json` showed succeeded just before stays succeeded, and resume never reruns it."""
    project, run_dir = _chain(tmp_path, stages=100)
    rng = random.Random(11)
    env = {"TEAMBOT_DEMO_DELAY": "0.06"}  # about 6 s of work: room for at least three kills after the first commit
    finished: set[str] = set()
    kills = 0
    for _ in range(8):
        before = len(started(run_dir))
        proc = start_teambot(*(("resume", "-q") if (run_dir / "state.json").exists() else ("run", "objective.md", "-q")),
                             cwd=project, env=env)
        # the random moment counts from the run's first commit: on a loaded machine start-up alone can
        # take longer than the whole window, and a kill before any commit tests nothing
        wait_for(lambda: (run_dir / "state.json").exists() or proc.poll() is not None, timeout=60)
        time.sleep(rng.uniform(1.0, 2.2))
        seen = status_json(project) if (run_dir / "state.json").exists() else {"stages": []}
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        if not (run_dir / "state.json").exists():
            continue  # killed before its first commit: nothing to keep
        kills += 1
        after = status_json(project)  # the state always loads
        assert _succeeded(seen) <= _succeeded(after), f"reported succeeded, then lost: {_succeeded(seen) - _succeeded(after)}"
        assert not set(started(run_dir)[before:]) & finished, "a finished stage ran again"
        finished = _succeeded(after)
        if after.get("status") == "completed":
            break
    assert kills >= 3
    count = len(started(run_dir))
    final = teambot("resume", "-q", cwd=project, env={"TEAMBOT_DEMO_DELAY": "0"})
    assert final.returncode == 0, final.stdout + final.stderr
    assert not set(started(run_dir)[count:]) & finished
    assert status_json(project)["status"] == "completed"


def _power_cut(run_dir: Path, flush_log: Path) -> float:
    """Drop every journal byte written after its last flush (as a power cut would); returns when that flush began."""
    entries = [line.split() for line in flush_log.read_text().splitlines()] if flush_log.exists() else []
    last_snapshot = max((i for i, e in enumerate(entries) if e[0] == "snapshot"), default=-1)
    flushed: dict[str, int] = {}
    for path, length, _ in entries[last_snapshot + 1:]:
        flushed[path] = int(length)
    for segment in (run_dir / "journal").glob("*.wal"):
        with segment.open("r+b") as fh:
            fh.truncate(flushed.get(str(segment), 0))  # a segment never flushed keeps nothing but its name
    return float(entries[-1][2]) if entries else 0.0


def test_a_power_cut_loses_nothing_reported_before_the_last_flush(tmp_path: Path) -> None:
    """Killed, then the journal cut back to its last flushed length: the state loads, every stage whose success was
    reported (event, or a read before the flush) is still succeeded, and resume reruns none of them."""
    project, run_dir = _chain(tmp_path)
    paths = RunPaths(run_dir.parent, run_dir.name)
    flush_log = tmp_path / "flushes.log"
    env = {"TEAMBOT_DEMO_DELAY": "0.03", FLUSH_LOG_ENV: str(flush_log)}
    rng = random.Random(5)
    command = ("run", "objective.md", "-q")
    cuts = 0
    for _ in range(8):
        if cuts >= 3:
            break
        before = len(events(run_dir))
        proc = start_teambot(*command, cwd=project, env=env)
        command = ("resume", "-q")
        reads: list[tuple[float, set[str]]] = []  # (when the read ended, stages it showed succeeded)
        deadline = time.monotonic() + rng.uniform(0.9, 1.8)
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                state = read_state(paths)
            except Exception:  # noqa: BLE001 - not there yet (before the first snapshot)
                state = None
            if state is not None:
                reads.append((time.time(), {n for n, r in state.stages.items() if r.status == "succeeded"}))
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        if proc.returncode != -signal.SIGKILL:  # it finished first: go again
            teambot("rerun", "S01", cwd=project)
            flush_log.unlink(missing_ok=True)
            continue
        last_flush = _power_cut(run_dir, flush_log)
        cuts += 1
        state = read_state(paths)  # loads after the cut
        kept = {n for n, r in state.stages.items() if r.status == "succeeded"}
        reported = {e["stage"] for e in events(run_dir)[before:] if e["type"] == "stage_succeeded"}
        assert reported <= kept, f"succeeded (event emitted after its commit) but lost: {reported - kept}"
        for when, shown in reads:
            if when < last_flush:
                assert shown <= kept, f"read before the last flush, lost in the cut: {shown - kept}"
        count = len(started(run_dir))
        again = teambot("resume", "-q", cwd=project, env={"TEAMBOT_DEMO_DELAY": "0"})
        assert again.returncode == 0, again.stdout + again.stderr
        assert not set(started(run_dir)[count:]) & kept, "a stage kept as succeeded ran again"
        teambot("rerun", "S01", cwd=project)  # the chain again, for the next round's cut
        flush_log.unlink(missing_ok=True)
    assert cuts >= 3


def test_a_power_cut_that_loses_outputs_reruns_exactly_those_stages(tmp_path: Path) -> None:
    """Outputs are written without a flush: after a cut that also emptied or lost some of them, resume
    runs exactly the stages whose output is gone (their dependents are kept, their inputs unchanged)."""
    project, run_dir = _chain(tmp_path)
    paths = RunPaths(run_dir.parent, run_dir.name)
    flush_log = tmp_path / "flushes.log"
    proc = start_teambot("run", "objective.md", "-q", cwd=project, env={"TEAMBOT_DEMO_DELAY": "0.03", FLUSH_LOG_ENV: str(flush_log)})
    wait_for(lambda: len(started(run_dir)) >= 12 or proc.poll() is not None, timeout=60)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    _power_cut(run_dir, flush_log)
    kept = sorted(n for n, r in read_state(paths).stages.items() if r.status == "succeeded")
    assert len(kept) >= 6, kept
    lost = [kept[1], kept[-3], kept[-1]]  # in the middle of the chain and at its end
    (run_dir / "outputs" / f"{lost[0]}.md").unlink()
    for name in lost[1:]:
        (run_dir / "outputs" / f"{name}.md").write_bytes(b"")  # a file created but its data never written
    count = len(started(run_dir))
    again = teambot("resume", "-q", cwd=project, env={"TEAMBOT_DEMO_DELAY": "0"})
    assert again.returncode == 0, again.stdout + again.stderr
    rerun = started(run_dir)[count:]
    assert set(rerun) & set(kept) == set(lost), rerun
    final = read_state(paths)
    assert final.run.status == "completed"
    assert all((run_dir / "outputs" / f"{n}.md").stat().st_size > 0 for n in lost)
