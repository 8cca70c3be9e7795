"""A git project with a two-stage workflow: PLAN writes tasks.yaml, IMPLEMENTATION runs it as tasks."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.git.scratch import git, write

STAGES = """\
stages:
  PLAN:
    work_agent: pm
    artifacts: [tasks.yaml]
  IMPLEMENTATION:
    work_agent: builder-1
    retries: {retries}
    tasks:
      from: tasks.yaml
      agents: [builder-1, builder-2]
      on_conflict: {on_conflict}
      verify: ["{{python}}", -m, unittest, discover, -s, tests]
  COMPLETE:
    work_agent: null
stage_order: [PLAN, IMPLEMENTATION, COMPLETE]
"""


@pytest.fixture(autouse=True)
def _no_system_git_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """teambot's git sees no machine-wide config and no identity but the repository's."""
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(name, raising=False)


def stages_text(*, retries: int = 0, on_conflict: str = "resolve") -> str:
    return STAGES.format(retries=retries, on_conflict=on_conflict)


@pytest.fixture
def gitproject(tmp_path: Path) -> Path:
    """A repository on `main` with one commit; stages.yaml and objective.md are left uncommitted."""
    root = tmp_path / "project"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write(root / "README.md", "# Project\n")
    (root / "tests").mkdir()
    write(root / "tests" / "__init__.py", "")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")
    write(root / "stages.yaml", stages_text())
    write(root / "objective.md", "---\nfeature: tasks-demo\n---\n# Build the demo tool\n\n## Goals\n- a tool\n")
    return root


def fingerprint(root: Path) -> dict[str, str]:
    """What the user's checkout is: HEAD, branch, index and every file outside .git/.agent-tracking."""
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and rel.parts[0] not in (".git", ".agent-tracking"):
            files[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
    files["HEAD"] = git(root, "rev-parse", "HEAD").strip()
    files["branch"] = git(root, "symbolic-ref", "HEAD").strip()
    files["index"] = hashlib.sha256((root / ".git" / "index").read_bytes()).hexdigest()
    return files
