"""The openai runtime: one chat completion per stage from an OpenAI-compatible server.

POST {base_url}/chat/completions over httpx: the persona as the system message, the stage
prompt as the user message (request.system_prompt / user_prompt), streamed (SSE, with usage) unless the server cannot stream.
Failed attempts are classified: 429 waits for Retry-After; 5xx, connection errors, read
timeouts and malformed replies back off exponentially with jitter, up to max_retries; other
4xx and context-length errors fail at once. Every failed attempt and every wait is reported
through `emit` (events.jsonl: agent_attempt_failed, agent_waiting). The API key is read from
the environment variable named in config and never written anywhere.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from teambot.errors import AgentError
from teambot.redact import Redactor
from teambot.runtimes.base import StageRequest, StageResult
from teambot.runtimes.output import Capture, StageLog, artifact_stamps, claim_artifacts, decode_output
from teambot.settings import OpenAISettings, is_env_name
from teambot.store.models import TokenUsage

MAX_WAIT = 60.0  # never sleep longer than this between attempts, whatever Retry-After says
REPLY_CAP = 10 * 1024 * 1024
_CONTEXT = re.compile(r"context[ _-]?(length|window)|maximum context|too many tokens|prompt is too long|"
                      r"reduce the length|token limit|exceeds the limit of \d+ tokens", re.I)
Emit = Callable[..., Any]


class _Transient(Exception):
    """A failed attempt that another attempt may fix."""

    def __init__(self, message: str, reason: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message, self.reason, self.status, self.retry_after = message, reason, status, retry_after


@dataclass
class _Reply:
    text: str
    usage: TokenUsage | None


class _Shared:
    """One HTTP client (and what was learnt about the server) for every model variant."""

    def __init__(self, config: OpenAISettings) -> None:
        self.config = config
        self.stream = config.stream  # turned off for good when the server rejects streaming
        self._client: httpx.AsyncClient | None = None

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            timeout = httpx.Timeout(self.config.timeout, connect=min(self.config.timeout, 10.0))
            self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=True)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


class OpenAIRuntime:
    """Chat completions for stages; `emit(type, stage, **details)` reports attempts and waits."""

    name = "openai"

    def __init__(self, config: OpenAISettings, *, model: str | None = None,
                 emit: Emit | None = None, redactor: Callable[[str], str] | None = None, shared: _Shared | None = None) -> None:
        self.config = config
        self.model = model or config.model
        self.emit = emit
        self.redact = redactor or Redactor((config.api_key_env,))
        self.shared = shared or _Shared(config)
        self.url = config.base_url.rstrip("/") + "/chat/completions"

    def variant(self, model: str | None) -> OpenAIRuntime:
        """The same server and client with another model (per-agent overrides)."""
        return OpenAIRuntime(self.config, model=model, emit=self.emit,
                             redactor=self.redact, shared=self.shared)

    async def aclose(self) -> None:
        await self.shared.aclose()

    async def run(self, request: StageRequest) -> StageResult:
        if len(request.artifacts) > 1:
            raise AgentError(f"the openai runtime writes one artifact per stage; {request.stage} declares "
                             f"{len(request.artifacts)} ({', '.join(request.artifacts)}): use a command runtime for it",
                             retryable=False)
        if not self.model:
            raise AgentError(f"no model configured for agent {request.agent}: set openai.model or "
                             f"agents.{request.agent}.model in teambot.yaml", retryable=False)
        # the executor renders the prompt in two parts: the persona apart from the stage's text
        system, user = request.system_prompt, request.user_prompt or request.prompt
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": user})
        before = artifact_stamps(request)
        log = StageLog(request.log_path, self.redact)
        try:
            reply = await self._complete(request, messages, log)
        finally:
            log.close()
        text = self.redact(reply.text)
        return StageResult(output=text, artifacts=claim_artifacts(request, before, text), usage=reply.usage)

    async def _complete(self, request: StageRequest, messages: list[dict], log: StageLog) -> _Reply:
        attempts = 1 + self.config.max_retries
        for number in range(1, attempts + 1):
            log.note(f"attempt {request.attempt}.{number}: POST {self.url} (model {self.model}"
                     f"{', streaming' if self.shared.stream else ''})")
            try:
                return await self._once(messages, log)
            except _Transient as exc:
                message = self.redact(exc.message)
                log.note(f"failed: {message}")
                self._emit("agent_attempt_failed", request, attempt=number, attempts=attempts, error=message,
                           status=exc.status, reason=exc.reason, will_retry=number < attempts)
                if number == attempts:
                    raise AgentError(f"{message} (gave up after {attempts} attempt{'s' if attempts > 1 else ''})") from None
                wait = exc.retry_after if exc.retry_after is not None else self._backoff(number)
                wait = min(max(wait, 0.0), MAX_WAIT)
                log.note(f"waiting {wait:.2f} s before attempt {number + 1}")
                self._emit("agent_waiting", request, seconds=round(wait, 3), reason=exc.reason, next_attempt=number + 1)
                await asyncio.sleep(wait)
            except AgentError as exc:
                exc.message = self.redact(exc.message)
                log.note(f"failed: {exc.message}")
                self._emit("agent_attempt_failed", request, attempt=number, attempts=attempts, error=exc.message,
                           will_retry=False)
                raise AgentError(exc.message, retryable=exc.retryable) from None
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _backoff(self, number: int) -> float:
        return self.config.retry_backoff_seconds * (2 ** (number - 1)) * random.uniform(0.5, 1.5)

    def _emit(self, type: str, request: StageRequest, **details: Any) -> None:
        if self.emit is not None:
            self.emit(type, request.stage, runtime=self.name, model=self.model, **details)

    async def _once(self, messages: list[dict], log: StageLog) -> _Reply:
        stream = self.shared.stream
        body: dict[str, Any] = {"model": self.model, "messages": messages}
        if stream:
            body.update(stream=True, stream_options={"include_usage": True})
        reply = Capture(REPLY_CAP, log, "reply", prefix="")
        try:
            async with self.shared.client().stream("POST", self.url, json=body, headers=self._headers()) as resp:
                if resp.status_code >= 400:
                    raw = await resp.aread()
                    if not (stream and resp.status_code in (400, 422) and _rejects_streaming(raw)):
                        raise self._classify(resp.status_code, raw, resp.headers)
                    reply = None  # the server cannot stream: fall back below, once the response is closed
                elif stream and resp.headers.get("content-type", "").startswith("text/event-stream"):
                    usage = await _read_events(resp, reply)
                else:
                    usage = _read_json(await resp.aread(), reply)
        except httpx.UnsupportedProtocol as exc:
            raise AgentError(f"cannot reach {self.url}: {exc} (check openai.base_url)", retryable=False) from None
        except httpx.TimeoutException as exc:
            raise _Transient(f"{_timeout_kind(exc)} from {self.url} (openai.timeout is {self.config.timeout:g} s)",
                             "timeout") from None
        except httpx.TransportError as exc:
            raise _Transient(f"connection to {self.url} failed: {type(exc).__name__}: {exc}", "connection") from None
        if reply is None:
            log.note("the server does not accept streaming; asking again without it")
            self.shared.stream = False
            return await self._once(messages, log)
        reply.finish()
        text, _ = decode_output(reply.data)
        if not text.strip():
            raise AgentError(f"model {self.model} returned an empty reply")
        return _Reply(text, usage)

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.config.api_key_env, "")
        if not key:
            return {}
        headers = {"Authorization": f"Bearer {key}"}
        if (httpx.URL(self.url).host or "").endswith(".azure.com"):
            headers["api-key"] = key  # Azure OpenAI authenticates API keys with this header
        return headers

    def _classify(self, status: int, raw: bytes, headers: httpx.Headers) -> Exception:
        message, code = _error_message(raw)
        message = self.redact(message)
        said = f"HTTP {status}: {message}" if message else f"HTTP {status}"
        if status in (400, 413, 422) and (code == "context_length_exceeded" or _CONTEXT.search(message)):
            return AgentError(f"the prompt does not fit model {self.model}'s context window ({said}); shorten the "
                              "stage's inputs (prompt_template, upstream artifacts), split the stage, or use a model "
                              "with a larger context window", retryable=False)
        if status == 429:
            if code == "insufficient_quota":
                return AgentError(f"the API quota is used up ({said}); check the account's billing", retryable=False)
            return _Transient(f"rate limited ({said})", "rate_limited", status, _retry_after(headers))
        if status >= 500 or status == 408:
            return _Transient(f"server error ({said})", "server_error", status)
        if status == 401:
            env = self.config.api_key_env
            if not is_env_name(env):  # a key pasted as the name (settings refuse it): never echo it
                return AgentError(f"authentication failed ({said}); openai.api_key_env must name the variable "
                                  "holding the key", retryable=False)
            unset = "" if os.environ.get(env) else f"; ${env} is not set"
            return AgentError(f"authentication failed ({said}); check the API key in ${env}{unset}", retryable=False)
        if status == 403:
            return AgentError(f"permission denied ({said}); the key may lack access to model {self.model}", retryable=False)
        if status == 404:
            return AgentError(f"not found ({said}); check openai.base_url ({self.config.base_url}, it usually ends in "
                              f"/v1) and the model name ({self.model})", retryable=False)
        return AgentError(f"the server rejected the request ({said})", retryable=False)


async def _read_events(resp: httpx.Response, reply: Capture) -> TokenUsage | None:
    """Read an SSE stream of chat.completion.chunk objects into `reply`; returns the usage."""
    usage, finished, data = None, False, []
    async for line in resp.aiter_lines():
        if line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
            continue
        if line or not data:
            continue  # comments, event:/id:/retry: fields
        payload, data = "\n".join(data), []
        if payload.strip() == "[DONE]":
            finished = True
            break
        chunk = _json(payload, "stream event")
        usage = _usage(chunk) or usage
        finished = _take_choices(chunk, reply, "delta") or finished
    if data and data[-1].strip() == "[DONE]":
        finished = True
    elif data:  # the last event had no blank line after it
        chunk = _json("\n".join(data), "stream event")
        usage = _usage(chunk) or usage
        finished = _take_choices(chunk, reply, "delta") or finished
    if not finished:
        raise _Transient("the stream ended before the reply was complete", "incomplete")
    return usage


def _read_json(raw: bytes, reply: Capture) -> TokenUsage | None:
    body = _json(raw.decode("utf-8", "replace"), "response")
    if not isinstance(body.get("choices"), list) or not body["choices"]:
        raise _Transient(f"the response has no choices: {raw[:200]!r}", "malformed")
    _take_choices(body, reply, "message")
    return _usage(body)


def _json(text: str, what: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError:
        raise _Transient(f"the server sent a malformed {what} (not JSON): {text[:200]!r}", "malformed") from None
    if not isinstance(value, dict):
        raise _Transient(f"the server sent a malformed {what} (not an object): {text[:200]!r}", "malformed")
    if "error" in value and not value.get("choices"):
        message, _ = _error_message(json.dumps(value).encode())
        raise _Transient(f"the server reported an error: {message}", "server_error")
    return value


def _take_choices(chunk: dict, reply: Capture, key: str) -> bool:
    """Feed the first choice's text to `reply`; True when it carries a finish_reason."""
    choices = chunk.get("choices") or []
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return False
    part = choices[0].get(key) or {}
    content = part.get("content") if isinstance(part, dict) else None
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}]
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    if isinstance(content, str) and content:
        reply.feed(content.encode("utf-8"))
    if choices[0].get("finish_reason") == "length":
        reply.log.note("the model stopped at its output token limit; the reply may be cut short")
    return bool(choices[0].get("finish_reason"))


