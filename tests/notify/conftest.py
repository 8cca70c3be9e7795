"""Fixtures for the notification tests: a webhook server on 127.0.0.1 and a small project."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

STAGES = """\
stages:
  SPEC: {work_agent: ba, artifacts: [feature_spec.md]}
  SPEC_REVIEW:
    work_agent: ba
    review_agent: reviewer
    is_review_stage: true
    artifacts: [spec_review.md]
    max_iterations: 1
  DONE: {}
stage_order: [SPEC, SPEC_REVIEW, DONE]
"""


@dataclass
class Hooks:
    """What the webhook server received: path (without query) -> request bodies, in order."""

    url: str
    received: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    queries: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep pytest output clean
        return None

    def do_POST(self) -> None:
        hooks: Hooks = self.server.hooks
        path, _, query = self.path.partition("?")
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
        hooks.received[path].append(body)
        hooks.queries.append(query)
        n = len(hooks.received[path])
        if path.startswith("/hang"):
            hooks.stop.wait(60)
            return None
        if path.startswith("/down") or (path.startswith("/flaky") and n <= 2):
            return self._reply(500)
        if path.startswith("/gone"):
            return self._reply(404)
        return self._reply(200)

    def _reply(self, status: int) -> None:
        data = b"ok" if status == 200 else b"no"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def hooks():
    """A real HTTP server on 127.0.0.1: /ok... answers 200, /flaky... 500 twice then 200,
    /down... always 500, /gone... 404, /hang... never answers."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.hooks = Hooks(url=f"http://127.0.0.1:{httpd.server_address[1]}")
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd.hooks
    finally:
        httpd.hooks.stop.set()
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """A plain directory (no git) with a three-stage workflow and an objective (feature `note`)."""
    (tmp_path / "stages.yaml").write_text(STAGES, encoding="utf-8")
    (tmp_path / "objective.md").write_text("---\nfeature: note\n---\n# Notify me\n\nBuild a thing.\n", encoding="utf-8")
    return tmp_path
