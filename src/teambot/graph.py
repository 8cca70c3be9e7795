"""The immutable stage DAG built from stages.yaml: effective edges, cycles, downstream sets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from teambot.config.models import StagesFile


@dataclass(frozen=True)
class StageGraph:
    """Stages in `order` (stage_order) and, for each stage, the stages it depends on."""

    order: tuple[str, ...]
    deps: Mapping[str, frozenset[str]]
    groups: Mapping[str, tuple[str, ...]]
    group_index: Mapping[str, str]  # member -> its group

    def dependents(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {name: set() for name in self.order}
        for name, deps in self.deps.items():
            for dep in deps:
                out[dep].add(name)
        return out

    def downstream(self, names: Iterable[str]) -> set[str]:
        """The given stages and every stage that transitively depends on one of them."""
        children = self.dependents()
        seen: set[str] = set()
        todo = [n for n in names if n in self.deps]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            todo.extend(children[name])
        return seen

    def group_of(self, name: str) -> str | None:
        return self.group_index.get(name)


def implied_edges(config: StagesFile) -> dict[str, set[str]]:
    """Edges from stage_order and parallel_groups; `depends_on` replaces a stage's implied edges.

    Only names defined in `config.stages` take part; the validator reports the others.
    """
    defined = config.stages
    order = [n for n in dict.fromkeys(config.stage_order) if n in defined]
    grouped = {m: g for g, grp in config.parallel_groups.items() for m in grp.stages if m in defined}
    deps: dict[str, set[str]] = {name: set() for name in order}
    previous: str | None = None
    for name in order:
        if name not in grouped:
            if previous is not None:
                deps[name].add(previous)
            previous = name
    for group in config.parallel_groups.values():
        members = [m for m in group.stages if m in deps]
        after = group.after if group.after is not None else _stage_before(order, grouped, members)
        for member in members:
            if after in deps and after != member:
                deps[member].add(after)
        before = group.before if group.before is not None else _stage_after(order, grouped, members)
        if before in deps:
            deps[before].update(m for m in members if m != before)
    for name in order:
        explicit = defined[name].depends_on
        if explicit is not None:
            deps[name] = {d for d in explicit if d in defined}
    return deps


def _stage_before(order: list[str], grouped: Mapping[str, str], members: list[str]) -> str | None:
    """A group without `after` follows the stage before it, as an ungrouped stage would:
    the last stage in no group that stage_order lists before the group's first member."""
    first = min((order.index(m) for m in members), default=0)
    return next((name for name in reversed(order[:first]) if name not in grouped), None)


def _stage_after(order: list[str], grouped: Mapping[str, str], members: list[str]) -> str | None:
    """A group without `before` is joined by the stage after it, as an ungrouped stage would
    follow: the first stage in no group that stage_order lists after the group's last member."""
    last = max((order.index(m) for m in members), default=len(order))
    return next((name for name in order[last + 1:] if name not in grouped), None)


def find_cycle(deps: Mapping[str, Iterable[str]]) -> list[str] | None:
    """A dependency cycle as [a, b, ..., a] (a depends on b ...), or None."""
    white, grey, black = 0, 1, 2
    colour = {name: white for name in deps}
    for root in deps:
        if colour[root] != white:
            continue
        stack: list[tuple[str, list[str]]] = [(root, sorted(deps[root]))]
        path = [root]
        colour[root] = grey
        while stack:
            node, todo = stack[-1]
            if not todo:
                colour[node] = black
                stack.pop()
                path.pop()
                continue
            nxt = todo.pop()
            if nxt not in colour:
                continue
            if colour[nxt] == grey:
                return path[path.index(nxt):] + [nxt]
            if colour[nxt] == white:
                colour[nxt] = grey
                path.append(nxt)
                stack.append((nxt, sorted(deps[nxt])))
    return None


def build_graph(config: StagesFile) -> StageGraph:
    """The DAG of a validated config. Callers validate first (cycles are a validation error)."""
    deps = implied_edges(config)
    cycle = find_cycle(deps)
    if cycle is not None:  # the validator reports cycles first; this guards direct callers
        raise ValueError("dependency cycle: " + " -> ".join(cycle))
    return StageGraph(
        order=tuple(deps),
        deps=MappingProxyType({k: frozenset(v) for k, v in deps.items()}),
        groups=MappingProxyType({g: tuple(grp.stages) for g, grp in config.parallel_groups.items()}),
        group_index=MappingProxyType({m: g for g, grp in config.parallel_groups.items() for m in grp.stages}),
    )
