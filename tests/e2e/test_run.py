"""End to end: `teambot run` on the demo runtime, through the real CLI in a subprocess."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from teambot.store.models import SCHEMA_VERSION
from tests.helpers import git_commit_all, events, started, state, status_json, teambot

ORDER = [
    "SETUP", "BUSINESS_PROBLEM", "SPEC", "SPEC_REVIEW", "RESEARCH", "TEST_STRATEGY", "PLAN", "PLAN_REVIEW",
    "IMPLEMENTATION", "IMPLEMENTATION_REVIEW", "TEST", "ACCEPTANCE_TEST", "POST_REVIEW", "COMPLETE",
]


def test_run_completes_every_stage_once(project: Path, run_dir: Path) -> None:
    """A demo run ends `completed`, exit 0, each stage run once with its artifacts and output on disk."""
    proc = teambot("run", "objective.md", "--runtime", "demo", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert "run completed" in proc.stdout
    assert sorted(started(run_dir)) == sorted(ORDER)
    data = state(run_dir)
    assert data["schema_version"] == SCHEMA_VERSION
    assert data["run"]["status"] == "completed"
    assert len(data["run"]["objective_sha256"]) == 64
    assert all(rec["status"] == "succeeded" for rec in data["stages"].values())
    research = data["stages"]["RESEARCH"]
    assert set(research["artifacts"]) == {"research.md"}
    assert (run_dir / "artifacts" / "research.md").read_text().startswith("# Research: Add a command-line todo list")
    assert (run_dir / "outputs" / "PLAN.md").stat().st_size > 0
    assert not list((run_dir / "stages").glob("*.json")), "per-stage commits are folded into state.json at the end"


def test_status_json_lists_stages_in_stage_order(project: Path) -> None:
    """`status --json` prints one object with the contract's fields, stages in stage_order."""
    assert teambot("run", "objective.md", "-q", cwd=project).returncode == 0
    report = status_json(project)
    assert report["feature"] == "todo-cli"
    assert report["status"] == "completed"
    assert [s["name"] for s in report["stages"]] == ORDER
    for stage in report["stages"]:
        assert {"name", "status", "attempts", "started_at", "finished_at", "agent", "error", "stale"} <= set(stage)
        assert stage["attempts"] == 1 and stage["stale"] is False


def test_parallel_group_members_overlap(project: Path, run_dir: Path) -> None:
    """With a demo delay, RESEARCH and TEST_STRATEGY run at the same time (events timestamps)."""
    proc = teambot("run", "objective.md", "-q", cwd=project, env={"TEAMBOT_DEMO_DELAY": "0.3"})
    assert proc.returncode == 0, proc.stderr
    times: dict[str, dict[str, float]] = {}
    for event in events(run_dir):
        if event["type"] in ("stage_started", "stage_succeeded"):
            times.setdefault(event["stage"], {})[event["type"]] = event["ts"]
    research, strategy = times["RESEARCH"], times["TEST_STRATEGY"]
    assert research["stage_started"] < strategy["stage_succeeded"]
    assert strategy["stage_started"] < research["stage_succeeded"]
    assert times["PLAN"]["stage_started"] >= max(research["stage_succeeded"], strategy["stage_succeeded"])
    types = [e["type"] for e in events(run_dir)]
    assert types.count("parallel_group_started") == 1 and types.count("parallel_group_completed") == 1


def test_max_concurrency_one_runs_group_serially(project: Path, run_dir: Path) -> None:
    """--max-concurrency 1 never overlaps two stages."""
    proc = teambot("run", "objective.md", "-q", "--max-concurrency", "1", cwd=project, env={"TEAMBOT_DEMO_DELAY": "0.05"})
    assert proc.returncode == 0, proc.stderr
    running = 0
    for event in events(run_dir):
        running += {"stage_started": 1, "stage_succeeded": -1}.get(event["type"], 0)
        assert running <= 1


