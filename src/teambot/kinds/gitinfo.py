"""What changed in the project, for a reviewer: `git diff --stat` and `git status --short`."""

from __future__ import annotations

import asyncio
from pathlib import Path

from teambot.errors import GitError
from teambot.git import Repo

CAP = 8 * 1024  # characters of each command's output shown to the reviewer
TIMEOUT = 10.0


async def git_summary(project_dir: Path, since: str | None = None) -> str | None:
    """Both commands' output as markdown, or None when git is missing or this is no repository."""
    return await asyncio.to_thread(_summary, Repo(project_dir, timeout=TIMEOUT), since)


def _summary(repo: Repo, since: str | None = None) -> str | None:
    try:
        if not repo.is_work_tree():
            return None
        # in the run's integration worktree each stage's work is committed: show all since the run began
        stat, status = repo.diff_stat(since), repo.short_status()
    except GitError:  # git missing, slow or failing: the review goes on without this section
        return None
    parts = []
    diff = f"git diff --stat {since[:12]}" if since else "git diff --stat"
    for title, text in ((diff, stat), ("git status --short", status)):
        body = text.strip() or "(nothing)"
        if len(body) > CAP:
            body = body[:CAP] + f"\n[... cut: {len(body) - CAP} more characters]"
        parts.append(f"`{title}`:\n\n```\n{body}\n```")
    return "\n\n".join(parts)
