"""Checks of the stage fields that name agents: `allowed_personas` and `parallel_agents`.

`allowed_personas` follows upstream teambot's rule: a stage's list (when not empty) names the
agent doing the stage's own job, by agent id or by persona: the work_agent of a work or
acceptance stage, the review_agent of a review stage (whose work_agent only revises).
"""

from __future__ import annotations

import re

from teambot.config.problems import Problem
from teambot.config.structure import Parts

# Upstream teambot's default agents and their personas (its teambot.json); builder-N is a builder.
_PERSONAS = {"pm": "project_manager", "ba": "business_analyst", "writer": "technical_writer"}


def persona_of(agent: str) -> str:
    """`pm` -> `project_manager`, `builder-2` -> `builder`; any other id is its own persona."""
    return _PERSONAS.get(agent, re.sub(r"-\d+$", "", agent))


def allowed_persona_problems(parts: Parts) -> list[Problem]:
    """A stage whose agent is neither listed in its allowed_personas by id nor by persona."""
    problems = []
    for name, stage in parts.stages.items():
        if not stage.allowed_personas:
            continue  # no list: any agent may do the stage
        field = "review_agent" if stage.is_review_stage else "work_agent"
        agent = getattr(stage, field)
        if not agent:
            continue  # a command stage or a sync point: no agent to check
        allowed = {p.lower() for p in stage.allowed_personas}
        persona = persona_of(agent.lower())
        if agent.lower() in allowed or persona in allowed:
            continue
        who = f"'{agent}'" + (f" (persona '{persona}')" if persona != agent.lower() else "")
        problems.append(Problem(("stages", name, "allowed_personas"),
                                f"{field} {who} of {name} is not in allowed_personas "
                                f"[{', '.join(stage.allowed_personas)}]; add it to the list or choose another {field}"))
    return problems


def parallel_agents_warnings(parts: Parts) -> list[Problem]:
    """parallel_agents is read (upstream files set it); only a task stage acts on it (its default pool)."""
    return [Problem(("stages", name, "parallel_agents"),
                    "parallel_agents is accepted for compatibility and ignored here (teambot runs one work_agent "
                    "per stage; on a task stage it is the default pool of tasks.agents); remove it to silence this warning")
            for name, stage in parts.stages.items() if stage.parallel_agents and stage.tasks is None]
