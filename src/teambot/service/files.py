"""A run's files, served only from inside its directory: stage logs, outputs, prompts, artifacts.

Every path a caller names is confined to the run directory: an absolute path, a `..`, a NUL
or a symlink whose target leaves the directory is FileNotServedError (HTTP 404), exactly like
a file that does not exist, so a caller learns nothing about what lies outside. Files are read
as they are on disk: whatever teambot wrote there is already redacted.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath
from typing import Literal

from teambot.errors import FileNotServedError, RunNotFoundError, StageNotFoundError
from teambot.paths import RunPaths
from teambot.service.results import FileEntry, StageIterations

MAX_FILE = 8 << 20  # bytes served of one file (a longer log is served from its end)
StageFile = Literal["log", "output", "prompt"]


def has_run(paths: RunPaths) -> bool:
    """A run was there: its snapshot, a journal or record, or its events (a damaged run counts: opening it
    then names what is wrong, instead of "no run")."""
    from teambot.store.layout import traces

    return paths.state.is_file() or bool(traces(paths))


def run_paths(workspace: Path, feature: str) -> RunPaths:
    """The paths of an existing run (RunNotFoundError otherwise)."""
    paths = RunPaths(workspace, feature)
    if "/" in feature or feature in ("", ".", "..") or not has_run(paths):
        raise RunNotFoundError(f"no run named '{feature}' in {workspace}")
    return paths


def _state(paths: RunPaths):
    from teambot.store.file import read_state

    state = read_state(paths)
    if state is None:
        raise RunNotFoundError(f"no run named '{paths.feature}' in {paths.workspace}")
    return state


def _stage(paths: RunPaths, stage: str):
    record = _state(paths).stages.get(stage)
    if record is None:
        raise StageNotFoundError(f"no stage named '{stage}' in run '{paths.feature}'")
    return record


def confine(root: Path, relative: str) -> Path:
    """`root/relative` resolved, if it is an existing regular file inside `root` (else FileNotServedError)."""
    missing = FileNotServedError(f"no file '{relative}' in {root}")
    rel = PurePosixPath(relative)
    if not relative or "\0" in relative or rel.is_absolute() or ".." in rel.parts or "\\" in relative:
        raise missing
    try:
        base = root.resolve(strict=True)
        target = (root / rel).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, a symlink loop, a file where a directory should be
        raise missing from None
    if base not in target.parents or not target.is_file():
        raise missing
    return target


def stage_file(workspace: Path, feature: str, stage: str, which: StageFile) -> Path:
    """The log, output or prompt file of a stage of the run."""
    paths = run_paths(workspace, feature)
    _stage(paths, stage)
    path = {"log": paths.log, "output": paths.output, "prompt": paths.prompt}[which](stage)
    try:
        return confine(paths.root, path.relative_to(paths.root).as_posix())
    except FileNotServedError:
        raise FileNotServedError(f"stage {stage} of run '{feature}' has no {which} yet") from None


def task_file(workspace: Path, feature: str, stage: str, task: str, which: StageFile) -> Path:
    """The log, output or prompt file of one task of a task stage (`STAGE/task`)."""
    from teambot.names import child_id

    paths = run_paths(workspace, feature)
    _stage(paths, stage)
    try:
        cid = child_id(stage, task)
    except ValueError:
        raise StageNotFoundError(f"no task named '{task}' in stage {stage} of run '{feature}'") from None
    if cid not in _state(paths).children:
        raise StageNotFoundError(f"no task named '{task}' in stage {stage} of run '{feature}'")
    path = {"log": paths.log, "output": paths.output, "prompt": paths.prompt}[which](cid)
    try:
        return confine(paths.root, path.relative_to(paths.root).as_posix())
    except FileNotServedError:
        raise FileNotServedError(f"task {cid} of run '{feature}' has no {which} yet") from None


def artifact_file(workspace: Path, feature: str, relative: str) -> Path:
    """An artifact of the run, `relative` to its artifacts/ directory."""
    paths = run_paths(workspace, feature)
    inside = confine(paths.artifacts, relative)
    if paths.root.resolve() not in inside.parents:  # artifacts/ itself a link out of the run
        raise FileNotServedError(f"no file '{relative}' in {paths.artifacts}")
    return inside


# what a person reads before deciding on a stage (StageDecisions.files): results, never the run's records
READABLE = ("outputs", "artifacts", "iterations")


def run_file(workspace: Path, feature: str, relative: str) -> Path:
    """A file of the run's results, `relative` to the run directory: under outputs/, artifacts/ or iterations/."""
    paths = run_paths(workspace, feature)
    top, *rest = PurePosixPath(relative).parts or ("",)
    if top not in READABLE:
        raise FileNotServedError(f"no file '{relative}' served from run '{feature}'",
                                 hint=f"files under {', '.join(d + '/' for d in READABLE)} are served")
    inside = confine(paths.root / top, "/".join(rest))  # a link out of its directory (to state.json, say) is refused
    if paths.root.resolve() not in inside.parents:  # the directory itself a link out of the run
        raise FileNotServedError(f"no file '{relative}' in {paths.root}")
    return inside


def list_artifacts(workspace: Path, feature: str) -> list[FileEntry]:
    """Every regular file under artifacts/ (links leading out of the run are left out)."""
    paths = run_paths(workspace, feature)
    found: list[FileEntry] = []
    if not paths.artifacts.is_dir() or paths.artifacts.is_symlink():
        return found
    for dirpath, dirnames, filenames in os.walk(paths.artifacts):  # does not follow directory links
        for name in sorted(filenames):
            rel = (Path(dirpath) / name).relative_to(paths.artifacts).as_posix()
            try:
                path = confine(paths.artifacts, rel)
            except FileNotServedError:
                continue
            found.append(FileEntry(path=rel, size=path.stat().st_size))
        dirnames.sort()
    return sorted(found, key=lambda f: f.path)


def read_text(path: Path, *, tail: int | None = None, limit: int = MAX_FILE) -> str:
    """A served file's text (UTF-8, bad bytes replaced); the last `tail` lines, or the last `limit` bytes."""
    data, _ = read_from(path, -1, limit)
    text = data.decode("utf-8", errors="replace")
    if tail is not None:
        lines = text.splitlines(keepends=True)
        text = "".join(lines[-tail:]) if tail > 0 else ""
    return text


def read_from(path: Path, offset: int, limit: int = MAX_FILE) -> tuple[bytes, int]:
    """Bytes of a regular file from `offset` (-1: the last `limit` bytes), and the offset after them.

    Opened without following a symlink and without blocking, so a link or FIFO swapped in after
    `confine` is refused rather than followed or waited on.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        raise FileNotServedError(f"no file '{path.name}'") from None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileNotServedError(f"no file '{path.name}'")
        start = max(info.st_size - limit, 0) if offset < 0 else min(offset, info.st_size)
        fh.seek(start)
        data = fh.read(limit)
        return data, start + len(data)


def stage_iterations(workspace: Path, feature: str, stage: str) -> StageIterations:
    """The review / acceptance rounds of a stage and the text of every step they saved."""
    paths = run_paths(workspace, feature)
    record = _stage(paths, stage)
    texts: dict[str, str] = {}
    for it in record.iterations:
        steps = [it.work, it.review, it.verdict_request, it.test.output if it.test else None]
        for step in steps:
            if step is None or step.file in texts:
                continue
            try:
                texts[step.file] = read_text(confine(paths.root, step.file), limit=1 << 20)
            except FileNotServedError:
                continue
    return StageIterations(feature=feature, stage=stage, budget_start=record.budget_start,
                           iterations=record.iterations, texts=texts)
