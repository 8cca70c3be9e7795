"""Prompt assembly and personas."""

from __future__ import annotations

from teambot.prompts.assemble import RenderedPrompt, render_prompt
from teambot.prompts.personas import DEFAULT_PERSONAS_DIR, load_persona, packaged_personas

__all__ = ["DEFAULT_PERSONAS_DIR", "RenderedPrompt", "load_persona", "packaged_personas", "render_prompt"]
