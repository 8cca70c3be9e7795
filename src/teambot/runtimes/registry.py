"""Runtime names → implementations. A runtime's name, registry key and module are one word."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from teambot.errors import UsageError

RUNTIME_NAMES = ("demo",)


def make_runtime(name: str, **options: Any):
    """Build the runtime called `name` (its module is teambot.runtimes.<name>)."""
    if name not in RUNTIME_NAMES:
        raise UsageError(f"unknown runtime {name!r}", hint=f"choose one of: {', '.join(RUNTIME_NAMES)}")
    module = import_module(f"teambot.runtimes.{name}")
    return module.create(**options)
