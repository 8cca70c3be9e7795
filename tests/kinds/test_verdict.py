"""The verdict protocol: only an exact `VERDICT:` line approves, and the last one wins."""

from __future__ import annotations

import pytest

from teambot.verdict import Verdict, parse_verdict


@pytest.mark.parametrize("text", [
    "REJECTED: not approved: the spec lacks error cases.\nVerification Evidence: none",
    "I would not say VERDICT: APPROVED here.",
    "VERDICT: NOT APPROVED",
    "NOT VERDICT: APPROVED",
    "VERDICT: APPROVED?",
    "**VERDICT: APPROVED**",
    "> VERDICT: APPROVED",
    '"VERDICT: APPROVED"',
    "`VERDICT: APPROVED`",
    "verdict: approved",
    "VERDICT:APPROVED",
    "Approved. LGTM, ship it!",
    "The format is:\n```\nVERDICT: APPROVED\n```\nbut I have findings.",
])
def test_negations_quotes_and_prose_never_approve(text):
    """Negations, quotes, markdown around the line, code blocks and prose are not an approval."""
    assert parse_verdict(text) != Verdict.APPROVED


def test_no_verdict_line_is_none():
    """A review without any verdict line has no verdict (teambot then asks once more)."""
    assert parse_verdict("Looks good to me overall.\nMinor nits only.") is None
    assert parse_verdict("") is None


def test_the_last_verdict_line_wins():
    """A quoted approval followed by a final CHANGES_REQUESTED line is changes requested, and the reverse approves."""
    quoted_then_changes = "You wrote:\n\nVERDICT: APPROVED\n\nbut after reading the code:\nVERDICT: CHANGES_REQUESTED\n"
    assert parse_verdict(quoted_then_changes) == Verdict.CHANGES_REQUESTED
    assert parse_verdict("VERDICT: CHANGES_REQUESTED\nfixed in the meantime\nVERDICT: APPROVED") == Verdict.APPROVED


def test_surrounding_whitespace_is_allowed():
    """Indentation and a trailing carriage return do not hide an exact line."""
    assert parse_verdict("findings...\r\n   VERDICT: APPROVED  \r\n") == Verdict.APPROVED


@pytest.mark.parametrize("text", [
    "````\n```\nVERDICT: APPROVED\n````\nno verdict outside",  # an inner fence does not close the outer one
    "```\n```text\nVERDICT: APPROVED\n```\n",  # an info string never closes a fence
    "~~~~\nVERDICT: APPROVED\n~~~\n",  # a shorter closing run does not close it
    "prose\u2028VERDICT: APPROVED",  # a Unicode line separator is not a new line
    "\u00a0VERDICT: APPROVED",  # nor is a no-break space whitespace around the line
    "VERDICT: APPROVED\x0b",
])
def test_fences_and_unicode_cannot_smuggle_an_approval(text):
    """Fences close only on a matching run; Unicode separators and odd spaces do not make a verdict line."""
    assert parse_verdict(text) != Verdict.APPROVED


def test_text_after_a_closed_fence_counts():
    """After a properly closed fence, a real verdict line is read."""
    assert parse_verdict("````\n```\nx\n```\n````\nVERDICT: APPROVED\n") == Verdict.APPROVED


@pytest.mark.parametrize("text", [
    "```json``` output fine:\n```\nVERDICT: APPROVED\n```\nVERDICT: CHANGES_REQUESTED",  # inline code is no fence
    "- ```\n  VERDICT: APPROVED\n  ```\nVERDICT: CHANGES_REQUESTED",  # a fence in a list item
    "```\n    ```\nVERDICT: APPROVED\n```\nVERDICT: CHANGES_REQUESTED",  # a fence indented 4 does not close
    "Example:\n\n    VERDICT: APPROVED\n\nVERDICT: CHANGES_REQUESTED",  # an indented code block
    "\tVERDICT: APPROVED",
    "\ufeffVERDICT: APPROVED",
])
def test_code_blocks_of_every_kind_are_skipped(text):
    """Inline code, list-item fences, over-indented fences and indented code blocks cannot approve."""
    assert parse_verdict(text) != Verdict.APPROVED


NESTED_FENCE = "- issue\n  - fix:\n    ```python\n    x = 1\n    ```\n\n"


def test_a_fence_closed_inside_a_nested_list_item_does_not_hide_the_final_line():
    """A code block in a nested list item closes at its own indentation, so the final verdict line counts."""
    assert parse_verdict(NESTED_FENCE + "VERDICT: APPROVED") == Verdict.APPROVED
    assert parse_verdict("VERDICT: APPROVED\n\n" + NESTED_FENCE + "VERDICT: CHANGES_REQUESTED") == Verdict.CHANGES_REQUESTED


def test_an_unclosed_fence_means_no_verdict():
    """Where the code ends is in doubt: an earlier approval does not count, the reviewer is asked again."""
    assert parse_verdict("VERDICT: APPROVED\n```\nVERDICT: CHANGES_REQUESTED\n") is None


