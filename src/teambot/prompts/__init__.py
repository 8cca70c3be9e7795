"""Prompt assembly: the one place a stage's prompt text is built."""

from __future__ import annotations

from teambot.prompts.assemble import render_prompt

__all__ = ["render_prompt"]
