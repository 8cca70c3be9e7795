"""graph.implied_edges and graph.find_cycle on small configs (in process)."""

from __future__ import annotations

from typing import Any

from teambot.config.models import StagesFile
from teambot.graph import find_cycle, implied_edges
from tests.config.conftest import base_config


def config_of(data: dict[str, Any]) -> StagesFile:
    return StagesFile.model_validate(data)


def test_chain_without_groups() -> None:
    """Stages in no group each depend on the previous one in stage_order."""
    deps = implied_edges(config_of({"stages": {"A": {}, "B": {}, "C": {}}, "stage_order": ["A", "B", "C"]}))
    assert deps == {"A": set(), "B": {"A"}, "C": {"B"}}


def test_group_members_depend_on_after_and_before_on_members() -> None:
    """Members depend on after, not on each other; before depends on every member."""
    deps = implied_edges(config_of(base_config()))
    assert deps == {"A": set(), "B": {"A"}, "C": {"A"}, "D": {"A", "B", "C"}, "E": {"D"}}


def test_group_without_after_or_before() -> None:
    """A group with neither after nor before sits in stage_order like a stage: it follows the stage
    before it, and the stage after it waits for every member."""
    data = base_config()
    data["parallel_groups"]["side"] = {"stages": ["B", "C"]}
    deps = implied_edges(config_of(data))
    assert deps["B"] == deps["C"] == {"A"}
    assert deps["D"] == {"A", "B", "C"}


def test_a_leading_group_without_before_is_waited_for() -> None:
    """stage_order [A, B, C] with a group {A, B} and no after/before: C waits for A and B (it used to start beside them)."""
    deps = implied_edges(config_of({"stages": {"A": {}, "B": {}, "C": {}}, "stage_order": ["A", "B", "C"],
                                    "parallel_groups": {"g": {"stages": ["A", "B"]}}}))
    assert deps == {"A": set(), "B": set(), "C": {"A", "B"}}


def test_depends_on_replaces_implied_edges() -> None:
    """depends_on replaces a stage's implied edges, including a group's before edges."""
    data = base_config()
    data["stages"]["D"]["depends_on"] = ["C"]
    assert implied_edges(config_of(data))["D"] == {"C"}


def test_find_cycle_reports_the_loop() -> None:
    """find_cycle returns a closed path in which each stage depends on the next."""
    deps = {"A": {"C"}, "B": {"A"}, "C": {"B"}, "D": set()}
    cycle = find_cycle(deps)
    assert cycle is not None and cycle[0] == cycle[-1] and set(cycle) == {"A", "B", "C"}
    for a, b in zip(cycle, cycle[1:]):
        assert b in deps[a]


def test_find_cycle_none_for_a_dag() -> None:
    """find_cycle returns None for the default-shaped workflow."""
    assert find_cycle(implied_edges(config_of(base_config()))) is None
