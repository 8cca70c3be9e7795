"""Fixtures: a real repository in a temp dir, and a git that sees no machine-wide config."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.git.scratch import git, write


@pytest.fixture(autouse=True)
def _no_system_git_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """teambot's git sees no machine-wide config (HOME is already a scratch directory)."""
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    """A repository on branch `main` with one commit holding README.md and app.py."""
    root = tmp_path / "project"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write(root / "README.md", "# Project\n")
    write(root / "app.py", "def answer():\n    return 1\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")
    return root
