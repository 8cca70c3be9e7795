"""`teambot doctor`: check every piece of a run's record and, with --repair, rebuild what can be rebuilt.

Checked, each problem reported (never only the first): the kinds of file in the run directory,
state.json (parses, schema), the journal (header, checksums, seq order, torn tail, records
that validate), events.jsonl (every line but a torn last one parses), and the files of every
succeeded stage and child (recorded sha256 of its artifacts and its output).

Repair (under the run's lock, after copying state.json and the journal to backup/doctor-<time>/):
a torn tail is cut off; damage in the middle cuts the journal at the first bad record (the
records after it are named, and kept in the backup); state.json is rebuilt from the snapshot
plus the journal, or from the journal alone when it holds the run from its first record.
Changed or missing artifacts are not repairable here: `teambot rerun STAGE` does the work again.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from teambot.errors import StateError, TeambotError
from teambot.lifecycle import StageStatus
from teambot.paths import RunPaths
from teambot.store import journal
from teambot.store.layout import check_layout, record_files
from teambot.store.legacy import fold_legacy, legacy_files
from teambot.store.models import RunState
from teambot.store.reader import apply
from teambot.store.snapshot import parse_snapshot


@dataclass
class Finding:
    where: str
    what: str
    fix: str | None = None  # what --repair does about it (None: not repairable here)

    def line(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass
class Report:
    feature: str
    findings: list[Finding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # what was found healthy, one phrase each
    notes: list[str] = field(default_factory=list)
    state: RunState | None = None  # what the records add up to (None: could not be rebuilt)
    snapshot_ok: bool = False
    scan: journal.Scan | None = None

    @property
    def healthy(self) -> bool:
        return not self.findings


def examine(paths: RunPaths) -> Report:
    """Every problem of the run's record, without changing anything (no lock taken)."""
    report = Report(feature=paths.feature)
    try:
        check_layout(paths)
    except TeambotError as exc:
        report.findings.append(Finding(str(paths.root), exc.message))
        return report
    snapshot = _snapshot(paths, report)
    if snapshot is not None and fold_legacy_safely(paths, snapshot, report) and legacy_files(paths):
        report.notes.append("schema-3 record files (stages/, children/) are present: the next writer migrates them")
    after = 0
    if snapshot is not None:
        after = snapshot.seq if snapshot.schema_version >= 4 else max(
            (r.seq for r in [*snapshot.stages.values(), *snapshot.children.values()]), default=0)
    _journal(paths, report, snapshot, after)
    _events(paths, report)
    from teambot.store.owner import owner_alive, read_owner

    if owner_alive(paths) and (owner := read_owner(paths)) is not None:
        report.notes.append(f"teambot pid {owner.pid} is driving this run: a torn last record may be a write in progress")
    if report.state is not None:
        _artifacts(paths, report, report.state)
    return report


def fold_legacy_safely(paths: RunPaths, state: RunState, report: Report) -> bool:
    try:
        return fold_legacy(paths, state)
    except StateError as exc:
        report.findings.append(Finding(str(paths.stage_records), exc.message))
        return False
    except Exception:  # Moved: a writer migrating right now
        return False


def _snapshot(paths: RunPaths, report: Report) -> RunState | None:
    if not os.path.lexists(paths.state):
        left = record_files(paths)
        if left:
            report.findings.append(Finding(str(paths.state), "missing, while the run still has records",
                                           fix="rebuild it from the journal, if the journal holds the run from its first record"))
        else:
            report.findings.append(Finding(str(paths.state), "missing, and no journal or record file is left: nothing to rebuild from"))
        return None
    try:
        state = parse_snapshot(paths.state)
    except TeambotError as exc:
        report.findings.append(Finding(str(paths.state), exc.message.removeprefix(f"{paths.state} "),
                                       fix="rebuild it from the journal, if the journal holds the run from its first record"))
        return None
    except Exception:
        return None
    report.snapshot_ok = True
    report.checked.append(f"state.json (schema {state.schema_version}, {len(state.stages)} stages, {len(state.children)} children)")
    return state


