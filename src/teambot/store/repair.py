"""`teambot doctor --repair`: back up, then rebuild state.json from every record that is still good.

Journal records are whole records, not changes, so a damaged one can be left out: each key
keeps its newest good record (a damaged `succeeded` record leaves its stage at its record
before, which resume runs again). The torn tail and the damaged records go with the old
segments; the backup keeps them as they were.
"""

from __future__ import annotations

from teambot.errors import StateError
from teambot.paths import RunPaths
from teambot.store import journal
from teambot.store.doctor import Report, examine
from teambot.store.legacy import back_up


def repair(paths: RunPaths, *, durable: bool = True) -> tuple[list[str], Report]:
    """Repair what `examine` found, under the run's lock; returns what was done and the report after."""
    from teambot.store.file import FileStateStore

    store = FileStateStore(paths, durable=durable)  # the lock: exit 3 while a run is live
    try:
        report = examine(paths)
        if not any(f.fix is not None for f in report.findings):
            return [], report
        if report.state is None:
            raise StateError(f"cannot rebuild {paths.state}: neither it nor the journal holds the run record "
                             "(the journal does not start at the run's first record)",
                             hint="restore state.json from a backup; `teambot doctor` lists what remains")
        files = [p for p in (paths.state, *journal.segments(paths.journal)) if p.is_file()]
        backup = back_up(paths, "doctor", files, durable=durable)
        done = [f"backed up {len(files)} file(s) to {backup}"]
        scan = report.scan
        if scan is not None and scan.problems:
            done.append(f"left out {len(scan.problems)} damaged record(s) or gap(s); every later good record is kept")
        if scan is not None and scan.torn is not None:
            done.append(f"dropped the torn last record at byte {scan.torn.offset} of {scan.torn.path} (it never committed)")
        store.replace_state(report.state)
        done.append(f"wrote {paths.state} from the good records ({len(report.state.stages)} stages, "
                    f"{len(report.state.children)} children) and started a fresh journal")
        return done, examine(paths)
    finally:
        store.abandon()  # state.json is written; nothing left for a closing snapshot
