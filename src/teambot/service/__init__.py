"""The service: what the CLI and the HTTP API both call, returning pydantic models.

Plain functions, no printing, no exit; problems are TeambotErrors (see
.agent-tracking/design/service-layer.md and serve.md).
"""

from __future__ import annotations

from teambot.errors import AlreadyDecidedError, StageNotWaitingError
from teambot.service.decisions import decide_stage, http_user, review_action, see_applied, stage_decisions
from teambot.service.edits import rerun_stage, unblock_stage
from teambot.service.events import events
from teambot.service.files import (artifact_file, list_artifacts, read_from, read_text, run_file, stage_file,
                                   stage_iterations, task_file)
from teambot.service.graph import graph
from teambot.service.launch import cancel_run, resume_run, start_run
from teambot.service.models import ChildReport, RunStatus, RunSummary, StageReport
from teambot.service.results import (Cancelled, Decided, EventPage, Graph, Launched, RerunResult, RunEvent, RunOptions,
                                     StageDecisions, StageIterations, UnblockResult)
from teambot.service.runs import feature_names, list_runs, run_status

__all__ = [
    "AlreadyDecidedError", "Decided", "StageDecisions", "StageNotWaitingError", "decide_stage", "http_user",
    "review_action", "run_file", "see_applied", "stage_decisions",
    "Cancelled", "ChildReport", "EventPage", "Graph", "Launched", "RerunResult", "RunEvent", "RunOptions", "RunStatus",
    "RunSummary", "StageIterations", "StageReport", "UnblockResult", "artifact_file", "cancel_run", "events",
    "feature_names", "graph", "list_artifacts", "list_runs", "read_from", "read_text", "rerun_stage", "resume_run",
    "run_status", "stage_file", "stage_iterations", "start_run", "task_file", "unblock_stage",
]
