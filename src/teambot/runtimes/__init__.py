"""Runtimes do a stage's agent work: `demo` (offline), `command` (agent CLIs), `openai` (HTTP)."""

from __future__ import annotations

from teambot.runtimes.base import AgentRuntime, StageRequest, StageResult
from teambot.runtimes.registry import RUNTIME_NAMES

__all__ = ["RUNTIME_NAMES", "AgentRuntime", "StageRequest", "StageResult"]
