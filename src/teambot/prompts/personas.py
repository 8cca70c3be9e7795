"""Personas: markdown files `<personas_dir>/<agent>.agent.md` (Copilot's custom-agent layout)."""

from __future__ import annotations

import re
from pathlib import Path

from teambot.inputs import DEFAULT_LIMIT, read_input

DEFAULT_PERSONAS_DIR = Path(".github") / "agents"
PACKAGED = Path(__file__).resolve().parent.parent / "data" / "personas"
MAX_PERSONA_BYTES = DEFAULT_LIMIT
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n.*?\n---[ \t]*\n", re.S)


def persona_path(personas_dir: Path, agent: str) -> Path:
    return personas_dir / f"{agent}.agent.md"


def load_persona(personas_dir: Path, agent: str | None) -> str | None:
    """The persona of `agent`: the project's file, else teambot's default for that id, else None.

    A persona file that is not a regular file or is over MAX_PERSONA_BYTES is an InputError.
    """
    if not agent or "/" in agent or agent.startswith("."):
        return None
    for path in (persona_path(personas_dir, agent), persona_path(PACKAGED, agent)):
        try:
            text = read_input(path, MAX_PERSONA_BYTES, "persona").decode("utf-8", errors="replace")
        except FileNotFoundError:
            continue
        return _FRONT_MATTER.sub("", text, count=1).strip() or None
    return None


def packaged_personas() -> dict[str, Path]:
    """The six default personas shipped with teambot, by agent id."""
    return {p.name.removesuffix(".agent.md"): p for p in sorted(PACKAGED.glob("*.agent.md"))}
