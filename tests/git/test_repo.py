"""Repo against real repositories: what is there, branches, worktrees, commits, merges."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from teambot.errors import GitError
from teambot.git import IDENTITY, Repo
from tests.git.scratch import git, write


def _task_worktree(origin: Path, tmp_path: Path, name: str, text: str, file: str = "app.py") -> Path:
    """A worktree on a new branch `name` from HEAD, with one commit changing `file` to `text`."""
    tree = tmp_path / "trees" / name
    Repo(origin).add_worktree(tree, name, start="HEAD")
    write(tree / file, text)
    Repo(tree).commit_all(f"{name}: change {file}")
    return tree


def test_a_plain_directory_is_no_work_tree(tmp_path: Path) -> None:
    """A directory outside any repository is neither a work tree nor one with commits."""
    assert not Repo(tmp_path).is_work_tree()
    assert not Repo(tmp_path).has_commits()


def test_a_fresh_repository_has_no_commits(tmp_path: Path) -> None:
    """`git init` without a commit is a work tree, but has_commits() says no (a task stage needs one)."""
    git(tmp_path, "init", "-q")
    assert Repo(tmp_path).is_work_tree()
    assert not Repo(tmp_path).has_commits()


def test_head_branch_and_rev_parse(origin: Path) -> None:
    """head(), current_branch() and rev_parse() agree with git; a detached HEAD has no branch."""
    repo = Repo(origin)
    sha = git(origin, "rev-parse", "HEAD").strip()
    assert repo.has_commits() and repo.head() == sha and repo.rev_parse("main") == sha
    assert repo.current_branch() == "main"
    assert repo.toplevel().resolve() == origin.resolve()
    git(origin, "checkout", "-q", "--detach")
    assert repo.current_branch() is None


def test_rev_parse_of_an_unknown_name_is_one_line_naming_it(origin: Path) -> None:
    """rev_parse of a name that is no commit raises GitError naming the command and the name."""
    with pytest.raises(GitError) as caught:
        Repo(origin).rev_parse("no-such-branch")
    assert "git rev-parse" in caught.value.message and "'no-such-branch' names no commit" in caught.value.message
    assert "\n" not in caught.value.message


def test_branch_create_exists_delete(origin: Path) -> None:
    """A branch is created at the given commit, found, refused when created twice, and deleted."""
    repo = Repo(origin)
    first = repo.head()
    write(origin / "more.txt", "more\n")
    second = repo.commit_all("second")
    repo.create_branch("teambot/feat", first)
    assert repo.branch_exists("teambot/feat") and repo.branch_commit("teambot/feat") == first
    assert repo.branch_commit("nope") is None and not repo.branch_exists("nope")
    with pytest.raises(GitError) as caught:
        repo.create_branch("teambot/feat", second)
    assert "git branch" in caught.value.message and "already exists" in caught.value.message
    repo.delete_branch("teambot/feat")  # merged into HEAD: -d is enough
    assert not repo.branch_exists("teambot/feat")


def test_an_unmerged_branch_is_deleted_only_with_force(origin: Path, tmp_path: Path) -> None:
    """delete_branch refuses a branch whose commits are not in HEAD unless force=True."""
    tree = _task_worktree(origin, tmp_path, "t1", "x = 1\n")
    repo = Repo(origin)
    repo.remove_worktree(tree)
    with pytest.raises(GitError, match="not fully merged"):
        repo.delete_branch("t1")
    repo.delete_branch("t1", force=True)
    assert not repo.branch_exists("t1")


def test_names_that_look_like_options_are_refused(origin: Path) -> None:
    """A branch or revision starting with '-' never reaches git, where it would be read as an option."""
    with pytest.raises(ValueError, match="--force"):
        Repo(origin).create_branch("--force", "HEAD")


def test_worktree_add_list_remove_prune(origin: Path, tmp_path: Path) -> None:
    """A worktree on a new branch is listed with its branch and commit, removed, and pruned once deleted."""
    repo = Repo(origin)
    head = repo.head()
    one, two = tmp_path / "wt" / "one", tmp_path / "wt" / "two"
    repo.add_worktree(one, "teambot-task/f/T1", start=head)
    repo.create_branch("existing", head)
    repo.add_worktree(two, "existing")  # an existing branch, as resume recreates a worktree
    listed = {w.path.resolve(): w for w in repo.worktrees()}
    assert listed[one.resolve()].branch == "teambot-task/f/T1" and listed[one.resolve()].head == head
    assert listed[two.resolve()].branch == "existing"
    assert listed[origin.resolve()].branch == "main"
    assert Repo(one).current_branch() == "teambot-task/f/T1" and (one / "app.py").is_file()
    repo.remove_worktree(one)
    assert not one.exists()
    subprocess.run(["rm", "-rf", str(two)], check=True)  # deleted behind git's back
    assert any(w.prunable for w in repo.worktrees())
    repo.prune_worktrees()
    assert [w.path.resolve() for w in repo.worktrees()] == [origin.resolve()]


def test_a_worktree_with_changes_is_removed_only_with_force(origin: Path, tmp_path: Path) -> None:
    """remove_worktree keeps a worktree holding uncommitted work unless force=True."""
    tree = tmp_path / "wt"
    Repo(origin).add_worktree(tree, "t1", start="HEAD")
    write(tree / "work.py", "unsaved = True\n")
    with pytest.raises(GitError, match="git worktree remove"):
        Repo(origin).remove_worktree(tree)
    assert (tree / "work.py").is_file()
    Repo(origin).remove_worktree(tree, force=True)
    assert not tree.exists()


def test_status_sees_untracked_changed_and_renamed_files(origin: Path) -> None:
    """status() is clean after a commit and lists untracked, modified and renamed files otherwise."""
    repo = Repo(origin)
    assert not repo.has_changes() and repo.status().entries == ()
    write(origin / "new dir" / "new file.txt", "n\n")
    write(origin / "app.py", "changed\n")
    git(origin, "mv", "README.md", "READ ME.md")
    entries = dict((path, code) for code, path in repo.status().entries)
    assert entries == {"new dir/new file.txt": "??", "app.py": " M", "READ ME.md": "R "}
    assert repo.has_changes()


def test_commit_all_uses_teambot_identity_and_trailers(origin: Path) -> None:
    """commit_all commits new, changed and deleted files, with trailers, as teambot when no identity is set."""
    repo = Repo(origin)
    write(origin / "src" / "new.py", "n = 1\n")
    write(origin / "app.py", "changed\n")
    (origin / "README.md").unlink()
    sha = repo.commit_all("#3 T1: Parse the config", {"Teambot-Feature": "todo-cli", "Teambot-Task": "T1"})
    assert sha == git(origin, "rev-parse", "HEAD").strip() and not repo.has_changes()
    assert git(origin, "log", "-1", "--format=%an <%ae>|%s").strip() == f"{IDENTITY[0]} <{IDENTITY[1]}>|#3 T1: Parse the config"
    trailers = git(origin, "log", "-1", "--format=%(trailers:only,unfold)").strip().splitlines()
    assert trailers == ["Teambot-Feature: todo-cli", "Teambot-Task: T1"]
    assert git(origin, "show", "--name-status", "--format=", "HEAD").split() == ["D", "README.md", "M", "app.py", "A", "src/new.py"]


def test_commit_all_keeps_the_users_identity(origin: Path) -> None:
    """When the user configured a name and email, teambot's commits carry them."""
    git(origin, "config", "user.name", "Ada User")
    git(origin, "config", "user.email", "ada@example.org")
    write(origin / "x.txt", "x\n")
    Repo(origin).commit_all("x")
    assert git(origin, "log", "-1", "--format=%an <%ae> / %cn").strip() == "Ada User <ada@example.org> / Ada User"


