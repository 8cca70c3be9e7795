"""The layout of a workspace and of one run directory inside it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from teambot.errors import UnsafePathError, UsageError
from teambot.fsutil import check_dirs, make_dirs
from teambot.names import split_child_id

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

    @cached_property  # (a frozen dataclass keeps no other state: computed once)
    def root(self) -> Path:
        return self.workspace / self.feature

    @cached_property
    def state(self) -> Path:
        return self.root / "state.json"

    @cached_property
    def journal(self) -> Path:
        """The write-ahead journal: journal/<first seq>.wal segments (design/journal.md)."""
        return self.root / "journal"

    @cached_property
    def backups(self) -> Path:
        """Copies kept before a migration or a `doctor --repair` changes the run's records."""
        return self.root / "backup"

    @cached_property
    def stage_records(self) -> Path:
        """Per-stage commits of the schema-3 layout, migrated into the journal (design/state-store.md)."""
        return self.root / "stages"

    @cached_property
    def child_records(self) -> Path:
        """Per-child commits of the schema-3 layout: children/<STAGE>/<child>.json (design/child-records.md)."""
        return self.root / "children"

    def child_record(self, child_id: str) -> Path:
        """Where child `STAGE/child` is committed; UsageError for an id that is not STAGE/CHILD."""
        stage, child = _split(self.child_records, child_id)
        return self.child_records / stage / f"{child}.json"

    @cached_property
    def lock(self) -> Path:
        return self.root / "run.lock"

    @cached_property
    def owner(self) -> Path:
        """Who holds the lock right now (pid, host, since), written just after taking it."""
        return self.root / "owner.json"

    @cached_property
    def events(self) -> Path:
        return self.root / "events.jsonl"

    @cached_property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @cached_property
    def outputs(self) -> Path:
        return self.root / "outputs"

    @cached_property
    def logs(self) -> Path:
        return self.root / "logs"

    @cached_property
    def prompts(self) -> Path:
        return self.root / "prompts"

    @cached_property
    def objective_copy(self) -> Path:
        return self.root / "objective.md"

    def iterations(self, stage: str) -> Path:
        """Every step of a review / acceptance stage's iterations: NN-work.md, NN-review.md, ..."""
        return self.root / "iterations" / stage

    def report(self, stage: str, kind: str) -> Path:
        """Why a stage is blocked: review-failure-<STAGE>.md, acceptance-failure-..., gate-..."""
        return self.root / f"{kind}-{stage}.md"

    # A stage's files are outputs/<STAGE>.md, ...; a child's (`STAGE/child`, see names.py) are
    # outputs/<STAGE>/<child>.md, ...: stage names hold no '.', so no stage's file is a child's directory.
    def output(self, name: str) -> Path:
        return self.outputs / _leaf(self.outputs, name, ".md")

    def log(self, name: str) -> Path:
        return self.logs / _leaf(self.logs, name, ".log")

    def prompt(self, name: str) -> Path:
        return self.prompts / _leaf(self.prompts, name, ".md")

    def make_dir(self, path: Path, *, durable: bool = True) -> Path:
        """Create a directory of this run (fsynced into its parent; no symlinks on the way)."""
        make_dirs(path, root=self.root, durable=durable)
        return path

    def prepare_artifact(self, name: str, *, durable: bool = True) -> Path:
        """Check a declared artifact's path and create its directory, before an agent writes it."""
        path = self.artifact(name)
        self.make_dir((self.artifacts / name).parent, durable=durable)
        return path

    def artifact(self, name: str) -> Path:
        """The path of a declared artifact; UnsafePathError if it would leave the artifacts dir
        (a symlinked artifact, directory on its way, or artifacts/ itself)."""
        check_dirs((self.artifacts / name).parent, self.root)  # artifacts/ itself must not be a link either
        path = (self.artifacts / name).resolve()
        base = self.root.resolve() / "artifacts"
        if path == base or base not in path.parents:
            raise UnsafePathError(self.artifacts / name, f"points outside {self.artifacts}")
        return path


def _split(base: Path, child_id: str) -> tuple[str, str]:
    try:
        return split_child_id(child_id)
    except ValueError as exc:  # an id that could leave `base` (.., /, a newline, a very long name)
        raise UsageError(f"cannot name a file under {base} after {exc}",
                         hint="a child id is STAGE/NAME, NAME being letters, digits, '.', '_' and '-' "
                              "(at most 64, starting with a letter or digit)") from None


def _leaf(base: Path, name: str, suffix: str) -> str:
    """`STAGE.md` for a stage; `STAGE/child.md` for a child id, checked so it stays inside `base`."""
    if "/" not in name:
        return f"{name}{suffix}"
    stage, child = _split(base, name)
    return f"{stage}/{child}{suffix}"
