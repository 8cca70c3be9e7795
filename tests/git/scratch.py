"""Real git repositories for the tests: the test's own git calls go through `git()`, never teambot's."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

# The test's own identity, passed only to the helper's git: teambot's Repo never sees it.
_TEST_ENV = {"GIT_AUTHOR_NAME": "Tess Ter", "GIT_AUTHOR_EMAIL": "tess@example.org",
             "GIT_COMMITTER_NAME": "Tess Ter", "GIT_COMMITTER_EMAIL": "tess@example.org"}


def git(cwd: Path, *args: str, check: bool = True) -> str:
    """Run git in `cwd` as the test (not through teambot) and return its stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")} | _TEST_ENV | {"GIT_CONFIG_NOSYSTEM": "1"}
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
