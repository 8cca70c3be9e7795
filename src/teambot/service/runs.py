"""The read side of the service: the runs of a workspace and the status of one, as models.

Plain functions with typed arguments: no click, no printing, no exit. Problems are the
TeambotError subclasses of teambot.errors, which the CLI's error boundary prints and an HTTP
layer can map to status codes (RunNotFoundError 404, StateError 422, ...).
"""

from __future__ import annotations

from pathlib import Path

from teambot.errors import ConfigError, RunNotFoundError, StateError
from teambot.paths import RunPaths
from teambot.service.models import ChildReport, RunStatus, RunSummary, StageReport
from teambot.store.file import owner_alive, read_owner, read_state
from teambot.store.layout import no_state_error
from teambot.lifecycle import AWAITING
from teambot.store.models import ChildRecord, StageRecord, TokenUsage

_CUT_OFF = "teambot stopped while it ran"


# Any of these in a directory of the workspace means a run was there (a missing state.json is
# reported, never taken for "no run").
_RUN_MARKERS = ("state.json", "journal", "stages", "children", "events.jsonl")


def feature_names(workspace: Path) -> list[str]:
    """Features in the workspace that hold a run (a state file, a journal or another record of one), sorted."""
    if not workspace.is_dir():
        return []
    return sorted({p.parent.name for marker in _RUN_MARKERS for p in workspace.glob(f"*/{marker}")})


def list_runs(workspace: Path) -> list[RunSummary]:
    """Every run in the workspace, sorted by feature; a damaged one carries `error` instead of breaking the list."""
    return [_summary(workspace, name) for name in feature_names(workspace)]


def _summary(workspace: Path, name: str) -> RunSummary:
    try:
        report = run_status(workspace, name)
    except StateError as err:  # one damaged run must not hide the others
        return RunSummary(feature=name, status="unreadable", error=err.message)
    owner = read_owner(RunPaths(workspace, name)) if report.status == "running" else None
    return RunSummary(
        feature=name, status=report.status, succeeded=sum(1 for s in report.stages if s.status == "succeeded"),
        total=len(report.stages), created_at=report.created_at, updated_at=report.updated_at,
        elapsed_seconds=report.elapsed_seconds, usage=report.usage, cost_usd=report.usage.cost_usd, owner_pid=owner.pid if owner else None,
    )


def run_status(workspace: Path, feature: str, stages_file: Path | None = None, *,
               project_dir: Path | None = None) -> RunStatus:
    """The status of one run: its stages in workflow order, what a dead owner left behind, stale stages.

    `stages_file` replaces the one the run recorded (to see which stages an edited file makes
    stale); `project_dir` (default: the current directory) is where its relative paths live.
    """
    from teambot.provenance import reader_for_run, stale_in
    from teambot.service.stale import stage_plans

    paths = RunPaths(workspace, feature)
    state = read_state(paths)
    if state is None and (left := no_state_error(paths)) is not None:
        raise left
    if state is None:
        names = feature_names(workspace)
        hint = f"runs in {workspace}: {', '.join(names)}" if names else f"start one with `teambot run OBJECTIVE` (workspace {workspace})"
        raise RunNotFoundError(f"no run named '{feature}' in {workspace}", hint=hint)
    run = state.run
    notes: list[str] = []
    order = list(state.stages)
    reasons: dict[str, list[str]] = {}
    try:  # the stages file as stale detection needs it (loaded only when its bytes are new: service/stale.py)
        plans = stage_plans(stages_file or Path(run.stages_path), project_dir or Path.cwd())
        order = list(plans) + [n for n in state.stages if n not in plans]
    except ConfigError as err:
        notes.append(f"stages file: {err.message}")
    else:  # what changed since each finished stage ran: its definition, what it read, its artifacts
        reader, unread = reader_for_run(run, paths, project_dir)
        notes += unread
        reasons = stale_in(plans, state.stages, paths, reader)
    stale = list(reasons)
    status = run.status.value
    orphaned = status == "running" and not owner_alive(paths)
    if orphaned:  # report what resume will record: nothing is running any more
        status = "interrupted"
        notes.append("the process running this run is gone (killed or crashed); continue with `teambot resume`")
    total = TokenUsage()
    stages = []
    parents = {child.stage for child in state.children.values()}  # children_of sorts every child: once per stage that has some
    for name in order:
        record = state.stages.get(name)
        own = state.children_of(name) if name in parents else []
        for used in [record.usage if record else None, *(c.usage for c in own)]:
            total = total.plus(used)  # a child's calls are its own: the run total adds them to the stages'
        children = [_child(c, orphaned) for c in own]
        stages.append(StageReport(name=name, status="pending", children=children) if record is None
                      else _stage(name, record, orphaned, reasons.get(name, []), children))
        if record is not None and record.status in AWAITING:
            stages[-1] = stages[-1].model_copy(update=_waiting(paths, feature, record))
    if not stages:
        raise StateError(f"{paths.root}/state.json: run '{feature}' has no stages",
                         hint="the state file was damaged or edited by hand; start a new run with "
                              "`teambot run OBJECTIVE --feature NAME`")
    return RunStatus(
        feature=feature, status=status, error=run.error, run_dir=str(paths.root), objective=run.objective_path,
        stages_file=run.stages_path, runtime=run.runtime, created_at=run.created_at, updated_at=run.updated_at,
        elapsed_seconds=round(run.elapsed_seconds, 3), owner=run.owner, stale=stale, stale_reasons=reasons, usage=total,
        notes=notes, stages=stages, waiting=[s.name for s in stages if s.status in AWAITING],
    )


def _waiting(paths: RunPaths, feature: str, record: StageRecord) -> dict:
    """What a person needs to decide on a waiting stage: since when, what to read, the command."""
    from teambot.approvals import decide_command, produced

    return {"waiting_since": record.waiting_since, "decide": decide_command(record.name, record.status, feature),
            "produced": produced(paths.root, record)}


def _stage(name: str, record: StageRecord, orphaned: bool, stale: list[str], children: list[ChildReport]) -> StageReport:
    cut_off = orphaned and record.status.value == "running"  # its process died mid-stage
    return StageReport(
        name=name, status="interrupted" if cut_off else record.status.value, attempts=record.attempts,
        started_at=record.started_at, finished_at=record.finished_at, agent=record.agent,
        error=_CUT_OFF if cut_off else record.error, stale=bool(stale), stale_reasons=stale, usage=record.usage, artifacts=record.artifacts,
        blocked_by=record.blocked_by, iterations=record.iterations, budget_start=record.budget_start, children=children,
        decisions=record.decisions,
    )


def _child(record: ChildRecord, orphaned: bool) -> ChildReport:
    """One child of a stage (`IMPLEMENTATION/T1`)."""
    cut_off = orphaned and record.status.value == "running"
    return ChildReport(
        id=record.id, name=record.child, status="interrupted" if cut_off else record.status.value,
        attempts=record.attempts, started_at=record.started_at, finished_at=record.finished_at, agent=record.agent,
        error=_CUT_OFF if cut_off else record.error, usage=record.usage, branch=record.branch,
        base_commit=record.base_commit, head_commit=record.head_commit, merge_commit=record.merge_commit,
    )
