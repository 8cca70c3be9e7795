"""One StageKind object per StageKindName: the only way the executor reaches a kind's code."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from teambot.config.models import StageConfig, StageKindName
from teambot.kinds.acceptance import AcceptanceKind
from teambot.kinds.base import StageKind
from teambot.kinds.command_stage import CommandKind
from teambot.kinds.plain import PlainKind
from teambot.kinds.review import ReviewKind
from teambot.kinds.sync import SyncKind
from teambot.kinds.task import TaskKind

KINDS: Mapping[StageKindName, StageKind] = MappingProxyType({
    kind.name: kind for kind in (PlainKind(), ReviewKind(), AcceptanceKind(), CommandKind(), SyncKind(), TaskKind())
})


def kind_of(stage: StageConfig) -> StageKind:
    """The kind object that runs `stage`."""
    return KINDS[stage.kind]