def _journal(paths: RunPaths, report: Report, snapshot: RunState | None, after: int) -> None:
    try:
        scan = journal.scan(paths.journal, after if snapshot is not None else 0)
    except TeambotError as exc:
        report.findings.append(Finding(str(paths.journal), exc.message))
        return
    except Exception:
        report.notes.append("the journal changed while read (a live writer); run doctor again")
        return
    report.scan = scan
    for problem in scan.problems:
        report.findings.append(Finding(f"{problem.path} at byte {problem.offset}", problem.what,
                                       fix="leave this record out (every later good record is kept; the file as it was goes to the backup)"))
    if scan.torn is not None:
        report.findings.append(Finding(f"{scan.torn.path} at byte {scan.torn.offset}", f"torn last record: {scan.torn.what} "
                                       "(it never committed; loading ignores it)", fix="drop it"))
    base = snapshot.model_copy(deep=True) if snapshot is not None else None
    if base is None and (scan.first_seq != 1 or not any(kind == b"r" for kind, _ in scan.newest)):
        if scan.records:
            report.notes.append(f"the journal holds {scan.records} records but not the run from its first one: "
                                "state.json cannot be rebuilt from it")
        return
    try:
        report.state = apply(scan, base, paths.feature)
    except StateError as exc:
        report.findings.append(Finding(str(paths.journal), exc.message.removeprefix("the run's journal is damaged: ")))
        return
    if not scan.problems:
        report.checked.append(f"journal ({len(scan.segments)} segment(s), {scan.records} records after the snapshot)")


def _events(paths: RunPaths, report: Report) -> None:
    try:
        data = paths.events.read_bytes()
    except FileNotFoundError:
        return
    except OSError as exc:
        report.findings.append(Finding(str(paths.events), f"cannot be read: {exc.strerror or exc}"))
        return
    lines = data.split(b"\n")
    bad = 0
    offset = 0
    for index, line in enumerate(lines):
        last = index == len(lines) - 1
        if line.strip():
            try:
                json.loads(line)
            except ValueError:
                if last:
                    report.notes.append(f"{paths.events}: torn last line at byte {offset} (a write cut short; the next run starts a new line)")
                else:
                    bad += 1
                    if bad <= 3:
                        report.findings.append(Finding(f"{paths.events} at byte {offset}", "a line that is not valid JSON"))
        offset += len(line) + 1
    if bad > 3:
        report.findings.append(Finding(str(paths.events), f"{bad - 3} more lines that are not valid JSON"))
    if not bad:
        report.checked.append(f"events.jsonl ({len(lines) - 1} lines)")


def _sha256(path: Path) -> str | None:
    try:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 16), b""):
                digest.update(block)
        return digest.hexdigest()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None


def _artifacts(paths: RunPaths, report: Report, state: RunState) -> None:
    count = 0
    units = [(n, r.artifacts, r.output_sha256) for n, r in state.stages.items() if r.status == StageStatus.SUCCEEDED]
    units += [(c.id, {}, c.output_sha256) for c in state.children.values() if c.status == StageStatus.SUCCEEDED]
    for name, artifacts, output_sha in units:
        stage = name.split("/")[0]
        files = [(paths.artifacts / artifact, sha, f"artifact {artifact}") for artifact, sha in artifacts.items()]
        if output_sha is not None:
            files.append((paths.output(name), output_sha, "output"))
        for path, expected, what in files:
            count += 1
            found = _sha256(path)
            if found == expected:
                continue
            change = "is missing" if found is None else "changed since the stage succeeded (sha256 differs)"
            report.findings.append(Finding(str(path), f"{what} of succeeded {name} {change}; "
                                                      f"to redo it: teambot rerun {stage} {paths.feature}"))
    if count:
        report.checked.append(f"{count} recorded artifact and output hashes")
