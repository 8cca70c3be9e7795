"""events.jsonl: an append-only record of what happened, one JSON object per line.

Each event is {"ts", "type", "stage", "details"}; types are past-tense facts. The log
is a record for people and tools, not the source of truth (state.json is), so lines are
flushed but not fsynced one by one. A reader skips a torn last line left by a crash, and
the writer starts a fresh line after one.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from teambot.fsutil import AppendFile, open_append

EVENT_TYPES = frozenset(
    {
        "run_started", "run_resumed", "run_completed", "run_failed", "run_interrupted",
        "stage_started", "stage_succeeded", "stage_failed", "stage_interrupted", "stage_retrying",
        "stage_skipped", "stage_reset", "parallel_group_started", "parallel_group_completed",
        "agent_attempt_failed", "agent_waiting",
        "budget_exceeded",  # a spending budget stopped a stage (costs.py)
        "stage_blocked", "run_blocked", "iteration_started", "step_completed",
        "acceptance_tests_started", "acceptance_tests_completed",
        "task_started", "task_committed", "task_merged", "task_conflict", "task_failed", "task_interrupted",
        "task_retrying",
        "stage_kept", "upstream_artifact_missing",
        "notification_sent", "notification_failed",
        # a person in the loop (approvals.py)
        "stage_awaiting_approval", "stage_awaiting_review", "stage_approved", "stage_rejected", "review_given",
        "decision_ignored", "run_waiting",
    }
)


@dataclass(frozen=True)
class Event:
    ts: float
    type: str
    stage: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return _ENCODE({"ts": self.ts, "type": self.type, "stage": self.stage, "details": self.details})


_ENCODE = json.JSONEncoder(ensure_ascii=False).encode  # (json.dumps builds an encoder per call for non-default options)


Listener = Callable[[Event], None]


class EventLog:
    """Appends events to a file (or nowhere, when path is None) and tells listeners."""

    def __init__(self, path: Path | None, redact: Callable[[str], str] = str) -> None:
        self.path = path
        self.redact = redact  # secrets never reach the file
        self.listeners: list[Listener] = []
        self._fh: AppendFile | None = None
        self._lock = threading.RLock()  # notifications are recorded from their delivery threads
        if path is not None:
            # Opened without following a symlink: the record stays inside the run directory.
            self._fh = open_append(path, root=path.parent)
            if _torn(path):  # a crash tore the last line; keep ours whole
                self._fh.write("\n")

    def emit(self, type: str, stage: str | None = None, **details: Any) -> Event:
        if type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type!r}")  # a bug: events are a contract
        with self._lock:
            event = Event(ts=time.time(), type=type, stage=stage, details=_redacted(details, self.redact))
            if self._fh is not None:
                self._fh.check()  # a swapped file: stop the run rather than lose the record
                self._fh.write_line(event.to_json() + "\n")
            for listener in self.listeners:
                listener(event)
        return event

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None


def _redacted(value: Any, redact: Callable[[str], str]) -> Any:
    """`value` with `redact` applied to every string in it (before JSON escaping can hide a secret)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _redacted(v, redact) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redacted(v, redact) for v in value]
    return value


def _torn(path: Path) -> bool:
    """The file does not end with a newline (read through the file we just opened safely)."""
    with path.open("rb") as fh:
        if fh.seek(0, 2) == 0:
            return False
        fh.seek(-1, 2)
        return fh.read(1) != b"\n"


def read_events(path: Path) -> Iterator[Event]:
    """Every whole event in the file; lines that do not parse (a torn tail) are skipped."""
    if not path.exists():
        return
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                raw = json.loads(line)
                yield Event(ts=raw["ts"], type=raw["type"], stage=raw.get("stage"), details=raw.get("details") or {})
            except (ValueError, KeyError, TypeError):
                continue
