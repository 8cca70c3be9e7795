"""Personas: markdown files `<personas_dir>/<agent>.agent.md` (Copilot's custom-agent layout)."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from teambot.inputs import DEFAULT_LIMIT, read_input

DEFAULT_PERSONAS_DIR = Path(".github") / "agents"
PACKAGED = Path(__file__).resolve().parent.parent / "data" / "personas"
MAX_PERSONA_BYTES = DEFAULT_LIMIT
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n.*?\n---[ \t]*\n", re.S)


def persona_file(agent: str) -> str:
    return f"{agent}.agent.md"


def persona_path(personas_dir: Path, agent: str) -> Path:
    return personas_dir / persona_file(agent)


def load_persona(personas_dir: Path, agent: str | None) -> str | None:
    """The persona of `agent`: the project's file, else teambot's default for that id, else None.

    A persona file that is not a regular file or is over MAX_PERSONA_BYTES is an InputError.
    """
    if not agent or "/" in agent or agent.startswith("."):
        return None
    for folder in (personas_dir, PACKAGED):
        try:
            return _persona(os.path.join(folder, persona_file(agent)))
        except FileNotFoundError:
            continue
    return None


# path -> (stat stamp, persona) of files read; a stamp younger than RACY_NS is never kept, as an
# edit in the same clock tick could leave size and times unchanged (every stage reads its persona)
_READ: dict[str, tuple[tuple[int, ...], str | None]] = {}
RACY_NS = 2_000_000_000


def _persona(path: str) -> str | None:
    try:
        info = os.stat(path)
    except NotADirectoryError:
        raise FileNotFoundError(path) from None
    stamp = (info.st_dev, info.st_ino, info.st_mode, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    known = _READ.get(path)
    if known is not None and known[0] == stamp:
        return known[1]
    text = read_input(Path(path), MAX_PERSONA_BYTES, "persona").decode("utf-8", errors="replace")
    persona = _FRONT_MATTER.sub("", text, count=1).strip() or None
    if time.time_ns() - max(info.st_mtime_ns, info.st_ctime_ns) > RACY_NS:
        _READ[path] = (stamp, persona)
    return persona


def packaged_personas() -> dict[str, Path]:
    """The six default personas shipped with teambot, by agent id."""
    return {p.name.removesuffix(".agent.md"): p for p in sorted(PACKAGED.glob("*.agent.md"))}
