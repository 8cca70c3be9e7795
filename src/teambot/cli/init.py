"""`teambot init`: write stages.yaml, teambot.yaml, an example objective, the personas and the prompt templates."""

from __future__ import annotations

import json
from pathlib import Path

import click

FILES = ("stages.yaml", "teambot.yaml", "objective.md")
TEMPLATES_DIR = Path(".teambot") / "prompts"  # where stages.yaml's prompt_template paths point


@click.command("init")
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@click.option("--personas-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write the persona files (default: .github/agents, Copilot's custom-agent location).")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
def command(force: bool, personas_dir: Path | None, directory: Path | None) -> int:
    """Set up a project: stages.yaml, teambot.yaml, objective.md, six agent personas and the prompt templates."""
    from teambot.errors import UsageError
    from teambot.fsutil import atomic_write
    from teambot.prompts.personas import DEFAULT_PERSONAS_DIR, packaged_personas, persona_path

    target = directory or Path.cwd()
    data = Path(__file__).resolve().parent.parent / "data"
    personas = personas_dir if personas_dir is not None else DEFAULT_PERSONAS_DIR
    personas = personas if personas.is_absolute() else target / personas
    plan = {target / name: data / name for name in FILES}
    plan |= {persona_path(personas, agent): source for agent, source in packaged_personas().items()}
    plan |= {target / TEMPLATES_DIR / source.name: source for source in sorted((data / "prompts").glob("*.md"))}
    existing = [str(path.relative_to(target)) if path.is_relative_to(target) else str(path) for path in plan if path.exists()]
    if existing and not force:
        raise UsageError(f"{', '.join(existing)} already exist in {target}", hint="nothing was written; use --force to overwrite")
    blocked = sorted({str(p) for path in plan for p in (path, *path.parents) if p.exists() and not p.is_dir() and p != path}
                     | {str(path) for path in plan if path.is_dir()})
    if blocked:  # check everything before writing anything: init never stops half-way
        raise UsageError(f"cannot write there: {', '.join(blocked)} is in the way", hint="nothing was written; move it or choose --personas-dir")
    texts = {path: source.read_text(encoding="utf-8") for path, source in plan.items()}
    if personas_dir is not None:  # a JSON string is a valid YAML scalar, whatever the path holds
        settings = target / "teambot.yaml"
        texts[settings] = texts[settings].replace("personas_dir: .github/agents", f"personas_dir: {json.dumps(str(personas_dir))}")
    for path, text in texts.items():
        try:
            atomic_write(path, text)
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
        click.echo(f"wrote {path}")
    from teambot.tasks.worktrees import git_project

    if git_project(target) is None:  # the workflow's Implementation stage runs its tasks in git worktrees
        click.echo("next: make it a git repository with a commit (git init && git add -A && git commit -m start),")
        click.echo("      then: teambot run objective.md --runtime demo")
    else:
        click.echo("next: teambot run objective.md --runtime demo (it works on its own branch; your checkout is left alone)")
    return 0
