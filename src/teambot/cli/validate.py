"""`teambot validate [PATH]`: check a stages file and report every problem at once."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("validate")
@click.argument("path", required=False, type=click.Path(path_type=Path))
def command(path: Path | None) -> int:
    """Check PATH (default: ./stages.yaml, else the built-in workflow); exit 2 on problems.

    Prompt templates are looked up relative to the current directory.
    """
    from teambot.config.loader import load_workflow, resolve_stages_path

    project_dir = Path.cwd()
    target = resolve_stages_path(path, project_dir)
    workflow = load_workflow(target, project_dir=project_dir)
    for warning in workflow.warnings:
        click.echo(f"warning: {warning}", err=True)
    stages = len(workflow.config.stages)
    groups = len(workflow.config.parallel_groups)
    click.echo(f"{target}: OK — {stages} stage{'s' if stages != 1 else ''}, "
               f"{groups} parallel group{'s' if groups != 1 else ''}")
    return 0
