"""The review verdict protocol: a line that is exactly `VERDICT: APPROVED` or `VERDICT: CHANGES_REQUESTED`.

The last such line wins. Only whole lines count (surrounding spaces and tabs aside), and lines
inside fenced code blocks do not: a quote, a negation ("not VERDICT: APPROVED"), markdown
around it (`**VERDICT: APPROVED**`, `> VERDICT: APPROVED`) or prose can never approve.
"""

from __future__ import annotations

from enum import StrEnum

APPROVED_LINE = "VERDICT: APPROVED"
CHANGES_LINE = "VERDICT: CHANGES_REQUESTED"


class Verdict(StrEnum):
    APPROVED = "approved"
    CHANGES_REQUESTED = "changes_requested"


_LINES = {APPROVED_LINE: Verdict.APPROVED, CHANGES_LINE: Verdict.CHANGES_REQUESTED}


def parse_verdict(text: str) -> Verdict | None:
    """The verdict of a review, or None when it has no verdict line outside code blocks.

    Lines are split on "\n" only and lose only spaces, tabs and a trailing "\r": other
    Unicode line or space characters never turn prose into a verdict line. A fence is closed
    only by a line of at least as many of the same fence character (as in CommonMark), so a
    quoted inner fence does not end it early.
    """
    verdict = None
    fence: str | None = None  # the opening fence run, e.g. "```" or "~~~~"
    for raw in text.split("\n"):
        line = raw.strip(" \t\r")
        if fence is not None:
            if line and set(line) == {fence[0]} and len(line) >= len(fence):
                fence = None
            continue
        if line.startswith(("```", "~~~")):
            char = line[0]
            fence = line[: len(line) - len(line.lstrip(char))]
            continue
        if line in _LINES:
            verdict = _LINES[line]
    return verdict
