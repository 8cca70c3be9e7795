"""The tasks file (`tasks: [{id, title, description, depends_on, files, agent}]`), validated.

Every problem is reported at once, as `file:line:col: tasks[1].depends_on[0]: task 'T2': ...`
(config/problems.py): each task is validated on its own, so one broken task never hides the
problems of another, and a broken task's id still counts for the reference checks.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from teambot.config.problems import Positions, Problem, describe, did_you_mean, from_pydantic, invalid, render
from teambot.config.yamlsafe import parse
from teambot.errors import ConfigError
from teambot.graph import find_cycle
from teambot.inputs import read_input
from teambot.names import control_character

MAX_BYTES = 1 << 20  # a tasks file is a few kB
MAX_CYCLES = 10  # enough to show a tangle without flooding the screen
# Ids become branch names (`teambot-task/<feature>/<id>`), record ids and file names: no dots
# (git refuses `..` and `.lock`), no slashes. \Z, not $: $ also matches before a final newline.
TASK_ID_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_-]{0,63}\Z")
_ID_RULE = "use letters, digits, '_' or '-', start with a letter or digit, at most 64 characters"
_EXPECTED = "a mapping with a 'tasks' list"

NonEmptyStr = Annotated[str, StringConstraints(min_length=1)]


class Task(BaseModel):
    """One task: what to do, which tasks' merged work it builds on, the files it expects to touch."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    id: str
    title: NonEmptyStr
    description: str = ""
    depends_on: list[str] = Field(default_factory=list)
    files: list[NonEmptyStr] = Field(default_factory=list)
    agent: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _null_means_none(cls, data: object) -> object:
        """`depends_on:` or `files:` with nothing after it (YAML null) means none."""
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if not (k in ("depends_on", "files", "description") and v is None)}
        return data


class TasksFile(BaseModel):
    """A validated tasks file: at least one task, ids unique, dependencies known and acyclic."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    tasks: tuple[Task, ...] = Field(min_length=1)


@dataclass(frozen=True)
class TaskOrder:
    """Tasks in dependency order (ties in file order) and, for each, its longest chain of
    dependents: how many tasks at most wait for it one after another (0: none). The scheduler
    starts the ready task with the longest chain first."""

    order: tuple[str, ...]
    chain: Mapping[str, int]


def load_tasks(path: Path, *, agents: Collection[str] | None = None) -> TasksFile:
    """Read and validate the tasks file at `path`; ConfigError (exit 2) listing every problem.

    `agents`: the task stage's pool; a task pinned to another agent is a problem.
    """
    try:
        raw = read_input(path, MAX_BYTES, "tasks file")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: cannot read tasks file: {exc.strerror}",
                          hint="give the path of a tasks file, or let the stage that writes it run first") from None
    if path.suffix.lower() in (".md", ".markdown"):
        raw = tasks_block(raw, str(path))
    return parse_tasks(raw, str(path), agents=agents)


def tasks_block(raw: bytes, filename: str) -> bytes:
    """The tasks of a markdown file (a plan): its last fenced ```yaml block holding `tasks:`.

    Every other line is blanked, not removed, so a problem's line number is its line in the
    markdown file. An HTTP runtime's agent can only reply with text: one markdown artifact
    carries both the plan and the machine-readable tasks.
    """
    from markdown_it import MarkdownIt

    text = raw.decode("utf-8", errors="replace")
    found = None
    for token in MarkdownIt("commonmark").parse(text):
        if token.type == "fence" and token.info.strip().lower() in ("yaml", "yml") and token.map \
                and re.search(r"(?m)^tasks\s*:", token.content):
            found = token
    if found is None:
        raise ConfigError(f"{filename}: no tasks: found (expected a fenced ```yaml block holding a 'tasks:' list)",
                          hint="add the plan's tasks as a ```yaml block (docs/stages.md, \"Task stages\")")
    lines = text.splitlines(keepends=True)
    start, end = found.map  # the fence lines; the content is between them
    kept = ["\n"] * (start + 1) + lines[start + 1:end - 1]
    return "".join(kept).encode("utf-8")


