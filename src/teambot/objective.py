"""Objective markdown → Objective: title, sections, success criteria, feature name."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from teambot.errors import ObjectiveError
from teambot.inputs import read_input
from teambot.names import control_character
from teambot.paths import FEATURE_RE, slugify

MAX_OBJECTIVE_BYTES = 1 << 20
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.S)
_CHECKBOX = re.compile(r"^\s*[-*]\s+\[[ xX]\]\s+(.*\S)\s*$")


@dataclass(frozen=True)
class Objective:
    path: Path
    text: str
    sha256: str
    body: str  # the text without its front matter (what prompts include)
    title: str
    sections: dict[str, str]  # "Goals", "Success Criteria", "Constraints", "Context", ...
    success_criteria: tuple[str, ...]
    front_feature: str | None

    def feature_name(self, override: str | None = None) -> str:
        """--feature, else front matter `feature:`, else a slug of the file name."""
        name = override or self.front_feature or slugify(self.path.stem)
        if not FEATURE_RE.fullmatch(name):
            field = "--feature" if override else f"objective {self.path}: front matter `feature`"
            bad = control_character(name)
            why = f"contains a control character ({bad})" if bad else "is not a valid feature name"
            raise ObjectiveError(
                f"{field} {name!r} {why}",
                hint="use lower-case letters, digits, '.', '_' and '-' (at most 80 characters), e.g. --feature add-login",
            )
        return name


def load_objective(path: Path) -> Objective:
    """Read and parse an objective file; a missing, empty or non-UTF-8 file is an ObjectiveError.

    Only a regular file of at most MAX_OBJECTIVE_BYTES is read (a FIFO or /dev/zero is
    refused at once: InputError, exit 2).
    """
    try:
        raw = read_input(path, MAX_OBJECTIVE_BYTES, "objective")
    except FileNotFoundError:
        raise ObjectiveError(f"objective file {path} does not exist", hint="pass the path of a markdown objective, e.g. `teambot init` writes objective.md") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ObjectiveError(f"objective {path} is not UTF-8 text (bad byte at offset {exc.start})", hint="save the file as UTF-8") from None
    if not text.strip():
        raise ObjectiveError(f"objective {path} is empty", hint="write at least a `# Title` and a `## Goals` section")
    front_feature, body = _front_matter(path, text)
    if not body.strip():
        raise ObjectiveError(f"objective {path} has front matter but no content", hint="write at least a `# Title` and a `## Goals` section")
    title, sections = _sections(body)
    criteria = tuple(m.group(1) for line in sections.get("Success Criteria", "").splitlines() if (m := _CHECKBOX.match(line)))
    return Objective(
        path=path,
        text=text,
        sha256=hashlib.sha256(raw).hexdigest(),
        body=body.strip(),
        title=title or slugify(path.stem),
        sections=sections,
        success_criteria=criteria,
        front_feature=front_feature,
    )


def _front_matter(path: Path, text: str) -> tuple[str | None, str]:
    match = _FRONT_MATTER.match(text)
    if not match:
        return None, text
    if not match.group(1).strip():
        return None, text[match.end():]
    from teambot.config.yamlsafe import parse  # refuses alias bombs and absurd nesting too

    document, problems = parse(match.group(1).encode("utf-8"))
    if problems:
        raise ObjectiveError(f"objective {path}: front matter is not valid YAML: {problems[0].message}")
    data = document.data if document is not None else None
    feature = data.get("feature") if isinstance(data, dict) else None
    if feature is not None and not isinstance(feature, str):
        raise ObjectiveError(f"objective {path}: front matter `feature` must be a string")
    return feature, text[match.end():]


def _sections(body: str) -> tuple[str | None, dict[str, str]]:
    title: str | None = None
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in body.splitlines():
        if line.startswith("# ") and title is None:
            title = line[2:].strip()
            current = None
        elif line.startswith("## "):
            current = sections.setdefault(line[3:].strip(), [])
        elif current is not None:
            current.append(line)
    return title, {k: "\n".join(v).strip() for k, v in sections.items()}
