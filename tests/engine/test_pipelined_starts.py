"""Pipelined starts (reports.py): a dependent prepares while its dependency's `succeeded` is flushed,
and starts visibly only once that success is reported."""

from __future__ import annotations

import asyncio
from pathlib import Path

from teambot.reports import Reports, Start
from tests.helpers import events, teambot


def _project(tmp_path: Path) -> tuple[Path, Path]:
    """A fan-out / fan-in around a parallel group, then a chain of fast stages (demo runtime)."""
    project = tmp_path / "project"
    project.mkdir()
    chain = [f"E{i:02d}" for i in range(1, 16)]
    lines = ["stages:", "  A: {work_agent: a, artifacts: [a.md]}", "  B: {work_agent: b}", "  C: {work_agent: c}",
             "  D: {work_agent: a}", *(f"  {n}: {{work_agent: a}}" for n in chain),
             "stage_order: [A, B, C, D, " + ", ".join(chain) + "]",
             "parallel_groups:", "  g:", "    after: A", "    stages: [B, C]", "    before: D"]
    (project / "stages.yaml").write_text("\n".join(lines) + "\n")
    (project / "objective.md").write_text("---\nfeature: pipe\n---\n# Pipe\n\nFast stages.\n")
    return project, project / ".agent-tracking" / "pipe"


def test_every_stage_starts_after_what_it_depends_on_was_reported(tmp_path: Path) -> None:
    project, run_dir = _project(tmp_path)
    for round_ in range(3):  # (timing varies: a few runs)
        done = teambot("run", "objective.md", "-q", cwd=project, env={"TEAMBOT_DEMO_DELAY": "0"}) if round_ == 0 else \
            teambot("rerun", "A", cwd=project)
        assert done.returncode == 0, done.stdout + done.stderr
        if round_:
            resumed = teambot("resume", "-q", cwd=project, env={"TEAMBOT_DEMO_DELAY": "0"})
            assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    deps = {"B": {"A"}, "C": {"A"}, "D": {"B", "C"}, "E01": {"D"},
            **{f"E{i:02d}": {f"E{i - 1:02d}"} for i in range(2, 16)}}
    log = events(run_dir)
    reported: set[str] = set()
    starts = 0
    for event in log:
        if event["type"] == "stage_started":
            starts += 1
            missing = deps.get(event["stage"], set()) - reported
            assert not missing, f"{event['stage']} started before {missing} was reported"
        elif event["type"] == "parallel_group_started":
            assert "A" in reported, "group g started before A was reported"
        elif event["type"] == "stage_succeeded":
            reported.add(event["stage"])
        elif event["type"] == "stage_reset":
            reported.discard(event["stage"])
    assert starts == 19 * 3, starts
    assert sum(1 for e in log if e["type"] == "stage_reset") >= 2 * 19  # (each rerun reset the lot: checked afresh)
    # each attempt's prompt was saved and its record finished
    assert all((run_dir / "prompts" / f"{n}.md").exists() for n in deps)


def test_a_start_is_announced_once_after_the_reports() -> None:
    async def scenario() -> list[str]:
        said: list[str] = []
        reports = Reports()
        reports.advance("A")
        assert reports.settling() == 1
        start = Start(reports, lambda: said.append("B started"))
        waiting = asyncio.ensure_future(start())
        await asyncio.sleep(0.01)
        assert said == [] and not waiting.done()  # A is not reported yet
        said.append("A succeeded")
        reports.reported("A")
        await waiting
        await start()  # once
        start.now()
        assert reports.settling() == 0
        return said

    assert asyncio.run(scenario()) == ["A succeeded", "B started"]


def test_an_interrupted_wait_announces_at_once() -> None:
    async def scenario() -> list[str]:
        said: list[str] = []
        reports = Reports()
        reports.advance("A")
        start = Start(reports, lambda: said.append("B started"))
        waiting = asyncio.ensure_future(start())
        await asyncio.sleep(0.01)
        waiting.cancel()
        try:
            await waiting
        except asyncio.CancelledError:
            start.now()  # what the executor does for an attempt interrupted while it waited
        assert start.done
        return said

    assert asyncio.run(scenario()) == ["B started"]


def test_events_never_show_more_running_than_allowed(tmp_path: Path) -> None:
    """A stage advanced (flushing) frees its agent and its place at once, but a stage taken into them
    starts visibly only after that report: events.jsonl never shows more stages running than
    --max-concurrency, nor two stages of one agent."""
    project = tmp_path / "project"
    project.mkdir()
    names = [f"P{i}" for i in range(1, 9)]
    lines = ["stages:", *(f"  {n}: {{work_agent: {'xy'[i % 2]}, depends_on: []}}" for i, n in enumerate(names)),
             "stage_order: [" + ", ".join(names) + "]"]
    (project / "stages.yaml").write_text("\n".join(lines) + "\n")
    (project / "objective.md").write_text("---\nfeature: wide\n---\n# Wide\n\nIndependent stages.\n")
    for limit in ("1", "2"):
        done = teambot("run", "objective.md", "-q", "--max-concurrency", limit, "--feature", f"wide{limit}",
                       cwd=project, env={"TEAMBOT_DEMO_DELAY": "0"})
        assert done.returncode == 0, done.stdout + done.stderr
        running: dict[str, str] = {}
        for event in events(project / ".agent-tracking" / f"wide{limit}"):
            if event["type"] == "stage_started":
                agent = event["details"]["agent"]
                assert agent not in running.values(), f"{event['stage']} started beside another stage of {agent}"
                running[event["stage"]] = agent
                assert len(running) <= int(limit), running
            elif event["type"] == "stage_succeeded":
                running.pop(event["stage"])


def test_a_cancelled_waiter_leaves_the_others_waiting() -> None:
    async def scenario() -> tuple[bool, bool]:
        reports = Reports()
        reports.advance("A")
        reports.advance("C")
        first = asyncio.ensure_future(reports.after_reports())
        second = asyncio.ensure_future(reports.after_reports())
        await asyncio.sleep(0.01)
        first.cancel()
        reports.reported("A")
        await asyncio.sleep(0.01)
        waiting_for_c = not second.done()  # it waits for every stage advanced before it
        reports.reported("C")
        await asyncio.wait_for(second, 1)
        return first.cancelled(), waiting_for_c

    assert asyncio.run(scenario()) == (True, True)