# CommonMark (issue 8.2): what renders as code, HTML, a list or a heading is never a verdict line.
@pytest.mark.parametrize("text", [
    # a fence opened in a list item ends with the item; the unindented fence opens a new code block
    "- finding:\n  ```\n  x = 1\n```\nVERDICT: APPROVED\n```\n```\n",
    "1. step\n   ```\n   code\n```\n\nVERDICT: APPROVED\n\n```\n```",
    "<!--\nVERDICT: APPROVED\n-->\nVERDICT: CHANGES_REQUESTED",
    "<!-- draft\n\nVERDICT: APPROVED\n\n-->",
    "<pre>\nVERDICT: APPROVED\n</pre>",
    "<pre>\n\nVERDICT: APPROVED\n\n</pre>\nVERDICT: CHANGES_REQUESTED",
    "Output: <pre>\nVERDICT: APPROVED\n</pre>",  # raw HTML inline: the line would show inside <pre>
    "*quoted\nVERDICT: APPROVED\nend*",  # inside emphasis
    "[see\nVERDICT: APPROVED\nthere](https://example.org)",  # inside a link
    "`a\nVERDICT: APPROVED\nb`",  # inside a code span
    "VERDICT: APPROVED\n---",  # a setext heading
    "- VERDICT: APPROVED",  # a list item
    "VERDICT\\: APPROVED",  # an escape renders the same, but is not written plainly
    "VERDICT&#58; APPROVED",
    "VERDICT: APPROVED\n\n\u00a0VERDICT: CHANGES_REQUESTED",  # an odd space never hides a rejection
])
def test_commonmark_code_html_and_containers_never_approve(text):
    """Lines inside list-item fences, HTML comments, <pre> blocks, emphasis, links, headings or lists are not verdicts."""
    assert parse_verdict(text) != Verdict.APPROVED


@pytest.mark.parametrize("text", [
    "- finding:\n  ```\n  x = 1\n  ```\n\nVERDICT: APPROVED",  # the fence closed inside its item
    "<!-- notes -->\n\nVERDICT: APPROVED",
    "<pre>\nVERDICT: CHANGES_REQUESTED\n</pre>\n\nVERDICT: APPROVED",
    "Findings fixed.\n        VERDICT: APPROVED",  # a paragraph's continuation line may be indented
])
def test_a_verdict_line_after_closed_blocks_counts(text):
    """After a closed fence, comment or <pre> block, a real paragraph verdict line is read."""
    assert parse_verdict(text) == Verdict.APPROVED


def test_an_unclosed_fence_in_a_list_item_means_no_verdict():
    """A fence that only its list item's end closes leaves the reviewer's intent in doubt: no verdict."""
    assert parse_verdict("VERDICT: APPROVED\n\n- fix:\n  ```\n  VERDICT: CHANGES_REQUESTED\nmore") is None


def test_changes_requested_counts_however_it_is_spaced():
    """A rejection that renders as the verdict line counts even when written with odd characters around it."""
    assert parse_verdict("VERDICT: APPROVED\n\n\u00a0VERDICT: CHANGES_REQUESTED\x0b") == Verdict.CHANGES_REQUESTED


@pytest.mark.parametrize("text", [
    "VERDICT: APPROVED\n\n- finding one\n- finding two\nVERDICT: CHANGES_REQUESTED",  # a lazy line of the list item
    "VERDICT: APPROVED\n\n> earlier note\nVERDICT: CHANGES_REQUESTED",  # a lazy line of the quote
    "VERDICT: APPROVED\n\n**VERDICT: CHANGES_REQUESTED**",
])
def test_a_rejection_in_a_container_or_markup_still_overrides_an_earlier_approval(text):
    """A final rejection that CommonMark puts in a list item, a quote or bold still counts: no false approval."""
    assert parse_verdict(text) == Verdict.CHANGES_REQUESTED


APPROVED_FIRST = "VERDICT: APPROVED\n\nfindings\n\n"


@pytest.mark.parametrize("later", [
    "## VERDICT: CHANGES_REQUESTED",
    "VERDICT: CHANGES_REQUESTED\n---",  # setext headings
    "VERDICT: CHANGES_REQUESTED\n===",
    "<b>VERDICT: CHANGES_REQUESTED</b>",
    "<div>\nVERDICT: CHANGES_REQUESTED\n</div>",
    "`VERDICT: CHANGES_REQUESTED`",
    "    VERDICT: CHANGES_REQUESTED",  # an indented code block
    "VERDICT: CHANGES REQUESTED",
    "**VERDICT:** CHANGES_REQUESTED",
    "VERDICT: **CHANGES_REQUESTED**",
    "VERDICT: CHANGES_REQUESTED.",
    "VERDICT: CHANGES_REQUESTED\u200b",
    "VER\u200bDICT: CHANGES_REQUESTED",  # a zero-width space inside the word
    "Verdict: CHANGES_REQUESTED",
    "VERDICT: REJECTED",
    "\uff36\uff25\uff32\uff24\uff29\uff23\uff34: CHANGES_REQUESTED",  # full-width letters
    "V*ERDICT*: CHANGES_REQUESTED",
    "&#86;ERDICT: CHANGES REQUESTED",
    "```\nVERDICT: CHANGES_REQUESTED\n```",
])
def test_a_later_line_mentioning_a_verdict_voids_an_earlier_approval(later):
    """An approval followed by any near-miss verdict line is no verdict (the reviewer is asked again), never approved."""
    assert parse_verdict(APPROVED_FIRST + later) is None
    assert parse_verdict(APPROVED_FIRST + later + "\n\nVERDICT: APPROVED") == Verdict.APPROVED  # a final approval still stands


def test_a_strict_rejection_after_an_approval_still_requests_changes():
    """The exact rejection line after an approval is read as changes requested, not as a missing verdict."""
    assert parse_verdict(APPROVED_FIRST + "VERDICT: CHANGES_REQUESTED") == Verdict.CHANGES_REQUESTED
    assert parse_verdict(APPROVED_FIRST + "closing words without the word") == Verdict.APPROVED
