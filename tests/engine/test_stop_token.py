"""session.drive stopped by a StopToken from another thread, with no process-wide signal handler installed."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

from teambot.config import load_workflow
from teambot.errors import EXIT_INTERRUPTED, EXIT_OK
from teambot.events import EventLog
from teambot.objective import load_objective
from teambot.paths import RunPaths
from teambot.records import RunRecords
from teambot.runtimes.demo import DemoRuntime
from teambot.session import DriveOptions, drive
from teambot.stopping import StopToken
from teambot.store.file import FileStateStore, read_state
from teambot.store.models import RunRecord, RunState, StageRecord

STAGES = "stages:\n  A: {work_agent: a, artifacts: [a.md]}\n  B: {work_agent: b, artifacts: [b.md]}\nstage_order: [A, B]\n"


def _drive(tmp_path: Path, delay: float, token: StopToken) -> tuple[int, RunPaths]:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "stages.yaml").write_text(STAGES)
    (tmp_path / "objective.md").write_text("# Stop me\n")
    workflow = load_workflow(tmp_path / "stages.yaml", project_dir=tmp_path)
    obj = load_objective(tmp_path / "objective.md")
    paths = RunPaths(tmp_path / "ws", "stop")
    store = FileStateStore(paths)
    try:
        for folder in (paths.artifacts, paths.outputs, paths.logs, paths.prompts):
            paths.make_dir(folder)
        run = RunRecord(feature="stop", objective_path=str(obj.path), objective_sha256=obj.sha256,
                        stages_path=str(workflow.path), stages_sha256=workflow.sha256)
        state = RunState(run=run, stages={n: StageRecord(name=n) for n in workflow.graph.order})
        events = EventLog(paths.events)
        try:
            code = drive(records=RunRecords.persisted(store, state), workflow=workflow, objective=obj, paths=paths, events=events,
                         project_dir=tmp_path, options=DriveOptions(), resumed=False, say=lambda _: None,
                         runtime=DemoRuntime(delay=delay, fail=set()), stop=token, signals=False)
        finally:
            events.close()
    finally:
        store.close()
    return code, paths


def test_a_stop_token_interrupts_the_run_from_another_thread_without_signal_handlers(tmp_path: Path) -> None:
    """A token requested from a thread stops the run (stages interrupted, resumable); SIGTERM's handler is never touched."""
    token = StopToken()
    before = signal.getsignal(signal.SIGTERM)
    seen: list[object] = []

    def stop_soon() -> None:
        time.sleep(0.5)
        seen.append(signal.getsignal(signal.SIGTERM))  # while the run runs
        token.request()

    threading.Thread(target=stop_soon, daemon=True).start()
    began = time.monotonic()
    code, paths = _drive(tmp_path, delay=30.0, token=token)
    assert code == EXIT_INTERRUPTED and time.monotonic() - began < 20
    assert seen == [before] and signal.getsignal(signal.SIGTERM) is before
    state = read_state(paths)
    assert state.run.status.value == "interrupted" and state.stages["A"].status.value == "interrupted"


def test_a_token_requested_before_the_run_starts_stops_it_at_once(tmp_path: Path) -> None:
    """A request made before drive binds the token is delivered when the run starts; without one the run completes."""
    token = StopToken()
    token.request()
    code, _ = _drive(tmp_path / "early", delay=30.0, token=token)
    assert code == EXIT_INTERRUPTED
    code, _ = _drive(tmp_path / "never", delay=0.0, token=StopToken())
    assert code == EXIT_OK
