"""The review verdict protocol: a line that is exactly `VERDICT: APPROVED` or `VERDICT: CHANGES_REQUESTED`.

The last such line wins. Only whole lines count (surrounding whitespace aside), and lines
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
    """The verdict of a review, or None when it has no verdict line outside code blocks."""
    verdict = None
    fence: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if fence is not None:
            if line.startswith(fence):
                fence = None
            continue
        if line.startswith(("```", "~~~")):
            fence = line[:3]
            continue
        if line in _LINES:
            verdict = _LINES[line]
    return verdict
