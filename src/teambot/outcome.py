"""What one process's run of the stage DAG came to (the executor returns it, session.py reports it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from teambot.errors import TeambotError


class StopReason(StrEnum):
    NONE = ""
    FAILURE = "failure"
    INTERRUPTED = "interrupted"
    TIME_LIMIT = "time_limit"


@dataclass
class Outcome:
    stop: StopReason
    failed: dict[str, str] = field(default_factory=dict)  # stage -> error
    pending: list[str] = field(default_factory=list)
    blocked: dict[str, str] = field(default_factory=dict)  # stage -> why
    blocked_by: dict[str, str] = field(default_factory=dict)  # stage -> "iterations" / "acceptance_gate"
    fatal: TeambotError | None = None  # the disk filled up or a run-dir path was unsafe: the run stopped
    waiting: dict[str, str] = field(default_factory=dict)  # stage -> awaiting_approval / awaiting_review

    @property
    def completed(self) -> bool:
        return (self.stop is StopReason.NONE and self.fatal is None and not self.failed and not self.blocked
                and not self.pending and not self.waiting)
