"""The run's git worktrees: the integration tree every stage works in, and one tree per task.

Blocking (git runs as a subprocess); async callers use asyncio.to_thread. Every git call goes
through teambot.git.Repo. Names (see .agent-tracking/design/task-stages.md):
- integration branch `teambot/<feature>`, created from the project's HEAD when the run starts,
  checked out in `<run>/worktrees/_integration` (`_` cannot start a task id);
- task branch `teambot-task/<feature>/<id>`, checked out in `<run>/worktrees/<id>`.
teambot never touches the user's checked-out branch, index or working tree.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from teambot.errors import UsageError
from teambot.git import Repo

INTEGRATION_DIR = "_integration"
# Lock files a git command killed half-way leaves behind. Removed only while teambot holds the
# run's lock (no git command of this run is running) and only in this run's own worktrees.
_STALE_LOCKS = ("index.lock", "HEAD.lock", "ORIG_HEAD.lock", "MERGE_HEAD.lock")
# git's worktree bookkeeping (.git/worktrees/<name>) is not safe against itself: a `worktree
# list` reading while a `worktree add` writes fails ("failed to read .../commondir"). Every
# call that adds, lists, prunes or removes worktrees holds this lock (tasks run in threads).
WORKTREE_LOCK = threading.RLock()


def integration_branch(feature: str) -> str:
    return f"teambot/{feature}"


def task_branch(feature: str, task: str) -> str:
    # not under teambot/<feature>/: git cannot hold a branch and a folder of branches of one name
    return f"teambot-task/{feature}/{task}"


@dataclass(frozen=True)
class Integration:
    """Where a run's stages work: the integration worktree (and the project's place inside it)."""

    repo: Path  # the user's repository (its top level)
    branch: str
    worktree: Path  # the integration worktree's top level
    workdir: Path  # the project directory's counterpart inside it (the agents' working directory)
    worktrees: Path  # the folder holding every worktree of the run
    feature: str
    base: str | None = None  # the commit the integration branch was created from (the run's start)

    def task_tree(self, task: str) -> Path:
        return self.worktrees / task

    def commit_stage(self, stage: str, title: str) -> str | None:
        """Commit what `stage` changed in the integration worktree, so the branch holds all of the run's work."""
        return Repo(self.worktree).commit_all(f"{stage}: {title}", {"Teambot-Feature": self.feature, "Teambot-Stage": stage})


def git_project(project_dir: Path) -> Repo | None:
    """The project's repository when it is a git work tree with at least one commit, else None."""
    repo = Repo(project_dir)
    try:
        if repo.is_work_tree() and repo.has_commits():
            return repo
    except Exception:  # git missing or failing: treated as no repository (a task stage then refuses)
        return None
    return None


def require_git(project_dir: Path, stages: list[str]) -> Repo:
    """The project's repository, or exit 2 naming the fix (a task stage needs one)."""
    repo = git_project(project_dir)
    if repo is None:
        raise UsageError(f"task stage {', '.join(stages)} needs the project {project_dir} to be a git repository "
                         "with at least one commit (each task runs in its own git worktree)",
                         hint="git init && git add -A && git commit -m 'start'")
    return repo


def open_integration(repo: Repo, project_dir: Path, worktrees: Path, feature: str, base: str | None = None) -> Integration:
    """Create (first run) or find again (resume) the integration branch and worktree.

    A worktree left by a crash is repaired: an unfinished merge is aborted and lock files left
    by a killed git are removed. Files in it are never thrown away here.
    """
    branch = integration_branch(feature)
    if not repo.valid_branch_name(branch):
        raise UsageError(f"feature name '{feature}' cannot be part of a git branch name ({branch})",
                         hint="start the run with another --feature")
    top = repo.toplevel().resolve()
    if not repo.branch_exists(branch):
        base = repo.head()
        repo.create_branch(branch, base)
    path = worktrees / INTEGRATION_DIR
    ensure_tree(repo, path, branch)
    inner = Repo(path)
    clear_stale_locks(inner)
    if inner.merging():
        inner.abort_merge()
    relative = project_dir.resolve().relative_to(top)
    return Integration(repo=top, branch=branch, worktree=path, workdir=path / relative, worktrees=worktrees,
                       feature=feature, base=base)


def ensure_tree(repo: Repo, path: Path, branch: str, start: str | None = None) -> bool:
    """Check `branch` out at `path` unless it already is; True when the tree was (re)created.

    The branch is created at `start` when it does not exist. A directory at `path` that git does
    not know as a worktree (a crash inside `git worktree add`) is moved aside, never deleted.
    """
    with WORKTREE_LOCK:
        return _ensure_tree(repo, path, branch, start)


def _ensure_tree(repo: Repo, path: Path, branch: str, start: str | None) -> bool:
    path.parent.mkdir(parents=True, exist_ok=True)
    _ignore_all(path.parent)
    known = {tree.path.resolve(): tree for tree in repo.worktrees()}
    tree = known.get(path.resolve())
    if tree is not None and path.is_dir() and not tree.prunable:
        if tree.branch != branch:
            raise UsageError(f"{path} holds branch {tree.branch}, not {branch}",
                             hint=f"move it aside or remove it with `git worktree remove {path}`")
        return False
    if tree is not None or any(t.branch == branch for t in known.values()):
        repo.prune_worktrees()
    if path.exists():
        aside = path.with_name(f"{path.name}.orphan-{time.strftime('%Y%m%dT%H%M%S')}")
        path.rename(aside)
    if repo.branch_exists(branch):
        repo.add_worktree(path, branch)
    else:
        repo.add_worktree(path, branch, start=start)
    return True


def clear_stale_locks(tree: Repo) -> list[Path]:
    """Remove the lock files a killed git left in this worktree's own git directory."""
    removed = []
    folder = tree.git_dir()
    for name in _STALE_LOCKS:
        lock = folder / name
        if lock.is_file():
            lock.unlink()
            removed.append(lock)
    return removed


def _ignore_all(folder: Path) -> None:
    """A .gitignore of `*` in the worktrees folder: the user's `git status` does not list them."""
    marker = folder / ".gitignore"
    if not marker.exists():
        marker.write_text("# teambot's worktrees of this run (git worktrees of their own)\n*\n", encoding="utf-8")


def remove_tree(repo: Repo, path: Path) -> bool:
    """Remove a task's worktree; False when git refuses (it holds changes) and it is kept."""
    try:
        with WORKTREE_LOCK:
            repo.remove_worktree(path)
    except Exception:
        return False
    return True


@dataclass
class Cleaned:
    removed: list[Path]
    kept: list[tuple[Path, str]]  # worktree, why it was kept
    branches: list[str]
    kept_branches: list[tuple[str, str]]


def clean_run(project_dir: Path, worktrees: Path, feature: str, *, branch: bool, force: bool) -> Cleaned:
    """Remove a run's worktrees and its merged task branches (`teambot clean`).

    A worktree holding uncommitted changes and a task branch not merged into the integration
    branch are kept unless `force`: they may hold the only copy of an agent's work. The
    integration branch is deleted only with `branch` (and only when nothing else is kept).
    """
    repo = git_project(project_dir)
    if repo is None:
        raise UsageError(f"{project_dir} is not a git repository with commits: the run has no worktrees to clean")
    with WORKTREE_LOCK:
        return _clean(repo, worktrees, feature, branch=branch, force=force)


def _clean(repo: Repo, worktrees: Path, feature: str, *, branch: bool, force: bool) -> Cleaned:
    done = Cleaned([], [], [], [])
    integ = integration_branch(feature)
    for tree in repo.worktrees():
        try:
            tree.path.resolve().relative_to(worktrees.resolve())
        except ValueError:
            continue  # the user's own checkout or another run's
        if not force and tree.path.is_dir() and Repo(tree.path).has_changes():
            done.kept.append((tree.path, "it holds uncommitted changes (commit them, or clean --force)"))
            continue
        repo.remove_worktree(tree.path, force=force)
        done.removed.append(tree.path)
    repo.prune_worktrees()
    head = repo.branch_commit(integ)
    prefix = task_branch(feature, "")
    for name in repo.branches(prefix):
        tip = repo.branch_commit(name)
        if not force and (head is None or tip is None or not repo.is_ancestor(tip, head)):
            done.kept_branches.append((name, f"not merged into {integ} (clean --force deletes it)"))
            continue
        repo.delete_branch(name, force=True)
        done.branches.append(name)
    if branch and head is not None:
        if done.kept or done.kept_branches:
            done.kept_branches.append((integ, "kept while other work of the run is kept"))
        else:
            repo.delete_branch(integ, force=True)
            done.branches.append(integ)
    return done