def test_background_group_runs_beside_the_main_line(tmp_path: Path) -> None:
    """A group whose `before` is several stages on runs while the main line continues."""
    stages = {
        "stages": {name: {"work_agent": agent, "artifacts": []} for name, agent in
                   [("A", "pm"), ("B", "ba"), ("C", "ba"), ("D", "ba"), ("BG", "writer"), ("E", "pm")]},
        "stage_order": ["A", "BG", "B", "C", "D", "E"],
        "parallel_groups": {"background": {"after": "A", "stages": ["BG"], "before": "E"}},
    }
    (tmp_path / "stages.yaml").write_text(yaml.safe_dump(stages))
    (tmp_path / "objective.md").write_text("# Background work\n\n## Goals\n- show a background group\n")
    proc = teambot("run", "objective.md", "-q", cwd=tmp_path, env={"TEAMBOT_DEMO_DELAY": "0.05", "TEAMBOT_DEMO_DELAY_BG": "0.4"})
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / ".agent-tracking" / "objective"
    ts = {(e["type"], e["stage"]): e["ts"] for e in events(run)}
    assert ts[("stage_started", "B")] < ts[("stage_succeeded", "BG")], "the main line does not wait for the group"
    assert ts[("stage_started", "E")] >= ts[("stage_succeeded", "BG")], "E joins the group"
    assert ts[("stage_started", "E")] >= ts[("stage_succeeded", "D")]


def test_group_without_after_waits_for_the_stage_before_it(tmp_path: Path) -> None:
    """A group with no `after` starts only once the stage stage_order lists before it has succeeded."""
    stages = {
        "stages": {name: {"work_agent": agent} for name, agent in
                   [("FIRST", "pm"), ("X", "builder-1"), ("Y", "builder-2"), ("LAST", "reviewer")]},
        "stage_order": ["FIRST", "X", "Y", "LAST"],
        "parallel_groups": {"side": {"stages": ["X", "Y"], "before": "LAST"}},
    }
    (tmp_path / "stages.yaml").write_text(yaml.safe_dump(stages))
    (tmp_path / "objective.md").write_text("# Group order\n\n## Goals\n- keep stage_order\n")
    proc = teambot("run", "objective.md", "-q", cwd=tmp_path, env={"TEAMBOT_DEMO_DELAY_FIRST": "0.3"})
    assert proc.returncode == 0, proc.stderr
    run = tmp_path / ".agent-tracking" / "objective"
    kinds = [(e["type"], e.get("stage")) for e in events(run) if e["type"] in ("stage_started", "stage_succeeded")]
    first_done = kinds.index(("stage_succeeded", "FIRST"))
    assert kinds.index(("stage_started", "X")) > first_done, kinds
    assert kinds.index(("stage_started", "Y")) > first_done, kinds
    assert started(run)[0] == "FIRST" and started(run)[-1] == "LAST"


