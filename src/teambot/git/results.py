"""What git commands give back, as frozen dataclasses, and the parsing of their output.

Pure: nothing here runs git (that is teambot.git.repo's job alone).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

_TRAILER_KEY = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9-]*\Z")
_UNMERGED = frozenset({"DD", "AU", "UD", "UA", "DU", "AA", "UU"})
# Conflict markers as git writes them: seven characters at the start of a line, then a space
# or the end of the line. `=======` alone is also a setext heading underline, so it counts
# only after another marker in the same file.
_MARKER = re.compile(rb"^(<{7}|\|{7}|>{7})(?: [^\n]*)?$|^={7}\r?$", re.MULTILINE)


@dataclass(frozen=True)
class Worktree:
    """One entry of `git worktree list`: its path, commit and branch (None when detached)."""

    path: Path
    head: str | None
    branch: str | None
    bare: bool = False
    locked: bool = False
    prunable: bool = False


@dataclass(frozen=True)
class Status:
    """`git status --porcelain` as (XY code, path) pairs; untracked files count as changes."""

    entries: tuple[tuple[str, str], ...]

    @property
    def dirty(self) -> bool:
        return bool(self.entries)

    @property
    def conflicted(self) -> tuple[str, ...]:
        return tuple(path for code, path in self.entries if code in _UNMERGED)


@dataclass(frozen=True)
class MergeResult:
    """A merge's outcome: the merge commit, or the conflicted files (merge left in progress).

    `up_to_date` means there was nothing to merge (the branch is already in HEAD); `commit`
    is then HEAD unchanged.
    """

    commit: str | None
    conflicts: tuple[str, ...] = ()
    up_to_date: bool = False


@dataclass(frozen=True)
class Marker:
    """A conflict marker left in a file: its path (as given), 1-based line and the line's text."""

    path: str
    line: int
    text: str


def parse_worktrees(out: str) -> tuple[Worktree, ...]:
    """`git worktree list --porcelain -z`: NUL-ended `key value` fields, an empty one ends a record."""
    found: list[Worktree] = []
    fields: dict[str, str] = {}
    for item in out.split("\0"):
        if item:
            key, _, value = item.partition(" ")
            fields[key] = value
            continue
        if "worktree" in fields:
            branch = fields.get("branch")
            found.append(Worktree(Path(fields["worktree"]), fields.get("HEAD"),
                                  branch.removeprefix("refs/heads/") if branch else None,
                                  "bare" in fields, "locked" in fields, "prunable" in fields))
        fields = {}
    return tuple(found)


def parse_status(out: str) -> Status:
    """`git status --porcelain=v1 -z`: `XY path` entries; a rename or copy is followed by its source."""
    items, entries = iter(out.split("\0")), []
    for item in items:
        if not item:
            continue
        code, path = item[:2], item[3:]
        if "R" in code or "C" in code:
            next(items, None)  # the path it was renamed or copied from
        entries.append((code, path))
    return Status(tuple(entries))


def commit_message(message: str, trailers: Mapping[str, str] | None) -> str:
    """`message` with `Key: value` trailer lines in their own final paragraph."""
    lines = []
    for key, value in (trailers or {}).items():
        if not _TRAILER_KEY.fullmatch(key) or "\n" in value or "\r" in value:
            raise ValueError(f"bad commit trailer {key!r}: {value!r}")
        lines.append(f"{key}: {value}")
    body = message.strip()
    return body + ("\n\n" + "\n".join(lines) if lines else "") + "\n"


def find_markers(root: Path, files: Iterable[str]) -> tuple[Marker, ...]:
    """Conflict marker lines left in `files` (relative to `root`); missing and binary files are skipped."""
    found: list[Marker] = []
    for name in files:
        try:
            data = (root / name).read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            continue  # deleting a file is one way to resolve its conflict
        if b"\0" in data[:8000]:  # binary, as git decides it
            continue
        opened = False
        for match in _MARKER.finditer(data):
            if match.group(1) is None and not opened:
                continue  # a lone `=======` is a heading underline
            opened = True
            line = data.count(b"\n", 0, match.start()) + 1
            found.append(Marker(name, line, match.group(0).decode("utf-8", "replace").rstrip()))
    return tuple(found)