def parse_tasks(raw: bytes, filename: str, *, agents: Collection[str] | None = None) -> TasksFile:
    """Validate the tasks file `raw` (named `filename` in messages); ConfigError listing every problem."""
    document, problems = parse(raw, expected=_EXPECTED)
    if document is None:
        raise _invalid(filename, render(problems, filename, Positions()))
    tasks, found = check_tasks(document.data, agents)
    problems += found
    if problems:
        raise _invalid(filename, render(problems, filename, document.positions))
    return TasksFile(tasks=tuple(tasks))


def check_tasks(data: object, agents: Collection[str] | None = None) -> tuple[list[Task], list[Problem]]:
    """The tasks of a parsed tasks file that validated, and every problem found."""
    if not isinstance(data, dict):
        return [], [Problem((), f"the top level must be {_EXPECTED}, got {describe(data)}")]
    problems = [Problem((key,), "unknown top-level key" + did_you_mean(key, ["tasks"]))
                for key in data if key != "tasks" and not str(key).startswith("x-")]
    raw = data.get("tasks")
    if "tasks" not in data:
        return [], problems + [Problem((), "missing required top-level key 'tasks'")]
    if not isinstance(raw, list):
        return [], problems + [Problem(("tasks",), f"expected a list of tasks, got {describe(raw)}")]
    if not raw:
        return [], problems + [Problem(("tasks",), "the task list is empty; give at least one task")]
    ids: dict[int, str] = {}  # index -> id, for every entry whose id is text (valid or not)
    tasks: list[Task] = []
    for index, entry in enumerate(raw):
        problems += _check_task(index, entry, agents, ids, tasks)
    problems += _duplicates(ids)
    deps: dict[str, set[str]] = {}
    for i, task_id in ids.items():  # a duplicated id's edges are all kept
        deps.setdefault(task_id, set()).update(d for d in _raw_deps(raw[i]) if d in ids.values() and d != task_id)
    problems += _references(raw, ids) + _cycles(deps, ids)
    return tasks, problems


def task_order(tasks: Sequence[Task]) -> TaskOrder:
    """The dependency order of validated `tasks` and each one's longest chain of dependents."""
    position = {task.id: i for i, task in enumerate(tasks)}
    waiting = {task.id: len(set(task.depends_on)) for task in tasks}
    dependents: dict[str, list[str]] = {task.id: [] for task in tasks}
    for task in tasks:
        for dep in set(task.depends_on):
            dependents[dep].append(task.id)
    ready = [(position[t], t) for t, n in waiting.items() if n == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, name = heapq.heappop(ready)
        order.append(name)
        for child in dependents[name]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, (position[child], child))
    if len(order) != len(tasks):
        raise ValueError("dependency cycle among tasks; validate the file first")
    chain: dict[str, int] = {}
    for name in reversed(order):
        chain[name] = max((1 + chain[child] for child in dependents[name]), default=0)
    return TaskOrder(tuple(order), MappingProxyType(chain))


def _check_task(index: int, entry: object, agents: Collection[str] | None,
                ids: dict[int, str], tasks: list[Task]) -> list[Problem]:
    here = ("tasks", index)
    if not isinstance(entry, dict):
        return [Problem(here, f"expected a task (a mapping with id, title, ...), got {describe(entry)}")]
    problems: list[Problem] = []
    task_id = entry.get("id")
    if isinstance(task_id, str):
        ids[index] = task_id
        problems += _check_id(here, task_id)
    name = f"task {task_id!r}: " if isinstance(task_id, str) else ""  # the path names it: tasks[3]
    try:
        task = Task.model_validate(entry)
    except ValidationError as exc:
        problems += [Problem(p.path, name + p.message) for p in from_pydantic(exc, here, Task.model_fields)]
        task = None
    if isinstance(entry.get("title"), str) and (bad := control_character(entry["title"])):
        problems.append(Problem(here + ("title",), f"{name}the title must be one line of text (it holds {bad})"))
    files = entry.get("files")
    for i, file in enumerate(files if isinstance(files, list) else []):
        if isinstance(file, str) and (reason := _bad_file(file)):
            problems.append(Problem(here + ("files", i), f"{name}{reason}"))
    agent = entry.get("agent")
    if agents is not None and isinstance(agent, str) and agent not in agents:
        pool = ", ".join(sorted(agents)) or "none"
        problems.append(Problem(here + ("agent",), f"{name}agent {agent!r} is not in the stage's agents ({pool})"
                                + did_you_mean(agent, agents)))
    if task is not None and not problems:
        tasks.append(task)
    return problems


