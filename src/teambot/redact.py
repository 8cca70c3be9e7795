"""Keep secrets out of what teambot writes: state, events, logs, outputs, error messages.

A secret is the value of an environment variable whose name contains KEY, TOKEN or SECRET,
or of a variable named in config (openai.api_key_env, secret_env_vars). Values shorter
than 6 characters are left alone: they are flags such as `true` or `1`, and replacing them
would mangle ordinary text.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

MARKER = "***"
MIN_LENGTH = 6
_NAME_PARTS = ("KEY", "TOKEN", "SECRET")


def secret_values(extra_env_names: Iterable[str] = (), environ: Mapping[str, str] | None = None) -> list[str]:
    """The secret values in the environment, longest first (so no secret is half-replaced)."""
    env = os.environ if environ is None else environ
    extra = set(extra_env_names)
    found = {
        value
        for name, value in env.items()
        if (name in extra or any(part in name.upper() for part in _NAME_PARTS)) and len(value) >= MIN_LENGTH
    }
    return sorted(found, key=lambda v: (-len(v), v))


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

    def __call__(self, text: str) -> str:
        return redact(text, self.secrets)
