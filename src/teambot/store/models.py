"""The persisted state of a run: one RunRecord and a StageRecord per stage (pydantic, the edge)."""

from __future__ import annotations

import datetime as _dt
from enum import StrEnum

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from teambot.lifecycle import StageStatus

SCHEMA_VERSION = 1


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def _iso(value: str) -> str:
    _dt.datetime.fromisoformat(value)  # a ValueError here is reported as a corrupt state file
    return value


Timestamp = Annotated[str, AfterValidator(_iso)]


class RunStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    BLOCKED = "blocked"
    INTERRUPTED = "interrupted"


class _Model(BaseModel):
    # extra="ignore": an older teambot reading a same-version file with extra fields keeps going
    model_config = ConfigDict(extra="ignore", validate_assignment=False)


class TokenUsage(_Model):
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class StageRecord(_Model):
    """What is known of one stage. `seq` orders commits (the newest copy of a record wins)."""

    name: str
    status: StageStatus = StageStatus.PENDING
    attempts: int = 0
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    agent: str | None = None
    error: str | None = None
    artifacts: dict[str, str] = Field(default_factory=dict)  # artifact name -> sha256
    output_sha256: str | None = None
    fingerprint: str | None = None  # of the definition the stage last succeeded with
    usage: TokenUsage | None = None
    pgid: int | None = None  # the agent's process group while running (command runtime)
    seq: int = 0


class Owner(_Model):
    pid: int
    host: str
    since: Timestamp


class RunRecord(_Model):
    feature: str
    status: RunStatus = RunStatus.RUNNING
    objective_path: str
    objective_sha256: str
    stages_path: str
    stages_sha256: str
    runtime: str = "demo"  # the default runtime in effect (teambot.yaml or --runtime)
    runtime_override: str | None = None  # --runtime given to `run`; resume keeps it
    created_at: Timestamp = Field(default_factory=now_iso)
    updated_at: Timestamp = Field(default_factory=now_iso)
    elapsed_seconds: float = 0.0
    owner: Owner | None = None
    error: str | None = None
    processes: int = 1  # how many processes have driven this run (1 + resumes)


class RunState(_Model):
    schema_version: int = SCHEMA_VERSION
    run: RunRecord
    stages: dict[str, StageRecord] = Field(default_factory=dict)
