"""What a finished stage attempt leaves behind, checked and written before `succeeded` points at it.

Pure functions of the executor's: the declared artifacts (present, written in this attempt,
fsynced; a tasks file a task stage reads is validated), the output file (written without a
flush: see `lost_outputs`), and which upstream artifacts each stage is given
(`artifact_lineage`). Kept apart from the scheduling loop in executor.py.
"""

from __future__ import annotations

import hashlib
import os
import stat
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path

from teambot.config.loader import Workflow
from teambot.config.models import StageConfig
from teambot.errors import AgentError, TeambotError
from teambot.fsutil import atomic_write, fsync_files, open_append, sha256_file, write_new
from teambot.lifecycle import StageStatus
from teambot.paths import RunPaths
from teambot.store.models import StageRecord


def declared_artifacts(stages: Mapping[str, StageConfig], name: str, paths: RunPaths, *, durable: bool,
                       written=None) -> dict[str, str]:
    """sha256 of each declared artifact, fsynced: they reach the disk before `succeeded` points at them.

    Each must exist and not be empty; with `written` (what the runtime saw written in this
    attempt), a file left from an earlier attempt does not count either.
    """
    hashes: dict[str, str] = {}
    for artifact in stages[name].artifacts:
        path = paths.artifact(artifact)
        if not path.is_file() or path.stat().st_size == 0:
            raise AgentError(f"declared artifact {artifact} was not produced", retryable=True)
        if written is not None and artifact not in written:
            raise AgentError(f"declared artifact {artifact} was not produced in this attempt "
                             "(the file is left from an earlier one)", retryable=True)
        hashes[artifact] = sha256_file(path)
        check_tasks_file(stages, name, artifact, path)
    if durable:
        fsync_files(paths.artifact(a) for a in stages[name].artifacts)
    return hashes


def check_tasks_file(stages: Mapping[str, StageConfig], name: str, artifact: str, path: Path) -> None:
    """An artifact a task stage reads as its tasks file must be a valid one: if not, the stage
    that wrote it fails with every problem (its retry, or the review after it, sees them)."""
    from teambot.errors import ConfigError
    from teambot.inputs import InputError
    from teambot.tasks.model import load_tasks

    for other, stage in stages.items():
        if stage.tasks is None or stage.tasks.from_ != artifact or other == name:
            continue
        try:
            load_tasks(path, agents=stage.tasks.pool(stage))
        except ConfigError as exc:
            raise AgentError(f"{artifact} is not a valid tasks file for {other}: {exc.message}: "
                             + "; ".join(exc.problems), retryable=True) from None
        except InputError as exc:
            raise AgentError(f"{artifact}: {exc.message}", retryable=True) from None


def write_output(stage: StageConfig, name: str, paths: RunPaths, output: str, hashes: dict[str, str], *,
                 redact: Callable[[str], str], durable: bool, usage=None) -> dict:
    """Write the output file now; the record pointing to it (with its sha256) is committed after.

    Never flushed, whatever `durable` says (the argument stays for the executor's call): the
    `succeeded` record carries the output's sha256, so an output a power cut emptied or lost
    is found by `lost_outputs` when the run is resumed, and its stage runs again. This saves
    a file and a directory fsync per stage (docs/state.md, "The stage's output file"). For the
    same reason a first output is created in place (no temp file and rename).
    """
    data = redact(output).encode("utf-8", errors="replace")
    path = paths.output(name)
    if not write_new(path, data, root=paths.root):  # an earlier attempt's: replaced atomically
        atomic_write(path, data, durable=False, root=paths.root)
    return {"artifacts": hashes, "output_sha256": hashlib.sha256(data).hexdigest(),
            "fingerprint": stage.fingerprint(), "usage": usage}


def output_intact(paths: RunPaths, name: str, sha256: str) -> bool:
    """The stage's output file is a regular file with the recorded sha256 (never follows a symlink)."""
    path = paths.output(name)
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
        return sha256_file(path) == sha256
    except (OSError, TeambotError):
        return False


def lost_outputs(workflow: Workflow, records: Mapping[str, StageRecord], paths: RunPaths) -> list[str]:
    """Succeeded stages whose output file no longer has its recorded sha256 (missing, emptied, torn),
    in workflow order: after a power cut these finished without their output, so they are not done.

    Outputs are teambot's own files (never given to an agent, unlike artifacts, which a person may
    edit and which stay durable): a changed one is a write that never reached the disk.
    """
    return [name for name in workflow.graph.order
            if (record := records.get(name)) is not None and record.status == StageStatus.SUCCEEDED
            and record.output_sha256 is not None and not output_intact(paths, name, record.output_sha256)]


def rerun_lost_outputs(records, workflow: Workflow, lost: list[str], events, say) -> list[str]:
    """Resume: move each stage of `lost` (see lost_outputs) back to pending, and its dependents too.

    A dependent that succeeded with recorded inputs gets `run_if_changed` (as `--rerun-stale`
    does): it read the lost stage's artifacts, not its output, so it reruns only if the rerun
    changes what it reads. Skipped stages stay skipped. Returns the stages moved to pending.
    """
    from teambot.session import send_back

    if not lost:
        return []
    say(f"output lost (the machine stopped before it reached the disk?), running again: {', '.join(lost)}")
    return send_back(records, workflow, set(lost), events, "output lost", dependents_reason="upstream output lost",
                     check_roots=False)


def log_traceback(paths: RunPaths, name: str) -> None:
    """The current exception's traceback into the stage's log (best effort)."""
    try:
        fh = open_append(paths.log(name), root=paths.root)
        try:
            fh.write(traceback.format_exc())
        finally:
            fh.close()
    except (OSError, TeambotError):  # best effort: the stage's error is recorded anyway
        pass


def artifact_lineage(workflow: Workflow) -> dict[str, tuple[tuple[str, str], ...]]:
    """For each stage, (stage, artifact) of every stage it transitively depends on, in stage_order.

    One pass in dependency order, so a long chain without artifacts costs O(stages).
    """
    from graphlib import TopologicalSorter

    graph, stages = workflow.graph, workflow.config.stages
    index = {name: i for i, name in enumerate(graph.order)}
    found: dict[str, frozenset[tuple[int, str, str]]] = {}
    for name in TopologicalSorter({n: graph.deps[n] for n in graph.order}).static_order():
        items: set[tuple[int, str, str]] = set()
        for dep in graph.deps[name]:
            items |= found[dep]
            items.update((index[dep], dep, artifact) for artifact in stages[dep].artifacts)
        found[name] = frozenset(items)
    return {name: tuple((stage, artifact) for _, stage, artifact in sorted(found[name])) for name in graph.order}
