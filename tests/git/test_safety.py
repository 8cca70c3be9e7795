"""What teambot's git never does: touch the user's checkout, follow inherited GIT_* variables,
run the user's hooks, hang, or crash with a traceback when git is missing."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from teambot.errors import GitError
from teambot.git import Repo
from tests.git.scratch import git, write


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file of the checkout (bytes and mode), plus the checkout's HEAD, index and branch refs."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not rel.startswith(".git/"):
            out[rel] = path.read_bytes() + b"|mode=%o" % path.stat().st_mode
    out[".git/HEAD"] = (root / ".git" / "HEAD").read_bytes()
    out[".git/index"] = (root / ".git" / "index").read_bytes()
    out["refs"] = git(root, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/main").encode()
    return out


def test_the_users_branch_index_and_working_tree_stay_byte_for_byte(origin: Path, tmp_path: Path) -> None:
    """A whole task flow in separate worktrees leaves the user's checkout, index and branch untouched."""
    write(origin / "app.py", "def answer():\n    return 'uncommitted'\n")  # the user's unsaved work
    write(origin / "staged.txt", "staged\n")
    git(origin, "add", "staged.txt")
    write(origin / "untracked.txt", "mine\n")
    later = time.time() + 5
    os.utime(origin / "README.md", (later, later))  # stale stat data: a plain `git status` would rewrite the index
    before = _snapshot(origin)

    user = Repo(origin)
    assert user.has_commits() and user.has_changes() and user.current_branch() == "main"
    base = user.head()
    user.create_branch("teambot/f", base)
    integration = tmp_path / "run" / "integration"
    user.add_worktree(integration, "teambot/f")
    trunk = Repo(integration)
    for task, text in (("T1", "one\n"), ("T2", "two\n"), ("T3", "three\n")):
        tree = tmp_path / "run" / task
        trunk.add_worktree(tree, f"teambot-task/f/{task}", start=trunk.head())
        write(tree / "shared.txt", text)
        write(tree / f"{task}.py", f"{task} = 1\n")
        Repo(tree).commit_all(f"{task}: work", {"Teambot-Feature": "f", "Teambot-Task": task})
    assert trunk.merge("teambot-task/f/T1", "merge T1").commit
    assert trunk.merge("teambot-task/f/T2", "merge T2").conflicts == ("shared.txt",)
    trunk.abort_merge()
    assert trunk.merge("teambot-task/f/T3", "merge T3").conflicts == ("shared.txt",)
    write(integration / "shared.txt", "one\nthree\n")
    merged = trunk.commit_all("merge T3 (resolved)")
    assert merged and trunk.move_branch("teambot/f", trunk.rev_parse("HEAD~1"), expected=merged)  # verify failed
    for task in ("T1", "T2", "T3"):
        trunk.remove_worktree(tmp_path / "run" / task, force=True)
        trunk.delete_branch(f"teambot-task/f/{task}", force=True)
    user.prune_worktrees()

    assert _snapshot(origin) == before
    assert user.branch_commit("teambot/f") != base  # the work happened, on teambot's branch only


def test_inherited_git_variables_do_not_redirect_teambot(origin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """GIT_DIR, GIT_WORK_TREE and GIT_INDEX_FILE exported by a hook or shell are ignored: teambot works on its path."""
    other = tmp_path / "other"
    other.mkdir()
    git(other, "init", "-q", "-b", "other")
    write(other / "o.txt", "o\n")
    git(other, "add", "-A")
    git(other, "commit", "-q", "-m", "other")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(other))
    monkeypatch.setenv("GIT_INDEX_FILE", str(tmp_path / "stray-index"))
    repo = Repo(origin)
    assert repo.current_branch() == "main"
    write(origin / "new.txt", "n\n")
    repo.commit_all("into the right repository")
    assert git(origin, "log", "-1", "--format=%s").strip() == "into the right repository"
    assert git(other, "log", "--format=%s").split("\n")[0] == "other" and not (tmp_path / "stray-index").exists()


def test_the_users_hooks_do_not_run(origin: Path, tmp_path: Path) -> None:
    """A failing pre-commit hook and a post-checkout hook do not stop or touch teambot's commits and worktrees."""
    hooks = origin / ".git" / "hooks"
    for name in ("pre-commit", "post-checkout", "commit-msg"):
        hook = write(hooks / name, f"#!/bin/sh\necho ran >> '{tmp_path}/hook-{name}'\nexit 1\n")
        hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    tree = tmp_path / "wt"
    Repo(origin).add_worktree(tree, "t1", start="HEAD")
    write(tree / "x.py", "x = 1\n")
    assert Repo(tree).commit_all("t1") is not None
    assert not list(tmp_path.glob("hook-*"))


def _fake_git(tmp_path: Path, body: str) -> str:
    """A PATH whose only `git` is a shell script with `body`."""
    bindir = tmp_path / "fakebin"
    script = write(bindir / "git", "#!/bin/sh\n" + body)
    script.chmod(0o755)
    return f"{bindir}{os.pathsep}{os.environ['PATH']}"


def test_git_runs_with_a_fixed_environment(origin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """git sees LC_ALL=C, no terminal prompt, `true` as editor, no pager, and no inherited GIT_DIR."""
    dump = tmp_path / "env.txt"
    monkeypatch.setenv("PATH", _fake_git(tmp_path, f"env > '{dump}'\necho true\n"))
    monkeypatch.setenv("GIT_DIR", "/elsewhere/.git")
    monkeypatch.setenv("LC_ALL", "de_DE.UTF-8")
    assert Repo(origin).is_work_tree()
    env = dict(line.split("=", 1) for line in dump.read_text().splitlines() if "=" in line)
    assert env["LC_ALL"] == "C" and env["GIT_TERMINAL_PROMPT"] == "0" and env["GIT_EDITOR"] == "true"
    assert env["GIT_PAGER"] == "cat" and "GIT_DIR" not in env


def test_a_hanging_git_is_stopped_after_the_timeout(origin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A git that does not finish is killed after the timeout and reported as one line naming the command."""
    monkeypatch.setenv("PATH", _fake_git(tmp_path, "exec sleep 30\n"))
    started = time.monotonic()
    with pytest.raises(GitError) as caught:
        Repo(origin, timeout=0.5).head()
    assert time.monotonic() - started < 15
    assert caught.value.message.startswith("`git rev-parse") and "timed out after 0.5s" in caught.value.message


def test_a_missing_git_is_a_known_error(origin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without git on PATH every method raises GitError saying git is not installed (no traceback)."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(GitError, match="git is not installed") as caught:
        Repo(origin).has_commits()
    assert caught.value.hint and "install git" in caught.value.hint
