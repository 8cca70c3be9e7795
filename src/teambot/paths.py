"""The layout of a workspace and of one run directory inside it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DEFAULT_WORKSPACE = ".agent-tracking"
FEATURE_RE = re.compile(r"\A[a-z0-9][a-z0-9._-]{0,79}\Z")  # \Z, not $: $ also matches before a final newline


def slugify(text: str) -> str:
    """A feature name from free text: lower-case, [a-z0-9-], at most 80 characters."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:80].strip("-") or "feature"


@dataclass(frozen=True)
class RunPaths:
    """Where one feature's run keeps its files: `<workspace>/<feature>/...`."""

    workspace: Path
    feature: str

    @property
    def root(self) -> Path:
        return self.workspace / self.feature

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def stage_records(self) -> Path:
        """Per-stage commits between snapshots (see .agent-tracking/design/state-store.md)."""
        return self.root / "stages"

    @property
    def lock(self) -> Path:
        return self.root / "run.lock"

    @property
    def owner(self) -> Path:
        """Who holds the lock right now (pid, host, since), written just after taking it."""
        return self.root / "owner.json"

    @property
    def events(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def outputs(self) -> Path:
        return self.root / "outputs"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def prompts(self) -> Path:
        return self.root / "prompts"

    @property
    def objective_copy(self) -> Path:
        return self.root / "objective.md"

    def iterations(self, stage: str) -> Path:
        """Every step of a review / acceptance stage's iterations: NN-work.md, NN-review.md, ..."""
        return self.root / "iterations" / stage

    def report(self, stage: str, kind: str) -> Path:
        """Why a stage is blocked: review-failure-<STAGE>.md, acceptance-failure-..., gate-..."""
        return self.root / f"{kind}-{stage}.md"

    def output(self, stage: str) -> Path:
        return self.outputs / f"{stage}.md"

    def log(self, stage: str) -> Path:
        return self.logs / f"{stage}.log"

    def prompt(self, stage: str) -> Path:
        return self.prompts / f"{stage}.md"

    def artifact(self, name: str) -> Path:
        """The path of a declared artifact; refuses names that would leave the artifacts dir."""
        path = (self.artifacts / name).resolve()
        base = self.artifacts.resolve()
        if path == base or base not in path.parents:
            raise ValueError(f"artifact name {name!r} points outside {self.artifacts}")
        return path
