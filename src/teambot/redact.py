"""Keep secrets out of what teambot writes: state, events, logs, outputs, error messages.

A secret is the value of an environment variable whose name contains KEY, TOKEN or SECRET,
or of a variable named in config (openai.api_key_env, secret_env_vars). Values shorter
than 6 characters are left alone: they are flags such as `true` or `1`, and replacing them
would mangle ordinary text. A multi-line value (a PEM key) is also redacted line by line,
since logs and messages hold it one line at a time; and every value also URL-encoded
(`quote`, `quote_plus`, or with only some characters percent-encoded, as httpx does).

Redact before cutting or splitting text: a secret cut in two is no longer found. Text that
arrives in pieces (an agent's stdout) goes through a `RedactingStream`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import quote, quote_plus

MARKER = "***"
MIN_LENGTH = 6
_NAME_PARTS = ("KEY", "TOKEN", "SECRET")


def secret_values(extra_env_names: Iterable[str] = (), environ: Mapping[str, str] | None = None) -> list[str]:
    """The secret values in the environment and the lines of multi-line ones, longest first
    (so no secret is half-replaced)."""
    env = os.environ if environ is None else environ
    extra = set(extra_env_names)
    found: set[str] = set()
    for name, value in env.items():
        if name in extra or any(part in name.upper() for part in _NAME_PARTS):
            found.add(value)
            found.update(line.strip() for line in value.splitlines())
            found.add(value.strip())
    found = {v for v in found if len(v) >= MIN_LENGTH}
    # as they appear in URLs and form bodies: a key in a query string, a redirect's Location
    found |= {form for v in found for form in (quote(v, safe=""), quote_plus(v))}
    return sorted(found, key=lambda v: (-len(v), v))


def _encoded_pattern(secrets: Iterable[str]) -> re.Pattern[str] | None:
    """Matches each secret with any of its characters percent-encoded or not, in either case of hex
    (httpx encodes only some characters of a URL, other tools others), and a space also as `+`."""
    forms = []
    for value in secrets:
        if quote(value, safe="") == value:
            continue  # nothing in it is ever encoded: plain replacement finds it
        parts = []
        for char in value:
            if quote(char, safe="") == char:
                parts.append(re.escape(char))
                continue
            hexes = "".join(f"%{_hex_class(b)}" for b in char.encode("utf-8"))
            parts.append(f"(?:{re.escape(char)}|{hexes}{'|[+]' if char == ' ' else ''})")
        forms.append("".join(parts))
    return re.compile("|".join(forms)) if forms else None


def _hex_class(byte: int) -> str:
    return "".join(f"[{d.upper()}{d.lower()}]" if d.isalpha() else d for d in f"{byte:02X}")


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    """`text` with every secret value replaced by `***` (secrets from the environment by default)."""
    for value in secret_values() if secrets is None else secrets:
        if value in text:
            text = text.replace(value, MARKER)
    return text


class Redactor:
    """A fixed list of secrets, for code that redacts many pieces of text (a stage's log)."""

    def __init__(self, extra_env_names: Iterable[str] = (), environ: Mapping[str, str] | None = None) -> None:
        self.secrets = secret_values(extra_env_names, environ)
        self._encoded = _encoded_pattern(self.secrets)

    def __call__(self, text: str) -> str:
        text = redact(text, self.secrets)
        if self._encoded is not None and "%" in text:  # partly encoded forms (only encoded text has a %)
            text = self._encoded.sub(MARKER, text)
        return text

    def unfinished(self, text: str) -> int:
        """How many characters at the end of `text` could be the start of a secret (0 if none)."""
        longest = 0
        for value in self.secrets:
            start = max(0, len(text) - len(value) + 1)
            at = text.find(value[0], start)
            while at != -1 and len(text) - at > longest:
                if value.startswith(text[at:]):
                    longest = len(text) - at
                    break
                at = text.find(value[0], at + 1)
        return longest


class RedactingStream:
    """Redacts text that arrives in pieces, so a secret split between two pieces is still caught.

    `feed` returns the redacted text that is safe to pass on; an end that could be the start of
    a secret waits for the next piece (or `finish`). With a plain function in place of a
    Redactor, which cannot say what a secret starts with, each piece is redacted on its own.
    """

    def __init__(self, redact: Callable[[str], str]) -> None:
        self.redact = redact
        self._pending = ""

    def feed(self, text: str) -> str:
        if not text:
            return ""
        out = self.redact(self._pending + text)
        unfinished = getattr(self.redact, "unfinished", None)
        held = unfinished(out) if unfinished is not None else 0
        self._pending = out[len(out) - held:] if held else ""
        return out[: len(out) - held]

    def finish(self) -> str:
        """What was held back. The text ended there, so it is the start of a secret cut short:
        masked too, unless it is too short to tell apart from ordinary text."""
        out, self._pending = self._pending, ""
        return MARKER if len(out) >= MIN_LENGTH else out
