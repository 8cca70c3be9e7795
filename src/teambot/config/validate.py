"""Meaning checks for a stages file: references, group placement, cycles, artifacts, templates.

Runs on whatever `structure.check_structure` could read, so a file with type errors still
gets its reference and cycle problems reported in the same pass.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from teambot.config.agent_fields import allowed_persona_problems, parallel_agents_warnings
from teambot.config.models import GroupConfig, StageKindName, StagesFile
from teambot.config.people import approval_problems
from teambot.config.problems import Problem, did_you_mean
from teambot.config.structure import Parts
from teambot.config.templates import resolve_template
from teambot.graph import find_cycle, implied_edges
from teambot.names import control_character

MAX_CYCLES = 10  # enough to show a tangle without flooding the screen


def check_workflow(parts: Parts, project_dir: Path, *, check_templates: bool = True) -> tuple[list[Problem], list[Problem]]:
    """(problems, warnings) for the parts of a stages file."""
    problems: list[Problem] = []
    problems += _stage_fields(parts)
    problems += _order(parts)
    problems += _groups(parts)
    problems += _references(parts)
    problems += _cycles(parts)
    problems += _task_sources(parts)
    problems += allowed_persona_problems(parts)
    if check_templates:
        problems += _templates(parts, project_dir)
    return problems, _warnings(parts) + parallel_agents_warnings(parts)


def _unknown(name: str, parts: Parts, what: str = "stage") -> str:
    return f"'{name}' is not a defined {what}" + did_you_mean(name, parts.stages)


def artifact_problem(name: str) -> str | None:
    """Why `name` cannot be an artifact path (relative, inside the artifacts dir), or None."""
    if "\\" in name or control_character(name):
        return "must not contain backslashes or NUL (or any other control character)"
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith("~") or (len(name) > 1 and name[1] == ":"):
        return "must be a relative path inside the artifacts directory"
    if ".." in path.parts:
        return "must not contain '..' (it would leave the artifacts directory)"
    if name.endswith("/") or path.name in ("", "."):
        return "must name a file, not a directory"
    return None


# Placeholders a command stage's `run` and an acceptance command may use (each argv element).
RUN_PLACEHOLDERS = ("project_dir", "run_dir", "artifacts_dir", "stage", "feature", "python")
ACCEPTANCE_PLACEHOLDERS = (*RUN_PLACEHOLDERS, "junit")


def _stage_fields(parts: Parts) -> list[Problem]:
    problems = []
    for name, stage in parts.stages.items():
        for i, artifact in enumerate(stage.artifacts):
            reason = artifact_problem(artifact)
            if reason:
                problems.append(Problem(("stages", name, "artifacts", i), f"artifact {artifact!r} {reason}"))
        problems += _kind(name, stage)
        for i, argv in enumerate(stage.run or []):
            problems += placeholder_problems(("stages", name, "run", i), argv, RUN_PLACEHOLDERS)
        if stage.acceptance_command:
            problems += placeholder_problems(("stages", name, "acceptance_command"), stage.acceptance_command,
                                             ACCEPTANCE_PLACEHOLDERS)
        if stage.tasks is not None:
            problems += _task_stage(name, stage, parts)
    acceptance = {n for n, st in parts.stages.items() if st.is_acceptance_test_stage}
    for gated in (n for n, st in parts.stages.items() if st.requires_acceptance_tests_passed):
        if not acceptance - {gated}:  # an acceptance stage does not wait for its own result
            problems.append(Problem(("stages", gated, "requires_acceptance_tests_passed"),
                                    "no other stage has is_acceptance_test_stage: true, so this gate has nothing to check"))
    return problems


def _kind(name: str, stage) -> list[Problem]:
    """A stage is one kind: plain, review loop, acceptance loop or command; each needs its agents."""
    here = ("stages", name)
    problems = []
    if stage.run is not None:
        for key in ("work_agent", "review_agent", "is_review_stage", "is_acceptance_test_stage"):
            if getattr(stage, key):
                problems.append(Problem(here + (key,), "a command stage (run) calls no agent; remove "
                                                       f"{key} or remove run"))
    if stage.is_review_stage and stage.is_acceptance_test_stage:
        problems.append(Problem(here + ("is_acceptance_test_stage",),
                                "a stage is either a review stage or an acceptance test stage, not both"))
    if stage.is_review_stage:
        for key in ("work_agent", "review_agent"):
            if not getattr(stage, key):
                problems.append(Problem(here + (key,), f"a review stage needs a {key} (work_agent revises, "
                                                       "review_agent approves or requests changes)"))
    if stage.is_acceptance_test_stage and not stage.work_agent:
        problems.append(Problem(here + ("work_agent",), "an acceptance test stage needs a work_agent "
                                                        "(it writes the tests and fixes what fails)"))
    if stage.acceptance_command is not None and not stage.is_acceptance_test_stage:
        problems.append(Problem(here + ("acceptance_command",), "only a stage with is_acceptance_test_stage: true "
                                                                "runs an acceptance command"))
    if stage.max_iterations is not None and not (stage.is_review_stage or stage.is_acceptance_test_stage):
        problems.append(Problem(here + ("max_iterations",), "only review and acceptance test stages iterate"))
    problems += [Problem(here + (key,), message) for key, message in approval_problems(stage)]
    return problems


def _task_stage(name: str, stage, parts: Parts) -> list[Problem]:
    """A task stage: no other kind's fields, a pool of agents, a tasks file it can read."""
    here = ("stages", name, "tasks")
    problems = []
    for key in ("run", "is_review_stage", "is_acceptance_test_stage"):
        if getattr(stage, key):
            problems.append(Problem(("stages", name, key), f"a task stage (tasks) runs its tasks' agents; remove {key} "
                                                           "or remove tasks"))
    if stage.artifacts:
        problems.append(Problem(("stages", name, "artifacts"), "a task stage declares no artifacts: its work is what it "
                                                               "merges into the integration branch"))
    block = stage.tasks
    if not block.pool(stage):
        problems.append(Problem(here + ("agents",), "a task stage needs agents: tasks.agents, parallel_agents or work_agent"))
    source = block.from_
    producers = [n for n, st in parts.stages.items() if source in st.artifacts and n != name]
    if not producers:
        reason = _project_path_problem(source)
        if reason:
            problems.append(Problem(here + ("from",), f"{source!r} is no stage's declared artifact and {reason}"))
    for key in ("verify", "setup"):
        argv = getattr(block, key)
        if argv:
            problems += placeholder_problems(here + (key,), argv, RUN_PLACEHOLDERS)
    return problems


