"""The runtime names. A runtime's name in config, its registry key and its module are one word.

`teambot.runtimes.router.build_runtime` builds the runtime a run uses from these.
"""

from __future__ import annotations

RUNTIME_NAMES = ("demo", "command", "openai")
