"""The openai runtime: one chat completion per stage from an OpenAI-compatible server.

POST {base_url}/chat/completions over httpx: the persona as the system message, the stage
prompt as the user message (request.system_prompt / user_prompt), streamed (SSE, with usage) unless the server cannot stream.
Failed attempts are classified: 429 waits for Retry-After; 5xx, connection errors, read
timeouts and malformed replies back off exponentially with jitter, up to max_retries; a
redirect, other 4xx and context-length errors fail at once. Every failed attempt and every
wait is reported through `emit` (events.jsonl: agent_attempt_failed, agent_waiting). The
API key is read from the environment variable named in config and never written anywhere.
A reply cut short (any finish_reason but "stop": "length", "content_filter", "tool_calls"...;
or past the reply cap) is marked `truncated`: it never becomes an artifact, nor a work step's result.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from teambot.errors import AgentError
from teambot.redact import Redactor
from teambot.runtimes.base import StageRequest, StageResult
from teambot.runtimes.openai_reply import (
    ERROR_BODY_CAP, Reading, Transient, body_limit, clip, error_message, is_event_stream, read_body, read_events,
    read_json, rejects_streaming, usable_wait,
)
from teambot.runtimes.openai_reply import retry_after as _retry_after
from teambot.runtimes.output import Capture, StageLog, artifact_stamps, claim_artifacts, decode_output, one_line
from teambot.settings import OpenAISettings, is_env_name
from teambot.store.models import TokenUsage, add_usage

MAX_WAIT = 60.0  # never sleep longer than this between attempts, whatever Retry-After says
REPLY_CAP = 10 * 1024 * 1024  # bytes of reply text (after decoding) kept per call
_CONTEXT = re.compile(r"context[ _-]?(length|window)|maximum context|too many tokens|prompt is too long|"
                      r"reduce the length|token limit|exceeds the limit of \d+ tokens", re.I)
Emit = Callable[..., Any]


@dataclass
class _Reply:
    text: str
    usage: TokenUsage | None
    truncated: bool = False
    finish: str | None = None


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

    def __init__(self, config: OpenAISettings, *, model: str | None = None, emit: Emit | None = None,
                 redactor: Callable[[str], str] | None = None, shared: _Shared | None = None,
                 reply_cap: int = REPLY_CAP) -> None:
        self.config = config
        self.model = model or config.model
        self.emit = emit
        self.redact = redactor or Redactor((config.api_key_env,))
        self.shared = shared or _Shared(config)
        self.url = config.base_url.rstrip("/") + "/chat/completions"
        self.reply_cap = reply_cap

    def variant(self, model: str | None) -> OpenAIRuntime:
        """The same server and client with another model (per-agent overrides)."""
        return OpenAIRuntime(self.config, model=model, emit=self.emit,
                             redactor=self.redact, shared=self.shared, reply_cap=self.reply_cap)

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
            text = self.redact(reply.text)
            try:  # a cut reply is never an artifact, nor a work step's result
                artifacts = claim_artifacts(request, before, text, cut=self._cut(reply) if reply.truncated else None)
            except AgentError as exc:
                log.note(f"failed: {exc.message}")
                raise _spent(AgentError(exc.message, retryable=False), reply.usage) from None
        finally:
            log.close()
        return StageResult(output=text, artifacts=artifacts, usage=reply.usage, truncated=reply.truncated)

    def _cut(self, reply: _Reply) -> str:
        """What cut the reply short, and how to avoid it."""
        if reply.finish == "length":
            return (f"model {self.model}'s reply hit the model's length limit (finish_reason: length); raise the "
                    "model's max_tokens (output token limit) on the server, or shorten what the stage asks for")
        if reply.finish == "content_filter":
            return (f"the server's content filter stopped model {self.model}'s reply (finish_reason: content_filter); "
                    "change what the stage asks for, or the filter's settings on the server")
        if reply.finish not in (None, "stop"):  # tool_calls, function_call, ...: teambot offers no tools
            return (f"model {self.model}'s reply ended with finish_reason {reply.finish!r}, not \"stop\", so its text "
                    "is not a whole answer; check the model and the server's settings")
        return (f"model {self.model}'s reply exceeded teambot's {self.reply_cap:,} byte reply cap; ask for less "
                "(split the stage) or use a command runtime whose agent writes the file")

    async def _complete(self, request: StageRequest, messages: list[dict], log: StageLog) -> _Reply:
        attempts = 1 + self.config.max_retries
        spent: TokenUsage | None = None  # every call counts, failed ones too
        for number in range(1, attempts + 1):
            log.note(f"attempt {request.attempt}.{number}: POST {self.url} (model {self.model}"
                     f"{', streaming' if self.shared.stream else ''})")
            try:
                reply = await self._once(messages, log)
                reply.usage = add_usage(spent, reply.usage)
                return reply
            except Transient as exc:
                spent = add_usage(spent, exc.usage)
                message = self.redact(exc.message)
                log.note(f"failed: {message}")
                self._emit("agent_attempt_failed", request, attempt=number, attempts=attempts, error=message,
                           status=exc.status, reason=exc.reason, will_retry=number < attempts)
                if number == attempts:
                    gave_up = f"gave up after {attempts} attempt{'s' if attempts > 1 else ''}"
                    raise _spent(AgentError(f"{message} ({gave_up})"), spent) from None
                # a Retry-After of nan, inf or below zero is no answer: back off as for any other failure
                wait = usable_wait(exc.retry_after)
                wait = min(self._backoff(number) if wait is None else wait, MAX_WAIT)
                log.note(f"waiting {wait:.2f} s before attempt {number + 1}")
                self._emit("agent_waiting", request, seconds=round(wait, 3), reason=exc.reason, status=exc.status,
                           next_attempt=number + 1, attempts=attempts)
                await asyncio.sleep(wait)
            except AgentError as exc:
                exc.message = self.redact(exc.message)
                log.note(f"failed: {exc.message}")
                self._emit("agent_attempt_failed", request, attempt=number, attempts=attempts, error=exc.message,
                           will_retry=False)
                raise _spent(AgentError(exc.message, retryable=exc.retryable), add_usage(spent, exc.usage)) from None
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
        reading = Reading(Capture(self.reply_cap, log, "reply", prefix=""))
        fall_back = False
        try:
            async with self.shared.client().stream("POST", self.url, json=body, headers=self._headers()) as resp:
                status = resp.status_code
                if 300 <= status < 400:  # never followed: the POST would not survive it, and the address is wrong
                    raise self._redirected(resp)
                if status >= 400:
                    raw = await read_body(resp, ERROR_BODY_CAP, cut=True)
                    if not (stream and status in (400, 422) and rejects_streaming(raw, _CONTEXT)):
                        raise self._classify(status, raw, resp.headers)
                    fall_back = True  # the server cannot stream: ask again below, once the response is closed
                elif is_event_stream(resp.headers):
                    await read_events(resp, reading, self.redact)
                else:
                    await self._read_json(resp, reading)
        except httpx.UnsupportedProtocol as exc:
            raise AgentError(f"cannot reach {self.url}: {clip(str(exc), 300, self.redact)} (check openai.base_url)",
                             retryable=False) from None
        except httpx.TimeoutException as exc:
            raise Transient(f"{_timeout_kind(exc)} from {self.url} (openai.timeout is {self.config.timeout:g} s)",
                            "timeout") from None
        except httpx.TransportError as exc:
            # the text may quote what the server sent (a bad header): cleaned like any server text
            raise Transient(f"connection to {self.url} failed: {type(exc).__name__}: {clip(str(exc), 300, self.redact)}",
                            "connection") from None
        if fall_back:
            log.note("the server does not accept streaming; asking again without it")
            self.shared.stream = False
            return await self._once(messages, log)
        reading.capture.finish()
        text, _ = decode_output(reading.capture.data)
        if not text.strip():
            raise _spent(AgentError(f"model {self.model} returned an empty reply"), reading.usage)
        return _Reply(text, reading.usage, truncated=reading.cut, finish=reading.finish)

    async def _read_json(self, resp: httpx.Response, reading: Reading) -> None:
        """A whole JSON reply, read in chunks and refused past what the reply cap allows (memory stays bounded)."""
        raw = await read_body(resp, body_limit(self.reply_cap))
        if raw is None:
            raise AgentError(f"model {self.model}'s reply is larger than the {body_limit(self.reply_cap):,} bytes "
                             f"teambot reads for a {self.reply_cap:,} byte reply cap; ask for less (split the stage) "
                             "or turn on openai.stream", retryable=False)
        read_json(raw, reading, self.redact)

    def _redirected(self, resp: httpx.Response) -> AgentError:
        # redacted as sent: httpx percent-encodes the address it builds, and a secret must go before that
        location = self.redact(one_line(resp.headers.get("location", "")))
        try:
            target = str(resp.url.join(location)) if location else ""
        except httpx.InvalidURL:
            target = location
        where = f" to {clip(target, 300, self.redact)}" if target else " (without a Location header)"
        hint = f"openai.base_url ({self.config.base_url}) is probably wrong"
        base = target.split("?", 1)[0]
        if base.endswith("/chat/completions"):
            hint += f"; the server points to {clip(base.removesuffix('/chat/completions'), 300, self.redact)}"
        return AgentError(f"the server redirected the request (HTTP {resp.status_code}){where}: {hint}", retryable=False)

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.config.api_key_env, "")
        if not key:
            return {}
        headers = {"Authorization": f"Bearer {key}"}
        if (httpx.URL(self.url).host or "").endswith(".azure.com"):
            headers["api-key"] = key  # Azure OpenAI authenticates API keys with this header
        return headers

    def _classify(self, status: int, raw: bytes | bytearray, headers: httpx.Headers) -> Exception:
        message, code = error_message(raw, self.redact)
        said = f"HTTP {status}: {message}" if message else f"HTTP {status}"
        if status in (400, 413, 422) and (code == "context_length_exceeded" or _CONTEXT.search(message)):
            return AgentError(f"the prompt does not fit model {self.model}'s context window ({said}); shorten the "
                              "stage's inputs (prompt_template, upstream artifacts), split the stage, or use a model "
                              "with a larger context window", retryable=False)
        if status == 429:
            if code == "insufficient_quota":
                return AgentError(f"the API quota is used up ({said}); check the account's billing", retryable=False)
            return Transient(f"rate limited ({said})", "rate_limited", status, _retry_after(headers))
        if status >= 500 or status == 408:
            return Transient(f"server error ({said})", "server_error", status)
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


def _spent(error: AgentError, usage: TokenUsage | None) -> AgentError:
    """`error`, carrying the tokens the failed call still cost (the executor counts them)."""
    error.usage = usage
    return error


def _timeout_kind(exc: httpx.TimeoutException) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return "timed out connecting"
    if isinstance(exc, httpx.ReadTimeout):
        return "timed out waiting for data"
    return "timed out"
