"""Shape checks for a parsed stages file: keys, types, names; each stage and group on its own.

Every stage and group is validated separately, so one broken stage never hides the
problems of another; a broken one is kept with the fields that did validate, so the
reference checks that follow still see its name, depends_on and work_agent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from teambot.config.models import STAGE_NAME_RE, GroupConfig, StageConfig
from teambot.config.problems import Problem, describe, did_you_mean, from_pydantic
from teambot.names import control_character

TOP_LEVEL_KEYS = ("stages", "stage_order", "parallel_groups", "work_to_review_mapping")
EXTENSION_PREFIX = "x-"  # top-level keys starting with this are ignored
_NAME_RULE = "use letters, digits, '_' or '-', start with a letter or '_', at most 64 characters"

M = TypeVar("M", bound=BaseModel)


@dataclass
class Parts:
    """What could be read from the file, section by section.

    `order` is None when stage_order is missing or not a list (order checks are skipped).
    `loose_groups` are groups whose `stages` field was unusable (no empty-group check).
    """

    stages: dict[str, StageConfig] = field(default_factory=dict)
    order: list[str] | None = None
    groups: dict[str, GroupConfig] = field(default_factory=dict)
    review_map: dict[str, str] = field(default_factory=dict)
    loose_groups: set[str] = field(default_factory=set)


def check_structure(data: object) -> tuple[Parts, list[Problem]]:
    """Validate the document's shape. Returns what is usable and every problem found."""
    parts, problems = Parts(), []
    if not isinstance(data, dict):
        problems.append(Problem((), "the top level must be a mapping with keys "
                                    f"{', '.join(TOP_LEVEL_KEYS)}; got {describe(data)}"))
        return parts, problems
    for key in data:
        if isinstance(key, str) and key.startswith(EXTENSION_PREFIX):
            continue  # a place for YAML anchors (`x-defaults: &defaults {...}`), as in compose files
        if key not in TOP_LEVEL_KEYS:
            problems.append(Problem((key,), "unknown top-level key" + did_you_mean(key, TOP_LEVEL_KEYS)))
    for key in ("stages", "stage_order"):
        if key not in data:
            problems.append(Problem((), f"missing required top-level key '{key}'"))
    if "stages" in data:
        _check_stages(data["stages"], parts, problems)
    if "stage_order" in data:
        _check_order(data["stage_order"], parts, problems)
    # An optional section left empty (`parallel_groups:` with its groups commented out) is null.
    if data.get("parallel_groups") is not None:
        _check_groups(data["parallel_groups"], parts, problems)
    if data.get("work_to_review_mapping") is not None:
        _check_review_map(data["work_to_review_mapping"], parts, problems)
    return parts, problems


def _named_entries(section: str, raw: object, what: str, problems: list[Problem]) -> list[tuple[str, Any]]:
    if not isinstance(raw, dict):
        problems.append(Problem((section,), f"expected a mapping of {what} name to {what}, got {describe(raw)}"))
        return []
    entries = []
    for name, body in raw.items():
        if not isinstance(name, str):
            problems.append(Problem((section, name), f"{what} names must be text, got {describe(name)}"))
        elif not STAGE_NAME_RE.fullmatch(name):
            problems.append(Problem((section, name), f"invalid {what} name {name!r}: {_NAME_RULE}"))
            entries.append((name, body))
        else:
            entries.append((name, body))
    return entries


def _check_stages(raw: object, parts: Parts, problems: list[Problem]) -> None:
    if isinstance(raw, dict) and not raw:
        problems.append(Problem(("stages",), "no stages defined"))
    for name, body in _named_entries("stages", raw, "stage", problems):
        model, errors, _ = _validate(StageConfig, body, ("stages", name), {})
        parts.stages[name] = model
        problems.extend(errors)
        problems.extend(_agent_id_problems(name, model))


def _agent_id_problems(name: str, stage: StageConfig) -> list[Problem]:
    """Agent ids become file names, argv elements and log lines: no control characters."""
    found = []
    ids = [(("work_agent",), stage.work_agent), (("review_agent",), stage.review_agent)]
    ids += [(("allowed_personas", i), a) for i, a in enumerate(stage.allowed_personas)]
    ids += [(("parallel_agents", i), a) for i, a in enumerate(stage.parallel_agents or [])]
    ids += [(("tasks", "agents", i), a) for i, a in enumerate(stage.tasks.agents or [] if stage.tasks else [])]
    for where, agent in ids:
        bad = control_character(agent) if agent else None
        if bad:
            found.append(Problem(("stages", name, *where), f"agent id {agent!r} contains a control character ({bad})"))
    return found


def _check_order(raw: object, parts: Parts, problems: list[Problem]) -> None:
    if not isinstance(raw, list):
        problems.append(Problem(("stage_order",), f"expected a list of stage names, got {describe(raw)}"))
        return
    parts.order = []
    for i, item in enumerate(raw):
        if isinstance(item, str):
            parts.order.append(item)
        else:
            problems.append(Problem(("stage_order", i), f"expected a stage name, got {describe(item)}"))


def _check_groups(raw: object, parts: Parts, problems: list[Problem]) -> None:
    for name, body in _named_entries("parallel_groups", raw, "group", problems):
        model, errors, usable = _validate(GroupConfig, body, ("parallel_groups", name), {"stages": []})
        parts.groups[name] = model
        if "stages" not in usable:
            parts.loose_groups.add(name)
        problems.extend(errors)


def _check_review_map(raw: object, parts: Parts, problems: list[Problem]) -> None:
    if not isinstance(raw, dict):
        problems.append(Problem(("work_to_review_mapping",),
                                f"expected a mapping of work stage to review stage, got {describe(raw)}"))
        return
    for work, review in raw.items():
        path = ("work_to_review_mapping", work)
        if not isinstance(work, str):
            problems.append(Problem(path, f"expected a stage name as key, got {describe(work)}"))
        elif not isinstance(review, str):
            problems.append(Problem(path, f"expected a review stage name, got {describe(review)}"))
        else:
            parts.review_map[work] = review


def _validate(model: type[M], body: object, prefix: tuple, base: dict[str, Any]) -> tuple[M, list[Problem], set[str]]:
    """(model, problems, usable fields). On errors, the model keeps the fields that validate."""
    try:
        return model.model_validate(body), [], set(base) | (set(body) if isinstance(body, dict) else set())
    except ValidationError as exc:
        problems = from_pydantic(exc, prefix, model.model_fields)
    usable: dict[str, Any] = {}
    if isinstance(body, dict):
        for key, value in body.items():
            if key in model.model_fields:
                try:
                    model.model_validate({**base, key: value})
                except ValidationError:
                    continue
                usable[key] = value
    return model.model_validate({**base, **usable}), problems, set(usable)
