"""`teambot init`: write stages.yaml, teambot.yaml and an example objective."""

from __future__ import annotations

from pathlib import Path

import click

FILES = {"stages.yaml": "stages.yaml", "teambot.yaml": "teambot.yaml", "objective.md": "objective.md"}


@click.command("init")
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
def command(force: bool, directory: Path | None) -> int:
    """Set up a project: stages.yaml, teambot.yaml and an example objective.md."""
    from teambot.errors import UsageError
    from teambot.fsutil import atomic_write

    target = directory or Path.cwd()
    data = Path(__file__).resolve().parent.parent / "data"
    existing = [name for name in FILES if (target / name).exists()]
    if existing and not force:
        raise UsageError(f"{', '.join(existing)} already exist in {target}", hint="nothing was written; use --force to overwrite")
    target.mkdir(parents=True, exist_ok=True)
    for name, source in FILES.items():
        atomic_write(target / name, (data / source).read_bytes())
        click.echo(f"wrote {target / name}")
    click.echo("next: teambot run objective.md --runtime demo")
    return 0
