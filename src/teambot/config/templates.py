"""Where a stage's prompt_template is found: the project's file, else teambot's packaged one."""

from __future__ import annotations

from pathlib import Path

PACKAGED_TEMPLATES = Path(__file__).resolve().parent.parent / "data" / "prompts"


def resolve_template(name: str, project_dir: Path) -> Path | None:
    """The template file `name` names: relative to the project directory if it exists there,
    else the packaged template with the same file name (so the default workflow needs no
    copies in the project, and a project overrides one by writing its own file).

    Whatever exists at the project's path, other than a directory, is returned, even a FIFO: it is
    then refused when read (inputs.read_input), never silently replaced by the packaged one.
    """
    path = Path(name)
    local = path if path.is_absolute() else project_dir / path
    if local.exists() and not local.is_dir():
        return local
    packaged = PACKAGED_TEMPLATES / path.name
    return packaged if not path.is_absolute() and packaged.is_file() else None
