"""Build a stage's prompt: stage, objective, template, upstream artifacts, what to produce."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from teambot.config.models import StageConfig
from teambot.objective import Objective

UPSTREAM_CAP = 64 * 1024  # bytes of each upstream artifact included in a prompt


def render_prompt(
    stage_name: str,
    stage: StageConfig,
    objective: Objective,
    upstream: Sequence[Path],
    project_dir: Path,
    persona: str | None = None,
) -> str:
    parts: list[str] = []
    if persona:
        parts += [persona.strip(), ""]
    parts += [f"# Stage: {stage.name or stage_name} ({stage_name})", ""]
    if stage.description:
        parts += [stage.description.strip(), ""]
    if stage.include_objective:
        parts += ["## Objective", "", objective.text.strip(), ""]
    if stage.prompt_template:
        template = project_dir / stage.prompt_template
        parts += ["## Instructions", "", template.read_text(encoding="utf-8", errors="replace").strip(), ""]
    if upstream:
        parts += ["## Upstream artifacts", ""]
        for path in upstream:
            data = path.read_bytes()
            text = data[:UPSTREAM_CAP].decode("utf-8", errors="replace")
            note = f"\n\n[... cut: {len(data) - UPSTREAM_CAP} more bytes in {path}]" if len(data) > UPSTREAM_CAP else ""
            parts += [f"### {path.name} ({path})", "", text.strip() + note, ""]
    if stage.artifacts:
        parts += ["## Produce", ""] + [f"- {name}" for name in stage.artifacts] + [""]
    if stage.exit_criteria:
        parts += ["## Exit criteria", ""] + [f"- {c}" for c in stage.exit_criteria] + [""]
    return "\n".join(parts)
