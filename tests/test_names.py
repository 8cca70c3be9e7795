"""teambot.names: which characters make a name unusable."""

from __future__ import annotations

import pytest

from teambot.names import control_character


@pytest.mark.parametrize(("text", "shown"), [("a\n", "\\n"), ("a\rb", "\\r"), ("a\x7f", "\\x7f"), ("a\x85", "\\x85"),
                                             ("a\u2028", "\\u2028"), ("evil\u202etxt", "\\u202e"), ("\x00", "\\x00")])
def test_control_and_invisible_characters_are_found(text: str, shown: str) -> None:
    """C0/C1 controls, DEL, line separators and bidi overrides are named as escapes."""
    assert control_character(text) == shown


@pytest.mark.parametrize("text", ["builder-1", "SPEC_REVIEW", "café", "日本", "a b"])
def test_ordinary_names_pass(text: str) -> None:
    """Letters of any script, digits, dashes and spaces are not control characters."""
    assert control_character(text) is None


@pytest.mark.parametrize("child", ["T1", "t1.2", "build_api-v2", "9", "X" * 64])
def test_usable_child_names(child: str) -> None:
    """Letters, digits, '.', '_' and '-' starting with a letter or digit, up to 64 characters, name a child."""
    from teambot.names import child_id, child_name_problem, split_child_id

    assert child_name_problem(child) is None
    assert split_child_id(child_id("IMPLEMENTATION", child)) == ("IMPLEMENTATION", child)


@pytest.mark.parametrize(("child", "why"), [("", "empty"), ("..", "start with"), (".git", "start with"), ("-x", "start with"),
                                            ("a/b", "only letters"), ("a b", "only letters"), ("T1\n", "control"),
                                            ("a..b", "'..'"), ("T1.", "end with"), ("T1.lock", "end with"),
                                            ("X" * 65, "at most 64"), ("é", "only letters")])
def test_unusable_child_names_say_why(child: str, why: str) -> None:
    """A child name that could leave a folder, break a line or a git branch name is refused with the reason."""
    from teambot.names import child_name_problem

    assert why in child_name_problem(child)
