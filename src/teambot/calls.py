"""Agent calls in flight, per stage: what a reached budget may stop at once.

The executor hands its stages the run's runtime wrapped in `InFlight`, which counts each
stage's calls while they run. When a call spends the run's budget (costs.BudgetWatch), the
stages inside a call are stopped at once (cancelled: their agents' process groups are ended,
and they are recorded blocked); a stage between calls is refused at its next call by
costs.guard, so nothing it has already paid for is thrown away.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, MutableMapping

from teambot.runtimes.base import StageRequest, StageResult


class InFlight:
    """A runtime that counts each stage's agent calls while they run (a task's count as its stage's)."""

    def __init__(self, runtime) -> None:
        self.runtime = runtime
        self.calls: Counter[str] = Counter()

    async def run(self, request: StageRequest) -> StageResult:
        stage = request.stage.split("/", 1)[0]  # a task (STAGE/T1) counts as its stage: a stage name has no "/"
        self.calls[stage] += 1
        try:
            return await self.runtime.run(request)
        finally:
            self.calls[stage] -= 1

    def __getattr__(self, name: str):
        return getattr(self.runtime, name)


def stop_calling(running: Mapping[asyncio.Task, str], inflight: InFlight, spender: str, why: str,
                 stops: MutableMapping[str, str]) -> None:
    """Cancel every running stage but `spender` that is inside an agent call; `stops` records why."""
    for task, name in running.items():
        if name != spender and inflight.calls[name] > 0 and name not in stops:
            stops[name] = why
            task.cancel()
