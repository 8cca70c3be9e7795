"""A real `teambot serve` on 127.0.0.1 (ephemeral port) over a scratch project, and an httpx client for it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml

from tests.helpers import cli_env, kill_run_processes

TOKEN = "test-token-0123456789"
# PLAN, then A and B side by side (a parallel group), then LINT (a command stage: it writes a log), then CHECK
STAGES = {
    "stages": {
        "PLAN": {"work_agent": "pm", "artifacts": ["plan.md"]},
        "A": {"work_agent": "builder-1", "artifacts": ["a.md"]},
        "B": {"work_agent": "builder-2", "artifacts": ["b.md"]},
        "LINT": {"run": [[sys.executable, "-c", "print('lint: all clean')"]]},
        "CHECK": {"work_agent": "pm"},
    },
    "stage_order": ["PLAN", "A", "B", "LINT", "CHECK"],
    "parallel_groups": {"build": {"after": "PLAN", "stages": ["A", "B"], "before": "LINT"}},
}
# SPEC needs a person's approval; SLOW does not depend on it (it may keep a run's process live while SPEC waits)
GATE = """\
stages:
  SPEC: {work_agent: ba, artifacts: [spec.md], approval: required}
  SLOW: {work_agent: ops, depends_on: []}
  BUILD: {work_agent: dev, artifacts: [build.md], depends_on: [SPEC]}
stage_order: [SPEC, SLOW, BUILD]
"""
GATE_OBJECTIVE = "---\nfeature: gate\n---\n# Gate me\n\nBuild a thing.\n"
OBJECTIVE = "# Add login\n\n## Goals\n- users log in\n\n## Success Criteria\n- [ ] a user logs in\n"


@dataclass
class Server:
    """One `teambot serve` process: its URL, the project it serves and a client carrying the token."""

    project: Path
    env: dict[str, str]
    url: str = ""
    proc: subprocess.Popen | None = None
    started: list[Path] = field(default_factory=list)

    @property
    def workspace(self) -> Path:
        return self.project / ".agent-tracking"

    def start(self, port: int = 0) -> Server:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "teambot", "serve", "--port", str(port), "--token", TOKEN],
            cwd=self.project, env=cli_env(self.env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if line.startswith("dashboard: "):
                self.url = line.split("dashboard: ", 1)[1].strip().split("/?token=")[0]
                return self
            if not line and self.proc.poll() is not None:
                break
        raise AssertionError(f"teambot serve did not start: {self.proc.stderr.read() if self.proc.poll() is not None else ''}")

    def stop(self) -> None:
        """SIGTERM the server (what a supervisor does) and wait for it."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def wait_status(self, feature: str, wanted: Callable[[dict], bool], timeout: float = 90) -> dict:
        """Poll GET /api/runs/FEATURE until `wanted(report)`; the report."""
        deadline = time.monotonic() + timeout
        report: dict = {}
        with self.client() as client:
            while time.monotonic() < deadline:
                res = client.get(f"/api/runs/{feature}")
                if res.status_code == 200:
                    report = res.json()
                    if wanted(report):
                        return report
                time.sleep(0.1)
        raise AssertionError(f"run {feature} never reached the wanted state; last: {report.get('status')} "
                             f"{[(s['name'], s['status']) for s in report.get('stages', [])]}")


@pytest.fixture
def served(tmp_path: Path) -> Callable[..., Server]:
    """Start `teambot serve` over a project with the small workflow; the servers and their runs end with the test."""
    servers: list[Server] = []
    project = tmp_path / "project"
    project.mkdir()
    (project / "stages.yaml").write_text(yaml.safe_dump(STAGES), encoding="utf-8")

    def start(env: dict[str, str] | None = None, port: int = 0) -> Server:
        server = Server(project=project, env={"TEAMBOT_DEMO_DELAY": "0.4", **(env or {})}).start(port)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
    ws = project / ".agent-tracking"
    for run in ws.iterdir() if ws.is_dir() else []:
        _end_run(run)
        kill_run_processes(run)


def _end_run(run: Path) -> None:
    """A run a test left going: SIGKILL its teambot process (it runs in its own session, outliving the server)."""
    import json

    try:
        pid = json.loads((run / "owner.json").read_text())["pid"]
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, KeyError):
        return
    if b"teambot" in cmd and pid != os.getpid():
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