def test_init_writes_files_and_refuses_to_overwrite(tmp_path: Path) -> None:
    """`init` writes stages.yaml, teambot.yaml and objective.md; a second init refuses without --force."""
    first = teambot("init", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    for name in ("stages.yaml", "teambot.yaml", "objective.md"):
        assert (tmp_path / name).stat().st_size > 0
    (tmp_path / "stages.yaml").write_text("# mine\n")
    second = teambot("init", cwd=tmp_path)
    assert second.returncode == 2
    assert "stages.yaml" in second.stderr and "--force" in second.stderr
    assert (tmp_path / "stages.yaml").read_text() == "# mine\n"
    assert teambot("init", "--force", cwd=tmp_path).returncode == 0
    assert (tmp_path / "stages.yaml").read_text() != "# mine\n"


def test_init_project_runs_the_default_workflow_with_its_own_templates(tmp_path: Path) -> None:
    """After `init`, the 14-stage workflow completes offline; an edited template in .teambot/prompts is used."""
    assert teambot("init", cwd=tmp_path).returncode == 0
    templates = sorted(p.name for p in (tmp_path / ".teambot" / "prompts").glob("*.md"))
    assert len(templates) == 13 and "spec_review.md" in templates and "acceptance_test.md" in templates
    (tmp_path / ".teambot" / "prompts" / "spec.md").write_text("Write the spec in haiku form.\n", encoding="utf-8")
    git_commit_all(tmp_path)  # the workflow's task stage runs in git worktrees
    proc = teambot("run", "objective.md", "--runtime", "demo", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = next((tmp_path / ".agent-tracking").iterdir())
    assert "Write the spec in haiku form." in (run_dir / "prompts" / "SPEC.md").read_text()
    review_prompt = (run_dir / "iterations" / "SPEC_REVIEW" / "01-review.prompt.md").read_text()
    assert "### How this is judged" in review_prompt  # the packaged review template's checklist
    assert (run_dir / "iterations" / "ACCEPTANCE_TEST" / "01-junit.xml").exists()


def test_every_command_has_help_and_version(tmp_path: Path) -> None:
    """--help works on every command and --version prints the version."""
    for command in ("init", "run", "resume", "status", "rerun", "unblock", "validate", "graph", "clean"):
        proc = teambot(command, "--help", cwd=tmp_path)
        assert proc.returncode == 0 and "Usage:" in proc.stdout, command
    version = teambot("--version", cwd=tmp_path)
    assert version.returncode == 0 and "teambot" in version.stdout


def test_events_are_one_json_object_per_line(project: Path, run_dir: Path) -> None:
    """events.jsonl holds ts/type/stage/details objects, from run_started to run_completed."""
    assert teambot("run", "objective.md", "-q", cwd=project).returncode == 0
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    parsed = [json.loads(line) for line in lines]
    assert all(set(e) == {"ts", "type", "stage", "details"} for e in parsed)
    assert parsed[0]["type"] == "run_started" and parsed[-1]["type"] == "run_completed"


def _set_stage(project: Path, stage: str, **fields) -> None:
    stages = yaml.safe_load((project / "stages.yaml").read_text())
    stages["stages"][stage].update(fields)
    (project / "stages.yaml").write_text(yaml.safe_dump(stages, sort_keys=False))


def test_retries_with_backoff_then_fail(project: Path, run_dir: Path) -> None:
    """A stage with `retries: 2` that keeps failing is attempted 3 times, with stage_retrying events between."""
    _set_stage(project, "SPEC", retries=2)
    proc = teambot("run", "objective.md", "-q", cwd=project, env={"TEAMBOT_DEMO_FAIL": "SPEC"})
    assert proc.returncode == 1
    assert started(run_dir).count("SPEC") == 3
    retrying = [e for e in events(run_dir) if e["type"] == "stage_retrying"]
    assert [e["details"]["attempt"] for e in retrying] == [1, 2]
    assert retrying[1]["details"]["wait_seconds"] > retrying[0]["details"]["wait_seconds"] * 0.9
    spec = next(s for s in status_json(project)["stages"] if s["name"] == "SPEC")
    assert spec["attempts"] == 3 and spec["status"] == "failed"


def test_stage_timeout_fails_the_stage(project: Path, run_dir: Path) -> None:
    """A stage that outlives its `timeout` fails with a message naming the limit; siblings still finish."""
    _set_stage(project, "RESEARCH", timeout=0.3)
    proc = teambot("run", "objective.md", "-q", cwd=project, env={"TEAMBOT_DEMO_DELAY_RESEARCH": "30"})
    assert proc.returncode == 1
    assert "RESEARCH: timed out after 0.3 s" in proc.stdout
    stages = {s["name"]: s for s in status_json(project)["stages"]}
    assert stages["TEST_STRATEGY"]["status"] == "succeeded"
    assert stages["PLAN"]["status"] == "pending"
