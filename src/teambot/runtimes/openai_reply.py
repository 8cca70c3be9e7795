"""What an OpenAI-compatible server sends back: SSE or JSON replies and error bodies, read within a cap.

Memory stays bounded by the reply cap whatever the server sends: a JSON body is read in
chunks and refused past `body_limit(cap)`, an event stream stops being read once the reply
text reaches the cap, and no stream line may grow past that limit either. The cap counts
the reply's text (UTF-8 bytes after JSON decoding), not the bytes on the wire. Any text
quoted from the server in a message loses its terminal escapes and control characters, then is
redacted whole, then cut (`clip`).
"""

from __future__ import annotations

import datetime
import json
import math
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx

from teambot.runtimes.output import Capture, one_line
from teambot.runtimes.output import clip as clip_width
from teambot.store.models import TokenUsage

Redact = Callable[[str], str]
ERROR_BODY_CAP = 64 * 1024  # of an error body: the message shown is at most 500 characters anyway
_EOL = re.compile(r"\r\n|\r|\n")


def body_limit(cap: int) -> int:
    """The most bytes a reply of `cap` bytes of text can take as JSON: \\uXXXX escapes are 6 bytes."""
    return 6 * cap + 64 * 1024


class Transient(Exception):
    """A failed attempt that another attempt may fix (with the tokens it spent, if the server said)."""

    def __init__(self, message: str, reason: str, status: int | None = None, retry_after: float | None = None,
                 usage: TokenUsage | None = None) -> None:
        super().__init__(message)
        self.message, self.reason, self.status, self.retry_after = message, reason, status, retry_after
        self.usage = usage


@dataclass
class Reading:
    """What one response gave: the text goes into `capture`; usage and finish_reason land here."""

    capture: Capture
    usage: TokenUsage | None = None
    finish: str | None = None

    @property
    def cut(self) -> bool:
        """The reply is not all the model said: any finish_reason but "stop" (or none): its length
        limit, a content filter, a tool call (no usable text); or it went past teambot's cap."""
        return self.finish not in (None, "stop") or self.capture.dropped > 0


def clip(text: str, limit: int, redact: Redact) -> str:
    """Server text fit to quote: on one line without terminal escapes or control characters, then
    redacted (a secret split by an escape is whole again), then cut at `limit` characters
    (redacting first: a cut secret would not match)."""
    return clip_width(redact(one_line(text)), limit)


def is_event_stream(headers: httpx.Headers) -> bool:
    """Content-Type text/event-stream, in any case, with or without parameters (media types are case-insensitive)."""
    return headers.get("content-type", "").split(";", 1)[0].strip().lower() == "text/event-stream"


async def read_body(resp: httpx.Response, limit: int, *, cut: bool = False) -> bytearray | None:
    """The body, read in chunks; past `limit` bytes: its first `limit` bytes if `cut`, else None."""
    data = bytearray()
    async for chunk in resp.aiter_bytes():
        data += chunk
        if len(data) > limit:
            if not cut:
                return None
            del data[limit:]
            break
    return data


async def read_events(resp: httpx.Response, reading: Reading, redact: Redact) -> None:
    """Read an SSE stream of chat.completion.chunk objects, stopping once the reply reaches the cap."""
    data: list[str] = []
    done = False
    async for line in _lines(resp, body_limit(reading.capture.cap)):
        if line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
            continue
        if line or not data:
            continue  # comments, event:/id:/retry: fields
        payload, data = "\n".join(data), []
        if payload.strip() == "[DONE]":
            done = True
            break
        _take_chunk(_json(payload, "stream event", redact), reading, "delta")
        if reading.capture.dropped:
            return  # at the cap: the rest would be dropped anyway, so it is not read at all
    if data and data[-1].strip() == "[DONE]":
        done = True
    elif data:  # the last event had no blank line after it
        _take_chunk(_json("\n".join(data), "stream event", redact), reading, "delta")
    if not done and reading.finish is None:
        raise Transient("the stream ended before the reply was complete", "incomplete", usage=reading.usage)


def read_json(raw: bytes | bytearray, reading: Reading, redact: Redact) -> None:
    body = _json(raw.decode("utf-8", "replace"), "response", redact)
    if not isinstance(body.get("choices"), list) or not body["choices"]:
        shown = clip(raw.decode("utf-8", "replace"), 200, redact)
        raise Transient(f"the response has no choices: {shown!r}", "malformed", usage=_usage(body))
    _take_chunk(body, reading, "message")


