"""Runtimes do a stage's agent work: `demo` (offline), and later `command` and `openai`."""

from __future__ import annotations

from teambot.runtimes.base import AgentRuntime, StageRequest, StageResult
from teambot.runtimes.registry import RUNTIME_NAMES, make_runtime

__all__ = ["RUNTIME_NAMES", "AgentRuntime", "StageRequest", "StageResult", "make_runtime"]
