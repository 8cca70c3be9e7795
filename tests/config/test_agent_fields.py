"""`teambot validate` on allowed_personas and parallel_agents, through the real CLI."""

from __future__ import annotations

from pathlib import Path

from tests.config.conftest import base_config, line_of, rejected, validate
from tests.helpers import REPO, teambot


def test_work_agent_not_in_allowed_personas_is_an_error(write_stages) -> None:
    """A work stage whose work_agent is not allowed names the stage, the field and the agent, exit 2."""
    config = base_config()
    config["stages"]["A"]["allowed_personas"] = ["builder", "developer"]
    path = write_stages(config)
    rejected(validate(path), "1 problem in stages file",
             f"{path}:{line_of(path, 'allowed_personas')}:5: stages.A.allowed_personas: work_agent 'pm' (persona "
             "'project_manager') of A is not in allowed_personas [builder, developer]")


def test_review_stage_checks_its_reviewer(write_stages) -> None:
    """On a review stage allowed_personas names the reviewer: a reviewer not in it is an error."""
    config = base_config()
    config["stages"]["D"]["allowed_personas"] = ["project_manager", "pm"]
    rejected(validate(write_stages(config)),
             "stages.D.allowed_personas: review_agent 'reviewer' of D is not in allowed_personas [project_manager, pm]")


def test_review_stage_work_agent_need_not_be_listed(write_stages) -> None:
    """A review stage's work_agent only revises: upstream lists just the reviewer, and that is valid."""
    config = base_config()
    config["stages"]["D"]["allowed_personas"] = ["reviewer"]
    proc = validate(write_stages(config))
    assert proc.returncode == 0, proc.stderr


def test_agents_match_by_id_or_persona(write_stages) -> None:
    """builder-2 is a `builder`, pm a `project_manager`; ids match too, case-insensitively; [] allows anyone."""
    config = base_config()
    config["stages"]["A"]["allowed_personas"] = ["Project_Manager"]
    config["stages"]["B"]["allowed_personas"] = ["builder-1"]
    config["stages"]["C"]["allowed_personas"] = ["builder"]
    config["stages"]["E"]["allowed_personas"] = []
    proc = validate(write_stages(config))
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


def test_every_persona_violation_is_reported_at_once(write_stages) -> None:
    """Two stages with disallowed agents give two problems in one pass."""
    config = base_config()
    config["stages"]["B"]["allowed_personas"] = ["reviewer"]
    config["stages"]["C"]["allowed_personas"] = ["writer"]
    rejected(validate(write_stages(config)), "2 problems in stages file",
             "stages.B.allowed_personas: work_agent 'builder-1' (persona 'builder')",
             "stages.C.allowed_personas: work_agent 'builder-2' (persona 'builder')")


def test_run_refuses_a_persona_violation_before_writing_state(tmp_path: Path, write_stages) -> None:
    """`teambot run` checks allowed_personas too: exit 2 and no run directory."""
    config = base_config()
    config["stages"]["A"]["allowed_personas"] = ["reviewer"]
    write_stages(config)
    (tmp_path / "objective.md").write_text("# Goal\n\nDo it.\n", encoding="utf-8")
    proc = teambot("run", "objective.md", "-q", cwd=tmp_path)
    rejected(proc, "stages.A.allowed_personas: work_agent 'pm'")
    assert not (tmp_path / ".agent-tracking").exists()


def test_parallel_agents_is_a_warning(write_stages) -> None:
    """parallel_agents is accepted (exit 0) with a warning, at its line, that it is ignored."""
    config = base_config()
    config["stages"]["B"]["parallel_agents"] = ["builder-1", "builder-2"]
    path = write_stages(config)
    proc = validate(path)
    assert proc.returncode == 0, proc.stderr
    assert "OK — 5 stages" in proc.stdout
    assert (f"warning: {path}:{line_of(path, 'parallel_agents')}:5: stages.B.parallel_agents: parallel_agents "
            "is accepted for compatibility and ignored") in proc.stderr


def test_repo_root_upstream_format_file_validates(tmp_path: Path) -> None:
    """The upstream-format stages.yaml in the repository root validates; only its parallel_agents is warned about."""
    proc = validate(REPO / "stages.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "stages.IMPLEMENTATION.parallel_agents" in warnings[0]
