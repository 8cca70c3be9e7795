"""The tasks file: one test per validation rule, each checking the message names the task and field."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from teambot.errors import EXIT_BAD_INPUT, ConfigError
from teambot.inputs import InputError
from teambot.tasks.model import MAX_BYTES, Task, load_tasks, parse_tasks, task_order

GOOD = """\
tasks:
  - id: T1
    title: Parse the config file
    description: |
      Read config.yaml.
    depends_on: []
    files: [src/config.py]
    agent: builder-2
  - id: T2
    title: Use the config
    depends_on: [T1]
"""


def _problems(text: str, agents: list[str] | None = None) -> list[str]:
    """The problem lines teambot prints for tasks file `text` (it must be refused)."""
    with pytest.raises(ConfigError) as caught:
        parse_tasks(text.encode(), "tasks.yaml", agents=agents)
    assert caught.value.exit_code == EXIT_BAD_INPUT
    assert caught.value.message == f"tasks.yaml: {len(caught.value.problems)} problem" + \
        ("s" if len(caught.value.problems) != 1 else "") + " in tasks file"
    return caught.value.problems


def test_a_valid_file_loads(tmp_path: Path) -> None:
    """A well-formed tasks file loads into Task models with every field."""
    path = tmp_path / "tasks.yaml"
    path.write_text(GOOD, encoding="utf-8")
    loaded = load_tasks(path, agents=["builder-1", "builder-2"])
    assert [t.id for t in loaded.tasks] == ["T1", "T2"]
    assert loaded.tasks[0] == Task(id="T1", title="Parse the config file", description="Read config.yaml.\n",
                                   files=["src/config.py"], agent="builder-2")
    assert loaded.tasks[1].depends_on == ["T1"] and loaded.tasks[1].agent is None


def test_unknown_dependency_names_task_and_suggests(tmp_path: Path) -> None:
    """A dependency on an id that does not exist names the task, the list item and the closest id."""
    assert _problems(GOOD.replace("depends_on: [T1]", "depends_on: [T11]")) == [
        "tasks.yaml:11:18: tasks[1].depends_on[0]: task 'T2' depends on unknown task 'T11' (did you mean 'T1'?)"]


def test_duplicate_ids_are_refused() -> None:
    """Two tasks with one id: the second is named with the first's position."""
    assert _problems(GOOD.replace("id: T2", "id: T1").replace("depends_on: [T1]", "")) == [
        "tasks.yaml:9:5: tasks[1].id: task id 'T1' is also used by tasks[0]; each task needs its own id"]


def test_ids_differing_only_in_case_are_refused() -> None:
    """`t1` beside `T1`: one record file and branch on a case-insensitive filesystem, so the second is refused."""
    assert _problems(GOOD.replace("id: T2", "id: t1").replace("depends_on: [T1]", "")) == [
        "tasks.yaml:9:5: tasks[1].id: task id 't1' differs from tasks[0]'s 'T1' only in case (one file and branch "
        "on a case-insensitive filesystem); each task needs its own id"]


def test_a_cycle_is_printed() -> None:
    """A dependency cycle is printed as the chain of task ids, at the depends_on of a task in it."""
    text = GOOD.replace("depends_on: []", "depends_on: [T2]")
    assert _problems(text) == ["tasks.yaml:6:5: tasks[0].depends_on: task 'T1' is in a dependency cycle: "
                               "T1 -> T2 -> T1 (each task waits for the next)"]


def test_every_cycle_is_printed() -> None:
    """Two separate cycles are both reported, not just the first found."""
    text = "tasks:\n" + "".join(f"  - {{id: {a}, title: t, depends_on: [{b}]}}\n"
                                for a, b in (("A", "B"), ("B", "A"), ("C", "D"), ("D", "E"), ("E", "C")))
    problems = _problems(text)
    assert len(problems) == 2
    assert "A -> B -> A" in problems[0] and "C -> D -> E -> C" in problems[1]


def test_a_task_depending_on_itself_is_refused() -> None:
    """depends_on naming the task itself is reported as such (not as a one-task cycle)."""
    assert _problems(GOOD.replace("depends_on: [T1]", "depends_on: [T2]")) == [
        "tasks.yaml:11:18: tasks[1].depends_on[0]: task 'T2' depends on itself"]


def test_an_empty_task_list_is_refused() -> None:
    """`tasks: []` is refused: a task stage with nothing to do is a mistake."""
    assert _problems("tasks: []\n") == ["tasks.yaml:1:1: tasks: the task list is empty; give at least one task"]


def test_an_empty_file_is_refused() -> None:
    """An empty file says what it should hold (a tasks list, not the stages file's keys)."""
    assert _problems("# nothing yet\n") == [
        "tasks.yaml: the file has no content (only comments); expected a mapping with a 'tasks' list"]


def test_a_pinned_agent_outside_the_pool_is_refused() -> None:
    """agent must be one of the stage's agents; the message lists the pool and the closest name."""
    assert _problems(GOOD, agents=["builder-1", "reviewer"]) == [
        "tasks.yaml:8:5: tasks[0].agent: task 'T1': agent 'builder-2' is not in the stage's agents "
        "(builder-1, reviewer) (did you mean 'builder-1'?)"]
    assert parse_tasks(GOOD.encode(), "tasks.yaml").tasks[0].agent == "builder-2"  # no pool given: not checked


