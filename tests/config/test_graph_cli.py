"""`teambot graph`: the effective DAG as mermaid and as text, through the real CLI."""

from __future__ import annotations

from pathlib import Path

from tests.config.conftest import base_config, rejected
from tests.helpers import DEFAULT_STAGES, teambot


def graph_text(path: Path) -> dict[str, str]:
    """`teambot graph --format text` as {stage: rest of its line}."""
    proc = teambot("graph", "--stages", str(path), "--format", "text", cwd=path.parent)
    assert proc.returncode == 0, proc.stderr
    return {line.split()[0]: " ".join(line.split()[1:]) for line in proc.stdout.splitlines()}


def test_default_workflow_mermaid(tmp_path: Path) -> None:
    """RESEARCH and TEST_STRATEGY both wait for SPEC_REVIEW; PLAN waits for both."""
    proc = teambot("graph", "--stages", str(DEFAULT_STAGES), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = [line.strip() for line in proc.stdout.splitlines()]
    assert lines[0] == "flowchart TD"
    for edge in ("SPEC_REVIEW --> RESEARCH", "SPEC_REVIEW --> TEST_STRATEGY",
                 "RESEARCH --> PLAN", "TEST_STRATEGY --> PLAN", "POST_REVIEW --> COMPLETE"):
        assert edge in lines, proc.stdout
    assert "RESEARCH --> TEST_STRATEGY" not in lines and "TEST_STRATEGY --> RESEARCH" not in lines
    assert 'subgraph group_0["post_spec_review (parallel)"]' in lines


def test_default_workflow_text(tmp_path: Path) -> None:
    """The text graph lists every stage in stage_order with its dependencies and group."""
    lines = graph_text(DEFAULT_STAGES)
    assert list(lines)[0] == "SETUP" and list(lines)[-1] == "COMPLETE" and len(lines) == 14
    assert lines["SETUP"] == "<- (start)"
    assert lines["RESEARCH"] == "<- SPEC_REVIEW [group post_spec_review]"
    assert lines["TEST_STRATEGY"] == "<- SPEC_REVIEW [group post_spec_review]"
    assert lines["PLAN"] == "<- SPEC_REVIEW, RESEARCH, TEST_STRATEGY"


def test_background_group_joins_several_stages_on(tmp_path: Path, write_stages) -> None:
    """A group whose before is several stages on runs beside the main line and joins at before."""
    config = {
        "stages": {name: {} for name in ("A", "X", "Y", "B", "C", "D")},
        "stage_order": ["A", "X", "Y", "B", "C", "D"],
        "parallel_groups": {"bg": {"after": "A", "stages": ["X", "Y"], "before": "D"}},
    }
    lines = graph_text(write_stages(config))
    assert lines == {
        "A": "<- (start)",
        "X": "<- A [group bg]",
        "Y": "<- A [group bg]",
        "B": "<- A",
        "C": "<- B",
        "D": "<- X, Y, C",
    }


def test_group_without_after_follows_the_stage_before_it(tmp_path: Path, write_stages) -> None:
    """A group with no `after` waits for the ungrouped stage stage_order lists before its first member."""
    config = {
        "stages": {name: {} for name in ("A", "B", "X", "C", "Y", "D")},
        "stage_order": ["A", "B", "X", "C", "Y", "D"],
        "parallel_groups": {"g": {"stages": ["X", "Y"], "before": "D"}},
    }
    lines = graph_text(write_stages(config))
    assert lines == {
        "A": "<- (start)",
        "B": "<- A",
        "X": "<- B [group g]",
        "C": "<- B",
        "Y": "<- B [group g]",
        "D": "<- X, C, Y",
    }


def test_group_without_after_at_the_top_starts_at_once(tmp_path: Path, write_stages) -> None:
    """A group with no `after` and nothing before it in stage_order starts at the beginning."""
    config = {
        "stages": {name: {} for name in ("X", "Y", "A")},
        "stage_order": ["X", "Y", "A"],
        "parallel_groups": {"g": {"stages": ["X", "Y"], "before": "A"}},
    }
    lines = graph_text(write_stages(config))
    assert lines == {"X": "<- (start) [group g]", "Y": "<- (start) [group g]", "A": "<- X, Y"}


def test_depends_on_replaces_implied_edges(tmp_path: Path, write_stages) -> None:
    """A stage's depends_on replaces the edges its place in stage_order and groups would give."""
    config = base_config()
    config["stages"]["D"]["depends_on"] = ["B"]  # implied: A, B, C
    config["stages"]["E"]["depends_on"] = []  # implied: D
    lines = graph_text(write_stages(config))
    assert lines["D"] == "<- B (depends_on)"
    assert lines["E"] == "<- (start) (depends_on)"
    assert lines["C"] == "<- A [group side]"


def test_graph_of_an_invalid_file_exits_2(tmp_path: Path, write_stages) -> None:
    """graph validates first and reports problems like validate does."""
    config = base_config()
    config["stage_order"].append("Z")
    proc = teambot("graph", "--stages", str(write_stages(config)), cwd=tmp_path)
    rejected(proc, "stage_order[5]: 'Z' is not a defined stage")


def test_graph_ignores_missing_templates(tmp_path: Path, write_stages) -> None:
    """Missing prompt templates do not stop graph (they do not change the DAG)."""
    config = base_config()
    config["stages"]["A"]["prompt_template"] = "prompts/missing.md"
    lines = graph_text(write_stages(config))
    assert lines["B"] == "<- A [group side]"


def test_mermaid_quotes_names_that_are_not_plain_ids(tmp_path: Path, write_stages) -> None:
    """Stage names with '-' or mermaid keywords get safe ids and keep their name as label."""
    config = {"stages": {"end": {}, "a-b": {}}, "stage_order": ["end", "a-b"]}
    proc = teambot("graph", "--stages", str(write_stages(config)), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1:] == ['    stage_0["end"]', '    stage_1["a-b"]', "    stage_0 --> stage_1"]
