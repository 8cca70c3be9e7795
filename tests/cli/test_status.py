"""`teambot status` through the real CLI: what it prints and the exit code it ends with."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.helpers import teambot


def _run_without_stages(tmp_path: Path) -> Path:
    """A finished one-stage run whose state.json was then emptied of stages and whose stages file is gone."""
    (tmp_path / "stages.yaml").write_text(yaml.safe_dump({"stages": {"ONLY": {"work_agent": "pm"}}, "stage_order": ["ONLY"]}))
    (tmp_path / "objective.md").write_text("# Empty\n\n## Goals\n- nothing\n")
    proc = teambot("run", "objective.md", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    state_file = tmp_path / ".agent-tracking" / "objective" / "state.json"
    data = json.loads(state_file.read_text())
    data["stages"] = {}
    state_file.write_text(json.dumps(data))
    (tmp_path / "stages.yaml").unlink()
    return state_file


def test_status_json_of_a_run_without_stages_prints_no_report(tmp_path: Path) -> None:
    """`status --json` on a run with no stages exits 2 with one error line and no JSON on stdout."""
    state_file = _run_without_stages(tmp_path)
    proc = teambot("status", "--json", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert f"{state_file}: run 'objective' has no stages" in proc.stderr


def test_status_text_of_a_run_without_stages_prints_no_report(tmp_path: Path) -> None:
    """Plain `status` on a run with no stages exits 2 without first printing a report."""
    _run_without_stages(tmp_path)
    proc = teambot("status", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == "" and "has no stages" in proc.stderr


def _finished_run(tmp_path: Path) -> Path:
    """A completed two-stage demo run (BUILD, then CHECK); returns its run directory."""
    stages = {"stages": {"BUILD": {"work_agent": "builder-1"}, "CHECK": {"work_agent": "pm"}}, "stage_order": ["BUILD", "CHECK"]}
    (tmp_path / "stages.yaml").write_text(yaml.safe_dump(stages))
    (tmp_path / "objective.md").write_text("---\nfeature: kids\n---\n# Children\n\n## Goals\n- show them\n")
    proc = teambot("run", "objective.md", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp_path / ".agent-tracking" / "kids"


def test_status_json_has_a_children_list_for_every_stage(tmp_path: Path) -> None:
    """`status --json` gives every stage a `children` key, empty while no stage has children."""
    _finished_run(tmp_path)
    proc = teambot("status", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    stages = json.loads(proc.stdout)["stages"]
    assert [(s["name"], s["children"]) for s in stages] == [("BUILD", []), ("CHECK", [])]


def test_status_shows_children_committed_through_the_store(tmp_path: Path) -> None:
    """Children committed with the store API (no snapshot after, as after a kill) appear under their stage, T2 before T10."""
    from teambot.lifecycle import StageStatus
    from teambot.paths import RunPaths
    from teambot.store.file import FileStateStore
    from teambot.store.models import ChildRecord, TokenUsage

    run_dir = _finished_run(tmp_path)
    store = FileStateStore(RunPaths(run_dir.parent, run_dir.name))
    try:
        store.load()
        store.commit_child(ChildRecord(id="BUILD/T10", status=StageStatus.FAILED, attempts=2, agent="builder-2",
                                       error="merge conflict in src/app.py"))
        store.commit_child(ChildRecord(id="BUILD/T1", status=StageStatus.SUCCEEDED, attempts=1, agent="builder-1",
                                       started_at="2026-01-01T00:00:00+00:00", finished_at="2026-01-01T00:00:02+00:00",
                                       merge_commit="abcdef1234567890" * 2 + "abcdefgh", usage=TokenUsage(prompt_tokens=5, completion_tokens=7)))
        store.commit_child(ChildRecord(id="BUILD/T2", status=StageStatus.PENDING))
    finally:
        store.close()

    report = json.loads(teambot("status", "--json", cwd=tmp_path).stdout)
    build = next(s for s in report["stages"] if s["name"] == "BUILD")
    assert [(c["id"], c["name"], c["status"]) for c in build["children"]] == [
        ("BUILD/T1", "T1", "succeeded"), ("BUILD/T2", "T2", "pending"), ("BUILD/T10", "T10", "failed")]
    assert build["children"][0]["merge_commit"].startswith("abcdef123456") and build["children"][2]["attempts"] == 2
    assert report["usage"] == {"prompt_tokens": 5, "completion_tokens": 7}

    proc = teambot("status", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("BUILD "))
    below = lines[at + 1:at + 5]
    assert below[0].split()[:3] == ["T1", "succeeded", "builder-1"] and "merged abcdef123456" in below[0]
    assert below[1].split()[:2] == ["T2", "pending"]
    assert below[2].split()[:3] == ["T10", "failed", "builder-2"]
    assert below[3].strip() == "merge conflict in src/app.py"
    assert lines[at + 5].strip().startswith("CHECK ")


# The `status --json` contract of a finished default demo run, pinned before the report moved
# into teambot.service: scripts (and issue 12's `GET /api/runs/{feature}`) read these keys.
REPORT_KEYS = {"feature", "status", "error", "run_dir", "objective", "stages_file", "runtime", "created_at", "updated_at",
               "elapsed_seconds", "owner", "stale", "stale_reasons", "usage", "notes", "stages"}
STAGE_KEYS = {"name", "status", "attempts", "started_at", "finished_at", "agent", "error", "stale", "stale_reasons", "usage",
              "artifacts", "blocked_by", "iterations", "budget_start", "children"}
CHILD_KEYS = {"id", "name", "status", "attempts", "started_at", "finished_at", "agent", "error", "usage", "branch",
              "base_commit", "head_commit", "merge_commit"}
REPORT_KEYS |= {"waiting"}  # stages awaiting a person (approvals)
STAGE_KEYS |= {"waiting_since", "produced", "decide", "decisions"}
ITERATION_KEYS = {"number", "started_at", "work", "artifacts", "review", "verdict_request", "verdict", "verdict_note",
                  "feedback", "test"}


def test_status_json_keys_of_a_finished_demo_run(project: Path) -> None:
    """`status --json` of a finished default demo run has exactly the pinned keys at every level, with their types."""
    assert teambot("run", "objective.md", "-q", cwd=project).returncode == 0
    proc = teambot("status", "todo-cli", "--json", cwd=project)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert set(report) == REPORT_KEYS
    assert report["status"] == "completed" and report["error"] is None and report["notes"] == [] and report["stale"] == []
    assert set(report["owner"]) == {"pid", "host", "since", "started"}
    assert set(report["usage"]) == {"prompt_tokens", "completion_tokens"}
    assert isinstance(report["elapsed_seconds"], float) and report["run_dir"].endswith("/.agent-tracking/todo-cli")
    assert report["objective"].endswith("objective.md") and report["stages_file"].endswith("stages.yaml")
    assert report["runtime"] == "demo"
    for stage in report["stages"]:
        assert set(stage) == STAGE_KEYS, stage["name"]
        assert stage["status"] == "succeeded" and stage["attempts"] == 1
        assert (stage["children"] == []) == (stage["name"] != "IMPLEMENTATION")  # the task stage's tasks
        for child in stage["children"]:
            assert set(child) == CHILD_KEYS and child["status"] == "succeeded" and child["merge_commit"]
        assert stage["budget_start"] == 0 and stage["blocked_by"] is None and stage["error"] is None
        assert isinstance(stage["artifacts"], dict)
        for it in stage["iterations"]:
            assert set(it) == ITERATION_KEYS, stage["name"]
            assert set(it["work"]) == {"file", "sha256", "at"}
    spec_review = next(s for s in report["stages"] if s["name"] == "SPEC_REVIEW")
    assert [it["verdict"] for it in spec_review["iterations"]] == ["approved"]
    acceptance = next(s for s in report["stages"] if s["name"] == "ACCEPTANCE_TEST")
    test = acceptance["iterations"][-1]["test"]
    assert set(test) == {"passed", "exit_code", "tests", "failures", "errors", "skipped", "summary", "output"}
    assert test["passed"] is True
