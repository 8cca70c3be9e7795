"""argv placeholders of a notification program are filled in one pass."""

from __future__ import annotations

from teambot.notify.notifier import _fill


def test_placeholders_in_a_value_are_not_filled_again():
    """A message that quotes `{stage}` reaches the program as written; unknown braces stay as they are."""
    fields = {"event": "stage_failed", "stage": "SPEC", "message": "agent said: {stage} {nope}"}
    assert _fill("{event}:{stage}", fields) == "stage_failed:SPEC"
    assert _fill("--text={message}", fields) == "--text=agent said: {stage} {nope}"
    assert _fill("{other} {}", fields) == "{other} {}"
