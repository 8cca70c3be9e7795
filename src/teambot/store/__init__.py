"""Run state: models, the StateStore protocol, the file store and a memory store."""

from __future__ import annotations

from teambot.store.base import StateStore
from teambot.store.models import SCHEMA_VERSION, ChildRecord, Owner, RunRecord, RunState, RunStatus, StageRecord, TokenUsage

__all__ = ["SCHEMA_VERSION", "ChildRecord", "Owner", "RunRecord", "RunState", "RunStatus", "StageRecord", "StateStore", "TokenUsage"]
