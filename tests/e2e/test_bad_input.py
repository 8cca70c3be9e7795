"""End to end: bad input gets one clear message, the contract's exit code and no traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import teambot


def _assert_clean(proc, code: int, *needles: str) -> None:
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    for needle in needles:
        assert needle in proc.stderr, proc.stderr


def test_missing_objective(project: Path) -> None:
    """A missing objective file exits 2 naming it."""
    _assert_clean(teambot("run", "nope.md", cwd=project), 2, "nope.md", "does not exist")


def test_empty_objective(project: Path) -> None:
    """An empty objective exits 2 and nothing is created."""
    (project / "empty.md").write_text("  \n")
    _assert_clean(teambot("run", "empty.md", cwd=project), 2, "empty.md", "empty")
    assert not (project / ".agent-tracking").exists()


def test_objective_with_only_front_matter(project: Path) -> None:
    """An objective that is front matter and nothing else exits 2."""
    (project / "fm.md").write_text("---\nfeature: x\n---\n")
    _assert_clean(teambot("run", "fm.md", cwd=project), 2, "fm.md", "no content")


def test_non_utf8_objective(project: Path) -> None:
    """A non-UTF-8 objective exits 2 saying so."""
    (project / "latin.md").write_bytes(b"# Caf\xe9\n")
    _assert_clean(teambot("run", "latin.md", cwd=project), 2, "latin.md", "UTF-8")


def test_objective_directory(project: Path) -> None:
    """A directory given as objective exits 2."""
    (project / "dir.md").mkdir()
    _assert_clean(teambot("run", "dir.md", cwd=project), 2, "directory")


def test_bad_feature_name(project: Path) -> None:
    """A feature name that could leave the workspace is refused."""
    _assert_clean(teambot("run", "objective.md", "--feature", "../../etc", cwd=project), 2, "../../etc")
    assert not (project.parent / "etc").exists()


def test_feature_from_front_matter_and_file_name(project: Path) -> None:
    """The feature comes from front matter, else from the objective's file name."""
    (project / "Add Login Page.md").write_text("# Login\n\n## Goals\n- log in\n")
    proc = teambot("run", "Add Login Page.md", "-q", cwd=project)
    assert proc.returncode == 0, proc.stderr
    assert (project / ".agent-tracking" / "add-login-page" / "state.json").exists()


def test_unknown_runtime(project: Path) -> None:
    """An unknown --runtime exits 2 listing the choices."""
    _assert_clean(teambot("run", "objective.md", "--runtime", "gpt9", cwd=project), 2, "gpt9", "demo")


@pytest.mark.parametrize("content, needle", [(b'{"schema_version": 1, "run"', "truncated"), (b"garbage", "not valid JSON"),
                                             (json.dumps({"schema_version": 7, "run": {}}).encode(), "newer teambot")])
def test_corrupt_state_file(project: Path, run_dir: Path, content: bytes, needle: str) -> None:
    """status and resume on a corrupt state.json exit 2 with the reason, and never rewrite it."""
    assert teambot("run", "objective.md", "-q", cwd=project, env={"TEAMBOT_DEMO_FAIL": "SPEC"}).returncode == 1
    (run_dir / "state.json").write_bytes(content)
    _assert_clean(teambot("status", "todo-cli", cwd=project), 2, "state.json", needle)
    _assert_clean(teambot("resume", "todo-cli", cwd=project), 2, "state.json", needle)
    assert (run_dir / "state.json").read_bytes() == content


def test_resume_unknown_feature(project: Path) -> None:
    """Resuming a feature that has no run exits 2."""
    _assert_clean(teambot("resume", "ghost", cwd=project), 2, "ghost")


def test_status_with_no_runs(tmp_path: Path) -> None:
    """status in a directory without runs exits 2 with a hint."""
    _assert_clean(teambot("status", cwd=tmp_path), 2, "no runs", "teambot run")


def test_bad_demo_delay(project: Path) -> None:
    """A non-numeric TEAMBOT_DEMO_DELAY is bad input, exit 2."""
    _assert_clean(teambot("run", "objective.md", cwd=project, env={"TEAMBOT_DEMO_DELAY": "soon"}), 2, "TEAMBOT_DEMO_DELAY")