@pytest.mark.parametrize("bad", ["T 1", "T1.lock", "feat/T1", "-T1", "x" * 65, "T1\\n", "T\\u202e1"])
def test_bad_ids_are_refused(bad: str) -> None:
    """An id that could not be a branch name, or holds a control character, is refused naming it."""
    problems = _problems(GOOD.replace("id: T2", f'id: "{bad}"').replace("depends_on: [T1]", ""))
    assert len(problems) == 1 and problems[0].startswith("tasks.yaml:9:5: tasks[1].id: task id ")
    assert "use letters, digits, '_' or '-'" in problems[0] and "\n" not in problems[0]


def test_unknown_field_is_refused_with_a_suggestion() -> None:
    """A misspelt field is an unknown field (extra="forbid"), with the right name suggested."""
    assert _problems(GOOD.replace("depends_on: [T1]", "depends_On: [T1]")) == [
        "tasks.yaml:11:5: tasks[1].depends_On: task 'T2': unknown field (did you mean 'depends_on'?)"]


def test_missing_title_and_wrong_types_are_refused() -> None:
    """A missing title and a number where text is expected are named with the task."""
    text = "tasks:\n  - id: T1\n  - id: T2\n    title: t\n    files: [3]\n"
    assert _problems(text) == [
        "tasks.yaml:2:5: tasks[0].title: task 'T1': missing required field",
        "tasks.yaml:5:13: tasks[1].files[0]: task 'T2': expected a string, got an integer (3); "
        "put it in quotes to use it as text"]


def test_a_title_must_be_one_line() -> None:
    """A title becomes a commit subject: a newline in it is refused."""
    assert _problems(GOOD.replace("title: Use the config", 'title: "Use\\nthe config"')) == [
        "tasks.yaml:10:5: tasks[1].title: task 'T2': the title must be one line of text (it holds \\n)"]


@pytest.mark.parametrize("bad", ["/etc/passwd", "../outside.py", "src/../../x"])
def test_files_must_stay_inside_the_project(bad: str) -> None:
    """`files` entries are paths relative to the project, never absolute or climbing out."""
    assert _problems(GOOD.replace("[src/config.py]", f"[{bad}]")) == [
        f"tasks.yaml:7:13: tasks[0].files[0]: task 'T1': file '{bad}' must be a path inside the project, relative to it"]


def test_every_problem_is_reported_at_once() -> None:
    """Problems in several tasks, and in the references between them, come in one error, in file order."""
    text = ("tasks:\n"
            "  - {id: A, title: a, depends_on: [Z]}\n"
            "  - {id: A, title: b}\n"
            "  - {id: 'c d', title: c, colour: red}\n"
            "  - {id: E, title: e, agent: nobody}\n")
    problems = _problems(text, agents=["pm"])
    assert [p.split(": ", 2)[1] for p in problems] == [
        "tasks[0].depends_on[0]", "tasks[1].id", "tasks[2].id", "tasks[2].colour", "tasks[3].agent"]


def test_duplicate_keys_and_huge_files_are_refused(tmp_path: Path) -> None:
    """The safe YAML loader's checks apply: duplicate keys, and files over the size limit."""
    assert _problems(GOOD.replace("    title: Use the config\n", "    title: Use the config\n    title: again\n")) == [
        "tasks.yaml:11:5: tasks[1].title: duplicate key 'title' (also defined at line 10; only one definition may be given)"]
    big = tmp_path / "tasks.yaml"
    big.write_bytes(b"#" * (MAX_BYTES + 1))
    with pytest.raises(InputError, match="the limit is"):
        load_tasks(big)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A tasks file that does not exist is one bad-input error naming it."""
    with pytest.raises(ConfigError, match="cannot read tasks file") as caught:
        load_tasks(tmp_path / "nope.yaml")
    assert caught.value.exit_code == EXIT_BAD_INPUT and "nope.yaml" in caught.value.message


def test_order_and_chains_of_a_diamond() -> None:
    """A diamond A -> (B, C) -> D plus a lone E: A first, ties in file order, chains count waiting tasks."""
    text = ("tasks:\n  - {id: E, title: e}\n  - {id: A, title: a}\n  - {id: C, title: c, depends_on: [A]}\n"
            "  - {id: B, title: b, depends_on: [A]}\n  - {id: D, title: d, depends_on: [B, C]}\n")
    order = task_order(parse_tasks(text.encode(), "tasks.yaml").tasks)
    assert order.order == ("E", "A", "C", "B", "D")
    assert dict(order.chain) == {"A": 2, "B": 1, "C": 1, "D": 0, "E": 0}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 30), max_size=4), min_size=1, max_size=30))
def test_order_respects_dependencies_for_random_dags(raw_deps: list[list[int]]) -> None:
    """For random DAGs, every task comes after its dependencies and its chain is the longest path to a leaf."""
    tasks = [Task(id=f"T{i}", title="t", depends_on=sorted({f"T{d % i}" for d in deps}) if i else [])
             for i, deps in enumerate(raw_deps)]
    result = task_order(tasks)
    place = {name: i for i, name in enumerate(result.order)}
    assert sorted(result.order) == sorted(t.id for t in tasks)
    assert all(place[d] < place[t.id] for t in tasks for d in t.depends_on)

    def longest(name: str) -> int:
        return max((1 + longest(t.id) for t in tasks if name in t.depends_on), default=0)

    assert all(result.chain[t.id] == longest(t.id) for t in tasks)
