"""The runtime names. A runtime's name in config, its registry key and its module are one word.

`teambot.runtimes.router.build_runtime` builds the runtime a run uses from these.
"""

from __future__ import annotations

from teambot.errors import UsageError

RUNTIME_NAMES = ("demo", "command", "openai")


def check_runtime_name(name: str) -> None:
    """Raise UsageError (exit 2) unless `name` is a runtime, e.g. the value of `--runtime`."""
    if name not in RUNTIME_NAMES:
        raise UsageError(f"unknown runtime {name!r}", hint=f"choose one of: {', '.join(RUNTIME_NAMES)}")
