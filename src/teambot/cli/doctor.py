"""`teambot doctor [FEATURE] [--repair]`: check a run's journal, snapshot, events and artifacts."""

from __future__ import annotations

from pathlib import Path

import click

from teambot.cli.common import workspace_option


@click.command("doctor")
@click.argument("feature", required=False)
@click.option("--repair", is_flag=True, help="Back up, cut a torn or damaged journal tail off and rebuild state.json from the records.")
@workspace_option
def command(feature: str | None, repair: bool, workspace: Path | None) -> int:
    """Check every record of a run; exit 0 if healthy, 1 if problems remain."""
    from teambot.cli.common import pick_feature, workspace_dir
    from teambot.paths import RunPaths
    from teambot.store.doctor import examine

    ws = workspace_dir(workspace)
    name = pick_feature(ws, feature, unfinished_only=False)
    paths = RunPaths(ws, name)
    if repair:
        from teambot.store.repair import repair as run_repair

        done, report = run_repair(paths)
        for line in done:
            click.echo(f"repaired: {line}")
        if not done:
            click.echo("nothing --repair can fix" if report.findings else "nothing to repair")
    else:
        report = examine(paths)
    for item in report.checked:
        click.echo(f"ok: {item}")
    for note in report.notes:
        click.echo(f"note: {note}")
    for finding in report.findings:
        click.echo(f"problem: {finding.line()}" + (f" [--repair: {finding.fix}]" if finding.fix and not repair else ""))
    if report.healthy:
        click.echo(f"run '{name}' is healthy")
        return 0
    click.echo(f"run '{name}': {len(report.findings)} problem(s)", err=True)
    return 1