def _check_id(here: tuple[str, int], task_id: str) -> list[Problem]:
    if bad := control_character(task_id):
        return [Problem(here + ("id",), f"task id {task_id!r} holds a control character ({bad}); {_ID_RULE}")]
    if not TASK_ID_RE.fullmatch(task_id):
        return [Problem(here + ("id",), f"task id {task_id!r} is not valid: {_ID_RULE}")]
    return []


def _bad_file(file: str) -> str | None:
    if bad := control_character(file):
        return f"file {file!r} holds a control character ({bad})"
    path = PurePosixPath(file)
    if path.is_absolute() or ".." in path.parts:
        return f"file {file!r} must be a path inside the project, relative to it"
    return None


def _raw_deps(entry: Any) -> list[str]:
    deps = entry.get("depends_on") if isinstance(entry, dict) else None
    return [d for d in deps if isinstance(d, str)] if isinstance(deps, list) else []


def _duplicates(ids: dict[int, str]) -> list[Problem]:
    # compared without case: an id is a file name and a branch name, and `T1` and `t1` are one
    # file on a case-insensitive filesystem (one task's record would overwrite the other's)
    first: dict[str, int] = {}
    problems = []
    for index, task_id in ids.items():
        earlier = first.setdefault(task_id.casefold(), index)
        if earlier == index:
            continue
        if ids[earlier] == task_id:
            why = f"task id {task_id!r} is also used by tasks[{earlier}]"
        else:
            why = (f"task id {task_id!r} differs from tasks[{earlier}]'s {ids[earlier]!r} only in case (one file and "
                   "branch on a case-insensitive filesystem)")
        problems.append(Problem(("tasks", index, "id"), why + "; each task needs its own id"))
    return problems


def _references(raw: list[Any], ids: dict[int, str]) -> list[Problem]:
    known = set(ids.values())
    problems = []
    for index, task_id in ids.items():
        for i, dep in enumerate(_raw_deps(raw[index])):
            path = ("tasks", index, "depends_on", i)
            if dep == task_id:
                problems.append(Problem(path, f"task {task_id!r} depends on itself"))
            elif dep not in known:
                problems.append(Problem(path, f"task {task_id!r} depends on unknown task {dep!r}"
                                        + did_you_mean(dep, known - {task_id})))
    return problems


def _cycles(edges: dict[str, set[str]], ids: dict[int, str]) -> list[Problem]:
    index = {task_id: i for i, task_id in reversed(ids.items())}  # first entry with each id
    problems = []
    for _ in range(MAX_CYCLES):
        cycle = find_cycle(edges)
        if cycle is None:
            break
        problems.append(Problem(("tasks", index[cycle[0]], "depends_on"),
                                f"task {cycle[0]!r} is in a dependency cycle: {' -> '.join(cycle)} "
                                "(each task waits for the next)"))
        edges[cycle[0]].discard(cycle[1])  # break it and look for another
    return problems


def _invalid(filename: str, lines: list[str]) -> ConfigError:
    return invalid(filename, lines, "tasks",
                   "fix them all; each task needs a unique id and a title, and may list depends_on, files, agent")


__all__ = ["MAX_BYTES", "TASK_ID_RE", "Task", "TaskOrder", "TasksFile", "check_tasks", "load_tasks",
           "parse_tasks", "task_order"]
