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