def test_usage_errors_exit_2(project: Path) -> None:
    """Click usage errors (bad option value) exit 2."""
    proc = teambot("run", "objective.md", "--max-concurrency", "0", cwd=project)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_feature_with_a_trailing_newline_is_refused(project: Path) -> None:
    """`--feature $'trail\\n'` exits 2 naming --feature and the character, and creates no run directory."""
    proc = teambot("run", "objective.md", "--feature", "trail\n", cwd=project)
    _assert_clean(proc, 2, "--feature 'trail\\n' contains a control character (\\n)")
    assert not (project / ".agent-tracking").exists()


def test_front_matter_feature_with_a_trailing_newline_is_refused(project: Path) -> None:
    """Front matter `feature: "x\\n"` exits 2 naming the front matter field, and creates no run directory."""
    (project / "fm.md").write_text('---\nfeature: "x\\n"\n---\n# T\n\n## Goals\n- g\n')
    proc = teambot("run", "fm.md", cwd=project)
    _assert_clean(proc, 2, "objective fm.md: front matter `feature` 'x\\n' contains a control character")
    assert not (project / ".agent-tracking").exists()


def test_objective_fifo_and_dev_zero_are_refused_at_once(project: Path) -> None:
    """An objective that is a FIFO (no writer) or /dev/zero exits 2 at once naming it; nothing is created."""
    import os

    os.mkfifo(project / "pipe.md")
    _assert_clean(teambot("run", "pipe.md", cwd=project, timeout=60), 2, "objective pipe.md is a FIFO")
    _assert_clean(teambot("run", "/dev/zero", cwd=project, timeout=60), 2, "objective /dev/zero is a device")
    assert not (project / ".agent-tracking").exists()


def test_objective_over_the_limit_is_refused(project: Path) -> None:
    """An objective one byte over 1 MiB exits 2 with its size and the limit."""
    (project / "big.md").write_bytes(b"# Big\n" + b"x" * ((1 << 20) - 5))
    _assert_clean(teambot("run", "big.md", cwd=project), 2, "objective big.md is 1,048,577 bytes; the limit is 1,048,576")


def test_stages_and_settings_fifos_are_refused(project: Path) -> None:
    """A FIFO given as --stages or found as teambot.yaml exits 2 naming it instead of hanging."""
    import os

    os.mkfifo(project / "pipe.yaml")
    _assert_clean(teambot("run", "objective.md", "--stages", "pipe.yaml", cwd=project, timeout=60), 2,
                  "stages file pipe.yaml is a FIFO")
    _assert_clean(teambot("validate", "pipe.yaml", cwd=project, timeout=60), 2, "stages file pipe.yaml is a FIFO")
    (project / "teambot.yaml").symlink_to(project / "pipe.yaml")
    _assert_clean(teambot("run", "objective.md", cwd=project, timeout=60), 2, "teambot.yaml is a FIFO")


def test_persona_device_is_refused_before_the_run_starts(project: Path) -> None:
    """A persona that is /dev/zero exits 2 naming it before any stage runs; no run is left behind."""
    agents = project / ".github" / "agents"
    agents.mkdir(parents=True)
    (agents / "ba.agent.md").symlink_to("/dev/zero")
    _assert_clean(teambot("run", "objective.md", "-q", cwd=project, timeout=60), 2, "ba.agent.md is a device")
    assert not (project / ".agent-tracking" / "todo-cli").exists()


def test_prompt_template_fifo_and_oversized_are_refused(project: Path) -> None:
    """A prompt template that is a FIFO is a validation problem; one over 1 MiB stops the run (exit 2) up front."""
    import os

    prompts = project / ".teambot" / "prompts"
    prompts.mkdir(parents=True)
    os.mkfifo(prompts / "spec.md")
    _assert_clean(teambot("validate", cwd=project, timeout=60), 2, "prompt template .teambot/prompts/spec.md is not a file")
    _assert_clean(teambot("run", "objective.md", cwd=project, timeout=60), 2, "spec.md is not a file")
    (prompts / "spec.md").unlink()
    (prompts / "plan.md").write_bytes(b"x" * ((1 << 20) + 1))
    _assert_clean(teambot("run", "objective.md", "-q", cwd=project, timeout=60), 2,
                  "prompt template", "plan.md is 1,048,577 bytes")
    assert not (project / ".agent-tracking" / "todo-cli").exists()
