"""load_workflow called in process: what the engine gets back."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from teambot.config import DEFAULT_STAGES, load_workflow, resolve_stages_path
from teambot.config.validate import artifact_problem
from teambot.errors import ConfigError
from tests.config.conftest import base_config


def test_workflow_carries_hash_config_and_graph(tmp_path: Path) -> None:
    """A valid file gives a Workflow with the sha256 of its bytes, the model and the DAG."""
    workflow = load_workflow(DEFAULT_STAGES, project_dir=tmp_path)
    assert workflow.sha256 == hashlib.sha256(DEFAULT_STAGES.read_bytes()).hexdigest()
    assert workflow.config.stage_order[0] == "SETUP"
    assert workflow.graph.deps["PLAN"] == {"SPEC_REVIEW", "RESEARCH", "TEST_STRATEGY"}
    assert workflow.warnings == ()


def test_config_error_lists_every_problem(tmp_path: Path, write_stages) -> None:
    """Problems raise one ConfigError (exit code 2) whose problems name file, line and path."""
    config = base_config()
    config["stages"]["B"]["retries"] = -1
    config["stage_order"].append("Z")
    path = write_stages(config)
    with pytest.raises(ConfigError) as info:
        load_workflow(path, project_dir=tmp_path)
    err = info.value
    assert err.exit_code == 2
    assert err.message == f"{path}: 2 problems in stages file"
    assert len(err.problems) == 2 and all(p.startswith(f"{path}:") for p in err.problems)
    assert "stages.B.retries: must be at least 0" in err.problems[0]


def test_templates_resolve_against_project_dir(tmp_path: Path, write_stages) -> None:
    """prompt_template paths are looked up under project_dir."""
    config = base_config()
    config["stages"]["A"]["prompt_template"] = "prompts/a.md"
    path = write_stages(config)
    with pytest.raises(ConfigError):
        load_workflow(path, project_dir=tmp_path)
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "a.md").write_text("hi", encoding="utf-8")
    assert load_workflow(path, project_dir=tmp_path).config.stages["A"].prompt_template == "prompts/a.md"


def test_null_optional_sections_are_empty(tmp_path: Path, write_stages) -> None:
    """`parallel_groups:` and `work_to_review_mapping:` left empty (null) mean no groups, no mapping."""
    path = write_stages("stages: {A: {}}\nstage_order: [A]\nparallel_groups:\nwork_to_review_mapping:\n")
    workflow = load_workflow(path, project_dir=tmp_path)
    assert workflow.config.parallel_groups == {} and workflow.config.work_to_review_mapping == {}


def test_resolve_stages_path_prefers_option_then_local_then_default(tmp_path: Path) -> None:
    """--stages wins, then ./stages.yaml, then the packaged default."""
    assert resolve_stages_path(None, tmp_path) == DEFAULT_STAGES
    (tmp_path / "stages.yaml").write_text("x", encoding="utf-8")
    assert resolve_stages_path(None, tmp_path) == tmp_path / "stages.yaml"
    assert resolve_stages_path("other.yaml", tmp_path) == Path("other.yaml")


@pytest.mark.parametrize("name", ["a.md", "sub/dir/b.md", "./c.md", "names with spaces.md"])
def test_plain_artifact_paths_are_fine(name: str) -> None:
    """Relative file paths inside the artifacts dir are accepted."""
    assert artifact_problem(name) is None


@pytest.mark.parametrize("name", ["../a.md", "x/../../a.md", "/a.md", "C:/a.md", "a\\b.md", "a\x00.md", "dir/", ".", "~/a.md"])
def test_escaping_artifact_paths_are_refused(name: str) -> None:
    """Absolute, parent-relative, backslash, NUL, drive and directory names are refused."""
    assert artifact_problem(name) is not None


def test_infinite_timeout_is_refused(tmp_path: Path, write_stages) -> None:
    """`timeout: .inf` is refused: a timeout must be a finite number of seconds."""
    path = write_stages("stages:\n  A:\n    timeout: .inf\nstage_order: [A]\n")
    with pytest.raises(ConfigError) as info:
        load_workflow(path, project_dir=tmp_path)
    [problem] = info.value.problems
    assert problem.startswith(f"{path}:3:5: stages.A.timeout:") and "finite number" in problem
