"""A sync point (no agent, no artifacts, such as COMPLETE): where branches of the graph meet."""

from __future__ import annotations

from teambot.config.models import StageKindName
from teambot.kinds.base import Attempted, KindDefaults
from teambot.kinds.context import StageWork


class SyncKind(KindDefaults):
    name = StageKindName.SYNC

    async def attempt(self, work: StageWork) -> Attempted:
        return Attempted(f"# {work.name}\n\nAll upstream stages finished.\n")