def _project_path_problem(name: str) -> str | None:
    """Why `name` cannot be a path inside the project, or None."""
    if control_character(name):
        return "a path must not contain control characters"
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith("~"):
        return "a project path must be relative to the project directory"
    if ".." in path.parts:
        return "a project path must not contain '..'"
    return None


def placeholder_problems(where: tuple, argv: list[str], known: tuple[str, ...]) -> list[Problem]:
    import re

    problems = []
    for i, arg in enumerate(argv):
        for found in re.findall(r"\{([A-Za-z_][A-Za-z0-9_]*)\}", arg):
            if found not in known:
                problems.append(Problem(where + (i,), f"unknown placeholder {{{found}}}{did_you_mean(found, known)}; "
                                                      f"known: {', '.join('{' + p + '}' for p in known)}"))
    return problems


def _order(parts: Parts) -> list[Problem]:
    if parts.order is None:
        return []
    problems, seen = [], set()
    for i, name in enumerate(parts.order):
        if name in seen:
            problems.append(Problem(("stage_order", i), f"'{name}' is listed more than once"))
        elif name not in parts.stages:
            problems.append(Problem(("stage_order", i), _unknown(name, parts)))
        seen.add(name)
    for name in parts.stages:
        if name not in seen:
            problems.append(Problem(("stages", name), "not listed in stage_order (every stage must have a place in it)"))
    return problems