def _usage(body: dict) -> TokenUsage | None:
    usage = body.get("usage")
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return TokenUsage(prompt_tokens=prompt, completion_tokens=completion)


def _error_message(raw: bytes) -> tuple[str, str | None]:
    """The server's own error message and code, from an OpenAI-style body or plain text."""
    text = raw.decode("utf-8", "replace").strip()
    try:
        body = json.loads(text)
    except ValueError:
        return text[:500], None
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, str):
            return error[:500], None
        if isinstance(error, dict):
            message = error.get("message") or error.get("detail") or body.get("message") or text
            code = error.get("code") or error.get("type")
            return str(message)[:500], code if isinstance(code, str) else None
    return text[:500], None


def _rejects_streaming(raw: bytes) -> bool:
    """A 400 that complains about `stream`/`stream_options` (servers that cannot stream)."""
    message, _ = _error_message(raw)
    return bool(re.search(r"\bstream(_options)?\b", message, re.I)) and not _CONTEXT.search(message)


def _retry_after(headers: httpx.Headers) -> float | None:
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
        import datetime as _dt

        return (parsedate_to_datetime(value) - _dt.datetime.now(_dt.timezone.utc)).total_seconds()
    except (TypeError, ValueError):
        return None


def _timeout_kind(exc: httpx.TimeoutException) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return "timed out connecting"
    if isinstance(exc, httpx.ReadTimeout):
        return "timed out waiting for data"
    return "timed out"
