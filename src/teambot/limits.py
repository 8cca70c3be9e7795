"""The `budget:` block of teambot.yaml (the run) and of a stage in stages.yaml: a spending limit.

Its own small module: settings.py and config/models.py both use it, and importing it must
not load the stages.yaml loader (teambot.config) into every command. The checks live in costs.py.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class Budget(BaseModel):
    """A spending limit: a stage's `budget:` in stages.yaml, the run's in teambot.yaml (costs.py).

    Either may be left out; with neither, there is no limit. Cost counts only calls whose
    cost is known (reported by the runtime, or priced with teambot.yaml `prices`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    max_cost: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None  # US dollars
    max_tokens: Annotated[int, Field(gt=0)] | None = None  # prompt + completion tokens