def test_commit_all_with_nothing_to_commit_returns_none(origin: Path) -> None:
    """A clean work tree gives no commit (the agent may have committed its work itself)."""
    before = git(origin, "rev-parse", "HEAD")
    assert Repo(origin).commit_all("nothing") is None
    assert git(origin, "rev-parse", "HEAD") == before


def test_merge_makes_a_merge_commit(origin: Path, tmp_path: Path) -> None:
    """A clean merge of a task branch gives a --no-ff merge commit whose parents are HEAD and the branch."""
    _task_worktree(origin, tmp_path, "t1", "def answer():\n    return 42\n")
    repo = Repo(origin)
    base, task = repo.head(), repo.branch_commit("t1")
    result = repo.merge("t1", "Merge T1", {"Teambot-Task": "T1"})
    assert result.commit == repo.head() and not result.conflicts and not result.up_to_date
    assert git(origin, "log", "-1", "--format=%P").split() == [base, task]
    assert git(origin, "log", "-1", "--format=%s|%(trailers:only,unfold)").strip() == "Merge T1|Teambot-Task: T1"
    assert "return 42" in (origin / "app.py").read_text() and not repo.has_changes()
    assert repo.merge("t1", "again").up_to_date  # already merged: nothing happens
    assert repo.is_ancestor(task, repo.head()) and not repo.is_ancestor(repo.head(), task)


def test_a_conflict_is_reported_then_aborted_leaving_the_tree_clean(origin: Path, tmp_path: Path) -> None:
    """A conflicting merge names the conflicted file; merge --abort restores HEAD and a clean tree."""
    _task_worktree(origin, tmp_path, "t1", "def answer():\n    return 2\n")
    write(origin / "app.py", "def answer():\n    return 3\n")
    repo = Repo(origin)
    before = repo.commit_all("main changes the same line")
    result = repo.merge("t1", "Merge T1")
    assert result.commit is None and result.conflicts == ("app.py",)
    assert repo.merging() and repo.status().conflicted == ("app.py",) and repo.conflicted_files() == ("app.py",)
    assert [m.line for m in repo.conflict_markers(["app.py"])] == [2, 4, 6]
    repo.abort_merge()
    assert not repo.merging() and not repo.has_changes() and repo.head() == before
    assert (origin / "app.py").read_text() == "def answer():\n    return 3\n"


