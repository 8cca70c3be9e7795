"""Notifications: teambot.yaml `notify:` targets told when a run ends or needs a person.

`config` holds the settings model and its checks (light: pydantic only); `notifier` delivers
in background threads (httpx, subprocesses) and records every delivery in events.jsonl.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only
    from collections.abc import Callable, Sequence

    from teambot.events import EventLog
    from teambot.notify.config import NotifyTarget
    from teambot.notify.notifier import Notifier
    from teambot.paths import RunPaths


def attach_notifier(targets: Sequence[NotifyTarget], events: EventLog, paths: RunPaths,
                    redact: Callable[[str], str]) -> Notifier | None:
    """A Notifier listening to `events` (None without targets: httpx is then never imported).
    The caller must `close()` it before closing `events`."""
    if not targets:
        return None
    from teambot.notify.notifier import Notifier

    notifier = Notifier(targets, events, feature=paths.feature, run_dir=paths.root, redact=redact)
    events.listeners.append(notifier.on_event)
    return notifier
