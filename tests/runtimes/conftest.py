"""Fixtures for the runtime tests: stage requests, the fake agent CLI, a local chat-completions server."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from teambot.runtimes.base import StageRequest

FAKE_AGENT = Path(__file__).resolve().parent / "fake_agent.py"
SECRET = "sk-test-PLANTED-secret-0123456789"


@pytest.fixture
def fake_argv():
    """argv that runs the fake agent with the given flags."""
    def build(*flags: str) -> tuple[str, ...]:
        return (sys.executable, str(FAKE_AGENT), *flags)
    return build


@pytest.fixture
def make_request(tmp_path):
    """A factory of StageRequests whose run directory lives under tmp_path."""
    project = tmp_path / "project"
    run = project / ".agent-tracking" / "feat"
    (run / "artifacts").mkdir(parents=True)
    (run / "logs").mkdir()

    def build(stage: str = "SPEC", *, agent: str | None = "ba", artifacts: tuple[str, ...] = ("spec.md",),
              prompt: str = "Write the spec.\nDetails follow.", timeout: float | None = None, on_spawn=None,
              attempt: int = 1, step: str = "work") -> StageRequest:
        return StageRequest(
            feature="feat", stage=stage, agent=agent, prompt=prompt, artifacts_dir=run / "artifacts",
            artifacts=artifacts, upstream_artifacts=(), run_dir=run, project_dir=project, timeout=timeout,
            log_path=run / "logs" / f"{stage}.log", attempt=attempt, on_spawn=on_spawn,
            kind="plain" if step == "work" else "review", step=step,
        )
    return build


# -- a chat-completions server on 127.0.0.1 ----------------------------------------------------
# The request's `model` picks the behaviour, so one server serves every test at once.

@dataclass
class LLMServer:
    url: str
    requests: list[dict] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    stop: threading.Event = field(default_factory=threading.Event)
    retry_after: str = "0.3"
    huge_bytes: int = 150 * 1024 * 1024  # the size of the "huge" and "huge-stream" replies

    def seen(self, model: str) -> list[dict]:
        return [r for r in self.requests if r["body"].get("model") == model]


def _completion(text: str, usage=(11, 7)) -> dict:
    return {"id": "c1", "object": "chat.completion", "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}}


def _chunk(content: str | None = None, finish: str | None = None, usage=None) -> bytes:
    body: dict = {"id": "c1", "object": "chat.completion.chunk", "model": "m",
                  "choices": [] if usage else [{"index": 0, "delta": {"content": content} if content else {},
                                                "finish_reason": finish}]}
    if usage:
        body["usage"] = {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep pytest output clean
        return None

    def do_POST(self) -> None:
        state: LLMServer = self.server.state
        raw = self.rfile.read(int(self.headers.get("content-length", 0)))
        body = json.loads(raw)
        model = body.get("model", "")
        state.counts[model] += 1
        n = state.counts[model]
        state.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        if self.path != "/v1/chat/completions":
            return self._json(404, {"error": {"message": f"no route {self.path}"}})
        stream = bool(body.get("stream"))
        user = body["messages"][-1]["content"]
        # a review or verdict prompt quotes the verdict lines: approve it, whatever the model
        verdict = "\n\nVERDICT: APPROVED" if "VERDICT: APPROVED" in user else ""
        if "# Stage: Plan (PLAN)" in user:  # the default workflow's plan carries the tasks IMPLEMENTATION runs
            verdict += "\n\n```yaml\ntasks:\n  - id: T1\n    title: Implement the plan\n```\n"
        if model == "canned":
            return self._json(200, _completion(f"Canned reply to: {user.splitlines()[0]}{verdict}"))
        if model == "stream":
            return self._sse([_chunk("Hello"), _chunk(", streamed"), _chunk(" world." + verdict, finish="stop"),
                              _chunk(usage=(21, 5)), b"data: [DONE]\n\n"])
        if model == "nostream":
            if "stream_options" in body or stream:
                return self._json(400, {"error": {"message": "Unrecognized request argument supplied: stream_options"}})
            return self._json(200, _completion("plain reply" + verdict, (3, 2)))
        if model == "ratelimit":
            if n == 1:
                return self._json(429, {"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}},
                                  {"Retry-After": state.retry_after})
            return self._json(200, _completion("after the rate limit" + verdict))
        if model == "flaky":
            if n == 1:
                return self._json(500, {"error": {"message": "internal hiccup"}})
            return self._json(200, _completion("after a 500" + verdict))
        if model == "down":
            return self._json(503, {"error": {"message": "overloaded"}})
        if model == "slow":
            chunks = [_chunk(w) for w in ("slow ", "but ", "steady" + verdict)] + [_chunk(finish="stop"), b"data: [DONE]\n\n"]
            return self._sse(chunks, delay=0.15)
        if model == "hang":
            state.stop.wait(30)
            return None
        if model == "malformed":
            return self._raw(200, b'{"choices": [ {"message": oops', "application/json")
        if model == "malformed-stream":
            return self._sse([_chunk("part"), b"data: {not json\n\n", b"data: [DONE]\n\n"])
        if model == "truncated-stream":
            return self._sse([_chunk("partial answer")])
        if model == "auth":
            return self._json(401, {"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}})
        if model == "forbidden":
            return self._json(403, {"error": {"message": "You do not have access to this model"}})
        if model == "bad":
            return self._json(400, {"error": {"message": "temperature must be between 0 and 2"}})
        if model == "context":
            return self._json(400, {"error": {"message": "This model's maximum context length is 8192 tokens.",
                                              "code": "context_length_exceeded"}})
        if model == "leaky":  # a server that echoes the credential it was given
            key = self.headers.get("authorization", "")
            return self._json(200, _completion(f"your header was {key}"))
        if model == "leaky-error":
            key = self.headers.get("authorization", "")
            return self._json(400, {"error": {"message": f"bad header {key}"}})
        if model == "persona":
            system = [m["content"] for m in body["messages"] if m["role"] == "system"]
            return self._json(200, _completion(f"system: {system[0] if system else '(none)'}{verdict}"))
        if model in ("length", "length-stream"):  # the model stopped at its output token limit
            if model == "length":
                cut = _completion("The answer starts well but" + verdict)
                cut["choices"][0]["finish_reason"] = "length"
                return self._json(200, cut)
            return self._sse([_chunk("The answer starts"), _chunk(" well but" + verdict, finish="length"),
                              _chunk(usage=(30, 9)), b"data: [DONE]\n\n"])
        if model in ("filtered", "filtered-stream"):  # a content filter stopped the reply after its verdict line
            if model == "filtered":
                cut = _completion("VERDICT: APPROVED\n\nFindings: the first")
                cut["choices"][0]["finish_reason"] = "content_filter"
                return self._json(200, cut)
            return self._sse([_chunk("VERDICT: APPROVED\n\n"), _chunk("Findings: the first", finish="content_filter"),
                              _chunk(usage=(30, 9)), b"data: [DONE]\n\n"])
        if model == "tool-call":  # the model asked for a tool (teambot offers none): a few words and no answer
            call = _completion("Let me look that up.")
            call["choices"][0]["finish_reason"] = "tool_calls"
            return self._json(200, call)
        if model == "escapes":  # terminal escapes in an error message
            return self._json(400, {"error": {"message": "bad \u001b[31mred \u001b]0;title\u0007 \u001b[2J\r"}})
        if model == "redirect-key":  # a redirect whose Location carries the key, unencoded
            key = self.headers.get("authorization", "").removeprefix("Bearer ")
            target = f"http://{self.headers.get('host')}/v2/chat/completions?api_key={key}"
            return self._raw(302, b"", "text/plain", {"Location": target})
        if model == "huge":  # a non-streamed reply of state.huge_bytes, written as it is generated
            return self._huge(state.huge_bytes)
        if model == "huge-stream":  # deltas of 1 KiB until the client hangs up (at most state.huge_bytes)
            return self._sse_endless(state.huge_bytes)
        if model == "cut-then-ok":  # a stream that reports its usage, then breaks off; the next one is whole
            if n == 1:
                return self._sse([_chunk("partial"), _chunk(usage=(8, 2))])
            return self._sse([_chunk("Hello"), _chunk(", streamed"), _chunk(" world." + verdict, finish="stop"),
                              _chunk(usage=(21, 5)), b"data: [DONE]\n\n"])
        if model == "empty-usage":  # an empty reply that still reports the tokens it cost
            return self._json(200, _completion("", (13, 4)))
        if model in ("redirect-301", "redirect-307"):
            target = f"http://{self.headers.get('host')}/v2/chat/completions"
            return self._raw(int(model[-3:]), b"", "text/plain", {"Location": target})
        if model == "sse-mixed-case":
            return self._sse([_chunk("Mixed"), _chunk(" case" + verdict, finish="stop"), b"data: [DONE]\n\n"],
                             ctype="Text/Event-Stream; charset=UTF-8")
        if model == "straddle":  # echoes the key across the 200 (malformed body) and 500 (error message) cuts
            key = self.headers.get("authorization", "").removeprefix("Bearer ")
            if n % 2:
                return self._raw(200, ("y" * 187 + key + " and more").encode(), "application/json")
            return self._json(400, {"error": {"message": "x" * 487 + key + " was refused"}})
        return self._json(404, {"error": {"message": f"The model `{model}` does not exist", "code": "model_not_found"}})

    def _json(self, status: int, body: dict, headers: dict | None = None) -> None:
        self._raw(status, json.dumps(body).encode(), "application/json", headers)

    def _raw(self, status: int, data: bytes, ctype: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _sse(self, chunks: list[bytes], delay: float = 0.0, ctype: str = "text/event-stream") -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Connection", "close")
        self.end_headers()
        for chunk in chunks:
            self.wfile.write(chunk)
            self.wfile.flush()
            if delay:
                time.sleep(delay)
        self.close_connection = True


    def _huge(self, size: int) -> None:
        head = (b'{"id": "c1", "object": "chat.completion", '
                b'"choices": [{"index": 0, "message": {"role": "assistant", "content": "')
        tail = b'"}, "finish_reason": "stop"}], "usage": {"prompt_tokens": 5, "completion_tokens": 5}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(head) + size + len(tail)))
        self.end_headers()
        block = b"a" * (1 << 20)
        try:
            self.wfile.write(head)
            for start in range(0, size, len(block)):
                self.wfile.write(block[: min(len(block), size - start)])
            self.wfile.write(tail)
        except OSError:  # the client stopped reading (the cap): that is the point
            self.close_connection = True

    def _sse_endless(self, size: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        event = _chunk("z" * 1023 + "\n")
        try:
            for _ in range(size // 1024):
                self.wfile.write(event)
            self.wfile.write(_chunk(finish="stop") + b"data: [DONE]\n\n")
        except OSError:  # the client hung up at its cap
            pass
        self.close_connection = True


@pytest.fixture
def llm_server():
    """A real HTTP server on 127.0.0.1 implementing /v1/chat/completions with canned behaviours."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    state = LLMServer(url=f"http://127.0.0.1:{httpd.server_address[1]}/v1")
    httpd.state = state
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stop.set()
        httpd.shutdown()
        httpd.server_close()


def acceptance_yaml(project: Path) -> str:
    """teambot.yaml's `acceptance:` section running one real passing unittest (written into `project`)."""
    folder = project / "acceptance_tests"
    folder.mkdir(exist_ok=True)
    (folder / "test_ok.py").write_text("import unittest\n\n\nclass Ok(unittest.TestCase):\n"
                                       "    def test_ok(self):\n        self.assertTrue(True)\n", encoding="utf-8")
    argv = ["{python}", "-m", "teambot.runtimes.demo_tests", str(folder), "--junit", "{junit}"]
    return f"acceptance:\n  command: {json.dumps(argv)}\n"