def _groups(parts: Parts) -> list[Problem]:
    problems: list[Problem] = []
    owner: dict[str, str] = {}
    position = {name: i for i, name in reversed(list(enumerate(parts.order or [])))}
    for gname, group in parts.groups.items():
        here = ("parallel_groups", gname)
        if not group.stages and gname not in parts.loose_groups:
            problems.append(Problem(here + ("stages",), "the group has no stages"))
        for i, member in enumerate(group.stages):
            path = here + ("stages", i)
            if member not in parts.stages:
                problems.append(Problem(path, _unknown(member, parts)))
            elif owner.get(member) == gname:
                problems.append(Problem(path, f"'{member}' is listed twice in this group"))
            elif member in owner:
                problems.append(Problem(path, f"'{member}' is already in group '{owner[member]}'; "
                                              "a stage can be in only one parallel group"))
            owner.setdefault(member, gname)
        for end in ("after", "before"):
            name = getattr(group, end)
            if name is None:
                continue
            if name not in parts.stages:
                problems.append(Problem(here + (end,), _unknown(name, parts)))
            elif name in group.stages:
                problems.append(Problem(here + (end,), f"'{name}' is both the group's {end} stage and one of its members"))
            else:
                problems += _placement(here, end, name, group, position)
    return problems


def _placement(here: tuple, end: str, name: str, group: GroupConfig, position: dict[str, int]) -> list[Problem]:
    """`after` must precede every member in stage_order, `before` must follow every member."""
    if name not in position:
        return []
    if end == "after":
        wrong = [m for m in dict.fromkeys(group.stages) if m in position and position[m] < position[name]]
        rule = "must come before every member in stage_order"
        side = "before"
    else:
        wrong = [m for m in dict.fromkeys(group.stages) if m in position and position[m] > position[name]]
        rule = "must come after every member in stage_order"
        side = "after"
    if not wrong:
        return []
    listed = ", ".join(f"'{m}'" for m in wrong)
    return [Problem(here + (end,), f"{end} stage '{name}' {rule}, but {listed} "
                                   f"{'comes' if len(wrong) == 1 else 'come'} {side} it")]


def _references(parts: Parts) -> list[Problem]:
    problems = []
    for name, stage in parts.stages.items():
        for i, dep in enumerate(stage.depends_on or []):
            path = ("stages", name, "depends_on", i)
            if dep == name:
                problems.append(Problem(path, f"'{name}' depends on itself"))
            elif dep not in parts.stages:
                problems.append(Problem(path, _unknown(dep, parts)))
    for work, review in parts.review_map.items():
        path = ("work_to_review_mapping", work)
        if work not in parts.stages:
            problems.append(Problem(path, "work stage " + _unknown(work, parts)))
        if review not in parts.stages:
            problems.append(Problem(path, "review stage " + _unknown(review, parts)))
    return problems


def _cycles(parts: Parts) -> list[Problem]:
    config = StagesFile(stages=parts.stages, stage_order=parts.order or [], parallel_groups=parts.groups)
    deps = implied_edges(config)
    for name, edges in deps.items():
        edges.discard(name)  # self-dependency is reported by _references
    problems = []
    for _ in range(MAX_CYCLES):
        cycle = find_cycle(deps)
        if cycle is None:
            break
        explicit = next((s for s in cycle if parts.stages[s].depends_on is not None), None)
        path = ("stages", explicit, "depends_on") if explicit else ("stages", cycle[0])
        problems.append(Problem(path, "dependency cycle: " + " -> ".join(cycle) + " (each stage waits for the next)"))
        deps[cycle[0]].discard(cycle[1])  # break it and look for another
    return problems


def _ancestors(deps: dict[str, set[str]], name: str) -> set[str]:
    """Every stage `name` waits for, directly or through others."""
    seen: set[str] = set()
    todo = list(deps.get(name, ()))
    while todo:
        dep = todo.pop()
        if dep not in seen:
            seen.add(dep)
            todo.extend(deps.get(dep, ()))
    return seen


