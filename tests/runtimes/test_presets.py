"""The presets' argv as the command runtime really runs it: a program named like the agent CLI on PATH
records the arguments it was given (flags checked against the real CLIs' --help, see docs/runtimes.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from teambot.runtimes.presets import in_git_work_tree
from teambot.runtimes.router import build_runtime
from teambot.settings import Settings


@pytest.fixture
def agent_cli(tmp_path, monkeypatch):
    """Put a program named `name` first on PATH that prints its arguments as JSON (the stage output)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ.get('PATH', os.defpath)}")

    def install(name: str) -> None:
        program = folder / name
        program.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n", encoding="utf-8")
        program.chmod(0o755)
    return install


async def argv_of(preset: str, request) -> list[str]:
    """The arguments the preset's program received for `request`."""
    router = build_runtime(Settings.model_validate({"runtime": "command", "command": {"preset": preset}}))
    try:
        return json.loads((await router.run(request)).output)
    finally:
        await router.aclose()


def git_init(project: Path) -> None:
    if shutil.which("git"):
        subprocess.run(["git", "init", "-q", str(project)], check=True)
    else:  # what git would create; only its presence matters here
        (project / ".git").mkdir()


async def test_gemini_trusts_the_project_for_the_session(make_request, agent_cli):
    """gemini gets --skip-trust (an untrusted folder exits 55 otherwise) and keeps auto_edit approvals."""
    agent_cli("gemini")
    argv = await argv_of("gemini", make_request())
    assert "--skip-trust" in argv
    assert argv[argv.index("--approval-mode") + 1] == "auto_edit" and argv[-2] == "-p"


async def test_aider_says_yes_only_to_edits(make_request, agent_cli):
    """aider's --yes-always comes with URL detection, Playwright installs, analytics and browser pages turned off."""
    agent_cli("aider")
    argv = await argv_of("aider", make_request())
    assert "--yes-always" in argv
    for flag in ("--no-detect-urls", "--disable-playwright", "--no-analytics", "--no-show-release-notes",
                 "--no-show-model-warnings", "--no-auto-commits", "--no-check-update"):
        assert flag in argv, flag


async def test_aider_gets_no_git_only_outside_a_git_work_tree(make_request, agent_cli):
    """Outside a git repository aider gets --no-git (it would `git init` the project); inside one it keeps git."""
    agent_cli("aider")
    request = make_request()
    if in_git_work_tree(request.project_dir):
        pytest.skip("the temporary directory is inside a git work tree")
    assert "--no-git" in await argv_of("aider", request)
    assert not (request.project_dir / ".git").exists(), "nothing made the project a repository"
    git_init(request.project_dir)
    assert "--no-git" not in await argv_of("aider", request)


def test_in_git_work_tree(tmp_path):
    """A directory counts as in a git work tree when it or a parent holds .git, a directory or a file."""
    inner = tmp_path / "repo" / "src" / "pkg"
    inner.mkdir(parents=True)
    if in_git_work_tree(tmp_path):
        pytest.skip("the temporary directory is inside a git work tree")
    assert not in_git_work_tree(inner)
    (tmp_path / "repo" / ".git").write_text("gitdir: /elsewhere/.git/worktrees/repo\n")  # a linked worktree
    assert in_git_work_tree(inner) and in_git_work_tree(tmp_path / "repo")
    assert not in_git_work_tree(tmp_path)
