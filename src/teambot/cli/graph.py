"""`teambot graph`: print the effective stage DAG as a mermaid flowchart or as text."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import click

from teambot.cli.common import workspace_option

if TYPE_CHECKING:  # pragma: no cover - typing only
    from teambot.config.loader import Workflow

_PLAIN_ID = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")
# Words mermaid reads as syntax when used as a node id.
_RESERVED = {"end", "graph", "subgraph", "flowchart", "style", "class", "classdef", "click", "linkstyle", "direction", "default"}


@click.command("graph")
@click.option("--stages", "stages_path", type=click.Path(path_type=Path), default=None,
              help="The stages file (default: ./stages.yaml, else the built-in workflow).")
@click.option("--format", "fmt", type=click.Choice(["mermaid", "text"]), default="mermaid", show_default=True,
              help="mermaid: a `flowchart TD` to paste into markdown; text: one line per stage.")
@click.option("--feature", default=None, help="A run whose task stages' tasks files to show (a stage's tasks.yaml artifact).")
@workspace_option
def command(stages_path: Path | None, fmt: str, feature: str | None, workspace: Path | None) -> int:
    """Print the effective stage graph: who waits for whom, the parallel groups, and each task stage's tasks once known."""
    from teambot.config.loader import load_workflow, resolve_stages_path

    project_dir = Path.cwd()
    workflow = load_workflow(resolve_stages_path(stages_path, project_dir), project_dir=project_dir,
                             check_templates=False)  # templates do not change the graph
    tasks = known_tasks(workflow, project_dir, _artifacts_dir(workspace, feature))
    click.echo(render_mermaid(workflow, tasks) if fmt == "mermaid" else render_text(workflow, tasks))
    return 0


def _artifacts_dir(workspace: Path | None, feature: str | None) -> Path | None:
    if feature is None:
        return None
    from teambot.cli.common import pick_feature, workspace_dir
    from teambot.paths import RunPaths

    ws = workspace_dir(workspace)
    return RunPaths(ws, pick_feature(ws, feature, unfinished_only=False)).artifacts


def known_tasks(workflow: Workflow, project_dir: Path, artifacts: Path | None) -> dict[str, list]:
    """Each task stage's tasks, when its tasks file exists (a project file, or the run's artifact); checked as for a run."""
    from teambot.tasks.model import load_tasks

    found = {}
    produced = {a for st in workflow.config.stages.values() for a in st.artifacts}
    for name in workflow.graph.order:
        block = workflow.config.stages[name].tasks
        if block is None:
            continue
        path = (artifacts / block.from_ if artifacts is not None else None) if block.from_ in produced else project_dir / block.from_
        if path is not None and path.is_file():
            found[name] = list(load_tasks(path, agents=block.pool(workflow.config.stages[name])).tasks)
    return found


def _ordered_deps(workflow: Workflow) -> dict[str, list[str]]:
    """Each stage's dependencies, in stage_order."""
    graph = workflow.graph
    position = {n: i for i, n in enumerate(graph.order)}
    return {name: sorted(graph.deps[name], key=lambda dep: position.get(dep, len(position))) for name in graph.order}


def render_text(workflow: Workflow, tasks: dict[str, list] | None = None) -> str:
    """One line per stage in stage_order: `NAME  <- DEPS  [group G]`."""
    graph = workflow.graph
    width = max((len(n) for n in graph.order), default=0)
    ordered, group_of = _ordered_deps(workflow), graph.group_index
    lines = []
    for name in graph.order:
        deps = ", ".join(ordered[name]) or "(start)"
        line = f"{name:<{width}}  <- {deps}"
        if workflow.config.stages[name].depends_on is not None:
            line += "  (depends_on)"
        group = group_of.get(name)
        if group is not None:
            line += f"  [group {group}]"
        lines.append(line)
        for task in (tasks or {}).get(name, []):
            lines.append(f"  {name}/{task.id}  <- {', '.join(task.depends_on) or '(start)'}  {task.title}")
    return "\n".join(lines)


def render_mermaid(workflow: Workflow, tasks: dict[str, list] | None = None) -> str:
    """A mermaid `flowchart TD`: an edge from each dependency to the stage that waits for it."""
    graph = workflow.graph
    ids: dict[str, str] = {}
    for i, name in enumerate(graph.order):
        plain = _PLAIN_ID.fullmatch(name) and name.lower() not in _RESERVED
        ids[name] = name if plain else f"stage_{i}"
    def node(name: str) -> str:
        return ids[name] if ids[name] == name else f'{ids[name]}["{name}"]'

    lines = ["flowchart TD"]
    group_of = graph.group_index
    lines.extend(f"    {node(name)}" for name in graph.order if name not in group_of)
    for i, (group, members) in enumerate(graph.groups.items()):
        lines.append(f'    subgraph group_{i}["{group} (parallel)"]')
        lines.extend(f"        {node(m)}" for m in members if m in ids)
        lines.append("    end")
    for name, deps in _ordered_deps(workflow).items():
        lines.extend(f"    {ids[dep]} --> {ids[name]}" for dep in deps)
    for i, (stage, found) in enumerate((tasks or {}).items()):
        task_ids = {t.id: f"task_{i}_{j}" for j, t in enumerate(found)}
        lines.append(f'    subgraph tasks_{i}["{stage} tasks"]')
        lines.extend(f'        {task_ids[t.id]}["{t.id}: {_label(t.title)}"]' for t in found)
        lines.append("    end")
        lines.extend(f"    {task_ids[d]} --> {task_ids[t.id]}" for t in found for d in t.depends_on)
        lines.append(f"    {ids[stage]} -.- tasks_{i}")
    return "\n".join(lines)


def _label(text: str) -> str:
    return text.replace('"', "'").replace("[", "(").replace("]", ")")
