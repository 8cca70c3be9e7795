"""What changed in the project, for a reviewer: `git diff --stat` and `git status --short`."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from pathlib import Path

CAP = 8 * 1024  # characters of each command's output shown to the reviewer
TIMEOUT = 10.0


async def git_summary(project_dir: Path) -> str | None:
    """Both commands' output as markdown, or None when git is missing or this is no repository."""
    git = shutil.which("git")
    if git is None:
        return None
    inside = await _git(git, project_dir, "rev-parse", "--is-inside-work-tree")
    if inside is None or inside.strip() != "true":
        return None
    stat = await _git(git, project_dir, "diff", "--stat")
    status = await _git(git, project_dir, "status", "--short")
    parts = []
    for title, text in (("git diff --stat", stat), ("git status --short", status)):
        body = (text or "").strip() or "(nothing)"
        if len(body) > CAP:
            body = body[:CAP] + f"\n[... cut: {len(body) - CAP} more characters]"
        parts.append(f"`{title}`:\n\n```\n{body}\n```")
    return "\n\n".join(parts)


async def _git(git: str, cwd: Path, *args: str) -> str | None:
    try:
        proc = await asyncio.create_subprocess_exec(
            git, *args, cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError:
        return None
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return None
    return out.decode("utf-8", errors="replace") if proc.returncode == 0 else None
