"""The service: what the CLI and an HTTP API both call, returning pydantic models.

Read side only so far (see .agent-tracking/design/service-layer.md for what comes next).
"""

from __future__ import annotations

from teambot.service.models import ChildReport, RunStatus, RunSummary, StageReport
from teambot.service.runs import feature_names, list_runs, run_status

__all__ = ["ChildReport", "RunStatus", "RunSummary", "StageReport", "feature_names", "list_runs", "run_status"]
