"""End to end: skipping optional stages (`teambot skip`, `--skip` on run and resume) and un-skipping them."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.helpers import events, started, state, status_json, teambot

FAIL_BP = {"TEAMBOT_DEMO_FAIL": "BUSINESS_PROBLEM"}  # BUSINESS_PROBLEM is the default workflow's optional stage


def _statuses(cwd: Path) -> dict[str, str]:
    return {s["name"]: s["status"] for s in status_json(cwd)["stages"]}


def _skipped_events(run_dir: Path) -> list[dict]:
    return [e for e in events(run_dir) if e["type"] == "stage_skipped"]


def test_run_with_skip_runs_the_dependents_and_status_shows_skipped(project: Path, run_dir: Path) -> None:
    """`run --skip BUSINESS_PROBLEM`: it never starts, is recorded skipped (state, event, status), SPEC runs, exit 0."""
    proc = teambot("run", "objective.md", "--skip", "BUSINESS_PROBLEM", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "skipped (--skip): BUSINESS_PROBLEM" in proc.stdout
    ran = started(run_dir)
    assert "BUSINESS_PROBLEM" not in ran
    assert "SPEC" in ran and ran[-1] == "COMPLETE"
    assert state(run_dir)["stages"]["BUSINESS_PROBLEM"]["status"] == "skipped"
    assert [(e["stage"], e["details"]["reason"]) for e in _skipped_events(run_dir)] == [("BUSINESS_PROBLEM", "--skip")]
    report = status_json(project)
    assert report["status"] == "completed"
    assert {s["name"]: s["status"] for s in report["stages"]}["BUSINESS_PROBLEM"] == "skipped"
    text = teambot("status", cwd=project).stdout
    assert any(line.split()[:2] == ["BUSINESS_PROBLEM", "skipped"] for line in text.splitlines()), text
    # the dependent is not told to read an artifact the skipped stage never produced
    assert not (run_dir / "artifacts" / "problem_statement.md").exists()
    assert "### problem_statement.md" not in (run_dir / "prompts" / "SPEC.md").read_text(encoding="utf-8")


def test_skip_command_on_a_failed_run_then_resume(project: Path, run_dir: Path) -> None:
    """A failed optional stage is skipped with `teambot skip`; resume runs its dependents, not it; it stays skipped."""
    assert teambot("run", "objective.md", "-q", cwd=project, env=FAIL_BP).returncode == 1
    assert _statuses(project)["BUSINESS_PROBLEM"] == "failed"
    first = len(started(run_dir))

    proc = teambot("skip", "BUSINESS_PROBLEM", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "BUSINESS_PROBLEM: skipped" in proc.stdout and "teambot resume todo-cli" in proc.stdout
    report = status_json(project)
    assert {s["name"]: s["status"] for s in report["stages"]}["BUSINESS_PROBLEM"] == "skipped"
    assert report["status"] == "interrupted" and report["error"] is None  # no longer failed, waiting for resume
    assert _skipped_events(run_dir)[0]["details"] == {"reason": "teambot skip BUSINESS_PROBLEM", "previous": "failed"}

    again = teambot("resume", "-q", cwd=project, env=FAIL_BP)  # it would fail again if it ran
    assert again.returncode == 0, again.stdout + again.stderr
    rerun = started(run_dir)[first:]
    assert "BUSINESS_PROBLEM" not in rerun and rerun[0] == "SPEC" and rerun[-1] == "COMPLETE"
    assert _statuses(project)["BUSINESS_PROBLEM"] == "skipped"
    assert "already complete" in teambot("resume", cwd=project).stdout
    assert state(run_dir)["stages"]["BUSINESS_PROBLEM"]["status"] == "skipped"


def test_resume_with_skip_skips_the_failed_optional_stage(project: Path, run_dir: Path) -> None:
    """`resume --skip STAGE` skips a failed optional stage instead of retrying it, and the run completes."""
    assert teambot("run", "objective.md", "-q", cwd=project, env=FAIL_BP).returncode == 1
    first = len(started(run_dir))
    proc = teambot("resume", "--skip", "BUSINESS_PROBLEM", cwd=project, env=FAIL_BP)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "skipped (--skip): BUSINESS_PROBLEM" in proc.stdout
    assert "BUSINESS_PROBLEM" not in started(run_dir)[first:]
    assert status_json(project)["status"] == "completed"
    assert _statuses(project)["BUSINESS_PROBLEM"] == "skipped"


def test_skip_refuses_a_stage_that_is_not_optional(project: Path, run_dir: Path) -> None:
    """Skipping a stage without `optional: true` exits 2 naming it, on `skip`, `run --skip` and `resume --skip`."""
    proc = teambot("run", "objective.md", "-q", "--skip", "SPEC", cwd=project)
    assert proc.returncode == 2
    assert "stage SPEC is not optional" in proc.stderr and "Traceback" not in proc.stderr
    assert not run_dir.exists()  # refused before anything was written

    assert teambot("run", "objective.md", "-q", cwd=project, env=FAIL_BP).returncode == 1
    before = state(run_dir)["stages"]
    for args in (("skip", "SPEC"), ("resume", "--skip", "SPEC")):
        proc = teambot(*args, cwd=project)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "stage SPEC is not optional, so it cannot be skipped" in proc.stderr
        assert "optional: true" in proc.stderr
    assert state(run_dir)["stages"] == before and not _skipped_events(run_dir)


def test_skip_refuses_an_unknown_stage_with_did_you_mean(project: Path, run_dir: Path) -> None:
    """An unknown stage name exits 2 with a did-you-mean, on `skip` and `run --skip`."""
    proc = teambot("run", "objective.md", "-q", "--skip", "BUSINES_PROBLEM", cwd=project)
    assert proc.returncode == 2
    assert "no stage named 'BUSINES_PROBLEM'" in proc.stderr and "did you mean BUSINESS_PROBLEM?" in proc.stderr
    assert teambot("run", "objective.md", "-q", cwd=project, env=FAIL_BP).returncode == 1
    proc = teambot("skip", "BUSINES_PROBLEM", cwd=project)
    assert proc.returncode == 2
    assert "did you mean BUSINESS_PROBLEM?" in proc.stderr


def test_skip_refuses_a_stage_that_already_succeeded(project: Path, run_dir: Path) -> None:
    """A succeeded optional stage keeps its work: `skip` and `resume --skip` exit 2 and change nothing."""
    assert teambot("run", "objective.md", "-q", cwd=project, env={"TEAMBOT_DEMO_FAIL": "SPEC"}).returncode == 1
    assert _statuses(project)["BUSINESS_PROBLEM"] == "succeeded"
    for args in (("skip", "BUSINESS_PROBLEM"), ("resume", "--skip", "BUSINESS_PROBLEM")):
        proc = teambot(*args, cwd=project)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert "stage BUSINESS_PROBLEM already succeeded" in proc.stderr
        assert "teambot rerun BUSINESS_PROBLEM" in proc.stderr
    assert _statuses(project)["BUSINESS_PROBLEM"] == "succeeded" and not _skipped_events(run_dir)


def test_rerun_of_a_skipped_stage_makes_it_pending_and_resume_runs_it(project: Path, run_dir: Path) -> None:
    """`teambot rerun` of a skipped stage makes it pending; the next resume runs it and writes its artifact."""
    assert teambot("run", "objective.md", "-q", "--skip", "BUSINESS_PROBLEM", cwd=project).returncode == 0
    proc = teambot("rerun", "BUSINESS_PROBLEM", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _statuses(project)["BUSINESS_PROBLEM"] == "pending"
    first = len(started(run_dir))
    assert teambot("resume", "-q", cwd=project).returncode == 0
    assert started(run_dir)[first] == "BUSINESS_PROBLEM"
    assert (run_dir / "artifacts" / "problem_statement.md").is_file()
    assert _statuses(project)["BUSINESS_PROBLEM"] == "succeeded"


def test_rerun_upstream_keeps_a_skipped_stage_skipped(project: Path, run_dir: Path) -> None:
    """Rerunning a stage upstream of a skipped one reruns the rest of its downstream, but the skip stands."""
    assert teambot("run", "objective.md", "-q", "--skip", "BUSINESS_PROBLEM", cwd=project).returncode == 0
    proc = teambot("rerun", "SETUP", cwd=project)
    assert proc.returncode == 0 and "BUSINESS_PROBLEM" not in proc.stdout
    first = len(started(run_dir))
    assert teambot("resume", "-q", cwd=project).returncode == 0
    again = started(run_dir)[first:]
    assert again[0] == "SETUP" and "SPEC" in again and "BUSINESS_PROBLEM" not in again
    assert _statuses(project)["BUSINESS_PROBLEM"] == "skipped"


def test_a_skipped_group_member_lets_the_group_complete(project: Path, run_dir: Path) -> None:
    """Skipping an optional member of a parallel group: the other member runs, the group completes, PLAN runs."""
    stages = yaml.safe_load((project / "stages.yaml").read_text())
    stages["stages"]["RESEARCH"]["optional"] = True
    (project / "stages.yaml").write_text(yaml.safe_dump(stages, sort_keys=False))
    proc = teambot("run", "objective.md", "-q", "--skip", "RESEARCH", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ran = started(run_dir)
    assert "RESEARCH" not in ran and "TEST_STRATEGY" in ran and "PLAN" in ran
    completed = [e["details"]["group"] for e in events(run_dir) if e["type"] == "parallel_group_completed"]
    assert completed == ["post_spec_review"]


def test_rerun_stale_keeps_a_skipped_stage_skipped(project: Path, run_dir: Path) -> None:
    """`resume --rerun-stale` reruns a changed stage and checks its downstream, but a skipped stage in it stays skipped."""
    assert teambot("run", "objective.md", "-q", "--skip", "BUSINESS_PROBLEM", cwd=project).returncode == 0
    stages = yaml.safe_load((project / "stages.yaml").read_text())
    stages["stages"]["SETUP"]["description"] = "Set up, differently"
    (project / "stages.yaml").write_text(yaml.safe_dump(stages, sort_keys=False))
    first = len(started(run_dir))
    proc = teambot("resume", "--rerun-stale", "-q", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    again = started(run_dir)[first:]
    assert again[0] == "SETUP" and "BUSINESS_PROBLEM" not in again
    # SETUP writes no artifact, so SPEC read nothing new: kept without running (early cutoff)
    assert "SPEC" in {e["stage"] for e in events(run_dir) if e["type"] == "stage_kept"}
    assert _statuses(project)["BUSINESS_PROBLEM"] == "skipped"
