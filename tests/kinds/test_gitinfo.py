"""The reviewer's git section: present in a repository, absent (not an error) elsewhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from teambot.kinds.gitinfo import git_summary
from tests.git.scratch import git, write


async def test_a_repository_gives_both_sections(tmp_path: Path) -> None:
    """In a repository the summary shows the diff stat and the short status, each in a code block."""
    git(tmp_path, "init", "-q")
    write(tmp_path / "a.py", "a = 1\n")
    summary = await git_summary(tmp_path)
    assert summary is not None
    assert "`git diff --stat`:\n\n```\n(nothing)\n```" in summary and "?? a.py" in summary


async def test_no_repository_gives_no_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Outside a repository, or without git on PATH, there is no git section (and no error)."""
    assert await git_summary(tmp_path) is None
    git(tmp_path, "init", "-q")
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    assert await git_summary(tmp_path) is None
