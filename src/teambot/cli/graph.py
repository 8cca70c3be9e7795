"""`teambot graph`: print the effective stage DAG as a mermaid flowchart or as text."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import click

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
def command(stages_path: Path | None, fmt: str) -> int:
    """Print the effective stage graph: who waits for whom, and the parallel groups."""
    from teambot.config.loader import load_workflow, resolve_stages_path

    project_dir = Path.cwd()
    workflow = load_workflow(resolve_stages_path(stages_path, project_dir), project_dir=project_dir,
                             check_templates=False)  # templates do not change the graph
    click.echo(render_mermaid(workflow) if fmt == "mermaid" else render_text(workflow))
    return 0


def _ordered_deps(workflow: Workflow) -> dict[str, list[str]]:
    """Each stage's dependencies, in stage_order."""
    graph = workflow.graph
    position = {n: i for i, n in enumerate(graph.order)}
    return {name: sorted(graph.deps[name], key=lambda dep: position.get(dep, len(position))) for name in graph.order}


def render_text(workflow: Workflow) -> str:
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
    return "\n".join(lines)


def render_mermaid(workflow: Workflow) -> str:
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
    return "\n".join(lines)
