"""The openai runtime against a real HTTP server on 127.0.0.1 (see conftest.llm_server)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time

import httpx
import pytest

from teambot.errors import AgentError
from teambot.runtimes.openai import OpenAIRuntime, _retry_after
from teambot.settings import OpenAISettings
from teambot.store.models import TokenUsage
from tests.runtimes.conftest import SECRET


class Events:
    """Collects what the runtime emits, like EventLog.emit."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str | None, dict]] = []

    def __call__(self, type: str, stage: str | None = None, **details) -> None:
        self.items.append((type, stage, details))

    def of(self, type: str) -> list[dict]:
        return [details for t, _, details in self.items if t == type]


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
async def make_runtime(llm_server, events):
    """An OpenAIRuntime for the local server with fast retries; closed after the test."""
    made: list[OpenAIRuntime] = []

    def build(model: str, **config) -> OpenAIRuntime:
        config = {"base_url": llm_server.url, "model": model, "timeout": 2.0, "max_retries": 2,
                  "retry_backoff_seconds": 0.01, "api_key_env": "TEAMBOT_TEST_KEY", **config}
        runtime = OpenAIRuntime(OpenAISettings(**config), emit=events)
        made.append(runtime)
        return runtime

    yield build
    for runtime in made:
        await runtime.aclose()


async def test_canned_reply_becomes_output_artifact_and_usage(make_runtime, make_request, llm_server):
    """A plain JSON reply (server ignores stream) is the output, the single artifact, and its usage."""
    result = await make_runtime("canned").run(make_request())
    assert result.output == "Canned reply to: Write the spec."
    assert result.artifacts["spec.md"].read_text() == result.output
    assert result.usage == TokenUsage(prompt_tokens=11, completion_tokens=7)
    request = llm_server.seen("canned")[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["body"]["stream_options"] == {"include_usage": True}


async def test_streaming_reply_and_usage(make_runtime, make_request):
    """SSE chunks are joined into the output; the final usage chunk is recorded; the log has the text."""
    request = make_request()
    result = await make_runtime("stream").run(request)
    assert result.output == "Hello, streamed world."
    assert result.usage == TokenUsage(prompt_tokens=21, completion_tokens=5)
    assert "Hello, streamed world." in request.log_path.read_text()


async def test_stream_off_in_config(make_runtime, make_request, llm_server):
    """With stream: false the request asks for no stream and usage comes from the response body."""
    result = await make_runtime("canned", stream=False).run(make_request())
    assert "stream" not in llm_server.seen("canned")[0]["body"]
    assert result.usage == TokenUsage(prompt_tokens=11, completion_tokens=7)


async def test_server_that_rejects_streaming_falls_back(make_runtime, make_request, llm_server, events):
    """A 400 about stream options is answered by asking again without streaming, remembered for later."""
    runtime = make_runtime("nostream")
    result = await runtime.run(make_request())
    assert result.output == "plain reply"
    assert result.usage == TokenUsage(prompt_tokens=3, completion_tokens=2)
    await runtime.run(make_request("PLAN"))
    assert [("stream" in r["body"]) for r in llm_server.seen("nostream")] == [True, False, False]
    assert events.of("agent_attempt_failed") == []


async def test_persona_is_the_system_message(make_runtime, make_request, llm_server):
    """request.system_prompt goes as the system message and user_prompt as the user message."""
    request = dataclasses.replace(make_request(), system_prompt="You are the BA.", user_prompt="Stage text.")
    result = await make_runtime("persona").run(request)
    assert result.output == "system: You are the BA."
    messages = llm_server.seen("persona")[0]["body"]["messages"]
    assert messages == [{"role": "system", "content": "You are the BA."}, {"role": "user", "content": "Stage text."}]


async def test_rate_limit_honours_retry_after(make_runtime, make_request, llm_server, events):
    """429 waits Retry-After seconds, reports the failure and the wait as events, then succeeds."""
    started = time.monotonic()
    result = await make_runtime("ratelimit").run(make_request())
    assert time.monotonic() - started >= 0.3
    assert result.output == "after the rate limit"
    assert llm_server.counts["ratelimit"] == 2
    failed, = events.of("agent_attempt_failed")
    assert failed["status"] == 429 and failed["attempt"] == 1 and failed["will_retry"] is True
    waiting, = events.of("agent_waiting")
    assert waiting["seconds"] == 0.3 and waiting["reason"] == "rate_limited" and waiting["next_attempt"] == 2


async def test_server_error_then_success(make_runtime, make_request, llm_server, events):
    """A 500 is retried with backoff and the second attempt's reply is the output."""
    result = await make_runtime("flaky").run(make_request())
    assert result.output == "after a 500"
    assert llm_server.counts["flaky"] == 2
    assert [e["status"] for e in events.of("agent_attempt_failed")] == [500]
    assert events.of("agent_waiting")[0]["reason"] == "server_error"


async def test_server_errors_give_up_after_max_retries(make_runtime, make_request, llm_server, events):
    """A server that keeps failing is asked exactly 1 + max_retries times, then the stage fails (retryable)."""
    with pytest.raises(AgentError, match="gave up after 3 attempts") as err:
        await make_runtime("down").run(make_request())
    assert llm_server.counts["down"] == 3
    assert err.value.retryable is True
    assert "overloaded" in err.value.message
    assert [e["will_retry"] for e in events.of("agent_attempt_failed")] == [True, True, False]
    assert len(events.of("agent_waiting")) == 2


async def test_slow_stream_succeeds(make_runtime, make_request):
    """A stream whose chunks come slowly (within the read timeout) is read to the end."""
    result = await make_runtime("slow", timeout=1.0).run(make_request())
    assert result.output == "slow but steady"


async def test_hanging_server_times_out_and_retries(make_runtime, make_request, llm_server):
    """A server that never answers hits the read timeout on every attempt, then the stage fails."""
    started = time.monotonic()
    with pytest.raises(AgentError, match="timed out waiting for data"):
        await make_runtime("hang", timeout=0.3, max_retries=1).run(make_request())
    assert llm_server.counts["hang"] == 2
    assert time.monotonic() - started < 3.0


async def test_cancel_during_request(make_runtime, make_request):
    """Cancelling a stage waiting on the server re-raises CancelledError promptly."""
    task = asyncio.ensure_future(make_runtime("hang", timeout=10).run(make_request()))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)


