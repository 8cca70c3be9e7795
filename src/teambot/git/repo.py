"""Every git command teambot runs: argv lists (never a shell), a clean environment, timeouts.

No other module starts git (tests/test_architecture.py checks it), so what teambot may do
to a user's repository is all in this file. Each call runs `git` with:
- an environment without the user's GIT_DIR / GIT_WORK_TREE / GIT_INDEX_FILE / ... (a
  hook or shell that exported one would make git work on another repository or index),
  LC_ALL=C (messages we parse), no prompt, no pager, GIT_EDITOR=true;
- hooks, fsmonitor and automatic gc switched off: teambot's bookkeeping commits and merges
  must not run the user's programs or a background gc that outlives a timeout;
- a timeout, after which git is killed and a GitError raised.
A failed command raises GitError: one line naming the command and the end of its stderr.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from teambot.errors import GitError
from teambot.git.results import (Marker, MergeResult, Status, Worktree, commit_message, find_markers,
                                 parse_status, parse_worktrees)

TIMEOUT = 120.0  # seconds per git command; a merge of a large tree can take a while
IDENTITY = ("teambot", "teambot@localhost")  # used only when the user configured no name/email
_KEEP = frozenset({"GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL",
                   "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM", "GIT_EXEC_PATH",
                   # these only limit where git looks for a repository, as the user's own git does
                   "GIT_CEILING_DIRECTORIES", "GIT_DISCOVERY_ACROSS_FILESYSTEM"})
_FIXED_ENV = {"LC_ALL": "C", "LANGUAGE": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat", "PAGER": "cat",
              "GIT_EDITOR": "true", "GIT_SEQUENCE_EDITOR": "true", "GIT_MERGE_AUTOEDIT": "no",
              # status must not rewrite the index of the user's checkout while the user works in it
              "GIT_OPTIONAL_LOCKS": "0"}
_CONFIG = ("-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false", "-c", "gc.auto=0",
           "-c", "maintenance.auto=false", "-c", "advice.detachedHead=false")


def without_git_redirects(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` without inherited GIT_* variables that would point an agent's git elsewhere
    (GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE, ...): it must work on the worktree it runs in."""
    return {k: v for k, v in environ.items() if not k.startswith("GIT_") or k in _KEEP}