async def _lines(resp: httpx.Response, limit: int) -> AsyncIterator[str]:
    """The body's lines (ended by CR, LF or CRLF); a line longer than `limit` is an error, not memory."""
    pending: list[str] = []
    size, after_cr = 0, False
    async for text in resp.aiter_text():
        if not text:
            continue
        if after_cr and text.startswith("\n"):
            text = text[1:]  # the LF of a CRLF split between two chunks
        after_cr = text.endswith("\r")
        *ended, rest = _EOL.split(text)
        for piece in ended:
            pending.append(piece)
            yield "".join(pending)
            pending, size = [], 0
        if rest:
            pending.append(rest)
            size += len(rest)
            if size > limit:
                raise Transient(f"the server sent a stream line longer than {limit:,} characters", "malformed")
    if pending:
        yield "".join(pending)


def _json(text: str, what: str, redact: Redact) -> dict:
    try:
        value = json.loads(text)
    except ValueError:
        shown = clip(text, 200, redact)
        raise Transient(f"the server sent a malformed {what} (not JSON): {shown!r}", "malformed") from None
    if not isinstance(value, dict):
        raise Transient(f"the server sent a malformed {what} (not an object): {clip(text, 200, redact)!r}", "malformed")
    if "error" in value and not value.get("choices"):
        message, _ = error_message(json.dumps(value).encode(), redact)
        raise Transient(f"the server reported an error: {message}", "server_error", usage=_usage(value))
    return value


def _take_chunk(chunk: dict, reading: Reading, key: str) -> None:
    """Feed the first choice's text to the capture; note usage and the finish_reason."""
    reading.usage = _usage(chunk) or reading.usage
    choices = chunk.get("choices") or []
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return
    part = choices[0].get(key) or {}
    content = part.get("content") if isinstance(part, dict) else None
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}]
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if isinstance(content, str) and content:
        reading.capture.feed(content.encode("utf-8"))
    finish = choices[0].get("finish_reason")
    if finish:
        reading.finish = clip_width(one_line(str(finish)), 40)  # quoted in messages: the server's text
        if finish == "length":
            reading.capture.log.note("the model stopped at its output token limit (finish_reason: length): "
                                     "the reply is cut short")
        elif finish != "stop":
            reading.capture.log.note(f"the reply ended with finish_reason {reading.finish!r}, not \"stop\": "
                                     "it is taken as cut short")


def _usage(body: dict) -> TokenUsage | None:
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    cached = cached if isinstance(cached, int) and 0 < cached <= prompt else 0  # OpenAI: part of prompt_tokens
    return TokenUsage(prompt_tokens=prompt, completion_tokens=completion, cached_prompt_tokens=cached)


def error_message(raw: bytes | bytearray, redact: Redact) -> tuple[str, str | None]:
    """The server's own error message (redacted, at most 500 characters) and code, from JSON or plain text."""
    text = raw.decode("utf-8", "replace").strip()
    try:
        body = json.loads(text)
    except ValueError:
        return clip(text, 500, redact), None
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, str):
            return clip(error, 500, redact), None
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail") or body.get("message") or text
            code = error.get("code") or error.get("type")
            return clip(str(message), 500, redact), code if isinstance(code, str) else None
    return clip(text, 500, redact), None


def rejects_streaming(raw: bytes | bytearray, context: re.Pattern[str]) -> bool:
    """A 400 that complains about `stream`/`stream_options` (servers that cannot stream)."""
    message, _ = error_message(raw, str)
    return bool(re.search(r"\bstream(_options)?\b", message, re.I)) and not context.search(message)


def retry_after(headers: httpx.Headers) -> float | None:
    """Retry-After (seconds or an HTTP date) or retry-after-ms, as the server gave it (may be NaN or negative)."""
    if headers.get("retry-after-ms"):
        try:
            return float(headers["retry-after-ms"]) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return (parsedate_to_datetime(value) - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    except (TypeError, ValueError):
        return None


def usable_wait(seconds: float | None) -> float | None:
    """A server's wait if it is a real one (finite, not negative), else None: the default backoff applies."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds
