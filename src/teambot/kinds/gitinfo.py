"""What changed in the project, for a reviewer: `git diff --stat` and `git status --short`."""

from __future__ import annotations

import asyncio
from pathlib import Path

from teambot.errors import GitError
from teambot.git import Repo

CAP = 8 * 1024  # characters of each command's output shown to the reviewer
TIMEOUT = 10.0


async def git_summary(project_dir: Path) -> str | None:
    """Both commands' output as markdown, or None when git is missing or this is no repository."""
    return await asyncio.to_thread(_summary, Repo(project_dir, timeout=TIMEOUT))


def _summary(repo: Repo) -> str | None:
    try:
        if not repo.is_work_tree():
            return None
        stat, status = repo.diff_stat(), repo.short_status()
    except GitError:  # git missing, slow or failing: the review goes on without this section
        return None
    parts = []
    for title, text in (("git diff --stat", stat), ("git status --short", status)):
        body = text.strip() or "(nothing)"
        if len(body) > CAP:
            body = body[:CAP] + f"\n[... cut: {len(body) - CAP} more characters]"
        parts.append(f"`{title}`:\n\n```\n{body}\n```")
    return "\n\n".join(parts)