def clean_env(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` without the GIT_* variables that redirect git, plus teambot's fixed settings."""
    env = {k: v for k, v in environ.items() if not k.startswith("GIT_") or k in _KEEP}
    env.update(_FIXED_ENV)
    return env


class Repo:
    """Git operations on the repository (or worktree) at `path`. Blocking: from asyncio code
    call methods through `asyncio.to_thread`."""

    def __init__(self, path: Path, *, timeout: float = TIMEOUT) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._env = clean_env(os.environ)
        self._identity: tuple[str, ...] | None = None

    # -- what is there ------------------------------------------------------------------
    def is_work_tree(self) -> bool:
        """True when `path` is inside a git work tree (not a bare repository, not in .git)."""
        proc = self._git("rev-parse", "--is-inside-work-tree", ok=None)
        return proc.returncode == 0 and proc.stdout.strip() == "true"

    def has_commits(self) -> bool:
        """True when `path` is inside a work tree whose HEAD names a commit (not a fresh `git init`)."""
        return self.is_work_tree() and self._git("rev-parse", "--verify", "--quiet", "HEAD^{commit}",
                                                 ok=None).returncode == 0

    def toplevel(self) -> Path:
        return Path(self._git("rev-parse", "--show-toplevel").stdout.rstrip("\n"))

    def head(self) -> str:
        """The commit HEAD points at (full hash)."""
        return self.rev_parse("HEAD")

    def current_branch(self) -> str | None:
        """The checked-out branch's short name, or None when HEAD is detached."""
        proc = self._git("symbolic-ref", "--quiet", "--short", "HEAD", ok=(0, 1))
        return proc.stdout.strip() or None if proc.returncode == 0 else None

    def rev_parse(self, rev: str) -> str:
        """The full hash of the commit `rev` names; GitError when it names none."""
        proc = self._git("rev-parse", "--verify", "--quiet", _arg(rev) + "^{commit}", ok=None)
        if proc.returncode != 0:
            raise GitError(_show(proc.args), f"failed in {self.path}: {rev!r} names no commit", argv=tuple(proc.args))
        return proc.stdout.strip()

    def git_dir(self) -> Path:
        """This worktree's own git directory (where its index and its lock files live)."""
        out = self._git("rev-parse", "--absolute-git-dir").stdout.strip()
        return Path(out)

    def common_dir(self) -> Path:
        """The repository's shared git directory (refs, objects), the same for every worktree."""
        out = self._git("rev-parse", "--path-format=absolute", "--git-common-dir").stdout.strip()
        return Path(out)

    def valid_branch_name(self, name: str) -> bool:
        """True when git accepts `name` as a branch name (`git check-ref-format --branch`)."""
        if not name or name.startswith("-"):
            return False
        return self._git("check-ref-format", "--branch", name, ok=None).returncode == 0

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """True when `ancestor` is reachable from `descendant` (a commit is its own ancestor)."""
        proc = self._git("merge-base", "--is-ancestor", _arg(ancestor), _arg(descendant), ok=(0, 1))
        return proc.returncode == 0

    # -- branches -----------------------------------------------------------------------
    def branch_commit(self, name: str) -> str | None:
        """The commit branch `name` points at, or None when there is no such branch."""
        proc = self._git("rev-parse", "--verify", "--quiet", f"refs/heads/{_arg(name)}^{{commit}}", ok=(0, 1))
        return proc.stdout.strip() or None if proc.returncode == 0 else None

    def branch_exists(self, name: str) -> bool:
        return self.branch_commit(name) is not None

    def branches(self, prefix: str) -> tuple[str, ...]:
        """Local branches whose names start with `prefix`."""
        out = self._git("for-each-ref", "--format=%(refname:short)", f"refs/heads/{_arg(prefix)}").stdout
        return tuple(line for line in out.splitlines() if line)

    def create_branch(self, name: str, at: str) -> None:
        """Create branch `name` at commit `at`; GitError when it exists already."""
        self._git("branch", "--no-track", _arg(name), _arg(at))

    def delete_branch(self, name: str, *, force: bool = False) -> None:
        """Delete branch `name`; without `force` git refuses when it is not merged into HEAD."""
        self._git("branch", "-D" if force else "-d", _arg(name))

    def move_branch(self, name: str, to: str, *, expected: str) -> bool:
        """Point branch `name` at `to` only if it still points at `expected` (atomic compare-and-swap).

        False when the branch has moved (nothing changed). Refuses a branch checked out in
        another worktree (the user's, say); when it is checked out here, this worktree's index
        and files follow it.
        """
        here = self.toplevel().resolve()
        for tree in self.worktrees():
            if tree.branch == name and tree.path.resolve() != here:
                raise GitError(f"git update-ref refs/heads/{name}", f"refused: the branch is checked out in {tree.path}")
        target = self.rev_parse(to)
        proc = self._git("update-ref", "-m", f"teambot: move {name} back", f"refs/heads/{_arg(name)}",
                         target, _arg(expected), ok=None)
        if proc.returncode != 0:
            if self.branch_commit(name) != self.rev_parse(expected):
                return False
            raise self._failed(proc.args, proc.returncode, proc.stderr)
        if self.current_branch() == name:
            self._git("reset", "--hard", "--quiet", "HEAD")
        return True

    # -- worktrees ----------------------------------------------------------------------
    def add_worktree(self, path: Path, branch: str, *, start: str | None = None) -> None:
        """Check out `branch` in a new worktree at `path`; with `start`, create the branch there first."""
        where = str(Path(path).absolute())
        if start is None:
            self._git("worktree", "add", "--quiet", where, _arg(branch))
        else:
            self._git("worktree", "add", "--quiet", "--no-track", "-b", _arg(branch), where, _arg(start))

    def remove_worktree(self, path: Path, *, force: bool = False) -> None:
        """Remove the worktree at `path`; without `force` git refuses when it holds changes."""
        self._git("worktree", "remove", *(["--force"] if force else []), str(Path(path).absolute()))

    def prune_worktrees(self) -> None:
        """Forget worktrees whose directories are gone."""
        self._git("worktree", "prune")

    def worktrees(self) -> tuple[Worktree, ...]:
        return parse_worktrees(self._git("worktree", "list", "--porcelain", "-z").stdout)

    # -- changes, commits, merges --------------------------------------------------------
    def status(self) -> Status:
        return parse_status(self._git("status", "--porcelain=v1", "-z", "--untracked-files=all").stdout)

    def has_changes(self) -> bool:
        """True when the work tree holds anything uncommitted (untracked files included)."""
        return self.status().dirty

    def commit_all(self, message: str, trailers: Mapping[str, str] | None = None) -> str | None:
        """Commit everything in the work tree (new, changed and deleted files) with `trailers`.

        Returns the new commit, or None when there was nothing to commit. Also concludes a
        merge whose conflicts were resolved, even when its result equals HEAD.
        """
        self._git("add", "--all")
        staged = self._git("diff", "--cached", "--quiet", ok=(0, 1)).returncode == 1
        if not staged and not self.merging():
            return None
        self._git(*self._identity_args(), "commit", "--quiet", "--no-verify", "--no-gpg-sign",
                  "--cleanup=whitespace", "--file=-", stdin=commit_message(message, trailers))
        return self.head()

    def merge(self, branch: str, message: str, trailers: Mapping[str, str] | None = None) -> MergeResult:
        """Merge `branch` into the checked-out branch with a merge commit (--no-ff).

        On conflicts the merge stays in progress (resolve and `commit_all`, or `abort_merge`)
        and the result names the conflicted files; any other failure raises GitError.
        """
        before = self.head()
        proc = self._git(*self._identity_args(), "merge", "--no-ff", "--no-edit", "--no-gpg-sign", "--quiet",
                         "--cleanup=whitespace", "-m", commit_message(message, trailers), _arg(branch), ok=None)
        if proc.returncode == 0:
            after = self.head()
            return MergeResult(after, up_to_date=after == before)
        conflicts = self.conflicted_files()
        if not conflicts:
            raise self._failed(proc.args, proc.returncode, proc.stderr)
        return MergeResult(None, conflicts)

    def reset_hard(self, to: str = "HEAD") -> None:
        """Make this worktree's index and files match `to` (teambot's own worktrees only)."""
        self._git("reset", "--hard", "--quiet", _arg(to))

    def subject(self, commit: str) -> str:
        """The first line of `commit`'s message."""
        return self._git("log", "-1", "--format=%s", _arg(commit)).stdout.strip()

    def find_merge(self, branch: str, commit: str, since: str | None) -> str | None:
        """The merge commit on `branch`'s first-parent line after `since` whose second parent is `commit`."""
        span = f"{_arg(since)}..{_arg(branch)}" if since else _arg(branch)
        out = self._git("rev-list", "--first-parent", "--parents", "--merges", span, ok=(0, 128)).stdout
        for line in out.splitlines():
            ids = line.split()
            if len(ids) >= 3 and commit in ids[2:]:
                return ids[0]
        return None

    def trailer_values(self, key: str, since: str, until: str, files: Iterable[str] = ()) -> tuple[str, ...]:
        """Values of trailer `key` in the commits since..until (touching `files`, when given)."""
        out = self._git("log", f"--format=%(trailers:key={key},valueonly,separator=%x00)", f"{_arg(since)}..{_arg(until)}",
                        "--", *files).stdout
        return tuple(dict.fromkeys(v.strip() for v in out.replace("\n", "\0").split("\0") if v.strip()))

    def merging(self) -> bool:
        """True while a merge is in progress here (MERGE_HEAD exists)."""
        return self._git("rev-parse", "--verify", "--quiet", "MERGE_HEAD", ok=(0, 1)).returncode == 0

    def abort_merge(self) -> None:
        self._git("merge", "--abort")

    def conflicted_files(self) -> tuple[str, ...]:
        """Files with unresolved conflicts in the index, relative to the top of the work tree."""
        out = self._git("diff", "--name-only", "-z", "--diff-filter=U").stdout
        return tuple(dict.fromkeys(p for p in out.split("\0") if p))

    def conflict_markers(self, files: Iterable[str]) -> tuple[Marker, ...]:
        """Conflict marker lines left in `files` (relative to `path`); missing and binary files are skipped."""
        return find_markers(self.path, files)

    # -- text for people ----------------------------------------------------------------
    def diff_stat(self, since: str | None = None) -> str:
        """`git diff --stat`: uncommitted changes, or with `since` everything changed since that commit."""
        return self._git("diff", "--stat", *([_arg(since)] if since else [])).stdout

    def short_status(self) -> str:
        return self._git("status", "--short").stdout

    # -- running git --------------------------------------------------------------------
    def _identity_args(self) -> tuple[str, ...]:
        """`-c user.name=... -c user.email=...` with teambot's identity for what the user has not set."""
        if self._identity is None:
            args: list[str] = []
            for key, role, default in (("user.name", "NAME", IDENTITY[0]), ("user.email", "EMAIL", IDENTITY[1])):
                if all(self._env.get(f"GIT_{who}_{role}") for who in ("AUTHOR", "COMMITTER")):
                    continue
                if not self._git("config", "--get", key, ok=(0, 1)).stdout.strip():
                    args += ["-c", f"{key}={default}"]
            self._identity = tuple(args)
        return self._identity

    def _git(self, *args: str, ok: tuple[int, ...] | None = (0,), stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run `git args` here. `ok`: exit codes that are results, not failures (None: any)."""
        git = shutil.which("git", path=self._env.get("PATH"))
        if git is None:
            raise GitError(_show(args), "could not run: git is not installed (not on PATH)",
                           argv=args, hint="install git, then run the command again")
        try:
            done = subprocess.run([git, "--no-pager", *_CONFIG, *args], cwd=self.path, env=self._env,
                                  input=(stdin or "").encode(), capture_output=True, timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired:
            raise GitError(_show(args), f"timed out after {self.timeout:g}s in {self.path} and was stopped",
                           argv=args) from None
        except OSError as exc:
            raise GitError(_show(args), f"could not run in {self.path}: {exc.strerror or exc}", argv=args) from None
        proc = subprocess.CompletedProcess(args, done.returncode, done.stdout.decode("utf-8", "surrogateescape"),
                                           done.stderr.decode("utf-8", "replace"))
        if ok is not None and proc.returncode not in ok:
            raise self._failed(args, proc.returncode, proc.stderr)
        return proc

    def _failed(self, args: tuple[str, ...], code: int, stderr: str) -> GitError:
        lines = [ln.strip() for ln in stderr.splitlines() if ln.strip() and not ln.startswith("hint:")]
        # git's own reason is its last `error:`/`fatal:` line and the details under it; the
        # lines after those are often only "Aborting".
        start = max((i for i, ln in enumerate(lines) if ln.startswith(("error:", "fatal:"))), default=len(lines) - 2)
        tail = "".join(c if c.isprintable() else " " for c in " / ".join(lines[max(start, 0):][:3]))
        tail = tail if len(tail) <= 300 else "..." + tail[-297:]
        return GitError(_show(args), f"failed (exit {code}) in {self.path}" + (f": {tail}" if tail else ""),
                        argv=tuple(args), returncode=code, stderr=stderr)


def _arg(value: str) -> str:
    """A revision or branch name; refuses one git would read as an option."""
    if not value or value.startswith("-"):
        raise ValueError(f"not a git revision or branch name: {value!r}")
    return value


def _show(args: Iterable[str]) -> str:
    """`git <args>` for a one-line message: -c settings left out, long arguments cut, one line."""
    args = list(args)
    while args[:1] == ["-c"]:  # teambot's identity settings are noise in a message
        args = args[2:]
    parts = [a if len(a) <= 60 else a[:57] + "..." for a in args]
    return " ".join(["git", *(shlex.quote("".join(c if c.isprintable() else " " for c in p)) for p in parts)])


__all__ = ["IDENTITY", "TIMEOUT", "Repo", "clean_env", "without_git_redirects"]
