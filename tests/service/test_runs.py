"""teambot.service's read side, called directly on run directories the real CLI made (demo runtime)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import yaml

from teambot.errors import RunNotFoundError, StateError
from teambot.service import RunStatus, RunSummary, list_runs, run_status
from tests.helpers import start_teambot, state, status_json, teambot, wait_for

STAGES = {"stages": {"PLAN": {"work_agent": "pm"}, "BUILD": {"work_agent": "builder-1"}, "CHECK": {"work_agent": "pm"}},
          "stage_order": ["PLAN", "BUILD", "CHECK"]}


@pytest.fixture
def small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with a three-stage workflow and an objective; the current directory, as for the CLI."""
    (tmp_path / "stages.yaml").write_text(yaml.safe_dump(STAGES))
    (tmp_path / "objective.md").write_text("# Small\n\n## Goals\n- three stages\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _run(project: Path, feature: str, env: dict[str, str] | None = None, code: int = 0) -> Path:
    proc = teambot("run", "objective.md", "-q", "--feature", feature, cwd=project, env=env)
    assert proc.returncode == code, proc.stdout + proc.stderr
    return project / ".agent-tracking" / feature


def test_a_finished_run(small: Path) -> None:
    """A completed run: every stage succeeded in stage order, no notes, and `status --json` prints exactly this model."""
    _run(small, "done")
    ws = small / ".agent-tracking"
    report = run_status(ws, "done")
    assert isinstance(report, RunStatus)
    assert report.status == "completed" and report.error is None and report.notes == [] and report.stale == []
    assert [(s.name, s.status, s.attempts) for s in report.stages] == [("PLAN", "succeeded", 1), ("BUILD", "succeeded", 1),
                                                                        ("CHECK", "succeeded", 1)]
    assert report.owner is not None and report.run_dir == str(ws / "done")
    assert report.model_dump(mode="json") == status_json(small, "done")
    [summary] = list_runs(ws)
    assert isinstance(summary, RunSummary)
    assert (summary.feature, summary.status, summary.succeeded, summary.total) == ("done", "completed", 3, 3)
    assert summary.owner_pid is None and summary.error is None and summary.cost_usd is None
    assert summary.created_at == report.created_at and summary.elapsed_seconds == report.elapsed_seconds


def test_a_failed_run(small: Path) -> None:
    """A run whose BUILD failed: the run and BUILD are `failed` with the error, CHECK never started."""
    _run(small, "broken", env={"TEAMBOT_DEMO_FAIL": "BUILD"}, code=1)
    report = run_status(small / ".agent-tracking", "broken")
    assert report.status == "failed"
    stages = {s.name: s for s in report.stages}
    assert stages["PLAN"].status == "succeeded"
    assert stages["BUILD"].status == "failed" and stages["BUILD"].error
    assert stages["CHECK"].status == "pending" and stages["CHECK"].attempts == 0
    [summary] = list_runs(small / ".agent-tracking")
    assert (summary.status, summary.succeeded, summary.total) == ("failed", 1, 3)


def test_a_run_whose_owner_was_killed(small: Path) -> None:
    """While it runs the summary names its owner's pid; after kill -9 the run and its running stage read `interrupted`."""
    ws = small / ".agent-tracking"
    proc = start_teambot("run", "objective.md", "-q", "--feature", "cut", cwd=small, env={"TEAMBOT_DEMO_DELAY_BUILD": "30"})
    try:
        run_dir = ws / "cut"
        assert wait_for(lambda: (run_dir / "state.json").exists() and
                        run_status(ws, "cut").stages[1].status == "running", timeout=60)
        [live] = list_runs(ws)
        assert (live.status, live.owner_pid) == ("running", proc.pid)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert state(run_dir)["run"]["status"] == "running"  # as the killed process left it
    report = run_status(ws, "cut")
    assert report.status == "interrupted"
    build = report.stages[1]
    assert (build.name, build.status, build.error) == ("BUILD", "interrupted", "teambot stopped while it ran")
    assert report.stages[2].status == "pending"
    assert any("teambot resume" in note for note in report.notes)
    [dead] = list_runs(ws)
    assert (dead.status, dead.owner_pid, dead.succeeded) == ("interrupted", None, 1)


def test_an_empty_workspace(tmp_path: Path) -> None:
    """A missing or empty workspace has no runs; asking for one raises RunNotFoundError naming the workspace."""
    assert list_runs(tmp_path / "missing") == []
    assert list_runs(tmp_path) == []
    with pytest.raises(RunNotFoundError) as err:
        run_status(tmp_path, "nothing")
    assert err.value.message == f"no run named 'nothing' in {tmp_path}"
    assert err.value.exit_code == 2 and "teambot run" in err.value.hint


def test_a_damaged_state_among_good_runs(small: Path) -> None:
    """One truncated state.json shows as `unreadable` with the file named; the good runs around it list as usual."""
    ws = small / ".agent-tracking"
    _run(small, "alpha")
    _run(small, "gamma")
    damaged = ws / "beta" / "state.json"
    damaged.parent.mkdir()
    damaged.write_text('{"schema_version": 3, "run": ')
    runs = list_runs(ws)
    assert [(r.feature, r.status) for r in runs] == [("alpha", "completed"), ("beta", "unreadable"), ("gamma", "completed")]
    assert runs[1].error.startswith(f"{damaged} is corrupt (truncated")
    assert (runs[1].succeeded, runs[1].total, runs[1].updated_at) == (0, 0, None)
    with pytest.raises(StateError, match="is corrupt"):
        run_status(ws, "beta")
    listed = json.loads(teambot("status", "--json", cwd=small).stdout)["runs"]
    assert listed == [r.model_dump(mode="json") for r in runs]


def test_an_edited_stages_file_names_stale_stages(small: Path) -> None:
    """`stages_file` replaces the recorded one: a stage whose definition it changes is reported stale."""
    _run(small, "done")
    edited = small / "edited.yaml"
    changed = json.loads(json.dumps(STAGES))
    changed["stages"]["BUILD"]["work_agent"] = "builder-2"
    edited.write_text(yaml.safe_dump(changed))
    report = run_status(small / ".agent-tracking", "done", edited)
    assert report.stale == ["BUILD"]
    assert [s.name for s in report.stages if s.stale] == ["BUILD"]
    assert run_status(small / ".agent-tracking", "done").stale == []


def test_a_stage_added_after_the_run_is_pending_with_every_key(small: Path) -> None:
    """A stage the run never recorded (added to the stages file later) reads `pending` with the same keys as the others."""
    _run(small, "done")
    edited = small / "more.yaml"
    more = json.loads(json.dumps(STAGES))
    more["stages"]["DOCS"] = {"work_agent": "pm"}
    more["stage_order"].append("DOCS")
    edited.write_text(yaml.safe_dump(more))
    report = run_status(small / ".agent-tracking", "done", edited).model_dump(mode="json")
    docs = report["stages"][-1]
    assert (docs["name"], docs["status"], docs["attempts"], docs["iterations"], docs["children"]) == ("DOCS", "pending", 0, [], [])
    assert set(docs) == set(report["stages"][0])
