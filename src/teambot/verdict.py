"""The review verdict protocol: a line that is exactly `VERDICT: APPROVED` or `VERDICT: CHANGES_REQUESTED`.

The last such line wins. Only whole lines count (see `parse_verdict` for the exact rules),
and lines inside code blocks do not: a quote, a negation ("not VERDICT: APPROVED"), markdown
around it (`**VERDICT: APPROVED**`, `> VERDICT: APPROVED`) or prose can never approve.
"""

from __future__ import annotations

import re
from enum import StrEnum

APPROVED_LINE = "VERDICT: APPROVED"
CHANGES_LINE = "VERDICT: CHANGES_REQUESTED"


class Verdict(StrEnum):
    APPROVED = "approved"
    CHANGES_REQUESTED = "changes_requested"


_LINES = {APPROVED_LINE: Verdict.APPROVED, CHANGES_LINE: Verdict.CHANGES_REQUESTED}


# An opening code fence (CommonMark): optional indentation and list markers, then 3+ backticks
# or tildes. A backtick fence's info string cannot hold a backtick (then it is inline code).
_FENCE = re.compile(r"^[ \t]*(?:(?:[-*+]|\d{1,9}[.)])[ \t]+)*(`{3,}|~{3,})(.*)$")


def parse_verdict(text: str) -> Verdict | None:
    """The verdict of a review, or None when it has no verdict line outside code.

    Rules (in doubt, a line does not count: a missed verdict only means the reviewer is asked
    again, a false approval would let unreviewed work through):
    - lines are split on "\n" only; trailing spaces, tabs and "\r" are ignored, and up to three
      leading spaces (four, or a tab, make an indented code block);
    - fenced code blocks are skipped, also those opened in (nested) list items; a fence closes
      on a run of the same character at least as long, indented at most three spaces more than
      the opening one when that was in a list item or indented, else at most three spaces;
    - a fence still open at the end means the block's end is in doubt: no verdict;
    - any other character (no-break space, form feed, a BOM, markdown) makes it not the line.
    """
    verdict = None
    fence: tuple[str, int, int] | None = None  # (character, length, deepest closing indentation)
    for raw in text.split("\n"):
        line = raw.rstrip(" \t\r")
        body = line.lstrip(" ")
        indent = len(line) - len(body)
        if fence is not None:
            if indent <= fence[2] and body and set(body) == {fence[0]} and len(body) >= fence[1]:
                fence = None
            continue
        opened = _FENCE.match(line)
        if opened and not (opened.group(1)[0] == "`" and "`" in opened.group(2)):
            column = opened.start(1)
            nested = column > 3 or bool(line[:column].strip())  # indented, or after a list marker
            fence = (opened.group(1)[0], len(opened.group(1)), column + 3 if nested else 3)
            continue
        if indent <= 3 and body in _LINES:
            verdict = _LINES[body]
    return None if fence is not None else verdict