@pytest.mark.parametrize("model, reason", [
    ("malformed", "malformed response"),
    ("malformed-stream", "malformed stream event"),
    ("truncated-stream", "ended before the reply was complete"),
])
async def test_malformed_replies_are_retried_then_fail(make_runtime, make_request, llm_server, model, reason):
    """Malformed JSON, a malformed stream event or a cut stream are transient failures."""
    with pytest.raises(AgentError, match=reason):
        await make_runtime(model, max_retries=1).run(make_request())
    assert llm_server.counts[model] == 2


@pytest.mark.parametrize("model, words", [
    ("auth", ["authentication failed", "HTTP 401", "Incorrect API key provided", "$TEAMBOT_TEST_KEY"]),
    ("forbidden", ["permission denied", "HTTP 403", "do not have access"]),
    ("no-such-model", ["not found", "HTTP 404", "does not exist", "openai.base_url"]),
    ("bad", ["rejected the request", "HTTP 400", "temperature must be between"]),
])
async def test_client_errors_fail_at_once(make_runtime, make_request, llm_server, events, model, words):
    """400/401/403/404 fail on the first attempt, not retryable, with the server's own message."""
    with pytest.raises(AgentError) as err:
        await make_runtime(model).run(make_request())
    assert err.value.retryable is False
    for word in words:
        assert word in err.value.message
    assert llm_server.counts[model] == 1
    assert events.of("agent_waiting") == []


