"""stages.yaml: pydantic models, loading with locations, validation, the default workflow."""

from __future__ import annotations

from teambot.config.loader import DEFAULT_STAGES, Workflow, load_workflow, resolve_stages_path

__all__ = ["DEFAULT_STAGES", "Workflow", "load_workflow", "resolve_stages_path"]
