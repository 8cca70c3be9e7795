"""Build a stage's prompt — the one place prompt text is assembled.

Order: persona, stage name, where things are (the absolute project, run and artifacts
directories), description, objective (when include_objective), the prompt_template's
content, upstream artifacts (paths and contents, size-capped with a note when cut), then the
artifacts to produce (absolute paths) and the exit criteria.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from teambot.config.models import StageConfig
from teambot.config.templates import resolve_template
from teambot.inputs import DEFAULT_LIMIT, read_input
from teambot.objective import Objective
from teambot.paths import RunPaths

UPSTREAM_CAP = 64 * 1024  # bytes of each upstream artifact included in a prompt
MAX_TEMPLATE_BYTES = DEFAULT_LIMIT


@dataclass(frozen=True)
class RenderedPrompt:
    """`system` is the persona (an HTTP runtime sends it as the system message); `user` the rest."""

    system: str | None
    user: str

    @property
    def text(self) -> str:
        """The whole prompt as one text (what a command runtime receives and what is saved)."""
        return f"{self.system.strip()}\n\n---\n\n{self.user}" if self.system else self.user


def render_prompt(
    stage_name: str,
    stage: StageConfig,
    objective: Objective,
    upstream: Sequence[Path],
    project_dir: Path,
    persona: str | None = None,
    *,
    paths: RunPaths,
    workdir: Path | None = None,
) -> RenderedPrompt:
    """The prompt of one stage. Upstream artifacts that do not exist yet are listed as planned."""
    parts: list[str] = [f"# Stage: {stage_title(stage_name, stage)}", ""]
    if stage.work_agent:
        parts += [f"You are working as **{stage.work_agent}**.", ""]
    parts += locations_section(project_dir, paths, workdir)
    parts += stage_context(stage, objective, project_dir, "Instructions")
    parts += files_section("Upstream artifacts", upstream)
    if stage.artifacts:
        # absolute paths: an agent runs in the project directory and cannot guess where the run keeps its files
        parts += ["## Produce", "", f"Write each of these files, in the artifacts directory ({absolute(paths.artifacts)}):", ""]
        parts += [f"- {paths.artifact(name)}" for name in stage.artifacts] + [""]
        if len(stage.artifacts) == 1:
            parts += ["If you cannot write files, reply with the file's complete content instead: teambot saves "
                      f"your reply as {stage.artifacts[0]} when you did not write it.", ""]
    parts += criteria_section(stage)
    return RenderedPrompt(system=persona, user="\n".join(parts))


def locations_section(project_dir: Path, paths: RunPaths, workdir: Path | None = None) -> list[str]:
    """The absolute directories the prompt's file names refer to.

    With `workdir` (a git project: the run's integration worktree), that is where the agent
    works; the user's own checkout is named only so the agent leaves it alone.
    """
    if workdir is not None and absolute(workdir) != absolute(project_dir):
        where = [f"- Your working directory: {absolute(workdir)} (the project on this run's own git branch; work "
                 "here, not in the project's checkout at " f"{absolute(project_dir)})"]
    else:
        where = [f"- Project directory (your working directory): {absolute(project_dir)}"]
    return ["## Where things are", "", *where,
            f"- Run directory (teambot's records of this run): {absolute(paths.root)}",
            f"- Artifacts directory: {absolute(paths.artifacts)}",
            "",
            "Every artifact this prompt names (the upstream ones to read and the ones to write) is a file in the "
            "artifacts directory; use the absolute paths given here.", ""]


@lru_cache(maxsize=64)
def absolute(directory: Path) -> Path:
    """`directory` resolved, once per process: every prompt names the same few directories, and each
    resolve costs a stat per path component (about thirty syscalls per stage)."""
    return directory.resolve()


def stage_title(stage_name: str, stage: StageConfig) -> str:
    return f"{stage.name} ({stage_name})" if stage.name and stage.name != stage_name else stage_name


def stage_context(stage: StageConfig, objective: Objective, project_dir: Path, instructions: str) -> list[str]:
    """Description, objective (when include_objective) and the prompt template's text."""
    parts: list[str] = []
    if stage.description:
        parts += [stage.description.strip(), ""]
    if stage.include_objective:
        parts += ["## Objective", "", objective.body, ""]
    if stage.prompt_template:
        parts += [f"## {instructions}", "", template_text(stage.prompt_template, project_dir), ""]
    return parts


def files_section(heading: str, paths: Sequence[Path]) -> list[str]:
    """Each file's name, path and (size-capped) content under `heading`; nothing when there are none."""
    if not paths:
        return []
    parts = [f"## {heading}", ""]
    for path in paths:
        parts += [f"### {path.name} ({path})", "", artifact_text(path), ""]
    return parts


def criteria_section(stage: StageConfig) -> list[str]:
    return ["## Exit criteria", ""] + [f"- {c}" for c in stage.exit_criteria] + [""] if stage.exit_criteria else []


def template_text(name: str, project_dir: Path) -> str:
    """The template's text; a template that is not a regular file or is too big is an InputError."""
    path = resolve_template(name, project_dir)
    try:
        if path is not None:
            return read_input(path, MAX_TEMPLATE_BYTES, "prompt template").decode("utf-8", errors="replace").strip()
    except FileNotFoundError:
        pass
    return f"(prompt template {name} not found)"  # validated before the run; removed since


def artifact_text(path: Path) -> str:
    try:
        with path.open("rb") as fh:
            data = fh.read(UPSTREAM_CAP + 1)
            size = path.stat().st_size
    except FileNotFoundError:
        return "(not produced yet)"
    text = data[:UPSTREAM_CAP].decode("utf-8", errors="replace").strip()
    if size > UPSTREAM_CAP:
        text += f"\n\n[... cut: {size - UPSTREAM_CAP} more bytes; read the whole file at {path}]"
    return text