async def test_context_length_error_gives_advice(make_runtime, make_request, llm_server):
    """A context-length error fails at once and says how to fix it."""
    with pytest.raises(AgentError, match="context window") as err:
        await make_runtime("context").run(make_request())
    assert err.value.retryable is False
    assert "maximum context length is 8192" in err.value.message
    assert "split the stage" in err.value.message
    assert llm_server.counts["context"] == 1


async def test_connection_refused_is_retried(make_request, events):
    """Nothing listening on the port: connection errors are retried, then the stage fails."""
    runtime = OpenAIRuntime(OpenAISettings(base_url="http://127.0.0.1:9/v1", model="m", max_retries=1,
                                           retry_backoff_seconds=0.01), emit=events)
    try:
        with pytest.raises(AgentError, match="connection to http://127.0.0.1:9/v1/chat/completions failed"):
            await runtime.run(make_request())
    finally:
        await runtime.aclose()
    assert [e["reason"] for e in events.of("agent_attempt_failed")] == ["connection", "connection"]


async def test_api_key_is_sent_but_never_written(make_runtime, make_request, llm_server, monkeypatch, events):
    """The key goes in the Authorization header, and an echo of it never reaches output, artifact, log or error."""
    monkeypatch.setenv("TEAMBOT_TEST_KEY", SECRET)
    request = make_request()
    result = await make_runtime("leaky").run(request)
    assert llm_server.seen("leaky")[0]["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert result.output == "your header was Bearer ***"
    assert SECRET not in result.artifacts["spec.md"].read_text()
    assert SECRET not in request.log_path.read_text()
    with pytest.raises(AgentError) as err:
        await make_runtime("leaky-error").run(make_request("PLAN"))
    assert SECRET not in err.value.message and "***" in err.value.message
    assert SECRET not in repr(events.items)


async def test_key_pasted_as_the_variable_name_is_not_echoed_by_a_401(make_runtime, make_request, llm_server, events):
    """A key in api_key_env (settings refuse it; here built directly) never appears in the 401 error or the log."""
    pasted = "ghp_" + "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6"
    request = make_request()
    with pytest.raises(AgentError) as err:
        await make_runtime("auth", api_key_env=pasted).run(request)
    assert "authentication failed" in err.value.message and "openai.api_key_env" in err.value.message
    assert pasted not in err.value.message
    assert pasted not in request.log_path.read_text() and pasted not in repr(events.items)


async def test_no_key_no_authorization_header(make_runtime, make_request, llm_server, monkeypatch):
    """Without the key variable set (local servers), no Authorization header is sent."""
    monkeypatch.delenv("TEAMBOT_TEST_KEY", raising=False)
    await make_runtime("canned").run(make_request())
    assert "Authorization" not in llm_server.seen("canned")[0]["headers"]


async def test_more_than_one_artifact_is_refused(make_runtime, make_request, llm_server):
    """A stage declaring two artifacts cannot be done by a chat reply: a clear, non-retryable error."""
    with pytest.raises(AgentError, match="one artifact per stage") as err:
        await make_runtime("canned").run(make_request(artifacts=("a.md", "b.md")))
    assert err.value.retryable is False
    assert llm_server.counts["canned"] == 0


async def test_no_model_is_refused(make_request, llm_server):
    """Without a model in config the runtime says where to set one."""
    runtime = OpenAIRuntime(OpenAISettings(base_url=llm_server.url))
    with pytest.raises(AgentError, match="openai.model"):
        await runtime.run(make_request())


async def test_aclose_closes_the_client(make_runtime, make_request):
    """aclose() closes the shared HTTP client of every model variant."""
    runtime = make_runtime("canned")
    variant = runtime.variant("stream")
    await variant.run(make_request())
    client = runtime.shared.client()
    await runtime.aclose()
    assert client.is_closed


def test_retry_after_forms():
    """Retry-After in seconds, as an HTTP date, and retry-after-ms are all understood."""
    assert _retry_after(httpx.Headers({"Retry-After": "2"})) == 2.0
    assert _retry_after(httpx.Headers({"retry-after-ms": "250"})) == 0.25
    assert _retry_after(httpx.Headers({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) < 0
    assert _retry_after(httpx.Headers({"Retry-After": "soon"})) is None
    assert _retry_after(httpx.Headers({})) is None


@pytest.mark.parametrize("model, usage", [("length", (11, 7)), ("length-stream", (30, 9))])
async def test_a_reply_cut_at_the_length_limit_is_marked_truncated(make_runtime, make_request, model, usage):
    """finish_reason "length" (JSON or streamed) marks a review step's result truncated; a complete reply is not."""
    result = await make_runtime(model).run(make_request("R", artifacts=(), step="review"))
    assert result.truncated is True
    assert result.output == "The answer starts well but"
    assert result.usage == TokenUsage(prompt_tokens=usage[0], completion_tokens=usage[1])
    complete = await make_runtime("stream").run(make_request("R2", artifacts=(), step="review"))
    assert complete.truncated is False


@pytest.mark.parametrize("model, words", [("filtered", "content_filter"), ("filtered-stream", "content_filter"),
                                          ("tool-call", "'tool_calls'")])
async def test_any_finish_reason_but_stop_marks_the_reply_cut(make_runtime, make_request, model, words):
    """content_filter (JSON or streamed) or tool_calls: a review is truncated (no verdict); a work step fails, no artifact."""
    review = await make_runtime(model).run(make_request("R", artifacts=(), step="review"))
    assert review.truncated is True
    request = make_request()
    with pytest.raises(AgentError) as err:
        await make_runtime(model).run(request)
    assert words in err.value.message and "spec.md" in err.value.message and err.value.retryable is False
    assert not (request.artifacts_dir / "spec.md").exists()


@pytest.mark.parametrize("model", ["length", "filtered-stream"])
async def test_a_cut_reply_fails_a_work_step_without_artifacts(make_runtime, make_request, model):
    """A work step declaring no artifact fails on a cut reply (its output is the work), saying what cut it."""
    with pytest.raises(AgentError) as err:
        await make_runtime(model).run(make_request("PLAN", artifacts=()))
    assert "the stage's output was cut short" in err.value.message and "finish_reason" in err.value.message
    assert err.value.retryable is False and err.value.usage is not None


@pytest.mark.parametrize("model", ["length", "length-stream"])
async def test_a_reply_cut_at_the_length_limit_never_becomes_the_artifact(make_runtime, make_request, model):
    """A stage with an artifact fails (not retryable, tokens counted) instead of saving a cut reply as it."""
    request = make_request()
    with pytest.raises(AgentError, match="length limit") as err:
        await make_runtime(model).run(request)
    assert "max_tokens" in err.value.message and "spec.md" in err.value.message
    assert err.value.retryable is False
    assert err.value.usage is not None and err.value.usage.completion_tokens > 0
    assert not (request.artifacts_dir / "spec.md").exists()


async def test_a_streamed_reply_stops_being_read_at_the_cap(make_runtime, make_request, llm_server):
    """An endless stream is read only up to the reply cap: the result is cut, truncated, and came quickly."""
    llm_server.huge_bytes = 200 * 1024 * 1024
    runtime = make_runtime("huge-stream", timeout=10.0)
    runtime.reply_cap = 64 * 1024
    started = time.monotonic()
    result = await runtime.run(make_request("R", artifacts=(), step="review"))
    assert time.monotonic() - started < 20  # reading all 200 MB would take far longer on this machine
    assert result.truncated is True
    assert 60 * 1024 <= len(result.output.encode()) <= 64 * 1024
    with pytest.raises(AgentError, match="reply cap"):
        await runtime.run(make_request())


async def test_a_json_reply_over_the_cap_is_cut_or_refused(make_runtime, make_request, llm_server):
    """A non-streamed reply past the cap is kept up to the cap (truncated); one past the read limit is refused."""
    runtime = make_runtime("huge", stream=False)
    runtime.reply_cap = 64 * 1024
    llm_server.huge_bytes = 200 * 1024  # text past the cap, body within the read limit
    result = await runtime.run(make_request("R", artifacts=(), step="review"))
    assert result.truncated is True and len(result.output) == 64 * 1024
    llm_server.huge_bytes = 8 * 1024 * 1024
    with pytest.raises(AgentError, match="larger than the .* bytes teambot reads") as err:
        await runtime.run(make_request("R2", artifacts=()))
    assert err.value.retryable is False


@pytest.mark.parametrize("model, status", [("redirect-301", 301), ("redirect-307", 307)])
async def test_a_redirect_fails_at_once_naming_its_target(make_runtime, make_request, llm_server, events, model, status):
    """301/307 fail on the first attempt, not retried, naming the Location and blaming base_url."""
    with pytest.raises(AgentError) as err:
        await make_runtime(model).run(make_request())
    host = llm_server.url.removesuffix("/v1")
    assert f"HTTP {status}" in err.value.message
    assert f"to {host}/v2/chat/completions" in err.value.message
    assert "openai.base_url" in err.value.message and f"points to {host}/v2" in err.value.message
    assert err.value.retryable is False
    assert llm_server.counts[model] == 1
    assert events.of("agent_waiting") == []


async def test_event_stream_media_type_is_case_insensitive(make_runtime, make_request):
    """`Content-Type: Text/Event-Stream; charset=UTF-8` is read as a stream."""
    result = await make_runtime("sse-mixed-case").run(make_request())
    assert result.output == "Mixed case"


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "-5", "1e400", "1e308"])
async def test_a_bogus_retry_after_never_gives_a_non_finite_wait(make_runtime, make_request, llm_server, events,
                                                                 monkeypatch, value):
    """Retry-After nan/inf/negative falls back to the backoff; a huge one is capped; the event stays strict JSON."""
    monkeypatch.setattr("teambot.runtimes.openai.MAX_WAIT", 0.2)  # so the capped wait is short here
    llm_server.retry_after = value
    result = await make_runtime("ratelimit").run(make_request())
    assert result.output == "after the rate limit"
    waiting, = events.of("agent_waiting")
    assert 0 <= waiting["seconds"] <= 0.2
    json.dumps(events.items, allow_nan=False)  # raises on NaN or Infinity


async def test_an_empty_reply_carries_the_tokens_it_cost(make_runtime, make_request):
    """An empty reply fails the attempt, and the error carries the usage the server reported."""
    with pytest.raises(AgentError, match="empty reply") as err:
        await make_runtime("empty-usage").run(make_request())
    assert err.value.usage == TokenUsage(prompt_tokens=13, completion_tokens=4)


async def test_failed_attempts_tokens_add_to_a_later_success(make_runtime, make_request, llm_server, events):
    """Tokens reported by an attempt that failed inside the runtime are added to the next attempt's."""
    result = await make_runtime("cut-then-ok").run(make_request())
    assert [e["reason"] for e in events.of("agent_attempt_failed")] == ["incomplete"]
    assert result.output == "Hello, streamed world."
    assert result.usage == TokenUsage(prompt_tokens=21 + 8, completion_tokens=5 + 2)


async def test_server_text_is_redacted_before_it_is_cut(make_runtime, make_request, llm_server, monkeypatch, events):
    """A key straddling the 200- and 500-character cuts of server text leaks neither whole nor in part."""
    monkeypatch.setenv("TEAMBOT_TEST_KEY", SECRET)
    request = make_request()
    with pytest.raises(AgentError) as err:
        await make_runtime("straddle", max_retries=1).run(request)
    assert "was refused" not in err.value.message and "x" * 400 in err.value.message  # the 500 cut happened
    written = err.value.message + repr(events.items) + request.log_path.read_text()
    assert "y" * 150 in written  # the 200 cut happened too
    assert SECRET[:12] not in written and "PLANT" not in written
