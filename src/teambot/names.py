"""Checks shared by every name teambot takes from a user: features, stages, agents, artifacts.

Names become directory and file names, argv elements and one-line messages, so a name
holding a newline or another invisible character is refused, whatever pattern it matches.
Patterns are applied with re.fullmatch: `$` also matches before a final newline.
"""

from __future__ import annotations

import unicodedata

# Cc: C0/C1 controls and DEL; Cf: format characters (bidi overrides, zero-width);
# Zl/Zp: line and paragraph separators, which str.splitlines() treats as line ends.
_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def control_character(text: str) -> str | None:
    """The first control or invisible character in `text`, escaped for a message (`\\n`), or None."""
    for char in text:
        if unicodedata.category(char) in _INVISIBLE:
            return repr(char)[1:-1]
    return None
