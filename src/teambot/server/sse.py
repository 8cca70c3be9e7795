"""Server-Sent Events: a run's events and a stage's log, tailed from the files.

Each message carries `id:` (events: the byte offset past the event's line; logs: the byte
offset past the chunk), so a client reconnecting with Last-Event-ID continues exactly there.
The stream polls the file; the server keeps nothing between requests.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.requests import Request

from teambot import service
from teambot.errors import TeambotError

POLL = 0.25  # seconds between looks at a file
KEEPALIVE = 15.0  # a comment line this often keeps proxies and the browser from closing the stream
RETRY_MS = 1000  # how soon EventSource reconnects after the stream drops (a server restart)


def start_id(request: Request, since: int | None) -> int:
    """Last-Event-ID (a reconnecting EventSource) wins over ?since=."""
    last = request.headers.get("last-event-id", "").strip()
    if last.isdigit():
        return int(last)
    return max(since or 0, 0)


def message(id_: int, data: object, event: str | None = None) -> bytes:
    head = f"id: {id_}\n" + (f"event: {event}\n" if event else "")
    return (head + f"data: {json.dumps(data, ensure_ascii=False)}\n\n").encode("utf-8")


async def run_events(request: Request, workspace: Path, feature: str, since: int) -> AsyncIterator[bytes]:
    yield f"retry: {RETRY_MS}\n\n".encode()
    quiet = time.monotonic()
    while not await request.is_disconnected():
        try:
            page = await asyncio.to_thread(service.events, workspace, feature, since)
        except TeambotError as err:  # the run was removed meanwhile: say so and end
            yield message(since, {"error": err.message}, event="error")
            return
        for event in page.events:
            yield message(event.id, event.model_dump(mode="json"))
        since = page.next
        if page.events:
            quiet = time.monotonic()
            continue  # more may be waiting (a page is bounded)
        if time.monotonic() - quiet > KEEPALIVE:
            quiet = time.monotonic()
            yield b": keepalive\n\n"
        await asyncio.sleep(POLL)


async def log_tail(request: Request, path_of, offset: int) -> AsyncIterator[bytes]:
    """A stage log as it grows; `path_of()` finds it again (it may not exist yet)."""
    yield f"retry: {RETRY_MS}\n\n".encode()
    quiet = time.monotonic()
    while not await request.is_disconnected():
        try:
            path = await asyncio.to_thread(path_of)
            data, end = await asyncio.to_thread(service.read_from, path, offset, 256 << 10)
        except TeambotError:
            data, end = b"", offset  # no log yet
        if end < offset:  # the log was started afresh (a new attempt): follow the new one from its start
            offset = 0
            yield message(0, {"text": "", "reset": True})
            continue
        if data:
            cut = data.rfind(b"\n") + 1 or len(data)  # whole lines when there are any
            text = data[:cut].decode("utf-8", errors="replace")
            offset += cut
            quiet = time.monotonic()
            yield message(offset, {"text": text})
            continue
        if time.monotonic() - quiet > KEEPALIVE:
            quiet = time.monotonic()
            yield b": keepalive\n\n"
        await asyncio.sleep(POLL)
