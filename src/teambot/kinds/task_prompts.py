"""The prompts of a task's agent: its work, and resolving a merge conflict."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from teambot.kinds.context import StageWork
from teambot.prompts.assemble import RenderedPrompt, files_section, stage_context
from teambot.tasks.model import Task


def work_prompt(work: StageWork, task: Task, agent: str, tree: Path, merged: Sequence[str],
                feedback: str | None) -> RenderedPrompt:
    """Objective, plan (the stage's upstream artifacts), the task, and what is merged already."""
    parts = [f"# Task {task.id}: {task.title}", "", f"You are working as **{agent}** on one task of stage {work.name}.", ""]
    parts += _where(work, tree)
    parts += stage_context(work.stage, work.objective, work.project_dir, "Instructions for every task of this stage")
    parts += files_section("Plan and other upstream artifacts", work.upstream)
    parts += ["## Your task", "", f"**{task.id}: {task.title}**", ""]
    if task.description.strip():
        parts += [task.description.strip(), ""]
    if task.files:
        parts += ["Files it is expected to touch:", ""] + [f"- {f}" for f in task.files] + [""]
    if merged:
        parts += ["## Already merged (their work is in your working directory)", ""] + [f"- {m}" for m in merged] + [""]
    if feedback and feedback != "interrupted":
        parts += ["## What went wrong last time", "", feedback.strip(), ""]
    parts += ["## How to finish", "",
              "Change the files in your working directory. Do not switch branches or rewrite history; teambot "
              "commits what you leave and merges it for you. Other tasks run at the same time in other worktrees.", ""]
    return RenderedPrompt(system=work.persona(agent), user="\n".join(parts))


def resolve_prompt(work: StageWork, task: Task, agent: str, tree: Path, files: Sequence[str],
                   others: Mapping[str, str], round: int) -> RenderedPrompt:
    """Name the conflicted files and the tasks that touched them; the agent removes every marker."""
    parts = [f"# Task {task.id}: resolve merge conflicts (round {round})", "",
             f"You are working as **{agent}**. Your task **{task.id}: {task.title}** conflicts with work merged "
             "since it started. teambot has merged the integration branch into your task's branch; the merge "
             "stopped at conflicts.", ""]
    parts += _where(work, tree)
    parts += ["## Conflicted files", ""] + [f"- {f}" for f in files] + [""]
    if others:
        parts += ["## Tasks merged since yours started that touched them", ""]
        parts += [f"- {tid}: {title}" for tid, title in others.items()] + [""]
    parts += ["## What to do", "",
              "Edit each conflicted file so it keeps the intent of both sides, and remove every conflict marker "
              "(<<<<<<<, =======, >>>>>>>). Do not commit and do not abort the merge: teambot checks that no marker "
              "is left, commits the merge and queues your task again.", ""]
    return RenderedPrompt(system=work.persona(agent), user="\n".join(parts))


def _where(work: StageWork, tree: Path) -> list[str]:
    return ["## Where things are", "",
            f"- Your working directory (this task's own git worktree): {tree.resolve()}",
            f"- Run directory (teambot's records of this run): {work.paths.root.resolve()}",
            f"- Artifacts directory: {work.paths.artifacts.resolve()}", ""]
