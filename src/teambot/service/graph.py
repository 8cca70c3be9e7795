"""The effective DAG of a run with each stage's live status (`teambot graph`, but for a run)."""

from __future__ import annotations

from pathlib import Path

from teambot.errors import ConfigError
from teambot.service.results import Graph, GraphNode
from teambot.service.runs import run_status


def graph(workspace: Path, feature: str, *, project_dir: Path | None = None) -> Graph:
    """Nodes (status, agent, group, depth) and edges of the stages file the run records.

    A stages file that no longer loads leaves the stages as a chain in the run's order, with a note.
    """
    from teambot.config import load_workflow

    report = run_status(workspace, feature, project_dir=project_dir)
    status = {s.name: s for s in report.stages}
    try:
        workflow = load_workflow(Path(report.stages_file), project_dir=project_dir or Path.cwd(), check_templates=False)
    except ConfigError as err:
        names = list(status)
        nodes = [GraphNode(name=n, status=status[n].status, agent=status[n].agent, group=None, depth=i, kind="unknown")
                 for i, n in enumerate(names)]
        return Graph(feature=feature, nodes=nodes, edges=list(zip(names, names[1:])), groups={},
                     notes=[f"stages file: {err.message}"])
    g = workflow.graph
    depth: dict[str, int] = {}

    def depth_of(name: str) -> int:
        if name not in depth:  # the graph was checked for cycles when it loaded
            depth[name] = 1 + max((depth_of(d) for d in g.deps[name]), default=-1)
        return depth[name]

    nodes = []
    for name in g.order:
        stage = workflow.config.stages[name]
        report_of = status.get(name)
        nodes.append(GraphNode(name=name, status=report_of.status if report_of else "pending",
                               agent=report_of.agent if report_of and report_of.agent else stage.work_agent,
                               group=g.group_of(name), depth=depth_of(name), kind=stage.kind.value))
    position = {n: i for i, n in enumerate(g.order)}
    edges = [(dep, name) for name in g.order for dep in sorted(g.deps[name], key=position.__getitem__)]
    return Graph(feature=feature, nodes=nodes, edges=edges, groups={k: list(v) for k, v in g.groups.items()})
