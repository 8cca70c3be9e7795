"""Git through the git CLI. teambot.git.repo is the one module that runs git."""

from __future__ import annotations

from teambot.errors import GitError
from teambot.git.repo import IDENTITY, TIMEOUT, Repo, clean_env
from teambot.git.results import Marker, MergeResult, Status, Worktree

__all__ = ["IDENTITY", "TIMEOUT", "GitError", "Marker", "MergeResult", "Repo", "Status", "Worktree", "clean_env"]
