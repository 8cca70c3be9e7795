"""The schema-3 layout (state.json + stages/<S>.json + children/<S>/<c>.json): read, back up, remove.

A run written by an older teambot keeps loading: its per-record files are folded into the
snapshot by `seq`, as that teambot did. The first writer to open it migrates it (store/file.py):
a copy of every file goes to backup/schema-<N>-<time>/, a schema-4 snapshot holding all of it
is written, then the old files are removed (a crash in between leaves files the snapshot
already holds: they are older by `seq` and removed on the next open).
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

from teambot.fsutil import atomic_write, check_dirs
from teambot.paths import RunPaths
from teambot.store.models import RunState
from teambot.store.snapshot import read_child_file, read_stage_file


def legacy_files(paths: RunPaths) -> list[Path]:
    found: list[Path] = []
    if paths.stage_records.is_dir():
        found += sorted(paths.stage_records.glob("*.json"))
    if paths.child_records.is_dir():
        found += sorted(paths.child_records.glob("*/*.json"))
    return found


def fold_legacy(paths: RunPaths, state: RunState) -> bool:
    """Fold schema-3 per-record files into `state` (newest seq wins); True if there were any."""
    found = False
    if paths.stage_records.is_dir():
        for entry in paths.stage_records.glob("*.json"):
            found = True
            record = read_stage_file(entry)
            known = state.stages.get(record.name)
            if known is None or record.seq > known.seq:
                state.stages[record.name] = record
    if paths.child_records.is_dir():
        for entry in paths.child_records.glob("*/*.json"):
            found = True
            child = read_child_file(entry)
            known_child = state.children.get(child.id)
            if known_child is None or child.seq > known_child.seq:
                state.children[child.id] = child
    return found


def back_up(paths: RunPaths, label: str, files: list[Path], *, durable: bool) -> Path:
    """Copy `files` (under the run directory) to backup/<label>-<UTC time>/, same relative paths; returns it."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    target = paths.backups / f"{label}-{stamp}"
    for path in files:
        atomic_write(target / path.relative_to(paths.root), path.read_bytes(), durable=durable, root=paths.root)
    return target


def remove_legacy(paths: RunPaths) -> None:
    """Delete the schema-3 record files (the snapshot holds them) and their then empty folders."""
    for base in (paths.stage_records, paths.child_records):
        check_dirs(base, paths.root)  # never delete through a symlink
    for entry in legacy_files(paths):
        check_dirs(entry.parent, paths.root)
        entry.unlink(missing_ok=True)
    folders = [p for p in paths.child_records.iterdir() if p.is_dir() and not p.is_symlink()] if paths.child_records.is_dir() else []
    for folder in (*folders, paths.child_records, paths.stage_records):
        try:
            folder.rmdir()
        except OSError:  # not empty (a stray file is not ours to delete) or already gone
            pass