def _task_sources(parts: Parts) -> list[Problem]:
    """A task stage reading a stage's artifact must run after that stage."""
    stages = {n: st for n, st in parts.stages.items() if st.tasks is not None}
    if not stages:
        return []
    config = StagesFile(stages=parts.stages, stage_order=parts.order or [], parallel_groups=parts.groups)
    deps = implied_edges(config)
    problems = []
    for name, stage in stages.items():
        producers = [n for n, st in parts.stages.items() if stage.tasks.from_ in st.artifacts and n != name]
        if not producers:
            continue
        if not _ancestors(deps, name) & set(producers):
            problems.append(Problem(("stages", name, "tasks", "from"),
                                    f"{stage.tasks.from_!r} is written by {', '.join(producers)}, which does not run "
                                    f"before {name}; make {name} depend on it"))
    return problems


def _templates(parts: Parts, project_dir: Path) -> list[Problem]:
    problems = []
    for name, stage in parts.stages.items():
        if not stage.prompt_template:
            continue
        where = Path(stage.prompt_template)  # as prompts.assemble resolves it: no ~ expansion
        where = where if where.is_absolute() else project_dir / where
        try:
            found = resolve_template(stage.prompt_template, project_dir)
            if found is not None and found.is_file():  # a FIFO or device is found, then refused here
                continue  # the project's file, or teambot's packaged template of that name
            state = None if where.is_file() else "is not a file" if where.exists() else "not found"
        except OSError as exc:  # e.g. a name too long for the file system
            state = f"cannot be read ({exc.strerror})"
        if state:
            problems.append(Problem(("stages", name, "prompt_template"),
                                    f"prompt template {stage.prompt_template} {state} (looked for {where})"))
    return problems


def _gate_warnings(parts: Parts) -> list[Problem]:
    """A gated stage that does not wait for every acceptance stage may start before their results exist."""
    acceptance = {n for n, s in parts.stages.items() if s.is_acceptance_test_stage}
    gated = [n for n, s in parts.stages.items() if s.requires_acceptance_tests_passed]
    if not acceptance or not gated or parts.order is None:
        return []
    deps = implied_edges(StagesFile(stages=parts.stages, stage_order=parts.order, parallel_groups=parts.groups))
    warnings = []
    for name in gated:
        missing = sorted(acceptance - _ancestors(deps, name) - {name})
        if missing:
            warnings.append(Problem(("stages", name, "requires_acceptance_tests_passed"),
                                    f"{name} does not depend on {', '.join(missing)}; it may start before that "
                                    "acceptance result exists and then be blocked by the gate"))
    return warnings


def _warnings(parts: Parts) -> list[Problem]:
    warnings = _gate_warnings(parts)
    for name, stage in parts.stages.items():  # budgets and models concern agent calls only
        if stage.kind in (StageKindName.COMMAND, StageKindName.SYNC):
            for field in ("model", "budget"):
                if getattr(stage, field) is not None:
                    warnings.append(Problem(("stages", name, field), f"{field} has no effect: {name} calls no agent"))
    for gname, group in parts.groups.items():
        by_agent: dict[str, list[str]] = {}
        by_artifact: dict[str, list[str]] = {}
        for member in dict.fromkeys(group.stages):
            stage = parts.stages.get(member)
            if stage is None:
                continue
            # a review stage holds its reviewer too while it runs
            held = [stage.work_agent, stage.review_agent if stage.is_review_stage else None]
            for agent in dict.fromkeys(a for a in held if a):
                by_agent.setdefault(agent, []).append(member)
            for artifact in stage.artifacts:
                by_artifact.setdefault(artifact, []).append(member)
        here = ("parallel_groups", gname)
        for agent, members in by_agent.items():
            if len(members) > 1:
                warnings.append(Problem(here, f"{' and '.join(members)} both use agent '{agent}'; "
                                              "they will run one after the other (one session per agent)"))
        for artifact, members in by_artifact.items():
            if len(members) > 1:
                warnings.append(Problem(here, f"{' and '.join(members)} both declare artifact '{artifact}'; "
                                              "running side by side, one will overwrite the other"))
    return warnings
