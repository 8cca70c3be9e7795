"""`teambot status [FEATURE] [--json]`: what a run has done, read without disturbing it."""

from __future__ import annotations

import json
from pathlib import Path

import click

from teambot.cli.common import workspace_option


@click.command("status")
@click.argument("feature", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@workspace_option
def command(feature: str | None, as_json: bool, workspace: Path | None) -> int:
    """Show a run's stages, their status, agent, attempts and timing."""
    from teambot.cli.common import list_runs, workspace_dir
    from teambot.errors import StateError

    ws = workspace_dir(workspace)
    runs = list_runs(ws)
    if feature is None and len(runs) > 1:
        summaries = [_summary(ws, name) for name in runs]
        if as_json:
            click.echo(json.dumps({"runs": summaries}, indent=2))
        else:
            for s in summaries:
                click.echo(f"{s['feature']:<30} {s['status']:<12} {s['succeeded']}/{s['total']} stages  updated {s['updated_at']}")
                if s.get("error"):
                    click.echo(f"    {s['error']}")
            click.echo("name one for details: teambot status FEATURE")
        return 0
    from teambot.cli.common import pick_feature

    name = pick_feature(ws, feature, unfinished_only=False)
    report = build_report(ws, name)
    if not report["stages"]:  # checked before printing: an error prints no report (and --json no JSON)
        raise StateError(f"{report['run_dir']}/state.json: run '{name}' has no stages",
                         hint="the state file was damaged or edited by hand; start a new run with "
                              "`teambot run OBJECTIVE --feature NAME`")
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        _print_report(report)
    return 0


def _summary(ws: Path, name: str) -> dict:
    from teambot.errors import StateError

    try:
        report = build_report(ws, name)
    except StateError as err:  # one damaged run must not hide the others
        return {"feature": name, "status": "unreadable", "succeeded": 0, "total": 0, "updated_at": "-", "error": err.message}
    done = sum(1 for s in report["stages"] if s["status"] == "succeeded")
    return {"feature": name, "status": report["status"], "succeeded": done, "total": len(report["stages"]), "updated_at": report["updated_at"]}


def build_report(ws: Path, name: str) -> dict:
    """The status of one run as plain data (the --json contract)."""
    from teambot.config import load_workflow
    from teambot.errors import ConfigError
    from teambot.paths import RunPaths
    from teambot.session import stale_stages
    from teambot.store.file import owner_alive, read_state

    paths = RunPaths(ws, name)
    state = read_state(paths)
    run = state.run
    notes = []
    order = list(state.stages)
    stale: list[str] = []
    try:
        workflow = load_workflow(Path(run.stages_path), project_dir=Path.cwd(), check_templates=False)
        order = list(workflow.graph.order) + [n for n in state.stages if n not in workflow.graph.deps]
        stale = stale_stages(workflow, state.stages)
    except ConfigError as err:
        notes.append(f"stages file: {err.message}")
    status = run.status.value
    orphaned = status == "running" and not owner_alive(paths)
    if orphaned:  # report what resume will record: nothing is running any more
        status = "interrupted"
        notes.append("the process running this run is gone (killed or crashed); continue with `teambot resume`")
    stages = []
    prompt_total = completion_total = 0
    for stage_name in order:
        record = state.stages.get(stage_name)
        own = state.children_of(stage_name)
        children = [_child(c, orphaned) for c in own]
        for child in own:  # a child's calls are its own: the run total adds them to the stages'
            if child.usage:
                prompt_total += child.usage.prompt_tokens
                completion_total += child.usage.completion_tokens
        if record is None:
            stages.append({"name": stage_name, "status": "pending", "attempts": 0, "started_at": None, "finished_at": None,
                           "agent": None, "error": None, "stale": False, "usage": None, "children": children})
            continue
        cut_off = orphaned and record.status.value == "running"  # its process died mid-stage
        usage = record.usage.model_dump() if record.usage else None
        if record.usage:
            prompt_total += record.usage.prompt_tokens
            completion_total += record.usage.completion_tokens
        stages.append({
            "name": stage_name, "status": "interrupted" if cut_off else record.status.value, "attempts": record.attempts,
            "started_at": record.started_at, "finished_at": record.finished_at, "agent": record.agent,
            "error": "teambot stopped while it ran" if cut_off else record.error, "stale": stage_name in stale, "usage": usage,
            "artifacts": record.artifacts, "blocked_by": record.blocked_by,
            "iterations": [it.model_dump(mode="json") for it in record.iterations],
            "budget_start": record.budget_start,
            "children": children,
        })
    return {
        "feature": name, "status": status, "error": run.error, "run_dir": str(paths.root),
        "objective": run.objective_path, "stages_file": run.stages_path, "runtime": run.runtime,
        "created_at": run.created_at, "updated_at": run.updated_at, "elapsed_seconds": round(run.elapsed_seconds, 3),
        "owner": run.owner.model_dump() if run.owner else None, "stale": stale,
        "usage": {"prompt_tokens": prompt_total, "completion_tokens": completion_total}, "notes": notes,
        "stages": stages,
    }


def _child(record, orphaned: bool) -> dict:
    """One child of a stage (`IMPLEMENTATION/T1`) as plain data."""
    cut_off = orphaned and record.status.value == "running"
    return {
        "id": record.id, "name": record.child, "status": "interrupted" if cut_off else record.status.value,
        "attempts": record.attempts, "started_at": record.started_at, "finished_at": record.finished_at,
        "agent": record.agent, "error": "teambot stopped while it ran" if cut_off else record.error,
        "usage": record.usage.model_dump() if record.usage else None, "branch": record.branch,
        "base_commit": record.base_commit, "head_commit": record.head_commit, "merge_commit": record.merge_commit,
    }


def _print_report(report: dict) -> None:
    click.echo(f"run {report['feature']}: {report['status']}  ({report['elapsed_seconds']:.1f} s, runtime {report['runtime']})")
    if report["error"]:
        click.echo(f"  error: {report['error']}")
    click.echo("")
    for stage in report["stages"]:
        if stage["status"] == "running" and stage["started_at"]:
            when = f"running since {stage['started_at'][11:19]} UTC"
        elif stage["status"] != "pending" and stage["finished_at"]:
            when = _took(stage["started_at"], stage["finished_at"])
        else:
            when = ""
        extra = " [stale]" if stage["stale"] else ""
        tokens = f"  tokens {stage['usage']['prompt_tokens']}+{stage['usage']['completion_tokens']}" if stage["usage"] else ""
        click.echo(f"  {stage['name']:<24} {stage['status']:<12} {stage['agent'] or '-':<10} attempts {stage['attempts']}  {when}{tokens}{extra}")
        if stage.get("iterations"):
            click.echo(f"      {_iterations_line(stage['iterations'], stage['budget_start'])}")
        if stage["error"] and stage["status"] != "succeeded":
            click.echo(f"      {stage['error']}")
        for child in stage.get("children", []):
            _print_child(child)
    usage = report["usage"]
    if usage["prompt_tokens"] or usage["completion_tokens"]:
        click.echo(f"\n  tokens: {usage['prompt_tokens']} prompt + {usage['completion_tokens']} completion")
    for note in report["notes"]:
        click.echo(f"note: {note}")
    if report["stale"]:
        click.echo(f"note: stale stages (definition changed since they ran): {', '.join(report['stale'])}; `teambot resume --rerun-stale` runs them again")


def _print_child(child: dict) -> None:
    """`    T1  succeeded  builder-1  attempts 1  took 2.0 s, at ...  merged abc1234` under its stage."""
    when = _took(child["started_at"], child["finished_at"]) if child["finished_at"] else ""
    if child["status"] == "running" and child["started_at"]:
        when = f"running since {child['started_at'][11:19]} UTC"
    merged = f"  merged {child['merge_commit'][:12]}" if child["merge_commit"] else ""
    tokens = f"  tokens {child['usage']['prompt_tokens']}+{child['usage']['completion_tokens']}" if child["usage"] else ""
    click.echo(f"    {child['name']:<22} {child['status']:<12} {child['agent'] or '-':<10} attempts {child['attempts']}  {when}{merged}{tokens}")
    if child["error"] and child["status"] != "succeeded":
        click.echo(f"        {child['error']}")


def _iterations_line(iterations: list[dict], budget_start: int) -> str:
    """`iterations: 1 changes_requested, 2 changes_requested, 3 approved` (the current budget after |)."""
    shown = []
    for i, it in enumerate(iterations):
        if it.get("test"):
            what = "passed" if it["test"]["passed"] else f"failed ({it['test']['summary']})"
        elif it.get("verdict"):
            what = it["verdict"]
        else:
            what = "in progress (work step done)" if it.get("work") else "in progress"
        shown.append(("| " if i == budget_start and i else "") + f"{it['number']} {what}")
    return "iterations: " + ", ".join(shown)


def _took(started: str | None, finished: str) -> str:
    """`took 1.2 s, at HH:MM:SS` from two ISO timestamps."""
    from datetime import datetime

    end = datetime.fromisoformat(finished).astimezone()  # shown in local time, like the live lines
    if started is None:
        return f"at {end:%H:%M:%S}"
    return f"took {(end - datetime.fromisoformat(started)).total_seconds():.1f} s, at {end:%H:%M:%S}"
