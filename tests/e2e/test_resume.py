"""End to end: partial failure, resume, regrouping, stale stages and `rerun`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import yaml

from tests.helpers import events, started, state, status_json, teambot


def test_partial_failure_then_resume_reruns_only_the_failed_stage(project: Path, run_dir: Path) -> None:
    """RESEARCH fails: TEST_STRATEGY still succeeds, PLAN never starts, exit 1; resume reruns only RESEARCH."""
    proc = teambot("run", "objective.md", cwd=project, env={"TEAMBOT_DEMO_FAIL": "RESEARCH"})
    assert proc.returncode == 1
    assert "RESEARCH" in proc.stdout and "TEAMBOT_DEMO_FAIL" in proc.stdout
    first = started(run_dir)
    assert "TEST_STRATEGY" in first and "PLAN" not in first
    report = status_json(project)
    by_name = {s["name"]: s for s in report["stages"]}
    assert report["status"] == "failed"
    assert by_name["RESEARCH"]["status"] == "failed" and "TEAMBOT_DEMO_FAIL" in by_name["RESEARCH"]["error"]
    assert by_name["TEST_STRATEGY"]["status"] == "succeeded"

    again = teambot("resume", cwd=project)
    assert again.returncode == 0, again.stdout + again.stderr
    rerun = started(run_dir)[len(first):]
    assert rerun[0] == "RESEARCH"
    assert "TEST_STRATEGY" not in rerun and "SPEC" not in rerun
    assert rerun[-1] == "COMPLETE"
    assert status_json(project)["status"] == "completed"


def test_on_failure_continue_runs_independent_stages(project: Path, run_dir: Path) -> None:
    """--on-failure continue keeps starting stages that do not depend on the failed one."""
    stages = yaml.safe_load((project / "stages.yaml").read_text())
    stages["stages"]["TEST_STRATEGY"]["depends_on"] = ["SETUP"]
    (project / "stages.yaml").write_text(yaml.safe_dump(stages, sort_keys=False))
    proc = teambot("run", "objective.md", "-q", "--on-failure", "continue", cwd=project, env={"TEAMBOT_DEMO_FAIL": "BUSINESS_PROBLEM"})
    assert proc.returncode == 1
    ran = started(run_dir)
    assert "TEST_STRATEGY" in ran and "SPEC" not in ran


def test_resume_of_completed_run_says_so(project: Path) -> None:
    """Resuming a completed run changes nothing and exits 0."""
    assert teambot("run", "objective.md", "-q", cwd=project).returncode == 0
    proc = teambot("resume", "todo-cli", cwd=project)
    assert proc.returncode == 0
    assert "already complete" in proc.stdout


def test_regrouping_keeps_finished_work_and_runs_new_stage(project: Path, run_dir: Path) -> None:
    """Editing stages.yaml (new group, new stage) between run and resume reruns no finished stage."""
    assert teambot("run", "objective.md", "-q", cwd=project, env={"TEAMBOT_DEMO_FAIL": "PLAN"}).returncode == 1
    done_before = {n for n, rec in state(run_dir)["stages"].items() if rec["status"] == "succeeded"}
    assert {"SETUP", "SPEC", "RESEARCH", "TEST_STRATEGY"} <= done_before
    first = len(started(run_dir))

    stages = yaml.safe_load((project / "stages.yaml").read_text())
    stages["stages"]["DOCS"] = {"description": "User documentation", "work_agent": "writer", "artifacts": ["docs.md"]}
    order = stages["stage_order"]
    order.insert(order.index("IMPLEMENTATION") + 1, "DOCS")
    stages["parallel_groups"]["build"] = {"after": "PLAN_REVIEW", "stages": ["IMPLEMENTATION", "DOCS"], "before": "IMPLEMENTATION_REVIEW"}
    # move BUSINESS_PROBLEM (finished) into a new group beside SPEC
    stages["parallel_groups"]["framing"] = {"after": "SETUP", "stages": ["BUSINESS_PROBLEM"], "before": "SPEC_REVIEW"}
    (project / "stages.yaml").write_text(yaml.safe_dump(stages, sort_keys=False))

    proc = teambot("resume", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "new stages: DOCS" in proc.stdout
    rerun = started(run_dir)[first:]
    assert not done_before & set(rerun), f"finished stages ran again: {done_before & set(rerun)}"
    assert "DOCS" in rerun and "PLAN" in rerun
    assert (run_dir / "artifacts" / "docs.md").exists()
    assert status_json(project)["status"] == "completed"


def test_changed_stage_is_stale_and_reruns_only_when_asked(project: Path, run_dir: Path) -> None:
    """A finished stage whose definition changed shows as stale; --rerun-stale reruns it and downstream."""
    assert teambot("run", "objective.md", "-q", cwd=project).returncode == 0
    stages = yaml.safe_load((project / "stages.yaml").read_text())
    stages["stages"]["PLAN_REVIEW"]["description"] = "Review the plan twice as hard"
    (project / "stages.yaml").write_text(yaml.safe_dump(stages, sort_keys=False))

    report = status_json(project)
    assert report["stale"] == ["PLAN_REVIEW"]
    assert [s["name"] for s in report["stages"] if s["stale"]] == ["PLAN_REVIEW"]
    human = teambot("status", cwd=project)
    assert "stale" in human.stdout and "--rerun-stale" in human.stdout

    count = len(started(run_dir))
    plain = teambot("resume", cwd=project)
    assert plain.returncode == 0 and "PLAN_REVIEW" in plain.stdout
    assert len(started(run_dir)) == count, "stale stages are not rerun without --rerun-stale"

    forced = teambot("resume", "--rerun-stale", cwd=project)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    rerun = started(run_dir)[count:]
    assert rerun == ["PLAN_REVIEW", "IMPLEMENTATION", "IMPLEMENTATION_REVIEW", "TEST", "ACCEPTANCE_TEST", "POST_REVIEW", "COMPLETE"]
    assert status_json(project)["stale"] == []


def test_rerun_marks_stage_and_downstream_pending(project: Path, run_dir: Path) -> None:
    """`rerun SPEC_REVIEW` makes SPEC_REVIEW and everything after it run again on resume, nothing else."""
    assert teambot("run", "objective.md", "-q", cwd=project).returncode == 0
    proc = teambot("rerun", "SPEC_REVIEW", cwd=project)
    assert proc.returncode == 0, proc.stderr
    report = status_json(project)
    pending = {s["name"] for s in report["stages"] if s["status"] == "pending"}
    assert "SPEC_REVIEW" in pending and "RESEARCH" in pending and "COMPLETE" in pending
    assert "SPEC" not in pending
    count = len(started(run_dir))
    assert teambot("resume", cwd=project).returncode == 0
    rerun = Counter(started(run_dir)[count:])
    assert set(rerun) == pending and set(rerun.values()) == {1}


def test_rerun_unknown_stage_suggests_a_name(project: Path) -> None:
    """`rerun` of a misspelt stage exits 2 with a did-you-mean."""
    assert teambot("run", "objective.md", "-q", cwd=project).returncode == 0
    proc = teambot("rerun", "RESEARH", cwd=project)
    assert proc.returncode == 2
    assert "RESEARH" in proc.stderr and "RESEARCH" in proc.stderr


def test_resume_without_feature_lists_candidates(project: Path) -> None:
    """With two unfinished runs, bare `resume` lists both and exits 2."""
    env = {"TEAMBOT_DEMO_FAIL": "SETUP"}
    assert teambot("run", "objective.md", "-q", "--feature", "one", cwd=project, env=env).returncode == 1
    assert teambot("run", "objective.md", "-q", "--feature", "two", cwd=project, env=env).returncode == 1
    proc = teambot("resume", cwd=project)
    assert proc.returncode == 2
    assert "one" in proc.stderr and "two" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_second_run_of_same_feature_is_refused(project: Path) -> None:
    """`run` on a feature that already has a run exits 2 and points at resume; the state is untouched."""
    assert teambot("run", "objective.md", "-q", cwd=project, env={"TEAMBOT_DEMO_FAIL": "SPEC"}).returncode == 1
    before = (project / ".agent-tracking" / "todo-cli" / "state.json").read_bytes()
    proc = teambot("run", "objective.md", cwd=project)
    assert proc.returncode == 2
    assert "teambot resume todo-cli" in proc.stderr
    assert (project / ".agent-tracking" / "todo-cli" / "state.json").read_bytes() == before


def test_time_limit_fails_run_and_resume_extends_it(project: Path, run_dir: Path) -> None:
    """--max-hours is enforced while stages run; the run fails saying how to extend; resume --max-hours finishes."""
    proc = teambot("run", "objective.md", "-q", "--max-hours", "0.0002", cwd=project, env={"TEAMBOT_DEMO_DELAY": "0.3"})
    assert proc.returncode == 1
    assert "time limit" in proc.stdout and "--max-hours" in proc.stdout
    data = state(run_dir)
    assert data["run"]["status"] == "failed"
    assert 0.5 < data["run"]["elapsed_seconds"] < 30
    assert any(e["type"] == "stage_interrupted" for e in events(run_dir)), "the running stage was cut off mid-way"
    again = teambot("resume", "--max-hours", "1", "-q", cwd=project)
    assert again.returncode == 0, again.stdout + again.stderr
    assert state(run_dir)["run"]["elapsed_seconds"] > data["run"]["elapsed_seconds"]


def test_a_schema_2_run_resumes_and_is_saved_as_the_current_schema(tmp_path: Path) -> None:
    """A run directory written by schema-2 teambot (fixtures/v2-run) resumes: only the failed stage runs, nothing is lost."""
    import json
    import shutil

    from teambot.store.models import SCHEMA_VERSION

    fixture = Path(__file__).resolve().parent / "fixtures" / "v2-run"
    project = tmp_path / "project"
    shutil.copytree(fixture / "project", project)
    run_dir = project / ".agent-tracking" / "v2-run"
    shutil.copytree(fixture / "run", run_dir)
    state_file = run_dir / "state.json"
    state_file.write_text(state_file.read_text().replace("/tmp/v2gen", str(project)))  # the project has moved here
    before = json.loads(state_file.read_text())
    assert before["schema_version"] == 2 and "children" not in before

    proc = teambot("resume", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert started(run_dir) == ["DRAFT", "FINISH", "FINISH"]  # the fixture's two attempts, then only FINISH again
    after = state(run_dir)
    assert after["schema_version"] == SCHEMA_VERSION and after["children"] == {}
    draft = after["stages"]["DRAFT"]  # the finished stage's record, untouched (fields added since take their defaults)
    assert {k: v for k, v in draft.items() if k in before["stages"]["DRAFT"]} == before["stages"]["DRAFT"]
    assert (draft["inputs"], draft["artifact_stamps"], draft["run_if_changed"]) == (None, {}, False)
    assert after["stages"]["FINISH"]["status"] == "succeeded"
    assert [s["children"] for s in status_json(project)["stages"]] == [[], []]
