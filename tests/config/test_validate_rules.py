"""`teambot validate` on stages files with one broken rule each, through the real CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.config.conftest import UPSTREAM_FIXTURE, base_config, line_of, rejected, validate
from tests.helpers import DEFAULT_STAGES, teambot

UPSTREAM_TEMPLATES = [
    ("SETUP", ".agent/commands/sdd/sdd.0-initialize.prompt.md"),
    ("SPEC", ".agent/commands/sdd/sdd.1-create-feature-spec.prompt.md"),
    ("SPEC_REVIEW", ".agent/commands/sdd/sdd.2-review-spec.prompt.md"),
    ("RESEARCH", ".agent/commands/sdd/sdd.3-research-feature.prompt.md"),
    ("TEST_STRATEGY", ".agent/commands/sdd/sdd.4-determine-test-strategy.prompt.md"),
    ("PLAN", ".agent/commands/sdd/sdd.5-task-planner-for-feature.prompt.md"),
    ("PLAN_REVIEW", ".agent/commands/sdd/sdd.6-review-plan.prompt.md"),
    ("IMPLEMENTATION", ".agent/commands/sdd/sdd.7-task-implementer-for-feature.prompt.md"),
    ("POST_REVIEW", ".agent/commands/sdd/sdd.8-post-implementation-review.prompt.md"),
]


# --- files that are valid -------------------------------------------------------------

def test_default_workflow_is_valid(tmp_path: Path) -> None:
    """The packaged default stages.yaml validates: 14 stages, 1 parallel group, exit 0."""
    proc = validate(DEFAULT_STAGES, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{DEFAULT_STAGES}: OK — 14 stages, 1 parallel group"
    assert proc.stderr == ""


def test_validate_without_path_uses_local_stages_yaml(tmp_path: Path, write_stages) -> None:
    """With no PATH, validate checks ./stages.yaml of the current directory."""
    write_stages(base_config())
    proc = teambot("validate", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().endswith("stages.yaml: OK — 5 stages, 1 parallel group")


def test_upstream_fixture_is_valid_when_templates_exist(tmp_path: Path) -> None:
    """Upstream teambot's stages.yaml loads unchanged once its prompt templates exist."""
    for _, template in UPSTREAM_TEMPLATES:
        (tmp_path / template).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / template).write_text("# prompt\n", encoding="utf-8")
    copy = shutil.copyfile(UPSTREAM_FIXTURE, tmp_path / "upstream.yaml")
    proc = validate(copy, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "OK — 14 stages, 1 parallel group" in proc.stdout


def test_upstream_fixture_names_each_missing_template(tmp_path: Path) -> None:
    """Without its templates, the upstream file fails with one line per missing template."""
    copy = shutil.copyfile(UPSTREAM_FIXTURE, tmp_path / "upstream.yaml")
    out = rejected(validate(copy, cwd=tmp_path), "9 problems in stages file")
    for stage, template in UPSTREAM_TEMPLATES:
        line = line_of(copy, template)
        assert f"upstream.yaml:{line}:5: stages.{stage}.prompt_template: prompt template {template} not found" in out
    assert out.count("not found") == 9


def test_same_agent_twice_in_a_group_is_a_warning(tmp_path: Path, write_stages) -> None:
    """Two group members with one work_agent pass with a warning that they run one after the other."""
    config = base_config()
    config["stages"]["C"]["work_agent"] = "builder-1"
    path = write_stages(config)
    proc = validate(path)
    assert proc.returncode == 0, proc.stderr
    assert "OK — 5 stages" in proc.stdout
    assert f"warning: {path}:{line_of(path, 'side:')}:3: parallel_groups.side: B and C both use " \
           "agent 'builder-1'; they will run one after the other (one session per agent)" in proc.stderr


def test_a_reviewer_shared_in_a_group_is_a_warning(write_stages) -> None:
    """A review stage holds its reviewer too: a group member working as that agent is warned about."""
    config = base_config()
    config["stages"]["B"].update(is_review_stage=True, review_agent="builder-2")
    proc = validate(write_stages(config))
    assert proc.returncode == 0, proc.stderr
    assert "B and C both use agent 'builder-2'" in proc.stderr


# --- keys and types ---------------------------------------------------------------------

def test_unknown_stage_field_suggests_the_right_one(tmp_path: Path, write_stages) -> None:
    """A misspelt stage field is named with file:line:col and a did-you-mean."""
    path = write_stages("stages:\n  SPEC:\n    work_agnt: ba\nstage_order: [SPEC]\n")
    rejected(validate(path), f"{path}:3:5: stages.SPEC.work_agnt: unknown field (did you mean 'work_agent'?)")


def test_unknown_top_level_key_suggests_the_right_one(tmp_path: Path, write_stages) -> None:
    """A misspelt top-level key is named with a did-you-mean."""
    config = base_config()
    config["paralel_groups"] = config.pop("parallel_groups")
    path = write_stages(config)
    rejected(validate(path), f":{line_of(path, 'paralel_groups')}:1: paralel_groups: unknown top-level key "
                             "(did you mean 'parallel_groups'?)")


def test_missing_required_top_level_keys(tmp_path: Path, write_stages) -> None:
    """A file without stage_order says the key is missing."""
    path = write_stages({"stages": {"A": {}}})
    rejected(validate(path), "missing required top-level key 'stage_order'")


def test_wrong_types_say_what_was_expected_and_given(tmp_path: Path, write_stages) -> None:
    """Wrong field types name the field, the expected type and the value given."""
    path = write_stages(
        "stages:\n"
        "  A:\n"
        "    optional: 'yes'\n"
        "    retries: 2.5\n"
        "    timeout: -1\n"
        "    work_agent: no\n"
        "    artifacts: notalist\n"
        "stage_order: [A]\n"
    )
    rejected(
        validate(path),
        "5 problems in stages file",
        ":3:5: stages.A.optional: expected true or false, got a string ('yes')",
        ":4:5: stages.A.retries: expected a whole number, got a number (2.5)",
        ":5:5: stages.A.timeout: must be greater than 0, got an integer (-1)",
        ":6:5: stages.A.work_agent: expected a string, got a boolean (false); put it in quotes",
        ":7:5: stages.A.artifacts: expected a list, got a string ('notalist')",
    )


def test_one_bad_stage_does_not_hide_another(tmp_path: Path, write_stages) -> None:
    """Problems in two different stages are both reported in one run."""
    config = base_config()
    config["stages"]["B"]["retries"] = "3"
    config["stages"]["D"]["is_review_stage"] = "true"
    config["stages"]["E"]["depends_on"] = ["NOPE"]
    out = rejected(validate(write_stages(config)), "3 problems in stages file", "stages.B.retries:",
                   "stages.D.is_review_stage:", "stages.E.depends_on[0]: 'NOPE' is not a defined stage")
    assert "remove the quotes" in out


def test_invalid_stage_name(tmp_path: Path, write_stages) -> None:
    """A stage name that is not an identifier is refused, naming it."""
    config = base_config()
    config["stages"]["bad name"] = {}
    config["stage_order"].append("bad name")
    rejected(validate(write_stages(config)), "stages.bad name: invalid stage name 'bad name'")


def test_artifacts_cannot_escape_the_artifacts_dir(tmp_path: Path, write_stages) -> None:
    """Absolute paths, '..', backslashes and NUL in artifact names are each refused."""
    config = base_config()
    config["stages"]["B"]["artifacts"] = ["../escape.md", "/etc/passwd", "sub\\x.md", "nul\x00.md", "ok/fine.md"]
    rejected(
        validate(write_stages(config)),
        "4 problems in stages file",
        "stages.B.artifacts[0]: artifact '../escape.md' must not contain '..'",
        "stages.B.artifacts[1]: artifact '/etc/passwd' must be a relative path",
        "stages.B.artifacts[2]: artifact 'sub\\\\x.md' must not contain backslashes",
        "stages.B.artifacts[3]: artifact 'nul\\x00.md' must not contain backslashes or NUL",
    )


# --- references ---------------------------------------------------------------------------

def test_undefined_stage_in_stage_order(tmp_path: Path, write_stages) -> None:
    """A stage_order entry that is not a stage is named, with its line and a did-you-mean."""
    config = base_config()
    config["stage_order"][3] = "DD"
    path = write_stages(config)
    rejected(validate(path), f":{line_of(path, '- DD')}:3: stage_order[3]: 'DD' is not a defined stage (did you mean 'D'?)",
             "stages.D: not listed in stage_order")


def test_undefined_stages_in_a_group(tmp_path: Path, write_stages) -> None:
    """Undefined after, member and before of a group are each named."""
    config = base_config()
    config["parallel_groups"]["side"] = {"after": "X1", "stages": ["B", "X2"], "before": "X3"}
    rejected(validate(write_stages(config)), "parallel_groups.side.after: 'X1' is not a defined stage",
             "parallel_groups.side.stages[1]: 'X2' is not a defined stage",
             "parallel_groups.side.before: 'X3' is not a defined stage")


def test_undefined_stage_in_depends_on(tmp_path: Path, write_stages) -> None:
    """A depends_on entry that is not a stage is named."""
    config = base_config()
    config["stages"]["E"]["depends_on"] = ["A", "Q"]
    rejected(validate(write_stages(config)), "stages.E.depends_on[1]: 'Q' is not a defined stage")


def test_undefined_stages_in_work_to_review_mapping(tmp_path: Path, write_stages) -> None:
    """Undefined keys and values of work_to_review_mapping are both named."""
    config = base_config()
    config["work_to_review_mapping"] = {"WORK": "D", "C": "REVIEW"}
    rejected(validate(write_stages(config)), "work_to_review_mapping.WORK: work stage 'WORK' is not a defined stage",
             "work_to_review_mapping.C: review stage 'REVIEW' is not a defined stage")


def test_defined_stage_missing_from_stage_order(tmp_path: Path, write_stages) -> None:
    """A stage that stage_order leaves out is named, at its definition's line."""
    config = base_config()
    config["stage_order"].remove("E")
    path = write_stages(config)
    rejected(validate(path), f":{line_of(path, '  E:')}:3: stages.E: not listed in stage_order")


def test_duplicate_in_stage_order(tmp_path: Path, write_stages) -> None:
    """A stage listed twice in stage_order is named at the second entry."""
    config = base_config()
    config["stage_order"].append("A")
    path = write_stages(config)
    rejected(validate(path), f":{line_of(path, '- A', 2)}:3: stage_order[5]: 'A' is listed more than once")


# --- groups ---------------------------------------------------------------------------------

def test_stage_in_two_groups(tmp_path: Path, write_stages) -> None:
    """A stage that is a member of two groups is named with both groups."""
    config = base_config()
    config["parallel_groups"]["other"] = {"after": "A", "stages": ["C"], "before": "D"}
    rejected(validate(write_stages(config)),
             "parallel_groups.other.stages[0]: 'C' is already in group 'side'; a stage can be in only one parallel group")


def test_empty_group(tmp_path: Path, write_stages) -> None:
    """A group with no stages is refused."""
    config = base_config()
    config["parallel_groups"]["idle"] = {"after": "A", "stages": []}
    rejected(validate(write_stages(config)), "parallel_groups.idle.stages: the group has no stages")


def test_group_after_or_before_that_is_also_a_member(tmp_path: Path, write_stages) -> None:
    """A group's after or before stage that is also one of its members is refused."""
    config = base_config()
    config["parallel_groups"]["side"] = {"after": "B", "stages": ["B", "C"], "before": "C"}
    rejected(validate(write_stages(config)),
             "parallel_groups.side.after: 'B' is both the group's after stage and one of its members",
             "parallel_groups.side.before: 'C' is both the group's before stage and one of its members")


def test_group_after_must_precede_and_before_follow_members(tmp_path: Path, write_stages) -> None:
    """after placed later than a member, and before earlier than one, are both named."""
    config = base_config()
    config["stage_order"] = ["B", "A", "D", "C", "E"]
    rejected(validate(write_stages(config)),
             "parallel_groups.side.after: after stage 'A' must come before every member in stage_order, "
             "but 'B' comes before it",
             "parallel_groups.side.before: before stage 'D' must come after every member in stage_order, "
             "but 'C' comes after it")


# --- cycles -------------------------------------------------------------------------------------

def test_dependency_cycle_is_printed(tmp_path: Path, write_stages) -> None:
    """A cycle through depends_on is printed stage by stage."""
    config = base_config()
    config["stages"]["A"]["depends_on"] = ["E"]
    out = rejected(validate(write_stages(config)), "stages.A.depends_on: dependency cycle: ")
    cycle = out.split("dependency cycle: ")[1].split(" (")[0].split(" -> ")
    assert cycle[0] == cycle[-1] == "A" and cycle[1] == "E" and "D" in cycle, out


def test_self_dependency(tmp_path: Path, write_stages) -> None:
    """A stage that names itself in depends_on is refused once, as a self-dependency."""
    config = base_config()
    config["stages"]["D"]["depends_on"] = ["D"]
    out = rejected(validate(write_stages(config)), "1 problem in stages file", "stages.D.depends_on[0]: 'D' depends on itself")
    assert "cycle" not in out


# --- stage kinds: review, acceptance, command ------------------------------------------

def test_review_stage_needs_both_agents(write_stages) -> None:
    """is_review_stage without a review_agent names the stage and the missing field."""
    config = base_config()
    del config["stages"]["D"]["review_agent"]
    rejected(validate(write_stages(config)), "stages.D.review_agent: a review stage needs a review_agent")


def test_command_stage_calls_no_agent(write_stages) -> None:
    """`run` with a work_agent is one problem at stages.X.work_agent; a flat argv is accepted as one command."""
    config = base_config()
    config["stages"]["A"]["run"] = ["ruff", "check", "."]
    rejected(validate(write_stages(config)), "stages.A.work_agent: a command stage (run) calls no agent")
    del config["stages"]["A"]["work_agent"]
    assert validate(write_stages(config)).returncode == 0


def test_unknown_placeholder_in_a_command(write_stages) -> None:
    """{junit} belongs to acceptance commands only; a typo gets a suggestion."""
    config = base_config()
    config["stages"]["E"]["run"] = [["pytest", "--junitxml={junit}"]]
    config["stages"]["E"]["acceptance_command"] = ["pytest", "{projet_dir}"]
    rejected(validate(write_stages(config)),
             "stages.E.run[0][1]: unknown placeholder {junit}",
             "stages.E.acceptance_command: only a stage with is_acceptance_test_stage: true",
             "stages.E.acceptance_command[1]: unknown placeholder {projet_dir} (did you mean 'project_dir'?)")


def test_gate_without_an_acceptance_stage(write_stages) -> None:
    """requires_acceptance_tests_passed needs another stage with is_acceptance_test_stage to check."""
    config = base_config()
    config["stages"]["E"]["requires_acceptance_tests_passed"] = True
    rejected(validate(write_stages(config)), "stages.E.requires_acceptance_tests_passed: no other stage has "
                                             "is_acceptance_test_stage: true, so this gate has nothing to check")
    config["stages"]["E"].update(is_acceptance_test_stage=True, work_agent="builder-1")  # only itself
    rejected(validate(write_stages(config)), "no other stage has is_acceptance_test_stage")


def test_max_iterations_only_on_iterating_stages(write_stages) -> None:
    """max_iterations on a plain stage is refused; on a review stage it must be 1..50."""
    config = base_config()
    config["stages"]["A"]["max_iterations"] = 3
    config["stages"]["D"]["max_iterations"] = 0
    rejected(validate(write_stages(config)), "stages.A.max_iterations: only review and acceptance test stages iterate",
             "stages.D.max_iterations")


def test_gate_that_does_not_wait_for_acceptance_is_a_warning(write_stages) -> None:
    """A gated stage with no path to an acceptance stage is valid but warned about (it may be blocked)."""
    config = base_config()
    config["stages"]["B"]["is_acceptance_test_stage"] = True
    config["stages"]["E"]["requires_acceptance_tests_passed"] = True
    config["stages"]["E"]["depends_on"] = ["A"]
    proc = validate(write_stages(config))
    assert proc.returncode == 0, proc.stderr
    assert "stages.E.requires_acceptance_tests_passed: E does not depend on B" in proc.stderr
    config["stages"]["E"]["depends_on"] = ["D"]  # D waits for the group, so for B
    assert "does not depend" not in validate(write_stages(config)).stderr
