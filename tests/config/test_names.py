"""Names in stages.yaml and teambot.yaml: a trailing newline or any control character is refused."""

from __future__ import annotations

from pathlib import Path

from tests.config.conftest import base_config, rejected, validate


def test_stage_and_group_names_with_a_trailing_newline_are_refused(write_stages) -> None:
    """A stage or group named `"EVIL\\n"` is refused, each problem on one line naming the key."""
    config = base_config()
    config["stages"]["EVIL\n"] = {}
    config["stage_order"].append("EVIL\n")
    config["parallel_groups"]["grp\n"] = {"stages": ["E"]}
    out = rejected(validate(write_stages(config)),
                   "stages['EVIL\\n']: invalid stage name 'EVIL\\n'",
                   "parallel_groups['grp\\n']: invalid group name 'grp\\n'")
    assert all(line.startswith(("error:", "  ", "hint:")) for line in out.splitlines()), out


def test_agent_ids_and_artifacts_with_control_characters_are_refused(write_stages) -> None:
    """work_agent, review_agent, allowed_personas and artifacts holding a control character are each refused."""
    config = base_config()
    config["stages"]["A"]["work_agent"] = "pm\n"
    config["stages"]["D"]["review_agent"] = "reviewer\u2028"
    config["stages"]["B"]["allowed_personas"] = ["builder\t1"]
    config["stages"]["C"]["artifacts"] = ["c\x1b[2J.md"]
    rejected(validate(write_stages(config)),
             "stages.A.work_agent: agent id 'pm\\n' contains a control character (\\n)",
             "stages.D.review_agent: agent id 'reviewer\\u2028' contains a control character (\\u2028)",
             "stages.B.allowed_personas[0]: agent id 'builder\\t1' contains a control character (\\t)",
             "stages.C.artifacts[0]: artifact 'c\\x1b[2J.md' must not contain backslashes or NUL (or any other control")


def test_agent_id_with_a_newline_in_teambot_yaml_is_refused(tmp_path: Path) -> None:
    """An `agents:` key in teambot.yaml holding a newline exits 2 naming it, on one line."""
    from tests.helpers import EXAMPLE_OBJECTIVE, teambot

    (tmp_path / "teambot.yaml").write_text('agents:\n  "pm\\n": {timeout: 3}\n')
    (tmp_path / "objective.md").write_text(EXAMPLE_OBJECTIVE.read_text())
    proc = teambot("run", "objective.md", cwd=tmp_path)
    rejected(proc, "teambot.yaml:2:3: agents['pm\\n']: agent id contains a control character (\\n)")
