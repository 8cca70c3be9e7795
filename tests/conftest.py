"""Shared fixtures: a scratch project with the default workflow and the example objective."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers import DEFAULT_STAGES, EXAMPLE_OBJECTIVE, git_commit_all


@pytest.fixture(autouse=True)
def _no_real_home(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test reads or writes the real home directory."""
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("home")))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A git project (one commit) holding stages.yaml (the default workflow) and objective.md."""
    shutil.copyfile(DEFAULT_STAGES, tmp_path / "stages.yaml")
    shutil.copyfile(EXAMPLE_OBJECTIVE, tmp_path / "objective.md")
    git_commit_all(tmp_path)  # the default workflow's task stage (IMPLEMENTATION) needs a repository
    return tmp_path


@pytest.fixture
def run_dir(project: Path) -> Path:
    """Where the example objective's run lives (feature `todo-cli` from its front matter)."""
    return project / ".agent-tracking" / "todo-cli"
