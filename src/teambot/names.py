"""Checks shared by every name teambot takes from a user: features, stages, agents, artifacts.

Names become directory and file names, argv elements and one-line messages, so a name
holding a newline or another invisible character is refused, whatever pattern it matches.
Patterns are applied with re.fullmatch: `$` also matches before a final newline.
"""

from __future__ import annotations

import re
import unicodedata

STAGE_NAME_RE = re.compile(r"\A[A-Za-z_][A-Za-z0-9_-]{0,63}\Z")  # \Z, not $: $ also matches before a final newline
# A child of a stage (a task id): it becomes a file name (children/<STAGE>/<child>.json,
# outputs/<STAGE>/<child>.md) and part of a git branch name, so no separator, no leading dot
# or dash, and none of git's ref-name traps ("..", a trailing "." or ".lock").
CHILD_NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")

# Cc: C0/C1 controls and DEL; Cf: format characters (bidi overrides, zero-width);
# Zl/Zp: line and paragraph separators, which str.splitlines() treats as line ends.
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def control_character(text: str) -> str | None:
    """The first control or invisible character in `text`, escaped for a message (`\\n`), or None."""
    for char in text:
        if unicodedata.category(char) in _INVISIBLE:
            return repr(char)[1:-1]
    return None


def child_name_problem(child: str) -> str | None:
    """Why `child` cannot name a child of a stage (one phrase), or None if it can."""
    if not child:
        return "is empty"
    bad = control_character(child)
    if bad is not None:
        return f"holds the control character {bad}"
    if len(child) > 64:
        return f"is {len(child)} characters long (at most 64)"
    if not CHILD_NAME_RE.fullmatch(child):
        return "must start with a letter or digit and hold only letters, digits, '.', '_' and '-'"
    if ".." in child or child.endswith((".", ".lock")):
        return "must not contain '..' or end with '.' or '.lock' (it becomes part of a git branch name)"
    return None


def split_child_id(child_id: str) -> tuple[str, str]:
    """`IMPLEMENTATION/T1` -> ("IMPLEMENTATION", "T1"); ValueError saying what is wrong with it."""
    stage, sep, child = child_id.partition("/")
    shown = repr(child_id if len(child_id) <= 80 else child_id[:77] + "...")  # repr: a newline stays one line
    if not sep:
        raise ValueError(f"child id {shown} is not STAGE/CHILD")
    if not STAGE_NAME_RE.fullmatch(stage):
        raise ValueError(f"child id {shown}: {stage[:80]!r} is not a stage name")
    problem = child_name_problem(child)
    if problem is not None:
        raise ValueError(f"child id {shown}: the child name {problem}")
    return stage, child


def child_id(stage: str, child: str) -> str:
    """The stable id of `child` of `stage` (`IMPLEMENTATION/T1`); ValueError if either is unusable."""
    full = f"{stage}/{child}"
    split_child_id(full)
    return full