def test_a_resolved_conflict_is_concluded_by_commit_all(origin: Path, tmp_path: Path) -> None:
    """After the conflicted file is fixed, commit_all makes the merge commit (two parents, markers gone)."""
    _task_worktree(origin, tmp_path, "t1", "def answer():\n    return 2\n")
    write(origin / "app.py", "def answer():\n    return 3\n")
    repo = Repo(origin)
    repo.commit_all("main side")
    assert repo.merge("t1", "Merge T1").conflicts == ("app.py",)
    write(origin / "app.py", "def answer():\n    return 3\n")  # resolved to ours: the tree equals HEAD
    assert repo.conflict_markers(["app.py"]) == ()
    merge = repo.commit_all("Merge T1 (resolved)")
    assert merge is not None and not repo.merging()
    assert len(git(origin, "log", "-1", "--format=%P").split()) == 2


def test_a_merge_that_cannot_start_raises(origin: Path, tmp_path: Path) -> None:
    """A merge git refuses outright (an untracked file would be overwritten) raises GitError, not a conflict."""
    tree = tmp_path / "wt"
    Repo(origin).add_worktree(tree, "t1", start="HEAD")
    write(tree / "new.py", "from branch\n")
    Repo(tree).commit_all("add new.py")
    write(origin / "new.py", "untracked here\n")
    with pytest.raises(GitError, match="git merge.*untracked working tree files would be overwritten"):
        Repo(origin).merge("t1", "Merge T1")
    assert (origin / "new.py").read_text() == "untracked here\n"


def test_move_branch_refuses_when_the_branch_moved(origin: Path, tmp_path: Path) -> None:
    """move_branch is a compare-and-swap: it does nothing and says False when the branch is not where expected."""
    repo = Repo(origin)
    base = repo.head()
    repo.create_branch("teambot/f", base)
    tree = tmp_path / "integration"
    repo.add_worktree(tree, "teambot/f")
    write(tree / "a.txt", "a\n")
    moved = Repo(tree).commit_all("someone else moved it")
    assert not Repo(tree).move_branch("teambot/f", base, expected=base)  # it is no longer at base
    assert repo.branch_commit("teambot/f") == moved


def test_move_branch_undoes_a_merge_in_its_worktree(origin: Path, tmp_path: Path) -> None:
    """Undoing a merge moves the integration branch back and its worktree's files with it."""
    repo = Repo(origin)
    repo.create_branch("teambot/f", repo.head())
    integration = tmp_path / "integration"
    repo.add_worktree(integration, "teambot/f")
    _task_worktree(origin, tmp_path, "t1", "def answer():\n    return 7\n")
    trunk = Repo(integration)
    before = trunk.head()
    merged = trunk.merge("t1", "Merge T1").commit
    assert merged is not None
    assert trunk.move_branch("teambot/f", before, expected=merged)
    assert trunk.head() == before and not trunk.has_changes()
    assert (integration / "app.py").read_text() == "def answer():\n    return 1\n"


def test_move_branch_never_moves_a_branch_checked_out_elsewhere(origin: Path, tmp_path: Path) -> None:
    """The user's checked-out branch is never moved from another worktree."""
    repo = Repo(origin)
    first = repo.head()
    write(origin / "b.txt", "b\n")
    second = repo.commit_all("second")
    tree = tmp_path / "other"
    repo.add_worktree(tree, "side", start=first)
    with pytest.raises(GitError, match=r"refused: the branch is checked out in"):
        Repo(tree).move_branch("main", first, expected=second)
    assert repo.branch_commit("main") == second


def test_conflict_markers_skip_headings_binaries_and_missing_files(origin: Path) -> None:
    """A setext `=======` underline, a binary file and a deleted file are no conflict markers."""
    write(origin / "doc.md", "Title\n=======\n\ntext\n")
    (origin / "blob.bin").write_bytes(b"\0<<<<<<< x\n")
    write(origin / "left.py", "a\n<<<<<<< HEAD\nb\n=======\nc\n>>>>>>> t1\n")
    found = Repo(origin).conflict_markers(["doc.md", "blob.bin", "gone.py", "left.py"])
    assert [(m.path, m.line, m.text) for m in found] == [
        ("left.py", 2, "<<<<<<< HEAD"), ("left.py", 4, "======="), ("left.py", 6, ">>>>>>> t1")]


def test_diff_stat_and_short_status_for_reviewers(origin: Path, tmp_path: Path) -> None:
    """The review prompt's texts: `git diff --stat` and `git status --short` of the work tree."""
    write(origin / "app.py", "changed\n")
    write(origin / "new.txt", "n\n")
    repo = Repo(origin)
    assert "app.py" in repo.diff_stat() and "1 file changed" in repo.diff_stat()
    assert repo.short_status().splitlines() == [" M app.py", "?? new.txt"]
