"""The StageKind seam: what the executor asks of a stage, whatever kind it is.

A stage's kind is `StageConfig.kind` (a StageKindName derived from its fields); the registry
(kinds/registry.py) maps each name to one small object with this protocol. The executor owns
the lifecycle, retries, commits and events; a kind owns what differs between kinds: the
agents it holds, why it may refuse to start, one attempt's work, and which "why blocked"
reports a success makes stale. To add a kind: a StageKindName member, its derivation in
StageConfig.kind, a module here with one object, and its entry in the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from teambot.config.models import StageConfig, StageKindName
from teambot.costs import over_budget
from teambot.errors import StageBlocked
from teambot.kinds.context import StageWork
from teambot.store.models import TokenUsage

__all__ = ["Attempted", "KindDefaults", "StageKind", "StageKindName", "REPORT_KINDS"]

# Every "why blocked" report a stage can have (paths.report(stage, kind)).
REPORT_KINDS = ("review-failure", "acceptance-failure", "gate")


@dataclass(frozen=True)
class Attempted:
    """What one successful attempt produced; the executor checks the declared artifacts, writes
    the output file and then commits `succeeded` with them."""

    output: str
    # The declared artifacts the runtime saw written in this attempt (a file left by an earlier
    # attempt does not count); None: the kind checked them itself, any existing file counts.
    written: Mapping[str, Path] | None = None
    usage: TokenUsage | None = None  # the stage's whole usage in this run (committed as is)


class StageKind(Protocol):
    name: StageKindName
    # True: its attempt awaits work.started() itself before its first agent call, and prepares before
    # (reports.py); False: the executor awaits it before the attempt begins
    starts_late: bool

    def holds(self, stage: StageConfig) -> tuple[str, ...]:
        """The agent ids the stage keeps busy while it runs (no other stage uses them meanwhile)."""

    def precheck(self, work: StageWork) -> StageBlocked | None:
        """Why the stage must not start an attempt now (it is then blocked), or None.

        `work.attempt` is the number of attempts already recorded; nothing is committed yet.
        """

    async def attempt(self, work: StageWork) -> Attempted:
        """Do one attempt's work. Raises AgentError (a failure) or StageBlocked; honours cancellation."""

    def stale_reports(self, stage: StageConfig) -> tuple[str, ...]:
        """The report kinds a success removes: an old "why blocked" no longer holds."""


class KindDefaults:
    """What most kinds share: the work agent held, the acceptance gate checked, its report cleared."""

    name: StageKindName
    starts_late = False

    def holds(self, stage: StageConfig) -> tuple[str, ...]:
        return (stage.work_agent,) if stage.work_agent else ()

    def precheck(self, work: StageWork) -> StageBlocked | None:
        if work.stage.requires_acceptance_tests_passed:
            from teambot.kinds.acceptance import gate_blocked

            if (gate := gate_blocked(work)) is not None:
                return gate
        # a stage with agents over a spending budget does not start (no attempt is recorded)
        return over_budget(work) if self.holds(work.stage) else None

    def stale_reports(self, stage: StageConfig) -> tuple[str, ...]:
        # every kind, not only "gate": a stage whose kind changed in stages.yaml may have left one
        return REPORT_KINDS if stage.requires_acceptance_tests_passed else ()
