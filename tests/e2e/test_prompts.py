"""End to end: personas, prompt assembly and `run --dry-run`."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.helpers import teambot

AGENT_STAGES = ["SETUP", "BUSINESS_PROBLEM", "SPEC", "SPEC_REVIEW", "RESEARCH", "TEST_STRATEGY", "PLAN", "PLAN_REVIEW",
                "IMPLEMENTATION", "IMPLEMENTATION_REVIEW", "TEST", "ACCEPTANCE_TEST", "POST_REVIEW"]


def test_init_writes_six_personas(tmp_path: Path) -> None:
    """`init` writes the six default personas into .github/agents/<id>.agent.md."""
    assert teambot("init", cwd=tmp_path).returncode == 0
    agents = sorted(p.name for p in (tmp_path / ".github" / "agents").glob("*.agent.md"))
    assert agents == [f"{a}.agent.md" for a in ("ba", "builder-1", "builder-2", "pm", "reviewer", "writer")]
    for path in (tmp_path / ".github" / "agents").iterdir():
        text = path.read_text()
        assert "## Responsibilities" in text and "## What good output looks like" in text


def test_dry_run_renders_every_stage_and_calls_no_agent(project: Path, run_dir: Path) -> None:
    """`run --dry-run` writes a prompt for every agent stage of the default workflow, and no state."""
    proc = teambot("run", "objective.md", "--dry-run", cwd=project)
    assert proc.returncode == 0, proc.stderr
    rendered = sorted(p.stem for p in (run_dir / "prompts").glob("*.md"))
    assert rendered == sorted(AGENT_STAGES)
    assert not (run_dir / "state.json").exists() and not (run_dir / "events.jsonl").exists()
    assert not list((run_dir).glob("artifacts/*"))
    plan = (run_dir / "prompts" / "PLAN.md").read_text()
    assert "# Project manager (pm)" in plan, "persona first"
    assert "# Stage: Plan (PLAN)" in plan
    assert "Add a command-line todo list" in plan and "feature: todo-cli" not in plan, "objective without front matter"
    assert "research.md" in plan and "(not produced yet)" in plan, "upstream artifacts are listed"
    assert "implementation_plan.md" in plan.split("## Produce")[1]
    assert "Actionable plan with atomic tasks" in plan.split("## Exit criteria")[1]
    assert "## Objective" not in (run_dir / "prompts" / "SETUP.md").read_text(), "include_objective: false"
    # a real run afterwards is not blocked by the dry run
    assert teambot("run", "objective.md", "-q", cwd=project).returncode == 0


def test_prompt_includes_template_and_upstream_contents(project: Path, run_dir: Path) -> None:
    """A stage's saved prompt has its prompt_template text and its upstream artifacts' contents."""
    (project / "prompts").mkdir()
    (project / "prompts" / "plan.md").write_text("Break the work into tasks of at most one hour.\n")
    stages = yaml.safe_load((project / "stages.yaml").read_text())
    stages["stages"]["PLAN"]["prompt_template"] = "prompts/plan.md"
    (project / "stages.yaml").write_text(yaml.safe_dump(stages, sort_keys=False))
    assert teambot("run", "objective.md", "-q", cwd=project).returncode == 0
    plan = (run_dir / "prompts" / "PLAN.md").read_text()
    assert "Break the work into tasks of at most one hour." in plan
    assert "# Research: Add a command-line todo list" in plan, "upstream artifact contents are included"


def test_project_persona_overrides_default(project: Path, run_dir: Path) -> None:
    """A persona file in .github/agents replaces teambot's default for that agent."""
    agents = project / ".github" / "agents"
    agents.mkdir(parents=True)
    (agents / "pm.agent.md").write_text("---\nname: pm\n---\nYou are Pat, a terse project manager.\n")
    assert teambot("run", "objective.md", "--dry-run", cwd=project).returncode == 0
    plan = (run_dir / "prompts" / "PLAN.md").read_text()
    assert plan.startswith("You are Pat, a terse project manager.")


def test_every_prompt_gives_the_absolute_directories(project: Path, run_dir: Path) -> None:
    """Every dry-run prompt names the absolute project, run and artifacts directories, and a stage's
    files to produce by their absolute paths in the artifacts directory (a real agent runs in the project)."""
    assert teambot("run", "objective.md", "--dry-run", cwd=project).returncode == 0
    artifacts = (run_dir / "artifacts").resolve()
    for stage in AGENT_STAGES:
        prompt = (run_dir / "prompts" / f"{stage}.md").read_text()
        assert f"Artifacts directory: {artifacts}\n" in prompt, stage
        assert f"Run directory (teambot's records of this run): {run_dir.resolve()}\n" in prompt, stage
        assert f"Project directory (your working directory): {project.resolve()}\n" in prompt, stage
    produce = (run_dir / "prompts" / "SPEC.md").read_text().split("\n## Produce\n")[1]
    assert f"- {artifacts / 'feature_spec.md'}\n" in produce and "relative to" not in produce
    setup = (run_dir / "prompts" / "SETUP.md").read_text()
    assert "the artifacts directory given in" in setup and "\n## Produce\n" not in setup, "SETUP is told where it is"


def test_review_prompts_give_the_absolute_directories(project: Path, run_dir: Path) -> None:
    """A review stage's saved work and review prompts (iterations/<STAGE>/) name the absolute artifacts directory."""
    assert teambot("run", "objective.md", "-q", cwd=project).returncode == 0
    artifacts = (run_dir / "artifacts").resolve()
    steps = run_dir / "iterations" / "SPEC_REVIEW"
    for name in ("01-work.prompt.md", "01-review.prompt.md"):
        assert f"Artifacts directory: {artifacts}\n" in (steps / name).read_text(), name
    assert f"- {artifacts / 'spec_review.md'}\n" in (steps / "01-work.prompt.md").read_text()
